"""Simulated prediction-powered campaigns on a fully run one: coverage, width, and what they cost.

A campaign run with every injection to its end is the ground truth: treated as the
superpopulation (its class frequencies are the true rates), it is resampled (N units with
replacement, as a new campaign of the same size would draw them), a selection is drawn,
predictions are cross-fitted from the horizon's features, and every class gets its
prediction-powered interval. Over the repetitions: how often the interval covers the truth and
how wide it is, against the full campaign on the same sample (every run to its end, Wald
variance, Wilson width).

The cost ratio for equal width: a prediction-powered campaign needs var_ppi / var_full times
as many injections to be as narrow as a full one, each costing, on average, the horizon plus
its probability times the rest, so X = (var_ppi / var_full) * (mean PPI cost per unit / mean
full cost per unit); X < 1 means it is cheaper for the same precision.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from analysis.errors import InputError
from analysis.prediction.columns import EXACT, ID, LABELLED, OUTCOME, PROBABILITY
from analysis.prediction.design import draw_selection
from analysis.prediction.ppi import class_rates, wilson
from analysis.prediction.predictor import cross_fit, default_model
from analysis.stats import normal_quantile
from analysis.strict import integer

COST_HORIZON = "cost_horizon"
COST_REST = "cost_rest"
SOURCE = "_source"
"""The bootstrap copy's row in the table: copies of one run share a fold (they must not
predict each other, which a real campaign's distinct runs could not)."""

MIN_POSITIVES = 10
"""A class enters the summary with at least this many runs in the table: the variance ratio of
a rarer one is noise, and its interval is narrow in absolute terms anyway."""


@dataclass(frozen=True)
class Simulation:
    """The repetitions' summary at one fraction.

    ``x``: the largest X over the classes with at least ``MIN_POSITIVES`` runs (the campaign
    must be as narrow for every such class, so the worst one sets its size); ``coverage``: the
    smallest coverage over those classes (the intervals must hold for each); ``per_class``: one
    row per class (outcome, truth, positives, coverage, classical_coverage, width,
    classical_width, full_width, var_ratio, x, lam, ess, widened).
    """

    fraction: float | Mapping[str, float]
    reps: int
    level: float
    cost_ratio: float
    x: float
    worst_class: str | None
    coverage: float
    coverage_mc_se: float
    per_class: pd.DataFrame


def _check_table(table: pd.DataFrame, features: Sequence[str], classes: Sequence[str]) -> None:
    missing = [c for c in (*features, OUTCOME, EXACT, COST_HORIZON, COST_REST)
               if c not in table.columns]
    if missing:
        raise InputError("simulation", missing[0], "no such column in the full campaign table")
    unknown = sorted({str(v) for v in table[OUTCOME]} - set(classes))
    if unknown:
        raise InputError("simulation", OUTCOME, f"{unknown[0]!r} is not one of {list(classes)}")
    costs = table[[COST_HORIZON, COST_REST]].to_numpy(dtype=np.float64)
    if not np.all(np.isfinite(costs) & (costs >= 0)):
        raise InputError("simulation", "cost", "costs must be finite and >= 0")


def _one_rep(table: pd.DataFrame, features: list[str], classes: list[str],
             fraction: float | Mapping[str, float], strata: list[str], folds: int,
             seeds: np.ndarray, z: float, level: float,
             make_model: Callable[[int], Any], size: int
             ) -> tuple[list[dict[str, float]], float, float]:
    n = size
    rows = np.random.default_rng(int(seeds[0])).integers(0, len(table), n)
    sample = table.iloc[rows].reset_index(drop=True)
    sample[ID] = [f"u{i:07d}" for i in range(n)]
    sample[SOURCE] = rows
    truth = sample[OUTCOME].to_numpy()
    units = draw_selection(sample, fraction, strata, int(seeds[1]))
    labelled = units[LABELLED].to_numpy(dtype=bool)
    units[OUTCOME] = np.where(labelled, truth, None)  # the rest is unknown to the estimate
    predictions = cross_fit(units, features, classes, folds, int(seeds[2]), group=SOURCE,
                            make_model=make_model)
    probability = units[PROBABILITY].to_numpy(dtype=np.float64)
    exact = units[EXACT].to_numpy(dtype=bool)
    out = []
    for j, name in enumerate(classes):
        y = np.where(labelled, truth == name, np.nan)
        ppi, classical = class_rates(y, predictions[:, j], labelled, probability, exact, level)
        full = float(np.mean(truth == name))
        low, high = wilson(full, n, z)
        out.append({"ppi": ppi, "classical": classical, "var_full": full * (1 - full) / n,
                    "full_width": high - low})
    horizon = sample[COST_HORIZON].to_numpy(dtype=np.float64)
    rest = sample[COST_REST].to_numpy(dtype=np.float64)
    return out, float(np.mean(horizon + probability * rest)), float(np.mean(horizon + rest))


def simulate(
    table: pd.DataFrame,
    features: list[str],
    classes: list[str],
    fraction: float | Mapping[str, float],
    reps: int,
    seed: int,
    level: float = 0.95,
    folds: int = 5,
    *,
    strata: Sequence[str] = (),
    make_model: Callable[[int], Any] = default_model,
    size: int | None = None,
) -> Simulation:
    """``reps`` simulated prediction-powered campaigns of ``len(table)`` units (module doc).

    ``table``: the full campaign, one row per run with the ``features`` at the horizon, its true
    ``outcome``, ``exact`` and the costs ``cost_horizon`` and ``cost_rest``; ``strata``: the
    columns a per-stratum ``fraction`` is keyed by.
    """
    _check_table(table, features, classes)
    reps = integer(reps, "simulation", "reps", low=1, high=10**6)
    seed = integer(seed, "simulation", "seed", low=0, high=2**63 - 1)
    z = normal_quantile(level)
    children = np.random.SeedSequence(seed).spawn(reps)
    records, ppi_cost, full_cost = [], 0.0, 0.0
    for child in children:
        rep, c_ppi, c_full = _one_rep(table, list(features), list(classes), fraction,
                                      list(strata), folds, child.generate_state(3), z, level,
                                      make_model, size or len(table))
        records.append(rep)
        ppi_cost, full_cost = ppi_cost + c_ppi, full_cost + c_full
    cost_ratio = ppi_cost / full_cost if full_cost > 0 else math.nan
    per_class = _per_class(table, classes, records, cost_ratio)
    return _summary(per_class, fraction, reps, level, cost_ratio)


def _per_class(table: pd.DataFrame, classes: list[str], records: list[list[dict[str, Any]]],
               cost_ratio: float) -> pd.DataFrame:
    rows = []
    outcome = table[OUTCOME].to_numpy()
    for j, name in enumerate(classes):
        truth = float(np.mean(outcome == name))
        got = [rep[j] for rep in records]
        ppi = [g["ppi"] for g in got]
        classical = [g["classical"] for g in got]
        var_ppi = float(np.mean([e.se ** 2 for e in ppi]))
        var_full = float(np.mean([g["var_full"] for g in got]))
        var_ratio = var_ppi / var_full if var_full > 0 else math.nan
        rows.append({
            "outcome": name, "truth": truth, "positives": int(np.sum(outcome == name)),
            "coverage": float(np.mean([e.low <= truth <= e.high for e in ppi])),
            "classical_coverage": float(np.mean([e.low <= truth <= e.high for e in classical])),
            "width": float(np.mean([e.high - e.low for e in ppi])),
            "classical_width": float(np.mean([e.high - e.low for e in classical])),
            "full_width": float(np.mean([g["full_width"] for g in got])),
            "var_ratio": var_ratio, "x": var_ratio * cost_ratio,
            "lam": float(np.mean([e.lam for e in ppi])),
            "ess": float(np.mean([e.ess for e in ppi])),
            "widened": float(np.mean([e.widened for e in ppi])),
        })
    return pd.DataFrame(rows)


def _summary(per_class: pd.DataFrame, fraction: float | Mapping[str, float], reps: int,
             level: float, cost_ratio: float) -> Simulation:
    counted = per_class[(per_class["positives"] >= MIN_POSITIVES) & per_class["x"].notna()]
    if len(counted):
        worst = counted.loc[counted["x"].idxmax()]
        x, worst_class = float(worst["x"]), str(worst["outcome"])
        coverage = float(counted["coverage"].min())
    else:
        x, worst_class, coverage = math.nan, None, math.nan
    return Simulation(
        fraction=fraction, reps=reps, level=level, cost_ratio=cost_ratio, x=x,
        worst_class=worst_class, coverage=coverage,
        coverage_mc_se=math.sqrt(level * (1 - level) / reps), per_class=per_class,
    )


def best_fraction(
    table: pd.DataFrame,
    features: list[str],
    classes: list[str],
    fractions: Sequence[float] = (0.05, 0.1, 0.2, 0.3, 0.5),
    reps: int = 100,
    seed: int = 0,
    level: float = 0.95,
    folds: int = 5,
    **options: Any,
) -> tuple[float, list[Simulation]]:
    """The fraction with the smallest X among those whose coverage is within 3 Monte Carlo
    standard errors of the level (a cheap campaign with intervals that fail is no bargain),
    and every fraction's simulation; the largest fraction if none is (closest to a full one).
    Every fraction sees the same bootstrap samples (same seed)."""
    if not fractions:
        raise InputError("simulation", "fractions", "need at least one fraction to scan")
    runs = [simulate(table, features, classes, f, reps, seed, level, folds, **options)
            for f in fractions]
    valid = [s for s in runs
             if math.isfinite(s.x) and s.coverage >= level - 3.0 * s.coverage_mc_se]
    if not valid:
        return float(max(fractions)), runs
    return float(min(valid, key=lambda s: s.x).fraction), runs
