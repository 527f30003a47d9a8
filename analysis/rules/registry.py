"""The one table of outcome rules, their thresholds and the per-run features they read.

Everything that knows about a threshold or an outcome label reads it from here: the command
line's threshold options, `fi-analysis check-config`, the pipeline schema's test, the docs test,
the rates tables and figures. A rule (built-in or a plugin's) is registered once, with its
label, its precedence (the order rules are tried in: the first that holds wins), its place in
reports, its definition, the features it reads and the thresholds it takes; nothing else has to
be edited for a new rule to classify, to be counted and to have its options.

Kept free of pandas and pyarrow: ingest workers classify with numpy alone.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from analysis import strict

if TYPE_CHECKING:
    import numpy as np

    from analysis.rules.features import Features
    from analysis.rules.thresholds import Thresholds

MAX_STEPS = 2**31
"""The largest step count a threshold takes (beyond any run; numpy compares it exactly)."""
EPS = 1e-9
"""Slack for threshold comparisons, so a value exactly at a threshold is not pushed across it
by binary rounding (0.8 - 0.02 != 0.78 in floating point)."""

KINDS = ("float", "bool", "text")
"""How a feature column is read: floats (NaN = missing), booleans (False = missing), texts
(None = missing)."""
DTYPES = ("string", "bool", "int32", "int64", "float64")
"""The result-table types a plugin's feature column may have (analysis.columns' names)."""


@dataclass(frozen=True)
class Threshold:
    """One classification threshold: its option `--<name with dashes>` and config key `name`.

    `low`/`high` (`high_open`: high excluded) bound what every reader accepts (the command
    line, check-config, the API); `config_range` is the pipeline schema's own range when it is
    narrower (the schema was written so; None: `low` only, the analysis checks the rest).
    `default` None means "not set" (the rule decides, e.g. one epoch of steps)."""

    name: str
    kind: type  # int or float
    default: int | float | None
    help: str
    low: int | float = 0
    high: int | float | None = None
    high_open: bool = False
    metavar: str | None = None
    default_text: str | None = None  # the default as the docs say it (None: the number)
    meaning: str = ""  # the docs table's "meaning" column
    position: float = math.inf  # order of the options; equal positions keep registration order
    config_range: tuple[int | float, int | float | None] | None = None

    @property
    def option(self) -> str:
        return "--" + self.name.replace("_", "-")

    def check(self, value: Any, where: str, field: str | None = None, *, ranged: bool = True):
        """`value` as this threshold takes it, else InputError(where, field, reason); None is
        accepted when the default is None. `ranged=False` checks the type only (floats)."""
        if value is None and self.default is None:
            return None
        if self.kind is int:
            high = MAX_STEPS if self.high is None else int(self.high)
            return strict.integer(value, where, field, low=int(self.low), high=high)
        if not ranged:
            return strict.number(value, where, field)
        return strict.number(
            value, where, field, low=self.low, high=self.high, high_open=self.high_open
        )

    def config_schema(self) -> dict[str, Any]:
        """This threshold's entry in the pipeline schema (workflow/schemas/config.schema.yaml,
        analysis.thresholds; a test keeps the file equal to it)."""
        low, high = self.config_range or (self.low, None)
        schema: dict[str, Any] = {
            "type": ["integer" if self.kind is int else "number", "null"],
            "minimum": low,
        }
        if high is not None:
            schema["maximum"] = high
        schema["default"] = None
        return schema


@dataclass(frozen=True)
class Feature:
    """One per-run value a rule reads, by name: a column of the results table.

    A built-in feature is a column `rows.summary_row` fills (its type and meaning are in
    analysis.columns). A plugin's feature has `compute(trace, reference)`, called once per run
    when the table is collected (the parsed `analysis.trace.Trace` and its
    `analysis.golden.GoldenRef`, which has the golden run's per-step and per-epoch curves, or
    None), and its `dtype` and `description` make the new column. `optional`: tables written
    before it existed lack it (read as missing)."""

    name: str
    kind: str = "float"
    optional: bool = False
    compute: Callable[[Any, Any], Any] | None = None
    dtype: str | None = None
    description: str = ""


RuleTest = Callable[["Features", "Thresholds"], "np.ndarray"]


@dataclass(frozen=True)
class Rule:
    """One outcome rule: the label it gives, `precedence` (rules are tried in increasing
    order; the built-ins use 10, 20, ... 80), `report_order` (the label's place in reports;
    built-ins 0..6), a one-line definition, its test (a boolean mask over the runs), the
    features it reads and the thresholds it takes."""

    label: str
    report_order: float
    definition: str
    test: RuleTest
    precedence: float = math.inf
    features: Sequence[Feature] = ()
    thresholds: Sequence[Threshold] = ()


@dataclass
class _Table:
    rules: list[Rule] = field(default_factory=list)
    thresholds: dict[str, Threshold] = field(default_factory=dict)
    features: dict[str, Feature] = field(default_factory=dict)
    derived: dict[str, Callable[..., Any]] = field(default_factory=dict)


_TABLE = _Table()


def _refuse(what: str, name: str, reason: str) -> ValueError:
    return ValueError(f"{what} {name!r}: {reason}")


def register_threshold(threshold: Threshold) -> Threshold:
    """Add a threshold (once; the same declaration again is a no-op)."""
    name = threshold.name
    if not name.isidentifier() or name != name.lower() or name.startswith("_"):
        raise _refuse("threshold", name, "a name is a lower-case identifier, not _private")
    if threshold.kind not in (int, float):
        raise _refuse("threshold", threshold.name, "kind is int or float")
    known = _TABLE.thresholds.get(threshold.name)
    if known is not None and known != threshold:
        raise _refuse("threshold", threshold.name, "declared twice, differently")
    if threshold.default is not None:
        threshold.check(threshold.default, threshold.option)
    _TABLE.thresholds.setdefault(threshold.name, threshold)
    return threshold


def register_feature(feature: Feature) -> Feature:
    """Add a feature (once; the same declaration again is a no-op)."""
    from analysis.columns import RESULT_NAMES

    if feature.kind not in KINDS:
        raise _refuse("feature", feature.name, f"kind is one of {', '.join(KINDS)}")
    known = _TABLE.features.get(feature.name)
    if known is not None and known != feature:
        raise _refuse("feature", feature.name, "declared twice, differently")
    if feature.compute is None and feature.name not in RESULT_NAMES:
        raise _refuse("feature", feature.name, "not a results-table column: give compute")
    if feature.compute is not None:
        if feature.name in RESULT_NAMES or not feature.name.isidentifier():
            raise _refuse("feature", feature.name, "a new column needs a new identifier")
        if feature.dtype not in DTYPES or not feature.description:
            raise _refuse("feature", feature.name, f"give dtype ({', '.join(DTYPES)}) and "
                                                   "a description")
    _TABLE.features.setdefault(feature.name, feature)
    return feature


def register_derived(name: str, compute: Callable[..., Any]) -> None:
    """A value computed from features (and thresholds) once per classification, shared by
    rules: `compute(features, thresholds)` -> array, read as `features.<name>`."""
    known = _TABLE.derived.get(name)
    if known is not None and known is not compute:
        raise _refuse("derived feature", name, "declared twice, differently")
    _TABLE.derived[name] = compute


def register_rule(rule: Rule) -> Rule:
    """Add an outcome rule, with the features and thresholds it declares."""
    if not rule.label or rule.label != rule.label.strip():
        raise _refuse("rule", rule.label, "a label is a non-empty name")
    for threshold in rule.thresholds:
        register_threshold(threshold)
    for feature in rule.features:
        register_feature(feature)
    if rule not in _TABLE.rules:
        _TABLE.rules.append(rule)
    return rule


def rules() -> tuple[Rule, ...]:
    """Every rule in the order they are tried (precedence, then registration)."""
    return tuple(sorted(_TABLE.rules, key=lambda r: r.precedence))


def thresholds() -> tuple[Threshold, ...]:
    """Every threshold, in the order of their options (position, then registration)."""
    return tuple(sorted(_TABLE.thresholds.values(), key=lambda t: t.position))


def features() -> tuple[Feature, ...]:
    """Every feature, in registration order (the built-ins first)."""
    return tuple(_TABLE.features.values())


def derived() -> Mapping[str, Callable[..., Any]]:
    return dict(_TABLE.derived)


def computed_features() -> tuple[Feature, ...]:
    """The plugins' features: the results-table columns they add, in registration order."""
    return tuple(f for f in _TABLE.features.values() if f.compute is not None)


def outcomes() -> tuple[str, ...]:
    """The labels of complete runs, in report order (a label given by several rules is
    placed by the first of them in precedence)."""
    first: dict[str, float] = {}
    for rule in rules():
        first.setdefault(rule.label, rule.report_order)
    return tuple(sorted(first, key=lambda label: first[label]))


def snapshot() -> _Table:
    """A copy of the table (tests register a plugin and put the table back after)."""
    return _Table(list(_TABLE.rules), dict(_TABLE.thresholds), dict(_TABLE.features),
                  dict(_TABLE.derived))


def restore(table: _Table) -> None:
    _TABLE.rules[:] = table.rules
    _TABLE.thresholds.clear()
    _TABLE.thresholds.update(table.thresholds)
    _TABLE.features.clear()
    _TABLE.features.update(table.features)
    _TABLE.derived.clear()
    _TABLE.derived.update(table.derived)
