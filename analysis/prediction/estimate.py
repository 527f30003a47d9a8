"""The rates table of a prediction-powered campaign: every outcome's rate, overall and per
stratum, with its prediction-powered and its classical interval side by side."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from analysis.errors import InputError
from analysis.prediction.columns import EXACT, LABELLED, OUTCOME, PROBABILITY
from analysis.prediction.ppi import RateEstimate, class_rates
from analysis.strict import confidence as strict_confidence

ALL = "all"
"""The ``by`` and ``stratum`` of the overall rows."""

COLUMNS = [
    "by", "stratum", "outcome", "n_units", "n_labelled", "n_exact", "rate", "low", "high", "se",
    "classical_rate", "classical_low", "classical_high", "classical_se", "ess", "lam", "widened",
    "confidence",
]


def _row(by: str, stratum: str, outcome: str, ppi: RateEstimate, classical: RateEstimate,
         level: float) -> dict[str, Any]:
    return {
        "by": by, "stratum": stratum, "outcome": outcome, "n_units": ppi.n_units,
        "n_labelled": ppi.n_labelled, "n_exact": ppi.n_exact, "rate": ppi.rate, "low": ppi.low,
        "high": ppi.high, "se": ppi.se, "classical_rate": classical.rate,
        "classical_low": classical.low, "classical_high": classical.high,
        "classical_se": classical.se, "ess": ppi.ess, "lam": ppi.lam,
        "widened": ppi.widened or classical.widened, "confidence": level,
    }


def _subset_rows(units: pd.DataFrame, predictions: np.ndarray, classes: Sequence[str],
                 mask: np.ndarray, by: str, stratum: str, level: float) -> list[dict[str, Any]]:
    labelled = units[LABELLED].to_numpy(dtype=bool)[mask]
    outcome = units[OUTCOME].to_numpy()[mask]
    rows = []
    for j, name in enumerate(classes):
        y = np.where(labelled, outcome == name, np.nan)
        ppi, classical = class_rates(
            y, predictions[mask, j], labelled, units[PROBABILITY].to_numpy(dtype=float)[mask],
            units[EXACT].to_numpy(dtype=bool)[mask], level,
        )
        rows.append(_row(by, stratum, name, ppi, classical, level))
    return rows


def rates(
    units: pd.DataFrame,
    predictions: np.ndarray,
    classes: list[str],
    strata: list[list[str]] | None = None,
    level: float = 0.95,
) -> pd.DataFrame:
    """One row per (grouping, stratum, outcome class), the overall rows (by = stratum = "all")
    first, then each grouping's strata in sorted order. ``by``: the grouping's columns joined by
    ","; ``stratum``: their values joined by "/"; ``predictions``: ``cross_fit``'s matrix."""
    level = strict_confidence(level, "rates", "level")
    predictions = np.asarray(predictions, dtype=np.float64)
    if predictions.shape != (len(units), len(classes)):
        raise InputError("rates", "predictions", f"expected shape {(len(units), len(classes))}, "
                         f"got {predictions.shape}")
    missing = [c for c in (EXACT, LABELLED, OUTCOME, PROBABILITY,
                            *(c for cols in strata or [] for c in cols))
               if c not in units.columns]
    if missing:
        raise InputError("rates", missing[0], "no such column in the units table")
    labelled = units[LABELLED].to_numpy(dtype=bool)
    unknown = sorted({str(v) for v in units[OUTCOME].to_numpy()[labelled]} - set(classes))
    if unknown:
        raise InputError("rates", OUTCOME, f"labelled outcome {unknown[0]!r} is not one of the "
                         f"classes {classes}")
    everything = np.ones(len(units), dtype=bool)
    rows = _subset_rows(units, predictions, classes, everything, ALL, ALL, level)
    for columns in strata or []:
        keys = units[list(columns)].astype(str).agg("/".join, axis=1).to_numpy()
        for key in sorted(set(keys)):
            rows += _subset_rows(units, predictions, classes, keys == key, ",".join(columns),
                                 key, level)
    return pd.DataFrame(rows, columns=COLUMNS)


def rates_markdown(table: pd.DataFrame) -> str:
    """The rates table as Markdown, in the style of the analysis's rates tables."""
    from analysis.tables import _md_table, pct

    level = float(table["confidence"].iloc[0]) if len(table) else 0.95
    header = ["by", "stratum", "outcome", "n", "labelled", "exact",
              "prediction-powered %", "classical %", "ESS", "lambda"]
    rows = [
        [r.by, r.stratum, r.outcome, int(r.n_units), int(r.n_labelled), int(r.n_exact),
         f"{pct(r.rate)} ({pct(r.low)}-{pct(r.high)})" + (" *" if r.widened else ""),
         f"{pct(r.classical_rate)} ({pct(r.classical_low)}-{pct(r.classical_high)})",
         f"{r.ess:.0f}" if np.isfinite(r.ess) else "-", f"{r.lam:.2f}"]
        for r in table.itertuples()
    ]
    text = [
        f"Outcome rates in % with {level:.0%} confidence intervals: prediction-powered "
        "(every run's predicted outcome at the horizon, corrected by the runs continued to "
        "their end) and classical (the labelled runs alone). n = runs; labelled = runs whose "
        "outcome is known (continued, or ended before the horizon: exact); ESS = the number of "
        "fully run injections that would give the prediction-powered interval's precision; "
        "lambda = the predictions' weight (0: they did not help).",
        *(["* widened: the labelled runs never (or always) showed the outcome, so the interval "
           "is at least the labelled runs' Wilson interval."] if table["widened"].any() else []),
        "",
        *_md_table(header, rows),
        "",
    ]
    return "\n".join(text)
