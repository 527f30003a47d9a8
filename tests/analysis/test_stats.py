"""Interval methods against independent computations and published values; Goodman against a
hand computation; the sample-size formula; tests of difference; bad arguments."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sps

from analysis.errors import InputError
from analysis.stats import (
    difference_test,
    multinomial_ci,
    proportion_ci,
    proportion_ci_array,
    sample_size,
)

CASES = [
    (0, 10),
    (1, 10),
    (5, 10),
    (10, 10),
    (0, 1),
    (1, 1),
    (3, 1000),
    (81, 263),
    (15, 148),
    (0, 20),
    (1, 29),
    (999_999, 1_000_000),
]


def wilson_closed_form(k: int, n: int, conf: float) -> tuple[float, float]:
    z = sps.norm.ppf(1 - (1 - conf) / 2)
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


@pytest.mark.parametrize("conf", [0.9, 0.95, 0.99])
@pytest.mark.parametrize(("k", "n"), CASES)
def test_wilson_against_closed_form_and_scipy(k: int, n: int, conf: float) -> None:
    low, high = proportion_ci(k, n, "wilson", conf)
    assert (low, high) == pytest.approx(wilson_closed_form(k, n, conf), abs=1e-12)
    ref = sps.binomtest(k, n).proportion_ci(confidence_level=conf, method="wilson")
    assert (low, high) == pytest.approx((ref.low, ref.high), abs=1e-9)


@pytest.mark.parametrize("conf", [0.9, 0.95, 0.99])
@pytest.mark.parametrize(("k", "n"), CASES)
def test_clopper_pearson_against_beta_quantiles(k: int, n: int, conf: float) -> None:
    a = 1 - conf
    expected = (
        0.0 if k == 0 else sps.beta.ppf(a / 2, k, n - k + 1),
        1.0 if k == n else sps.beta.ppf(1 - a / 2, k + 1, n - k),
    )
    assert proportion_ci(k, n, "clopper-pearson", conf) == pytest.approx(expected, abs=1e-12)
    ref = sps.binomtest(k, n).proportion_ci(confidence_level=conf, method="exact")
    assert proportion_ci(k, n, "clopper-pearson", conf) == pytest.approx(
        (ref.low, ref.high), abs=1e-9
    )


@pytest.mark.parametrize(("k", "n"), CASES)
def test_jeffreys_against_beta_quantiles(k: int, n: int) -> None:
    low = sps.beta.ppf(0.025, k + 0.5, n - k + 0.5)
    high = sps.beta.ppf(0.975, k + 0.5, n - k + 0.5)
    expected = (0.0 if k == 0 else low, 1.0 if k == n else high)  # Brown, Cai, DasGupta
    assert proportion_ci(k, n, "jeffreys") == pytest.approx(expected, abs=1e-12)


# Newcombe (1998), Statistics in Medicine 17:857-872, Table I: 95% intervals.
NEWCOMBE = [
    ((81, 263), "wilson", (0.2553, 0.3662)),
    ((15, 148), "wilson", (0.0624, 0.1605)),
    ((0, 20), "wilson", (0.0, 0.1611)),
    ((1, 29), "wilson", (0.0061, 0.1718)),
    ((81, 263), "clopper-pearson", (0.2527, 0.3676)),
    ((15, 148), "clopper-pearson", (0.0578, 0.1617)),
    ((0, 20), "clopper-pearson", (0.0, 0.1684)),
    ((1, 29), "clopper-pearson", (0.0009, 0.1776)),
]


@pytest.mark.parametrize(("kn", "method", "published"), NEWCOMBE)
def test_published_values(kn: tuple[int, int], method: str, published: tuple[float, float]) -> None:
    assert proportion_ci(*kn, method) == pytest.approx(published, abs=5e-5)


def test_wilson_k_zero_is_z2_over_n_plus_z2() -> None:
    z = sps.norm.ppf(0.975)
    assert proportion_ci(0, 10) == pytest.approx((0.0, z * z / (10 + z * z)), abs=1e-12)
    assert proportion_ci(0, 10)[1] == pytest.approx(0.2775, abs=5e-5)


def test_vectorised_equals_scalar() -> None:
    k = np.array([c[0] for c in CASES])
    n = np.array([c[1] for c in CASES])
    for method in ("wilson", "clopper-pearson", "jeffreys"):
        low, high = proportion_ci_array(k, n, method)
        for i, (ki, ni) in enumerate(CASES):
            assert (low[i], high[i]) == pytest.approx(proportion_ci(ki, ni, method), abs=1e-15)
        assert np.all((low >= 0) & (low <= k / n) & (k / n <= high) & (high <= 1))


def test_goodman_against_hand_computation() -> None:
    counts = np.array([91, 49, 37, 43])
    n, c, alpha = counts.sum(), counts.size, 0.05
    a = sps.chi2.ppf(1 - alpha / c, 1)
    for i, ni in enumerate(counts):
        root = math.sqrt(a * (a + 4 * ni * (n - ni) / n))
        expected = ((a + 2 * ni - root) / (2 * (n + a)), (a + 2 * ni + root) / (2 * (n + a)))
        low, high = multinomial_ci(counts, 0.95)
        assert (low[i], high[i]) == pytest.approx(expected, abs=1e-12)


def test_goodman_is_wider_than_one_wilson_interval() -> None:
    counts = np.array([950, 30, 20])
    low, high = multinomial_ci(counts)
    wl, wh = proportion_ci_array(counts, np.full(3, 1000))
    assert np.all(low <= wl) and np.all(high >= wh)
    assert np.all(low < counts / 1000) and np.all(counts / 1000 < high)


@pytest.mark.parametrize(
    ("args", "name"),
    [
        ((5, 0), "n"),
        ((0, 0), "n"),
        ((6, 5), "k"),
        ((-1, 5), "k"),
        ((2.5, 5), "k"),
        ((True, 5), "k"),
        ((1, 5, "wilson", 0.0), "confidence"),
        ((1, 5, "wilson", 1.0), "confidence"),
        ((1, 5, "wilson", 1.5), "confidence"),
        ((1, 5, "wilson", -0.1), "confidence"),
        ((1, 5, "wilson", float("nan")), "confidence"),
        ((1, 5, "agresti"), "method"),
    ],
)
def test_bad_arguments_are_clear_errors(args: tuple, name: str) -> None:
    with pytest.raises(InputError) as err:
        proportion_ci(*args)
    assert str(err.value).startswith(f"{name}: ")


def test_goodman_bad_input() -> None:
    for counts in ([0, 0, 0], [5], [[1, 2], [3, 4]], [3, -1]):
        with pytest.raises(InputError):
            multinomial_ci(counts)


def test_sample_size_formula() -> None:
    assert sample_size(0.05, 0.95) == 385  # 1.96^2 / (4 * 0.05^2) = 384.1
    assert sample_size(0.05, 0.95, population=1000) == 278
    t = sps.norm.ppf(0.995)
    assert sample_size(0.01, 0.99) == math.ceil(t * t * 0.25 / 1e-4)
    big_n = 2_000_000
    expected = big_n / (1 + 0.001**2 * (big_n - 1) / (t * t * 0.25))
    assert sample_size(0.001, 0.99, population=big_n) == math.ceil(expected)
    assert sample_size(0.01, 0.95, p=0.1) == math.ceil(sps.norm.ppf(0.975) ** 2 * 0.09 / 1e-4)
    assert sample_size(0.05, 0.95, population=1) == 1
    assert sample_size(0.5, 0.5) == 1


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"margin": 0.0, "confidence": 0.95}, "margin"),
        ({"margin": 1.0, "confidence": 0.95}, "margin"),
        ({"margin": 0.05, "confidence": 1.0}, "confidence"),
        ({"margin": 0.05, "confidence": 0.0}, "confidence"),
        ({"margin": 0.05, "confidence": 0.95, "p": 1.0}, "p"),
        ({"margin": 0.05, "confidence": 0.95, "population": 0}, "population"),
        ({"margin": 0.05, "confidence": 0.95, "population": 10.5}, "population"),
    ],
)
def test_sample_size_bad_arguments(kwargs: dict, name: str) -> None:
    with pytest.raises(InputError) as err:
        sample_size(**kwargs)
    assert str(err.value).startswith(f"{name}: ")


def test_fisher_exact_for_two_by_two() -> None:
    result = difference_test([[3, 1], [1, 3]])  # Fisher's tea-tasting table
    assert result.method == "fisher-exact"
    assert result.p_value == pytest.approx(0.4857142857, abs=1e-9)
    assert result.statistic == pytest.approx(9.0)


def test_chi_square_against_hand_computation() -> None:
    table = np.array([[30, 10, 5], [20, 20, 10], [25, 15, 2]])
    expected = table.sum(1, keepdims=True) * table.sum(0, keepdims=True) / table.sum()
    stat = ((table - expected) ** 2 / expected).sum()
    result = difference_test(table)
    assert result.method == "chi-square" and result.dof == 4
    assert result.statistic == pytest.approx(stat)
    assert result.p_value == pytest.approx(sps.chi2.sf(stat, 4))


def test_difference_test_edge_cases() -> None:
    # An outcome never seen is dropped: the 2x3 table becomes 2x2.
    assert difference_test([[3, 0, 1], [1, 0, 3]]).method == "fisher-exact"
    same = difference_test([[5, 0], [7, 0]])
    assert same.p_value == 1.0 and not math.isnan(same.statistic)
    with pytest.raises(InputError, match="n = 0"):
        difference_test([[5, 2], [0, 0]])
    with pytest.raises(InputError):
        difference_test([[5, 2]])
