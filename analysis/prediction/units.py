"""A prediction-powered campaign's units: one row per CSV, read from the horizon records
(`<id>.horizon.json`, `fi_formats.horizon`) the engine wrote H epoch ends after each fault.

A row holds where the CSV struck (stage, fault model, layer), how its run ended by the horizon
(`exact`: it ended by itself, its outcome is known at no cost), and the features a predictor of
its outcome reads, plus two derived from them: the test accuracy and loss against the golden
run's at the same epoch.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import orjson
import pandas as pd

from analysis.errors import InputError
from fi_formats import horizon

MAX_RECORD_BYTES = 1 << 20
FAR_DISTANCE = 1.0
"""A run is `far` from the golden state at its horizon when some part of its state (weights,
Adam's moments, batch-norm statistics) is farther from the golden one than this, relatively
(1.0: as far as that part's own size), or not finite: such runs are few and the ones that can
still go wrong, so a campaign may continue more of them (`design`)."""
DERIVED = ("accuracy_gap", "loss_gap")
PREDICTOR_FEATURES = (*horizon.FEATURES, *DERIVED, "inj_epoch")
"""What the predictor reads: the record's features, the two gaps, and the injection epoch."""


def record_paths(folders: Iterable[str]) -> list[Path]:
    """The horizon records of these folders (or record files given directly), sorted per
    folder."""
    found: list[Path] = []
    for given in folders:
        path = Path(given)
        if path.is_file():
            found.append(path)
        elif path.is_dir():
            found += sorted(p for p in path.iterdir() if p.name.endswith(horizon.SUFFIX))
        else:
            raise InputError(given, None, "no such file or folder")
    return found


def _read(path: Path) -> dict:
    try:
        if path.stat().st_size > MAX_RECORD_BYTES:
            raise InputError(str(path), None, f"larger than {MAX_RECORD_BYTES} bytes")
        record = orjson.loads(path.read_bytes())
    except OSError as error:
        raise InputError(str(path), None, error.strerror or "unreadable") from None
    except orjson.JSONDecodeError as error:
        raise InputError(str(path), None, f"not a horizon record ({error.msg})") from None
    problem = horizon.check(record)
    if problem is not None:
        raise InputError(str(path), *problem)
    if path.name != f"{record['id']}{horizon.SUFFIX}":
        raise InputError(str(path), "id", f"{record['id'][:60]!r} is not the file's name")
    return record


def _integer(record: dict, key: str, path: Path) -> int:
    try:
        return int(record["csv"][key])
    except (KeyError, ValueError):
        raise InputError(str(path), f"csv.{key}", "missing or not an integer") from None


def far_from_golden(units: pd.DataFrame, distance: float = FAR_DISTANCE) -> pd.Series:
    """Whether each run that did not end by itself is `far` (see FAR_DISTANCE)."""
    parts = units[[f"{group}_distance" for group in horizon.STATE_GROUPS]].to_numpy(
        dtype=np.float64)
    present = ~np.isnan(parts)
    with np.errstate(invalid="ignore"):
        far = np.any(present & (~np.isfinite(parts) | (parts > distance)), axis=1)
    return pd.Series(far & ~units["exact"].to_numpy(dtype=bool), index=units.index, name="far")


def read_units(folders: Iterable[str], far_distance: float = FAR_DISTANCE) -> pd.DataFrame:
    """One row per horizon record, in the order found; an id seen twice is refused."""
    rows = []
    for path in record_paths(folders):
        record = _read(path)
        features = horizon.feature_values(record)
        csv = record["csv"]
        rows.append({
            "id": record["id"], "job": path.parent.name,
            "exact": record["ended"] != horizon.STOPPED, "ended": record["ended"],
            "stage": csv.get("stage"), "fmodel": csv.get("fmodel"),
            "target_layer": csv.get("target_layer"),
            "inj_epoch": _integer(record, "target_epoch", path),
            "horizon": record["horizon"], "horizon_epoch": record["epoch"],
            "steps_trained": record["steps_trained"], "evaluations": record["evaluations"],
            **features,
            "accuracy_gap": features["test_accuracy"] - features["golden_test_accuracy"],
            "loss_gap": _difference(features["test_loss"], features["golden_test_loss"]),
        })
    if not rows:
        raise InputError(os.pathsep.join(map(str, folders)), None, "holds no horizon record")
    units = pd.DataFrame(rows)
    units["far"] = far_from_golden(units, far_distance)
    twice = units["id"][units["id"].duplicated()]
    if len(twice):
        raise InputError(str(twice.iloc[0]), "id", "two horizon records of one CSV")
    return units


def _difference(a: float, b: float) -> float:
    if math.isinf(a) and math.isinf(b) and a == b:
        return 0.0
    return a - b
