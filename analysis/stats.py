"""Interval estimates, tests and campaign sizing for outcome proportions.

Everything is vectorised over numpy arrays so that grouped rates for millions of experiments cost
a few array operations. Bad arguments (n = 0, k > n, a confidence or margin outside (0, 1))
raise InputError naming the argument, never return NaN.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any

import numpy as np

from analysis.errors import InputError
from analysis.strict import MAX_COUNT, integer, unit_open
from analysis.strict import confidence as confidence_level

METHODS = ("wilson", "clopper-pearson", "jeffreys")


def _scipy_stats() -> Any:
    """scipy.stats, imported when a method needs it (about a second to import: the Wilson
    interval, which `status` and the defaults use, does without)."""
    from scipy import stats

    return stats


def _check_open_unit(value: Any, name: str) -> float:
    """A number strictly between 0 and 1 (margin, p): the strict reader's."""
    return unit_open(value, name)


def _check_confidence(value: Any, name: str = "confidence") -> float:
    """A confidence level whose quantiles are finite (at most strict.MAX_CONFIDENCE)."""
    return confidence_level(value, name)


def _check_counts(k: Any, n: Any) -> tuple[np.ndarray, np.ndarray]:
    """Integer counts with 0 <= k <= n and n > 0; returns float arrays."""
    arrays = []
    for name, value in (("k", k), ("n", n)):
        arr = np.asarray(value)
        if arr.dtype == bool or not np.issubdtype(arr.dtype, np.number):
            raise InputError(name, None, f"must be an integer count, got {value!r}")
        arr = arr.astype(np.float64)
        if not np.all(np.isfinite(arr)) or np.any(arr != np.round(arr)):
            raise InputError(name, None, f"must be an integer count, got {value!r}")
        arrays.append(arr)
    k_arr, n_arr = np.broadcast_arrays(*arrays)
    if np.any(n_arr <= 0):
        i = int(np.argmax(n_arr <= 0))
        raise InputError(
            "n", None, f"must be > 0 (n = {n_arr.flat[i]:.0f}: a group without runs has no rate)"
        )
    if np.any(k_arr < 0):
        raise InputError(
            "k", None, f"must be >= 0, got {k_arr.flat[int(np.argmax(k_arr < 0))]:.0f}"
        )
    if np.any(k_arr > n_arr):
        i = int(np.argmax(k_arr > n_arr))
        raise InputError(
            "k", None, f"must be <= n (k = {k_arr.flat[i]:.0f}, n = {n_arr.flat[i]:.0f})"
        )
    return k_arr, n_arr


def normal_quantile(confidence: float) -> float:
    """Two-sided standard normal quantile t for a confidence level (1.96 for 0.95)."""
    c = _check_confidence(confidence)
    return NormalDist().inv_cdf(1.0 - (1.0 - c) / 2.0)


def proportion_ci_array(
    k: Any, n: Any, method: str = "wilson", confidence: float = 0.95
) -> tuple[np.ndarray, np.ndarray]:
    """Vectorised binomial proportion interval: arrays (low, high) in [0, 1].

    wilson: score interval; clopper-pearson: exact (beta quantiles); jeffreys: Beta(k+1/2,
    n-k+1/2) equal-tailed, with low = 0 at k = 0 and high = 1 at k = n (Brown, Cai, DasGupta).
    """
    k_arr, n_arr = _check_counts(k, n)
    c = _check_confidence(confidence)
    alpha = 1.0 - c
    at_zero, at_n = k_arr == 0, k_arr == n_arr
    with np.errstate(divide="ignore", invalid="ignore"):
        if method == "wilson":
            z = normal_quantile(c)
            z2 = z * z
            denom = n_arr + z2
            center = (k_arr + z2 / 2.0) / denom
            half = z * np.sqrt(k_arr * (n_arr - k_arr) / n_arr + z2 / 4.0) / denom
            low, high = center - half, center + half
        elif method == "clopper-pearson":
            sps = _scipy_stats()
            low = sps.beta.ppf(alpha / 2.0, k_arr, n_arr - k_arr + 1.0)
            high = sps.beta.ppf(1.0 - alpha / 2.0, k_arr + 1.0, n_arr - k_arr)
        elif method == "jeffreys":
            sps = _scipy_stats()
            low = sps.beta.ppf(alpha / 2.0, k_arr + 0.5, n_arr - k_arr + 0.5)
            high = sps.beta.ppf(1.0 - alpha / 2.0, k_arr + 0.5, n_arr - k_arr + 0.5)
        else:
            raise InputError("method", None, f"must be one of {', '.join(METHODS)}, got {method!r}")
    low = np.where(at_zero, 0.0, np.clip(low, 0.0, 1.0))
    high = np.where(at_n, 1.0, np.clip(high, 0.0, 1.0))
    return low, high


def proportion_ci(
    k: int, n: int, method: str = "wilson", confidence: float = 0.95
) -> tuple[float, float]:
    """Interval for a proportion k/n: (low, high). See proportion_ci_array for the methods."""
    low, high = proportion_ci_array(k, n, method, confidence)
    return float(low), float(high)


def multinomial_ci(counts: Any, confidence: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Goodman's (1965) simultaneous intervals for all category proportions at once.

    With A = chi2 quantile (1 df) at 1 - alpha/c for c categories, category i with n_i of N gets
    (A + 2 n_i -/+ sqrt(A (A + 4 n_i (N - n_i) / N))) / (2 (N + A)). All c intervals hold
    together with probability >= confidence (Bonferroni over categories).
    """
    arr = np.asarray(counts)
    if arr.ndim != 1 or arr.size < 2:
        raise InputError("counts", None, "must be a 1-D sequence of at least 2 category counts")
    k_arr, _ = _check_counts(arr, np.full(arr.shape, max(int(arr.sum()), 1)))
    total = float(k_arr.sum())
    if total <= 0:
        raise InputError("counts", None, "all counts are 0 (no runs): no distribution to estimate")
    c = _check_confidence(confidence)
    a = float(_scipy_stats().chi2.ppf(1.0 - (1.0 - c) / arr.size, 1))
    root = np.sqrt(a * (a + 4.0 * k_arr * (total - k_arr) / total))
    low = (a + 2.0 * k_arr - root) / (2.0 * (total + a))
    high = (a + 2.0 * k_arr + root) / (2.0 * (total + a))
    return np.clip(low, 0.0, 1.0), np.clip(high, 0.0, 1.0)


@dataclass(frozen=True)
class GroupTest:
    """Outcome of a test of whether groups differ."""

    method: str
    statistic: float  # chi-square statistic, or the odds ratio for Fisher's exact test
    p_value: float
    dof: int


def difference_test(table: Any, method: str = "auto") -> GroupTest:
    """Do groups (rows) differ in their outcome counts (columns)?

    auto: Fisher's exact test (two-sided) for a 2x2 table, else Pearson's chi-square test of
    independence without continuity correction. Outcome columns that are 0 in every group are
    dropped first; if fewer than two remain, the groups cannot differ (p = 1).
    """
    arr = np.asarray(table)
    if arr.ndim != 2 or arr.shape[0] < 2:
        raise InputError("table", None, "need a 2-D table with at least two groups (rows)")
    _check_counts(arr, np.full(arr.shape, max(int(arr.sum()), 1)))
    arr = arr.astype(np.int64)
    empty = np.flatnonzero(arr.sum(axis=1) == 0)
    if empty.size:
        raise InputError("table", None, f"group (row) {int(empty[0])} has n = 0")
    arr = arr[:, arr.sum(axis=0) > 0]
    if arr.shape[1] < 2:
        return GroupTest("none (a single outcome in every group)", 0.0, 1.0, 0)
    if method not in ("auto", "fisher", "chi-square"):
        raise InputError("method", None, f"must be auto, fisher or chi-square, got {method!r}")
    if method == "fisher" or (method == "auto" and arr.shape == (2, 2)):
        if arr.shape != (2, 2):
            raise InputError("method", None, "Fisher's exact test needs a 2x2 table")
        res = _scipy_stats().fisher_exact(arr, alternative="two-sided")
        return GroupTest("fisher-exact", float(res.statistic), float(res.pvalue), 1)
    res = _scipy_stats().chi2_contingency(arr, correction=False)
    return GroupTest("chi-square", float(res.statistic), float(res.pvalue), int(res.dof))


def sample_size(
    margin: float, confidence: float = 0.95, population: int | None = None, p: float = 0.5
) -> int:
    """Injections needed for a given margin of error (Leveugle et al., DATE 2009).

    n = N / (1 + e^2 (N - 1) / (t^2 p (1 - p))), t the two-sided normal quantile; with no N
    (infinite population) n = t^2 p (1 - p) / e^2. Rounded up. N is at most MAX_COUNT, and a
    margin so small that n would exceed it (or be infinite) is refused.
    """
    e = _check_open_unit(margin, "margin")
    pp = _check_open_unit(p, "p")
    t = normal_quantile(confidence)
    spread = t * t * pp * (1.0 - pp)
    if population is None:
        n = spread / (e * e) if e * e > 0.0 else math.inf
        if not n <= MAX_COUNT:
            raise InputError(
                "margin", None, f"{e!r} is too small: it needs more than {MAX_COUNT:.0e} "
                "injections (give --population, or a larger margin)"
            )
    else:
        big_n = float(integer(population, "population", low=1, high=MAX_COUNT))
        n = big_n / (1.0 + e * e * (big_n - 1.0) / spread)
    # Round up, but do not let binary rounding turn an exact integer into the next one.
    return max(1, math.ceil(n - 1e-9))


def mcnemar_exact(b: int, c: int) -> float:
    """Two-sided exact McNemar test of paired binary outcomes: under the null hypothesis each of
    the b + c discordant pairs goes either way with probability 1/2, so the p-value is
    min(1, 2 P[Binomial(b + c, 1/2) <= min(b, c)]); 1.0 without discordant pairs."""
    for name, value in (("b", b), ("c", c)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
            raise InputError(name, None, f"must be a count >= 0, got {value!r}")
    n = int(b) + int(c)
    if n == 0:
        return 1.0
    tail = float(_scipy_stats().binom.cdf(min(int(b), int(c)), n, 0.5))
    return min(1.0, 2.0 * tail)


def upper_bound(k: int, n: int, confidence: float = 0.95) -> float:
    """One-sided exact (Clopper-Pearson) upper confidence bound of a proportion k/n: the p at
    which P[Binomial(n, p) <= k] = 1 - confidence (for k = 0: 1 - (1 - confidence)^(1/n))."""
    k_arr, n_arr = _check_counts(k, n)
    c = _check_confidence(confidence)
    if float(k_arr) >= float(n_arr):
        return 1.0
    return float(_scipy_stats().beta.ppf(c, float(k_arr) + 1.0, float(n_arr - k_arr)))
