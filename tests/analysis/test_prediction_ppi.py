"""Prediction-powered rates (analysis.prediction.ppi): coverage of a known truth by Monte Carlo,
narrower than the classical interval with an informative predictor, the published PPI++ mean in
the uniform case, a brute-force computation of the estimator, and the degenerate cases."""

from __future__ import annotations

import math

import numpy as np
import pytest

from analysis.errors import InputError
from analysis.prediction.ppi import class_rates, wilson
from analysis.stats import normal_quantile

Z = normal_quantile(0.95)
NODES, WEIGHTS = np.polynomial.hermite.hermgauss(80)


def _expect(g) -> np.ndarray:
    """E[g(X)] for X ~ N(0, 1), by Gauss-Hermite quadrature (the truth, exact to ~1e-12)."""
    values = np.array([g(math.sqrt(2.0) * t) for t in NODES])
    return (WEIGHTS[:, None] * values.reshape(len(NODES), -1)).sum(axis=0) / math.sqrt(math.pi)


def _softmax(logits: np.ndarray) -> np.ndarray:
    e = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _true_probs(x: np.ndarray | float) -> np.ndarray:
    x = np.asarray(x, dtype=float)
    return _softmax(np.stack([2.0 * x, np.zeros_like(x), -2.0 * x + 0.5], axis=-1))


def _predicted(x: np.ndarray) -> np.ndarray:
    """An informative but biased predictor (wrong slopes and offsets): PPI must correct it."""
    return _softmax(np.stack([1.4 * x + 0.4, np.zeros_like(x), -1.4 * x], axis=-1))


def _campaign(rng: np.random.Generator, n: int, fraction: float):
    """N units: a feature, a 3-class outcome, exact units (half of class 2), a selection."""
    x = rng.normal(size=n)
    cum = _true_probs(x).cumsum(axis=1)
    y = (rng.random(n)[:, None] > cum).sum(axis=1)
    exact = (y == 2) & (rng.random(n) < 0.5)
    probability = np.where(exact, 1.0, fraction)
    labelled = exact | (rng.random(n) < fraction)
    return x, y, exact, probability, labelled


def test_monte_carlo_coverage_width_and_a_naive_interval_that_fails():
    truth = _expect(_true_probs)
    # N = 600 leaves ~90 labelled non-exact runs. At N = 300 (~45 of them) both intervals, the
    # prediction-powered and the classical, cover a 15 % class ~93.5 % of the time (3000
    # repetitions): the normal approximation's small-sample shortfall, which the t quantile
    # only halves.
    rng = np.random.default_rng(2024)
    reps, n = 800, 600
    hits = np.zeros((3, 3))  # rows: ppi, classical, naive; columns: classes
    width = np.zeros((2, 3))
    rates, ses = [], []
    for _ in range(reps):
        x, y, exact, probability, labelled = _campaign(rng, n, 0.2)
        f = _predicted(x)
        row_rates, row_ses = [], []
        for j in range(3):
            yj = np.where(labelled, (y == j).astype(float), np.nan)
            ppi, classical = class_rates(yj, f[:, j], labelled, probability, exact, 0.95)
            naive_se = f[:, j].std(ddof=1) / math.sqrt(n)
            naive = (f[:, j].mean() - Z * naive_se, f[:, j].mean() + Z * naive_se)
            for i, (low, high) in enumerate([(ppi.low, ppi.high),
                                             (classical.low, classical.high), naive]):
                hits[i, j] += low <= truth[j] <= high
            width[:, j] += (ppi.high - ppi.low, classical.high - classical.low)
            row_rates.append(ppi.rate)
            row_ses.append(ppi.se)
        rates.append(row_rates)
        ses.append(row_ses)
    coverage = hits / reps
    assert np.all(coverage[0] >= 0.93), coverage
    assert np.all(coverage[1] >= 0.93), coverage
    assert np.all(coverage[2] <= 0.6), coverage  # predictions alone: biased, overconfident
    # Classes 0 and 2 are monotone in the feature: the predictor narrows them. Class 1's
    # prediction says little; power tuning keeps it about as narrow as the classical one.
    assert width[0, 0] < 0.85 * width[1, 0] and width[0, 2] < 0.85 * width[1, 2], width
    assert width[0, 1] <= 1.01 * width[1, 1], width
    # The standard error is the estimator's spread across campaigns (around the truth).
    spread = np.asarray(rates).std(axis=0)
    rms = np.sqrt(np.mean(np.square(ses), axis=0))
    assert np.allclose(spread / rms, 1.0, atol=0.12), (spread, rms)
    assert np.allclose(np.asarray(rates).mean(axis=0), truth, atol=0.01)


def _published_ppi_mean(y_l: np.ndarray, f_l: np.ndarray, f_u: np.ndarray) -> tuple[float, ...]:
    """PPI++ for a mean, written from Angelopoulos et al. (2023), "PPI++", for n labelled and
    N unlabelled points: lam = Cov(Y, f) / ((1 + n / N) Var(f)), the estimate
    mean(Y - lam f) over the labelled plus lam mean(f) over the unlabelled, and its variance
    Var(Y - lam f) / n + lam^2 Var(f_unlabelled) / N."""
    n, big = len(y_l), len(f_u)
    var_f = np.var(np.concatenate([f_l, f_u]), ddof=1)
    lam = float(np.clip(np.cov(y_l, f_l)[0, 1] / ((1 + n / big) * var_f), 0, 1))
    rate = np.mean(y_l - lam * f_l) + lam * np.mean(f_u)
    se = math.sqrt(np.var(y_l - lam * f_l, ddof=1) / n + lam**2 * np.var(f_u, ddof=1) / big)
    return rate, se, lam


def test_the_uniform_case_agrees_with_the_published_ppi_mean():
    rng = np.random.default_rng(8)
    n = 200_000
    x = rng.normal(size=n)
    y = (rng.random(n) < 1 / (1 + np.exp(-2 * x))).astype(float)
    f = 1 / (1 + np.exp(-1.5 * x - 0.3))
    labelled = rng.random(n) < 0.02
    ppi, classical = class_rates(y, f, labelled, np.full(n, 0.02), np.zeros(n, bool))
    rate, se, lam = _published_ppi_mean(y[labelled], f[labelled], f[~labelled])
    assert ppi.rate == pytest.approx(rate, abs=2e-4)
    assert ppi.se == pytest.approx(se, rel=0.03)
    assert ppi.lam == pytest.approx(lam, rel=0.03)
    # The classical interval is the labelled runs' own (Wald) one.
    k, m = y[labelled].sum(), labelled.sum()
    assert classical.rate == pytest.approx(k / m, abs=1e-12)
    assert classical.se == pytest.approx(math.sqrt(k / m * (1 - k / m) / m), rel=0.03)
    assert classical.ess == pytest.approx(m, rel=0.03) and ppi.ess > 1.3 * m


def _brute_force(y, f, labelled, probability, exact, lam):
    """The estimator and its variance from the module doc, one unit at a time."""
    n = len(y)
    total, variance = 0.0, 0.0
    for p in sorted(set(probability[~exact])):
        group = [i for i in range(n) if not exact[i] and probability[i] == p]
        chosen = [i for i in group if labelled[i]]
        residuals = [y[i] - lam * f[i] for i in chosen]
        for i in group:
            total += lam * f[i] + (labelled[i] * len(group) / len(chosen)) * (y[i] - lam * f[i])
        mean = sum(residuals) / len(chosen)
        s2 = sum((r - mean) ** 2 for r in residuals) / (len(chosen) - 1)
        variance += (len(group) / n) ** 2 * (1 / len(chosen) - 1 / len(group)) * s2
    total += sum(y[i] for i in range(n) if exact[i])
    rate = total / n
    return rate, math.sqrt(rate * (1 - rate) / n + variance)


def test_two_probability_groups_and_exact_units_match_a_brute_force_computation():
    rng = np.random.default_rng(3)
    n = 60
    x = rng.normal(size=n)
    y = (rng.random(n) < 1 / (1 + np.exp(-x))).astype(float)
    f = 1 / (1 + np.exp(-0.8 * x))
    exact = rng.random(n) < 0.2
    probability = np.where(exact, 1.0, np.where(x > 0, 0.3, 0.6))
    labelled = exact | (rng.random(n) < probability)
    ppi, classical = class_rates(y, f, labelled, probability, exact)
    for estimate in (ppi, classical):
        rate, se = _brute_force(y, f, labelled, probability, exact, estimate.lam)
        assert estimate.rate == pytest.approx(rate, abs=1e-12)
        assert estimate.se == pytest.approx(se, rel=1e-9)
        # rate +/- t se: Student's quantile at ~40 degrees of freedom, a little above z.
        assert estimate.high - rate == pytest.approx(rate - estimate.low)
        assert Z < (estimate.high - rate) / se < Z * 1.05
        assert not estimate.widened
    assert classical.lam == 0.0 and 0.0 < ppi.lam <= 1.0
    # The tuned lam is the best one: the variance is larger a little to either side.
    for step in (-0.05, 0.05):
        lam = min(max(ppi.lam + step, 0.0), 1.0)
        if lam != ppi.lam:
            assert _brute_force(y, f, labelled, probability, exact, lam)[1] >= ppi.se - 1e-12
    assert (ppi.n_units, ppi.n_labelled, ppi.n_exact) == (n, labelled.sum(), exact.sum())


def _uniform(n: int, labelled_count: int):
    labelled = np.zeros(n, bool)
    labelled[:labelled_count] = True
    return labelled, np.full(n, 0.2), np.zeros(n, bool)


def test_a_class_never_seen_gets_the_labelled_runs_wilson_interval_not_zero_width():
    labelled, probability, exact = _uniform(300, 60)
    f = np.full(300, 0.0)
    for estimate in class_rates(np.zeros(300), f, labelled, probability, exact):
        assert estimate.rate == 0.0 and estimate.low == 0.0 and estimate.widened
        assert estimate.high == pytest.approx(wilson(0.0, 60, Z)[1])
        assert estimate.high > 0.05
        assert estimate.ess == pytest.approx(60)  # as wide as 60 runs' zero-count Wilson
    # Always seen: the mirror image.
    ppi, _ = class_rates(np.ones(300), np.ones(300), labelled, probability, exact)
    assert ppi.rate == 1.0 and ppi.high == 1.0 and ppi.low == pytest.approx(1 - ppi_gap(60))


def ppi_gap(m: int) -> float:
    return wilson(0.0, m, Z)[1]


def test_a_class_seen_only_among_exact_units_still_allows_it_among_the_others():
    n = 300
    exact = np.arange(n) < 30
    y = exact.astype(float)  # every exact unit is in the class, no labelled other unit is
    labelled = exact | (np.arange(n) % 5 == 0)
    probability = np.where(exact, 1.0, 0.2)
    ppi, classical = class_rates(y, y * 0.9, labelled, probability, exact)
    others, m = n - 30, int((labelled & ~exact).sum())
    expected_high = (30 + others * wilson(0.0, m, Z)[1]) / n
    for estimate in (ppi, classical):
        assert estimate.rate == pytest.approx(0.1) and estimate.widened
        assert estimate.high == pytest.approx(expected_high)


def test_without_any_labelled_non_exact_unit_the_interval_spans_every_possible_rate():
    n = 100
    exact = np.arange(n) < 10
    y = np.where(exact, 1.0, np.nan)
    labelled = exact.copy()
    probability = np.where(exact, 1.0, 0.01)
    ppi, _ = class_rates(y, np.full(n, 0.5), labelled, probability, exact)
    # Nothing is known of the 90 others: up to all of them; the exact count's own spread below.
    assert ppi.high == 1.0 and 0.0 < ppi.low < 0.10
    assert ppi.lam == 0.0 and ppi.widened


def test_every_unit_exact_and_the_class_never_seen_gives_the_full_campaigns_wilson():
    n = 200
    exact = np.ones(n, bool)
    ppi, classical = class_rates(np.zeros(n), np.zeros(n), exact, np.ones(n), exact)
    assert ppi.high == pytest.approx(wilson(0.0, n, Z)[1]) and ppi.low == 0.0
    assert classical.high == ppi.high


def test_a_rare_class_is_covered_when_the_labelled_runs_rarely_show_it():
    rng = np.random.default_rng(17)
    n, truth, hits, widened = 300, 0.01, 0, 0
    for _ in range(300):
        y = (rng.random(n) < truth).astype(float)
        labelled = rng.random(n) < 0.2
        ppi, _ = class_rates(y, np.full(n, 0.02), labelled, np.full(n, 0.2), np.zeros(n, bool))
        hits += ppi.low <= truth <= ppi.high
        widened += ppi.widened
    assert widened > 50  # the degenerate case is common here ...
    assert hits / 300 >= 0.6  # ... and covers (a zero-width interval at 0 would not)


def test_bad_inputs_are_refused():
    labelled, probability, exact = _uniform(10, 5)
    y, f = np.zeros(10), np.zeros(10)
    with pytest.raises(InputError, match="0 or 1"):
        class_rates(np.full(10, 2.0), f, labelled, probability, exact)
    with pytest.raises(InputError, match=r"\[0, 1\]"):
        class_rates(y, np.full(10, 1.5), labelled, probability, exact)
    with pytest.raises(InputError, match=r"\(0, 1\]"):
        class_rates(y, f, labelled, np.zeros(10), exact)
    with pytest.raises(InputError, match="exact units"):
        class_rates(y, f, labelled, probability, np.ones(10, bool))
    with pytest.raises(InputError, match="length"):
        class_rates(y[:5], f, labelled, probability, exact)
    with pytest.raises(InputError, match="no units"):
        class_rates(y[:0], f[:0], labelled[:0], probability[:0], exact[:0])
