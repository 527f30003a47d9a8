"""The INF/NaN outcomes: a non-finite loss, placed by its delay after the injection."""

from __future__ import annotations

import numpy as np

from analysis.rules.common import (
    DELAY,
    FIRST_NONFINITE_EPOCH,
    IS_BACKWARD,
    NONFINITE_METRIC,
    STEPS_PER_EPOCH,
)
from analysis.rules.labels import IMMEDIATE, LATE, SHORT_TERM
from analysis.rules.registry import MAX_STEPS, Rule, Threshold, register_rule

SHORT_TERM_STEPS = Threshold(
    "short_term_steps",
    int,
    None,
    "Short-term INFs/NaNs window in steps (default: one epoch of each run)",
    high=MAX_STEPS,
    metavar="N",
    default_text="one epoch of steps of each run",
    meaning="Short-term INFs/NaNs window",
    position=10,
    config_range=(1, MAX_STEPS - 1),
)
IMMEDIATE_BACKWARD_STEPS = Threshold(
    "immediate_backward_steps",
    int,
    1,
    "backward faults: non-finite up to N steps later is Immediate (default 1)",
    high=MAX_STEPS,
    metavar="N",
    meaning="a backward fault's non-finite loss up to N steps later is Immediate",
    position=40,
    config_range=(0, MAX_STEPS - 1),
)
_READS = (FIRST_NONFINITE_EPOCH, DELAY)


def _immediate(f, t) -> np.ndarray:
    # A non-finite test loss is seen at the evaluation after the step, never in the step.
    limit = np.where(f.is_backward, t.immediate_backward_steps, 0)
    return f.nonfinite & ~f.nonfinite_test & (f.nonfinite_delay_steps <= limit)


def _short_term(f, t) -> np.ndarray:
    window = f.steps_per_epoch if t.short_term_steps is None else t.short_term_steps
    return f.nonfinite & (f.nonfinite_delay_steps <= window)


def _late(f, t) -> np.ndarray:
    return f.nonfinite & (f.nonfinite_delay_steps >= 0)


IMMEDIATE_RULE = register_rule(Rule(
    IMMEDIATE,
    1,
    "first non-finite training loss in the injection step (backward faults: up to "
    "--immediate-backward-steps steps later)",
    _immediate,
    precedence=20,
    features=(*_READS, IS_BACKWARD, NONFINITE_METRIC),
    thresholds=(IMMEDIATE_BACKWARD_STEPS,),
))
SHORT_TERM_RULE = register_rule(Rule(
    SHORT_TERM,
    2,
    "first non-finite loss (training, or the test loss at an epoch end) within "
    "--short-term-steps steps after the injection (default: one epoch of steps)",
    _short_term,
    precedence=30,
    features=(*_READS, STEPS_PER_EPOCH),
    thresholds=(SHORT_TERM_STEPS,),
))
LATE_RULE = register_rule(Rule(
    LATE, 3, "first non-finite loss (training or test) later than that", _late,
    precedence=40, features=_READS,
))
