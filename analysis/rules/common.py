"""The built-in features every rule family reads, and the values derived from them.

Each feature is a column of the results table (analysis.columns has its type and meaning;
rows.summary_row fills it from the parsed trace and its golden reference).
"""

from __future__ import annotations

import numpy as np

from analysis.rules.registry import Feature, register_derived, register_feature

COMPLETE = register_feature(Feature("complete", "bool"))
IS_BACKWARD = register_feature(Feature("is_backward", "bool"))
STEPS_PER_EPOCH = register_feature(Feature("steps_per_epoch"))
NUM_CLASSES = register_feature(Feature("num_classes"))
DELAY = register_feature(Feature("nonfinite_delay_steps"))
FIRST_NONFINITE_EPOCH = register_feature(Feature("first_nonfinite_epoch"))
FINAL_TRAIN = register_feature(Feature("final_train_accuracy"))
FINAL_TEST = register_feature(Feature("final_test_accuracy"))
EARLY_MIN_TRAIN = register_feature(Feature("early_min_train_accuracy"))
REF_TRAIN = register_feature(Feature("ref_train_accuracy"))
REF_TEST = register_feature(Feature("ref_test_accuracy"))
SPREAD_TRAIN = register_feature(Feature("band_spread_train"))
SPREAD_TEST = register_feature(Feature("band_spread_test"))
# Tables written by older versions may lack these two.
NONFINITE_METRIC = register_feature(Feature("nonfinite_metric", "text", optional=True))
REJOINED_EPOCH = register_feature(Feature("rejoined_epoch", optional=True))


def _nonfinite(f, t) -> np.ndarray:
    return ~np.isnan(f.first_nonfinite_epoch)


def _nonfinite_test(f, t) -> np.ndarray:
    """The first non-finite value was a test loss (seen at the end of an epoch)."""
    return np.asarray(f.nonfinite_metric == "test_loss", dtype=bool)


def _rejoined(f, t) -> np.ndarray:
    return ~np.isnan(f.rejoined_epoch)


register_derived("nonfinite", _nonfinite)
register_derived("nonfinite_test", _nonfinite_test)
register_derived("rejoined", _rejoined)
