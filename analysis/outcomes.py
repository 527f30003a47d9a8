"""Outcome classes and their classification, vectorised over the results table.

The rules themselves, their thresholds and the features they read are declared once, in
analysis.rules (one file per family; a plugin adds its own with `register_rule`). Rules are
tried in precedence order and the first that holds wins (several rules may give the same
label, for different reasons). This module is the classifier and the names every report uses:
`OUTCOMES`, `ALL_LABELS`, `UNEXPECTED`, `RULES` and `FEATURE_COLUMNS` are read from the rule
table when asked for (`analysis.outcomes.OUTCOMES`), so a plugin's label is in them once it is
loaded; code of this package calls `outcomes()` and friends at the time it needs them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from analysis.errors import InputError
from analysis.rules import registry
from analysis.rules.features import Features
from analysis.rules.features import names as _feature_names
from analysis.rules.features import optional_names as _optional_names
from analysis.rules.labels import (
    IMMEDIATE,
    INCOMPLETE,
    LATE,
    LOW_TEST,
    MASKED,
    SHARP_DEGRADE,
    SHORT_TERM,
    SLOW_DEGRADE,
)
from analysis.rules.registry import EPS, MAX_STEPS, Rule, RuleTest
from analysis.rules.thresholds import Thresholds

__all__ = [
    "EPS",
    "IMMEDIATE",
    "INCOMPLETE",
    "LATE",
    "LOW_TEST",
    "MASKED",
    "MAX_STEPS",
    "SHARP_DEGRADE",
    "SHORT_TERM",
    "SLOW_DEGRADE",
    "Features",
    "Rule",
    "RuleTest",
    "Thresholds",
    "all_labels",
    "classify_arrow",
    "classify_features",
    "classify_frame",
    "classify_rows",
    "outcomes",
    "unexpected",
]


def outcomes() -> tuple[str, ...]:
    """Outcomes of complete runs, in report order; Incomplete runs are counted separately."""
    return registry.outcomes()


def all_labels() -> tuple[str, ...]:
    return (*outcomes(), INCOMPLETE)


def unexpected() -> tuple[str, ...]:
    return tuple(o for o in outcomes() if o != MASKED)


_LIVE = {
    "OUTCOMES": outcomes,
    "ALL_LABELS": all_labels,
    "UNEXPECTED": unexpected,
    "RULES": registry.rules,
    "FEATURE_COLUMNS": _feature_names,
    "OPTIONAL_FEATURES": _optional_names,
}


def __getattr__(name: str) -> Any:
    """The rule table's names, as they are now (a `from ... import` keeps the value it got)."""
    if name in _LIVE:
        return _LIVE[name]()
    raise AttributeError(f"module 'analysis.outcomes' has no attribute {name!r}")


def classify_features(f: Features, t: Thresholds) -> np.ndarray:
    """Outcome label per row (object array); the first rule that holds wins."""
    rules = registry.rules()
    n = f.complete.shape[0]
    labels = np.array([*(r.label for r in rules), INCOMPLETE], dtype=object)
    code = np.full(n, len(rules), dtype=np.int64)  # default: Incomplete
    open_ = f.complete.copy()
    with np.errstate(invalid="ignore"):
        for i, rule in enumerate(rules):
            hit = open_ & rule.test(f, t)
            code[hit] = i
            open_ &= ~hit
    if open_.any():
        raise InputError(
            "table",
            "outcome",
            f"{int(open_.sum())} complete run(s) match no outcome rule "
            "(missing final accuracies or golden reference?)",
        )
    return labels[code]


def classify_frame(df: Any, thresholds: Thresholds | None = None) -> np.ndarray:
    """Classify every row of a results-table DataFrame (re-classification from the table)."""
    t = thresholds or Thresholds()
    return classify_features(Features.from_frame(df, t), t)


def classify_rows(
    rows: Sequence[Mapping[str, Any]], thresholds: Thresholds | None = None
) -> np.ndarray:
    """Classify summary rows (dicts, None = missing) with numpy alone (ingest workers)."""
    t = thresholds or Thresholds()
    names = rows[0].keys() if rows else _feature_names()

    def floats(name: str) -> np.ndarray:
        return np.array([np.nan if r[name] is None else r[name] for r in rows], dtype=np.float64)

    def bools(name: str) -> np.ndarray:
        return np.array([bool(r[name]) for r in rows], dtype=bool)

    def texts(name: str) -> np.ndarray:
        return np.array([r[name] for r in rows], dtype=object)

    return classify_features(Features.from_columns(names, floats, bools, t, texts), t)


def classify_arrow(table: Any, thresholds: Thresholds | None = None) -> np.ndarray:
    """Classify every row of a results-table pyarrow Table."""
    t = thresholds or Thresholds()
    return classify_features(Features.from_arrow(table, t), t)
