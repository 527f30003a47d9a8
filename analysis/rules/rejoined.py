"""Masked by rejoining: the run's whole training state became the golden run's, bit for bit."""

from __future__ import annotations

import numpy as np

from analysis.rules.common import FIRST_NONFINITE_EPOCH, REJOINED_EPOCH
from analysis.rules.labels import MASKED
from analysis.rules.registry import Rule, register_rule


def _rejoined(f, t) -> np.ndarray:
    return f.rejoined & ~f.nonfinite


REJOINED = register_rule(Rule(
    MASKED,
    0,
    "the run's whole training state became bit-identical to the golden run's "
    "(rejoined_golden; outcome_reason says at which epoch)",
    _rejoined,
    precedence=10,
    features=(REJOINED_EPOCH, FIRST_NONFINITE_EPOCH),
))
