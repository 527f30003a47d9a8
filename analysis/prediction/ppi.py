"""Prediction-powered rate of one outcome class, and the classical rate of the labelled runs.

The units are N injections drawn from the fault space; each non-exact one was labelled (run to
its end) with a known probability, independently (``design``); exact ones are labelled at no
cost. For the class's indicator Y and its cross-fitted predicted probability f, every unit gets

    psi_i = lam * f_i + (xi_i / p_i) * (Y_i - lam * f_i)

(xi_i: labelled; p_i: its inclusion probability), and the rate is the mean of the psi's. The
predictions carry the rate; the labelled runs correct their bias, so the estimate is unbiased
whatever the predictor. ``lam`` (in [0, 1]) is tuned to the smallest estimated variance (power
tuning, PPI++): an uninformative predictor gets lam near 0, and the estimate is then the
classical one, lam = 0, the labelled runs alone (``classical``).

Two choices depart from the textbook Horvitz-Thompson form, so that "classical" really is the
labelled runs' own interval:

- p_i is the realised fraction of the units that share its inclusion probability (Bernoulli
  sampling given how many were drawn is simple random sampling): with the known p_i, the
  labelled runs' random count would add variance, and the classical interval of a uniform
  selection would be up to ~3 times wider than the binomial interval of the labelled runs;
- the variance is not sd(psi)^2 / N but its two parts: the units' own spread, rate (1 - rate)
  / N (Y is binary), plus, per group g of equal probability, the sampling variance of the
  residuals Y - lam f, (N_g / N)^2 (1 / n_g - 1 / N_g) S_g^2. With lam = 0 and one group this is
  the Wald variance of the labelled runs; lam minimises the sum in closed form.

The interval is rate +/- q se, q Student's quantile at the Welch-Satterthwaite degrees of
freedom of the variance's parts (the normal one once many runs are labelled). When a group's
labelled runs show no variation in the class (it never, or always, occurs among them; or the
group has no labelled run) the observed variance says nothing about it, and a zero-width
interval would be overconfident; the interval is then widened to contain the range that the
exact runs' count plus that group's Wilson interval (its labelled runs alone, [0, 1] without
any) allows, and, when all labelled runs together show no variation, the Wilson interval of all
of them (Kish's effective size of their weights) too. Rates and intervals are clipped to [0, 1].
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from analysis.errors import InputError
from analysis.stats import normal_quantile

WHERE = "prediction-powered rate"


@dataclass(frozen=True)
class RateEstimate:
    """A class's rate and interval; ``ess``: the fully labelled runs giving the same precision.

    ``se``: the standard error the interval stands for (the widened interval's half-width / q
    when ``widened``); ``lam``: the predictions' weight (0 for the classical estimate).
    """

    rate: float
    low: float
    high: float
    se: float
    lam: float
    n_units: int
    n_labelled: int
    n_exact: int
    ess: float
    widened: bool


def wilson(p: float, n: float, z: float) -> tuple[float, float]:
    """Wilson score interval of a proportion p among n (a real effective size; n = 0: [0, 1])."""
    if n <= 0:
        return 0.0, 1.0
    z2n = z * z / n
    center = (p + z2n / 2.0) / (1.0 + z2n)
    half = z / (1.0 + z2n) * math.sqrt(max(p * (1.0 - p), 0.0) / n + z2n / (4.0 * n))
    return max(center - half, 0.0), min(center + half, 1.0)


def _check(y: np.ndarray, f: np.ndarray, labelled: np.ndarray, probability: np.ndarray,
           exact: np.ndarray) -> None:
    n = len(y)
    if n == 0:
        raise InputError(WHERE, None, "no units")
    if any(len(a) != n for a in (f, labelled, probability, exact)):
        raise InputError(WHERE, None, "the units' arrays differ in length")
    if not np.all(np.isfinite(probability) & (probability > 0) & (probability <= 1)):
        raise InputError(WHERE, "probability", "every inclusion probability must be in (0, 1]")
    if np.any(exact & ~labelled) or np.any(exact & (probability != 1.0)):
        raise InputError(WHERE, "exact", "exact units must be labelled with probability 1")
    if not np.all(np.isin(y[labelled], (0.0, 1.0))):
        raise InputError(WHERE, "outcome", "a labelled unit's class indicator must be 0 or 1")
    if not np.all(np.isfinite(f) & (f >= 0) & (f <= 1)):
        raise InputError(WHERE, "prediction", "predicted probabilities must be in [0, 1]")


@dataclass(frozen=True, eq=False)
class _Group:
    """The non-exact units sharing one inclusion probability, and their labelled ones."""

    units: np.ndarray
    labelled: np.ndarray

    @property
    def weight(self) -> float:
        """(N_g / N)^2 (1 / n_g - 1 / N_g) without the 1 / N^2: the residuals' variance factor."""
        big, small = len(self.units), len(self.labelled)
        return big * big * (1.0 / small - 1.0 / big) if small else 0.0


def _groups(labelled: np.ndarray, probability: np.ndarray, exact: np.ndarray) -> list[_Group]:
    out = []
    for p in np.unique(probability[~exact]):
        units = np.flatnonzero(~exact & (probability == p))
        out.append(_Group(units, units[labelled[units]]))
    return out


def _moments(g: _Group, y: np.ndarray, f: np.ndarray) -> tuple[float, float, float]:
    """Var(Y), Cov(Y, f), Var(f) over the group's labelled units (0 below two of them)."""
    if len(g.labelled) < 2:
        return 0.0, 0.0, 0.0
    c = np.cov(y[g.labelled], f[g.labelled], ddof=1)
    return float(c[0, 0]), float(c[0, 1]), float(c[1, 1])


def _tuned_lam(groups: list[_Group], y: np.ndarray, f: np.ndarray) -> float:
    """The lam in [0, 1] minimising sum_g weight_g Var_g(Y - lam f) (a quadratic in lam)."""
    num = den = 0.0
    for g in groups:
        _, cyf, vf = _moments(g, y, f)
        num += g.weight * cyf
        den += g.weight * vf
    return float(np.clip(num / den, 0.0, 1.0)) if den > 0 else 0.0


def _degenerate(g: _Group, y: np.ndarray) -> bool:
    k = float(y[g.labelled].sum())
    return len(g.labelled) == 0 or k in (0.0, float(len(g.labelled)))


def _floor(groups: list[_Group], psi: np.ndarray, y: np.ndarray, labelled: np.ndarray,
           exact: np.ndarray, z: float) -> tuple[float, float] | None:
    """The interval the degenerate cases need at least (module doc), or None if there are none."""
    n = len(psi)
    bounds: list[tuple[float, float]] = []
    degenerate = [_degenerate(g, y) for g in groups]
    if any(degenerate):
        low = high = float(y[exact].sum())
        for g, flat in zip(groups, degenerate, strict=True):
            if flat:
                k = float(y[g.labelled].sum())
                share = k / len(g.labelled) if len(g.labelled) else 0.0
                lo, hi = wilson(share, len(g.labelled), z)
                low, high = low + len(g.units) * lo, high + len(g.units) * hi
            else:
                total = float(psi[g.units].sum())
                low, high = low + total, high + total
        bounds.append((low / n, high / n))
    seen = y[labelled]
    if len(seen) == 0 or seen.min() == seen.max():
        weights = np.ones(n)
        for g in groups:
            if len(g.labelled):
                weights[g.labelled] = len(g.units) / len(g.labelled)
        w = weights[labelled]
        kish = float(w.sum() ** 2 / (w * w).sum()) if len(w) else 0.0
        bounds.append(wilson(float(seen[0]) if len(seen) else 0.0, kish, z))
    if not bounds:
        return None
    return min(b[0] for b in bounds), max(b[1] for b in bounds)


def _quantile(parts: list[tuple[float, int]], level: float, z: float) -> float:
    """Student's t quantile at the Welch-Satterthwaite degrees of freedom of the variance's
    parts (each estimated from its group's labelled runs): with ~50 labelled runs the normal
    quantile undercovers by about a point; with many it is z."""
    total = sum(v for v, _ in parts)
    spread = sum(v * v / df for v, df in parts if df > 0)
    if total <= 0.0 or spread <= 0.0:
        return z
    from scipy.stats import t

    return float(t.ppf(0.5 + level / 2.0, total * total / spread))


def _estimate(y: np.ndarray, f: np.ndarray, labelled: np.ndarray, exact: np.ndarray,
              groups: list[_Group], lam: float, level: float, z: float) -> RateEstimate:
    n = len(y)
    psi = np.where(exact, y, lam * f)
    parts: list[tuple[float, int]] = []  # (a variance term, its degrees of freedom)
    for g in groups:
        if len(g.labelled):
            residual = y[g.labelled] - lam * f[g.labelled]
            psi[g.labelled] += residual * len(g.units) / len(g.labelled)
            vy, cyf, vf = _moments(g, y, f)
            s2 = max(vy - 2.0 * lam * cyf + lam * lam * vf, 0.0)
            parts.append((g.weight * s2 / (n * n), len(g.labelled) - 1))
    rate = float(psi.mean())
    spread = min(max(rate, 0.0), 1.0)
    parts.append((spread * (1.0 - spread) / n, n - 1))
    se = math.sqrt(sum(v for v, _ in parts))
    quantile = _quantile(parts, level, z)
    half = quantile * se
    low, high = rate - half, rate + half
    floor = _floor(groups, psi, y, labelled, exact, z)
    widened = floor is not None and (floor[0] < low or floor[1] > high)
    if floor is not None:
        low, high = min(low, floor[0]), max(high, floor[1])
    if widened:
        se = max(se, (high - low) / (2.0 * quantile))
    low, high = max(low, 0.0), min(high, 1.0)
    rate = min(max(rate, 0.0), 1.0)
    return RateEstimate(
        rate=rate, low=low, high=high, se=se, lam=lam, n_units=n,
        n_labelled=int(labelled.sum()), n_exact=int(exact.sum()),
        ess=_ess(rate, se, high - low, widened, z), widened=widened,
    )


def _ess(rate: float, se: float, width: float, widened: bool, z: float) -> float:
    """rate (1 - rate) / se^2; where that says nothing (a widened interval, a rate of 0 or 1)
    the number of fully labelled runs, none in the class, whose Wilson interval is as wide."""
    if not widened and 0.0 < rate < 1.0 and se > 0.0:
        return rate * (1.0 - rate) / (se * se)
    if width > 0.0:
        return z * z * (1.0 - width) / width
    return math.nan


def class_rates(
    y: np.ndarray,
    f: np.ndarray,
    labelled: np.ndarray,
    probability: np.ndarray,
    exact: np.ndarray,
    level: float = 0.95,
) -> tuple[RateEstimate, RateEstimate]:
    """(prediction-powered, classical) estimates of one class's rate over all units.

    ``y``: the class indicator (read only where ``labelled``; NaN elsewhere is fine); ``f``: the
    predicted probability of the class; ``level``: the confidence level.
    """
    y = np.asarray(y, dtype=np.float64)
    f = np.asarray(f, dtype=np.float64)
    labelled = np.asarray(labelled, dtype=bool)
    probability = np.asarray(probability, dtype=np.float64)
    exact = np.asarray(exact, dtype=bool)
    _check(y, f, labelled, probability, exact)
    z = normal_quantile(level)
    y = np.where(labelled, y, 0.0)
    groups = _groups(labelled, probability, exact)
    lam = _tuned_lam(groups, y, f)
    return (_estimate(y, f, labelled, exact, groups, lam, level, z),
            _estimate(y, f, labelled, exact, groups, 0.0, level, z))
