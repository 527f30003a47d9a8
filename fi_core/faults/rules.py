"""Value rules: what the hit elements become. One registered object per rule, with two parts:

- `draw(rng, selection) -> [text, ...]`: at campaign generation, the values of the rule's CSV
  row (`key`), e.g. replacement values, bit indices, or a seed;
- `compute(inputs) -> tf.Tensor`: in the injection step's graph, the new value of every element
  of the operand from the golden operand and the row's parameters (only hit elements are kept).

Between the two, the engine reads the row with one strict parser driven by `fields`, so a rule
never parses text itself. A rule is either per element (`per_element=True`: its one field is
repeated once per listed position, and `compute` sees it scattered to the operand's elements)
or fixed (its fields once, e.g. a seed: it serves runs of any length). The in-graph dispatch is
one `tf.switch_case` over the registry, so one traced step serves every rule.

A new rule is one file: build a `ValueRule` and `register_rule` it (a plugin module can do that,
see `fi_core.spec.plugins`). This module and the rule files import TensorFlow only inside `compute`,
so validation and campaign generation never start TensorFlow.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from fi_core.faults.patterns import Selection

NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,63}")
"""Registered names of rules and fault models (they reach CSVs, traces and command lines)."""
KEY = re.compile(r"inj_[a-z0-9_]{1,40}")
"""CSV keys of value rules."""
SEED_HIGH = 2**63
FIELD_KINDS = ("float", "int", "position")


@dataclass(frozen=True)
class Field:
    """One parameter of a rule's CSV row: a finite fp32 `float`, an `int` in [low, high), or a
    `position` of the operand (`a/b/c/d`), which the engine hands to `compute` as its flat
    row-major index (an int)."""

    kind: str
    low: int = 0
    high: int = SEED_HIGH


@dataclass(frozen=True)
class RuleInputs:
    """What `compute` gets, for one replica's operand flattened to `[size]` (TensorFlow tensors).

    `golden` holds the operand's values before the fault, `index` each element's flat index.
    `floats` and `ints` hold the row's float and int/position fields in order; for a per-element
    rule they are `[size]`, each hit element's own parameter at its index (zero elsewhere)."""

    golden: Any  # float32 [size]
    index: Any  # int64 [size]
    floats: Any  # float32 [size] (per element) or [number of float fields]
    ints: Any  # int64 [size] (per element) or [number of int and position fields]


Draw = Callable[[np.random.Generator, Selection], list[str]]
Compute = Callable[[RuleInputs], Any]
Check = Callable[[np.ndarray, np.ndarray], str | None]


@dataclass(frozen=True)
class ValueRule:
    """A registered value rule; `name` is the trace's `value_kind`, `key` its CSV row."""

    name: str
    key: str
    fields: tuple[Field, ...]
    per_element: bool
    draw: Draw
    compute: Compute
    summary: str
    check: Check | None = None  # a reason to refuse the parsed parameters, or None

    def drawing(self, draw: Draw) -> ValueRule:
        """The same rule with another generation-time draw (e.g. `explicit` values of zero)."""
        return dataclasses.replace(self, draw=draw)


RULES: dict[str, ValueRule] = {}


def register_rule(rule: ValueRule) -> ValueRule:
    """Add a value rule. Names and CSV keys are unique and checked, so that a plugin cannot
    silently replace a built-in rule or collide with another rule's row."""
    if not NAME.fullmatch(rule.name):
        raise ValueError(f"value rule name {rule.name!r} does not match {NAME.pattern}")
    if not KEY.fullmatch(rule.key):
        raise ValueError(f"value rule key {rule.key!r} does not match {KEY.pattern}")
    if rule.name in RULES:
        raise ValueError(f"value rule {rule.name!r} is already registered")
    if any(other.key == rule.key for other in RULES.values()):
        raise ValueError(f"CSV key {rule.key!r} already belongs to another value rule")
    if not rule.fields or any(f.kind not in FIELD_KINDS for f in rule.fields):
        raise ValueError(f"value rule {rule.name!r}: fields must be of kinds {FIELD_KINDS}")
    if rule.per_element and len(rule.fields) != 1:
        raise ValueError(f"value rule {rule.name!r}: a per-element rule has exactly one field")
    for f in rule.fields:
        if f.kind == "int" and not -(2**63) <= f.low < f.high <= 2**63:
            raise ValueError(f"value rule {rule.name!r}: int bounds must fit int64")
    RULES[rule.name] = rule
    return rule


def index_of(name: str) -> int:
    """The rule's branch in the in-graph `tf.switch_case` (registration order)."""
    return list(RULES).index(name)


def in_order() -> tuple[ValueRule, ...]:
    return tuple(RULES.values())


# ---------------------------------------------------------------- helpers for rule files
def format_value(value: float) -> str:
    """Shortest text that reads back as the same float32."""
    return repr(float(np.float32(value)))


def format_position(position: np.ndarray) -> str:
    return "/".join(str(int(i)) for i in position)


def draw_seed(rng: np.random.Generator) -> str:
    return str(int(rng.integers(0, SEED_HIGH, dtype=np.int64)))


def stateless_seed(seed: Any, salt: int) -> Any:
    """The `[2]` int64 seed of TensorFlow's stateless random ops for a rule's seed field."""
    import tensorflow as tf

    return tf.stack([tf.cast(seed, tf.int64), tf.constant(salt, tf.int64)])


PHILOX = "philox"
"""Stateless random ops name Philox explicitly (TensorFlow's default picks by device)."""
