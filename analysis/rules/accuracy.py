"""The finite outcomes: final accuracies against the golden band, and collapse to chance."""

from __future__ import annotations

import numpy as np

from analysis.rules.common import (
    EARLY_MIN_TRAIN,
    FINAL_TEST,
    FINAL_TRAIN,
    FIRST_NONFINITE_EPOCH,
    NUM_CLASSES,
    REF_TEST,
    REF_TRAIN,
    SPREAD_TEST,
    SPREAD_TRAIN,
)
from analysis.rules.labels import LOW_TEST, MASKED, SHARP_DEGRADE, SLOW_DEGRADE
from analysis.rules.registry import EPS, Rule, Threshold, register_derived, register_rule

TOL_MIN = Threshold(
    "tol_min",
    float,
    0.02,
    "minimum accuracy tolerance against the golden run (default 0.02)",
    high=1.0,
    high_open=True,
    meaning="smallest accuracy tolerance against the golden run",
    position=20,
)
CHANCE_MARGIN = Threshold(
    "chance_margin",
    float,
    0.05,
    "SharpDegrade: accuracy <= 1/classes + this (default 0.05)",
    high=1.0,
    high_open=True,
    meaning="SharpDegrade: accuracy <= 1/num_classes + X",
    position=30,
)
_FINALS = (FIRST_NONFINITE_EPOCH, FINAL_TRAIN, REF_TRAIN, SPREAD_TRAIN)


def _chance(f, t) -> np.ndarray:
    """Chance level plus the margin: 1/num_classes + --chance-margin."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(f.num_classes > 0, 1.0 / f.num_classes, np.nan) + t.chance_margin


def _train_within(f, t) -> np.ndarray:
    """Final train accuracy >= golden final - tol (better than golden is within)."""
    tol = np.maximum(t.tol_min, f.band_spread_train)
    return f.final_train_accuracy >= f.ref_train_accuracy - tol - EPS


def _test_within(f, t) -> np.ndarray:
    tol = np.maximum(t.tol_min, f.band_spread_test)
    return f.final_test_accuracy >= f.ref_test_accuracy - tol - EPS


register_derived("chance", _chance)
register_derived("train_within", _train_within)
register_derived("test_within", _test_within)


def _sharp(f, t) -> np.ndarray:
    at_chance_early = f.early_min_train_accuracy <= f.chance + EPS
    at_chance_end = f.final_train_accuracy <= f.chance + EPS
    return ~f.nonfinite & at_chance_early & at_chance_end


def _masked(f, t) -> np.ndarray:
    return ~f.nonfinite & f.train_within & f.test_within


def _low_test(f, t) -> np.ndarray:
    return ~f.nonfinite & f.train_within & ~np.isnan(f.final_test_accuracy)


def _slow(f, t) -> np.ndarray:
    return ~f.nonfinite & (
        f.final_train_accuracy
        < f.ref_train_accuracy - np.maximum(t.tol_min, f.band_spread_train) - EPS
    )


SHARP_RULE = register_rule(Rule(
    SHARP_DEGRADE,
    4,
    "train accuracy <= 1/num_classes + --chance-margin at an epoch end "
    "within one epoch of the injection and at the final epoch",
    _sharp,
    precedence=50,
    features=(FIRST_NONFINITE_EPOCH, NUM_CLASSES, EARLY_MIN_TRAIN, FINAL_TRAIN),
    thresholds=(CHANCE_MARGIN,),
))
MASKED_RULE = register_rule(Rule(
    MASKED, 0, "final train and test accuracy >= golden final - tol", _masked,
    precedence=60, features=(*_FINALS, FINAL_TEST, REF_TEST, SPREAD_TEST), thresholds=(TOL_MIN,),
))
LOW_TEST_RULE = register_rule(Rule(
    LOW_TEST, 6, "final train accuracy within tol, test accuracy below", _low_test,
    precedence=70, features=(*_FINALS, FINAL_TEST), thresholds=(TOL_MIN,),
))
SLOW_RULE = register_rule(Rule(
    SLOW_DEGRADE, 5, "any other finite run whose final train accuracy is below the band", _slow,
    precedence=80, features=_FINALS, thresholds=(TOL_MIN,),
))
