"""Outcome classes and the rules that assign them, vectorised over the results table.

Each rule is one entry of ``RULES``: a label, its place in reports, a one-line definition and a
function of the feature arrays. Rules are tried in list order and the first that holds wins, so
a new class is added by adding one ``Rule`` at the right position (several rules may give the
same label, for different reasons).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from analysis.errors import InputError
from analysis.strict import integer, number

MASKED = "Masked"
IMMEDIATE = "Immediate INFs/NaNs"
SHORT_TERM = "Short-term INFs/NaNs"
LATE = "Late INFs/NaNs"
SHARP_DEGRADE = "SharpDegrade"
SLOW_DEGRADE = "SlowDegrade"
LOW_TEST = "LowTestAccuracy"
INCOMPLETE = "Incomplete"

# Slack for threshold comparisons, so a value exactly at a threshold is not pushed across it
# by binary rounding (0.8 - 0.02 != 0.78 in floating point).
EPS = 1e-9
MAX_STEPS = 2**31
"""The largest step count a threshold takes (beyond any run; numpy compares it exactly)."""


@dataclass(frozen=True)
class Thresholds:
    """Classification thresholds (command-line options; defaults as in docs/interfaces.md)."""

    short_term_steps: int | None = None  # None: one epoch of steps of each run
    tol_min: float = 0.02
    chance_margin: float = 0.05
    immediate_backward_steps: int = 1

    def __post_init__(self) -> None:
        if self.short_term_steps is not None:
            integer(self.short_term_steps, "--short-term-steps", high=MAX_STEPS)
        number(self.tol_min, "--tol-min", low=0.0, high=1.0, high_open=True)
        number(self.chance_margin, "--chance-margin", low=0.0, high=1.0, high_open=True)
        integer(self.immediate_backward_steps, "--immediate-backward-steps", high=MAX_STEPS)


# The columns of the results table that classification reads (OPTIONAL_FEATURES may be
# missing from tables written by older versions).
OPTIONAL_FEATURES = ("nonfinite_metric", "rejoined_epoch")
FEATURE_COLUMNS = (
    "complete",
    "is_backward",
    "steps_per_epoch",
    "num_classes",
    "nonfinite_delay_steps",
    "first_nonfinite_epoch",
    "final_train_accuracy",
    "final_test_accuracy",
    "early_min_train_accuracy",
    "ref_train_accuracy",
    "ref_test_accuracy",
    "band_spread_train",
    "band_spread_test",
    *OPTIONAL_FEATURES,
)


@dataclass(frozen=True)
class Features:
    """Numpy views of the feature columns; missing values are NaN (floats) or False."""

    complete: np.ndarray
    nonfinite: np.ndarray
    nonfinite_test: np.ndarray  # the first non-finite value was a test loss (end of an epoch)
    rejoined: np.ndarray
    delay: np.ndarray
    is_backward: np.ndarray
    steps_per_epoch: np.ndarray
    chance: np.ndarray
    final_train: np.ndarray
    final_test: np.ndarray
    early_min_train: np.ndarray
    ref_train: np.ndarray
    ref_test: np.ndarray
    spread_train: np.ndarray
    spread_test: np.ndarray

    @classmethod
    def from_columns(
        cls,
        names: Collection[str],
        floats: Callable[[str], np.ndarray],
        bools: Callable[[str], np.ndarray],
        chance_margin: float,
        texts: Callable[[str], np.ndarray] | None = None,
    ) -> Features:
        """Build from accessors returning float arrays (NaN = missing), bool arrays and object
        arrays of strings (None = missing)."""
        missing = [c for c in FEATURE_COLUMNS if c not in names and c not in OPTIONAL_FEATURES]
        if missing:
            raise InputError("table", missing[0], "missing column needed for classification")
        f = floats
        n = bools("complete").shape[0]
        if texts is not None and "nonfinite_metric" in names:
            nonfinite_test = texts("nonfinite_metric") == "test_loss"
        else:
            nonfinite_test = np.zeros(n, dtype=bool)
        rejoined = (
            ~np.isnan(f("rejoined_epoch")) if "rejoined_epoch" in names else np.zeros(n, bool)
        )
        num_classes = f("num_classes")
        with np.errstate(divide="ignore", invalid="ignore"):
            chance = np.where(num_classes > 0, 1.0 / num_classes, np.nan) + chance_margin
        return cls(
            complete=bools("complete"),
            nonfinite=~np.isnan(f("first_nonfinite_epoch")),
            nonfinite_test=np.asarray(nonfinite_test, dtype=bool),
            rejoined=rejoined,
            delay=f("nonfinite_delay_steps"),
            is_backward=bools("is_backward"),
            steps_per_epoch=f("steps_per_epoch"),
            chance=chance,
            final_train=f("final_train_accuracy"),
            final_test=f("final_test_accuracy"),
            early_min_train=f("early_min_train_accuracy"),
            ref_train=f("ref_train_accuracy"),
            ref_test=f("ref_test_accuracy"),
            spread_train=f("band_spread_train"),
            spread_test=f("band_spread_test"),
        )

    @classmethod
    def from_frame(cls, df: Any, chance_margin: float) -> Features:
        """Build from a pandas DataFrame holding FEATURE_COLUMNS."""
        return cls.from_columns(
            list(df.columns),
            lambda name: df[name].to_numpy(dtype=np.float64, na_value=np.nan),
            lambda name: df[name].fillna(False).to_numpy(dtype=bool),
            chance_margin,
            lambda name: df[name].astype(object).where(df[name].notna(), None).to_numpy(),
        )

    @classmethod
    def from_arrow(cls, table: Any, chance_margin: float) -> Features:
        """Build from a pyarrow Table holding FEATURE_COLUMNS (no pandas needed)."""
        import pyarrow as pa

        return cls.from_columns(
            table.column_names,
            lambda name: table.column(name).cast(pa.float64()).to_numpy(zero_copy_only=False),
            lambda name: table.column(name).fill_null(False).to_numpy(zero_copy_only=False),
            chance_margin,
            lambda name: np.asarray(table.column(name).to_pylist(), dtype=object),
        )

    def train_within(self, t: Thresholds) -> np.ndarray:
        """Final train accuracy >= golden final - tol (better than golden is within)."""
        tol = np.maximum(t.tol_min, self.spread_train)
        return self.final_train >= self.ref_train - tol - EPS

    def test_within(self, t: Thresholds) -> np.ndarray:
        tol = np.maximum(t.tol_min, self.spread_test)
        return self.final_test >= self.ref_test - tol - EPS


RuleTest = Callable[[Features, Thresholds], np.ndarray]


@dataclass(frozen=True)
class Rule:
    """One outcome class: its label, report position, definition and test."""

    label: str
    report_order: int
    definition: str
    test: RuleTest


def _rejoined(f: Features, t: Thresholds) -> np.ndarray:
    return f.rejoined & ~f.nonfinite


def _immediate(f: Features, t: Thresholds) -> np.ndarray:
    # A non-finite test loss is seen at the evaluation after the step, never in the step.
    limit = np.where(f.is_backward, t.immediate_backward_steps, 0)
    return f.nonfinite & ~f.nonfinite_test & (f.delay <= limit)


def _short_term(f: Features, t: Thresholds) -> np.ndarray:
    window = f.steps_per_epoch if t.short_term_steps is None else t.short_term_steps
    return f.nonfinite & (f.delay <= window)


def _late(f: Features, t: Thresholds) -> np.ndarray:
    return f.nonfinite & (f.delay >= 0)


def _sharp(f: Features, t: Thresholds) -> np.ndarray:
    at_chance_early = f.early_min_train <= f.chance + EPS
    at_chance_end = f.final_train <= f.chance + EPS
    return ~f.nonfinite & at_chance_early & at_chance_end


def _masked(f: Features, t: Thresholds) -> np.ndarray:
    return ~f.nonfinite & f.train_within(t) & f.test_within(t)


def _low_test(f: Features, t: Thresholds) -> np.ndarray:
    return ~f.nonfinite & f.train_within(t) & ~np.isnan(f.final_test)


def _slow(f: Features, t: Thresholds) -> np.ndarray:
    return ~f.nonfinite & (
        f.final_train < f.ref_train - np.maximum(t.tol_min, f.spread_train) - EPS
    )


RULES: tuple[Rule, ...] = (
    Rule(
        MASKED,
        0,
        "the run's whole training state became bit-identical to the golden run's "
        "(rejoined_golden; outcome_reason says at which epoch)",
        _rejoined,
    ),
    Rule(
        IMMEDIATE,
        1,
        "first non-finite training loss in the injection step (backward faults: up to "
        "--immediate-backward-steps steps later)",
        _immediate,
    ),
    Rule(
        SHORT_TERM,
        2,
        "first non-finite loss (training, or the test loss at an epoch end) within "
        "--short-term-steps steps after the injection (default: one epoch of steps)",
        _short_term,
    ),
    Rule(LATE, 3, "first non-finite loss (training or test) later than that", _late),
    Rule(
        SHARP_DEGRADE,
        4,
        "train accuracy <= 1/num_classes + --chance-margin at an epoch end "
        "within one epoch of the injection and at the final epoch",
        _sharp,
    ),
    Rule(MASKED, 0, "final train and test accuracy >= golden final - tol", _masked),
    Rule(LOW_TEST, 6, "final train accuracy within tol, test accuracy below", _low_test),
    Rule(
        SLOW_DEGRADE, 5, "any other finite run whose final train accuracy is below the band", _slow
    ),
)

# Outcomes of complete runs, in report order; Incomplete runs are counted separately.
OUTCOMES: tuple[str, ...] = tuple(
    dict.fromkeys(r.label for r in sorted(RULES, key=lambda r: r.report_order))
)
ALL_LABELS: tuple[str, ...] = (*OUTCOMES, INCOMPLETE)
UNEXPECTED: tuple[str, ...] = tuple(o for o in OUTCOMES if o != MASKED)


def classify_features(f: Features, t: Thresholds) -> np.ndarray:
    """Outcome label per row (object array); the first rule that holds wins."""
    n = f.complete.shape[0]
    labels = np.array([*(r.label for r in RULES), INCOMPLETE], dtype=object)
    code = np.full(n, len(RULES), dtype=np.int64)  # default: Incomplete
    open_ = f.complete.copy()
    with np.errstate(invalid="ignore"):
        for i, rule in enumerate(RULES):
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
    return classify_features(Features.from_frame(df, t.chance_margin), t)


def classify_rows(
    rows: Sequence[Mapping[str, Any]], thresholds: Thresholds | None = None
) -> np.ndarray:
    """Classify summary rows (dicts, None = missing) with numpy alone (ingest workers)."""
    t = thresholds or Thresholds()
    names = rows[0].keys() if rows else FEATURE_COLUMNS

    def floats(name: str) -> np.ndarray:
        return np.array([np.nan if r[name] is None else r[name] for r in rows], dtype=np.float64)

    def bools(name: str) -> np.ndarray:
        return np.array([bool(r[name]) for r in rows], dtype=bool)

    def texts(name: str) -> np.ndarray:
        return np.array([r[name] for r in rows], dtype=object)

    return classify_features(Features.from_columns(names, floats, bools, t.chance_margin, texts), t)


def classify_arrow(table: Any, thresholds: Thresholds | None = None) -> np.ndarray:
    """Classify every row of a results-table pyarrow Table."""
    t = thresholds or Thresholds()
    return classify_features(Features.from_arrow(table, t.chance_margin), t)
