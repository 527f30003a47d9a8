"""The selection of a prediction-powered campaign: which runs go on past the horizon.

Every non-exact run is continued to its end with a known probability (its stratum's fraction),
independently of the others (Bernoulli sampling), so that every estimate can weight a labelled
run by 1 / probability and stay unbiased. Exact runs (ended by themselves before the horizon)
cost nothing more: their probability is 1. The draw is reproducible: one uniform number per
unit from a seeded generator, in the order of the units' ids, so the same units and seed give
the same selection whatever order the table comes in.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

from analysis.errors import InputError
from analysis.prediction.columns import EXACT, ID, LABELLED, PROBABILITY
from analysis.strict import integer, number

if TYPE_CHECKING:
    import pandas as pd

WHERE = "selection"


def stratum_key(values: Sequence[object]) -> str:
    """A stratum's name in a fraction mapping: its strata columns' values joined by "/"."""
    return "/".join(str(v) for v in values)


def _fraction(value: object, field: str) -> float:
    return number(value, WHERE, field, low=0.0, high=1.0, low_open=True)


def _check_units(units: pd.DataFrame, strata: Sequence[str]) -> None:
    missing = [c for c in (ID, EXACT, *strata) if c not in units.columns]
    if missing:
        raise InputError(WHERE, missing[0], "no such column in the units table")
    if units[ID].isna().any() or units[ID].duplicated().any():
        raise InputError(WHERE, ID, "every unit needs its own id (missing or repeated ids)")
    if units[EXACT].dtype != bool:
        raise InputError(WHERE, EXACT, f"must be a boolean column, got {units[EXACT].dtype}")


def _probabilities(
    units: pd.DataFrame, fraction: float | Mapping[str, float], strata: Sequence[str]
) -> np.ndarray:
    """Each unit's stratum fraction (before the exact units' 1)."""
    if not isinstance(fraction, Mapping):
        return np.full(len(units), _fraction(fraction, "fraction"))
    if not strata:
        raise InputError(WHERE, "fraction", "a fraction per stratum needs strata columns")
    checked = {str(k): _fraction(v, f"fraction[{k}]") for k, v in fraction.items()}
    keys = [stratum_key(row) for row in units[list(strata)].itertuples(index=False)]
    needed = {k for k, exact in zip(keys, units[EXACT], strict=True) if not exact}
    absent = sorted(needed - checked.keys())
    if absent:
        raise InputError(WHERE, "fraction", f"no fraction for stratum {absent[0]!r}")
    return np.array([checked.get(k, 1.0) for k in keys], dtype=np.float64)


def draw_selection(
    units: pd.DataFrame,
    fraction: float | Mapping[str, float],
    strata: list[str],
    seed: int,
) -> pd.DataFrame:
    """A copy of ``units`` with ``probability`` and ``labelled`` columns.

    ``fraction``: one inclusion probability in (0, 1] for every non-exact unit, or one per
    stratum, keyed by ``stratum_key`` of the strata columns' values. Exact units get
    probability 1 and are always labelled; the others are labelled with their probability.
    """
    strata = list(strata)
    _check_units(units, strata)
    seed = integer(seed, WHERE, "seed", low=0, high=2**63 - 1)
    exact = units[EXACT].to_numpy(dtype=bool)
    probability = np.where(exact, 1.0, _probabilities(units, fraction, strata))
    order = np.argsort(units[ID].astype(str).to_numpy(), kind="stable")
    uniform = np.empty(len(units))
    uniform[order] = np.random.default_rng(seed).random(len(units))
    out = units.copy()
    out[PROBABILITY] = probability
    out[LABELLED] = exact | (uniform < probability)
    return out


FAR = "far"


def far_fractions(fraction: float, far_fraction: float) -> tuple[dict[str, float], list[str]]:
    """The fraction mapping and strata of a draw that continues runs far from the golden state
    at their horizon (`units.far_from_golden`) with their own, usually larger, probability: the
    probabilities are known before the draw and depend on what the horizon showed only, so
    every estimate stays unbiased (inverse-probability weighting), and the few runs that can
    still go wrong are labelled much more often than the many near-golden ones."""
    return ({stratum_key([True]): _fraction(far_fraction, "far_fraction"),
             stratum_key([False]): _fraction(fraction, "fraction")}, [FAR])
