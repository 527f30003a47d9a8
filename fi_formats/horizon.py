"""The horizon record, `<id>.horizon.json`: what a run looked like H epoch ends after its fault
(prediction-powered campaigns). The engine writes it (`fi_core.store.horizon`), the analysis
reads it (`analysis.prediction.units`); this module is the one place its fields are named.

A record: `format` (FORMAT), `kind` "horizon", `id`, `csv` (the CSV's rows, each a comma-joined
string), `horizon` (H), `epoch` (the last epoch trained before the horizon), `ended` (STOPPED, or
how the run ended by itself before: then its trace pair is beside the record and its outcome is
exact), `state` (the saved state's folder name, or null), `steps_trained`, `evaluations` (the
training steps and evaluations done), `features` (FEATURES, or null when the run ended before its
horizon epoch), `wall_time_s`. Non-finite feature values are the strings of `NONFINITE`.
"""

from __future__ import annotations

import math
from typing import Any

from fi_formats import NONFINITE

FORMAT = "fi-horizon/1"
SUFFIX = ".horizon.json"
STOPPED = "stopped at the horizon"
STATE_GROUPS = ("weights", "adam_m", "adam_v", "statistics")
"""The parts of the training state compared with the golden state at the horizon."""
FEATURES = (
    *(f"{group}_{what}" for group in STATE_GROUPS for what in ("distance", "max_diff",
                                                                "max_abs")),
    *(f"{prefix}{metric}" for metric in ("train_loss", "train_accuracy", "test_loss",
                                         "test_accuracy") for prefix in ("", "golden_")),
)
"""`<group>_distance`: relative L2 distance to the golden state at the same epoch end;
`<group>_max_diff`: largest absolute difference; `<group>_max_abs`: largest |value| (NaN for a
group the workload does not have); the run's epoch losses and accuracies and the golden run's."""
_FIELDS = {"format": str, "kind": str, "id": str, "csv": dict, "horizon": int, "epoch": int,
           "ended": str, "steps_trained": int, "evaluations": int}
_DECODED = {NONFINITE[0]: math.nan, NONFINITE[1]: math.inf, NONFINITE[2]: -math.inf}


def check(record: Any) -> tuple[str, str] | None:
    """The first problem of a horizon record as (field, reason), or None."""
    if not isinstance(record, dict):
        return "record", "is not a JSON object"
    for field, kind in _FIELDS.items():
        value = record.get(field)
        if not isinstance(value, kind) or isinstance(value, bool):
            return field, f"missing or not a {kind.__name__}"
    if record["format"] != FORMAT:
        return "format", f"{record['format'][:40]!r} is not {FORMAT}"
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in record["csv"].items()):
        return "csv", "is not an object of strings"
    features = record.get("features")
    if features is None:
        return None
    if not isinstance(features, dict):
        return "features", "is not an object"
    for name in FEATURES:
        value = features.get(name)
        if not ((isinstance(value, int | float) and not isinstance(value, bool))
                or value in _DECODED):
            return f"features.{name}", "missing or not a number"
    return None


def feature_values(record: dict[str, Any]) -> dict[str, float]:
    """The features of a checked record as floats (NaN for every one when it has none)."""
    features = record.get("features")
    if features is None:
        return dict.fromkeys(FEATURES, math.nan)
    return {name: _DECODED.get(features[name], features[name]) if isinstance(
        features[name], str) else float(features[name]) for name in FEATURES}
