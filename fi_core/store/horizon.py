"""Runs stopped at a horizon (`fi-core inject --horizon H --state-dir D`) and continued later
(`fi-core inject --continue-from D`): the files, TensorFlow-free.

Why: most runs are decided soon after the fault, so a prediction-powered campaign trains every
CSV to H epoch ends after its injection only and continues a random few to the end. A stopped run
leaves, per CSV:

- in `--out-dir`, `<label>.horizon.json` (`fi_formats.horizon`): how the run ended by the
  horizon, and the features a predictor of its outcome reads there. When the run ended by
  itself before (a non-finite loss, the golden state rejoined, its last epoch), its trace pair
  is written beside it as usual: its outcome is exact.
- in `--state-dir`, a folder `<label>/` with the training state at the horizon (the checkpoint
  folder `checkpoint/`), `trace.json` (the trace so far: text lines and record) and `run.json`, the
  fingerprint of what the run depends on plus the checkpoint's sha256. Continuing checks both
  before TensorFlow reads anything, so a state saved for another CSV, golden run, version or
  options is refused, and a damaged one is never restored.

The continued run's trace is the uninterrupted run's, byte for byte (its `wall_time_s` aside:
the time of both parts).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fi_core.spec.errors import BadInput
from fi_core.spec.injection import Injection
from fi_core.store import files, resume
from fi_formats.horizon import FORMAT, STOPPED, SUFFIX  # noqa: F401  (the record's format)

STATE_FORMAT = "fi-horizon-state/1"
RUN_FILE, TRACE_FILE, CHECKPOINT = "run.json", "trace.json", "checkpoint"
MAX_HORIZON = 10**6
STATE_LIMIT = 2**30  # bytes of a saved trace.json or run.json


@dataclass(frozen=True)
class Plan:
    """H epoch ends after the fault (the injection epoch's own end is the first): record the
    features there; with `state_dir`, stop there and save the state."""

    epochs: int
    state_dir: Path | None
    options: dict[str, Any]  # what else the run depends on (`run_fingerprint`)

    def epoch(self, hit: Injection) -> int:
        """The last epoch a run of this CSV trains before its horizon."""
        return hit.epoch + self.epochs - 1


def record_path(out_dir: Path, label: str) -> Path:
    return out_dir / f"{label}{SUFFIX}"


def state_path(state_dir: Path, label: str) -> Path:
    return state_dir / label


def check_horizon(value: int, option: str = "--horizon") -> int:
    if not 1 <= value <= MAX_HORIZON:
        raise BadInput(option, "value", f"{value} is not an epoch count from 1 to {MAX_HORIZON}")
    return value


def run_fingerprint(hit: Injection, golden_dir: Path, options: dict[str, Any]) -> dict[str, Any]:
    """What a continued run depends on (as a resumed job's pairs do, `resume.fingerprint`)."""
    wanted = resume.fingerprint([hit], golden_dir, options)
    return json.loads(json.dumps({"format": STATE_FORMAT, **wanted}))


def checkpoint_folder(folder: Path) -> Path:
    return folder / CHECKPOINT


def write_state_files(folder: Path, fingerprint: dict[str, Any], epoch: int, checkpoint: str,
                      lines: list[str], record: dict[str, Any], elapsed: float) -> None:
    """The trace so far and the fingerprint, beside the checkpoint already in `folder`."""
    files.write_atomic(folder / TRACE_FILE, json.dumps(
        {"lines": lines, "record": record, "elapsed_s": elapsed}) + "\n")
    files.write_atomic(folder / RUN_FILE, json.dumps(
        {**fingerprint, "epoch": epoch, "checkpoint_sha256": checkpoint}, indent=1,
        sort_keys=True) + "\n")


@dataclass(frozen=True)
class SavedRun:
    """A stopped run, checked and ready to continue after `epoch`."""

    hit: Injection
    folder: Path
    epoch: int
    lines: list[str]
    record: dict[str, Any]
    elapsed: float


def _json(path: Path, source: str) -> Any:
    try:
        return json.loads(files.read_input(path, STATE_LIMIT, source))
    except ValueError:
        raise BadInput(source, "--continue-from", f"{path.name} is not JSON") from None


def open_saved(state_dir: Path, hit: Injection, golden_dir: Path,
               options: dict[str, Any]) -> SavedRun:
    """The saved run of this CSV, refused in one line unless it is this CSV's run against this
    golden run, saved by this version with these options, and its checkpoint is the one saved."""
    folder = state_path(state_dir, hit.label)
    source = str(folder)
    if not (folder / RUN_FILE).is_file():
        raise BadInput(hit.source, "--continue-from",
                       f"{state_dir} holds no run of this CSV stopped at its horizon")
    saved = _json(folder / RUN_FILE, source)
    if not isinstance(saved, dict):
        raise BadInput(source, "--continue-from", f"{RUN_FILE} is not an object")
    wanted = run_fingerprint(hit, golden_dir, options)
    for key in ("format", "fi_core", "csvs", "golden", "options"):
        if saved.get(key) != wanted[key]:
            raise BadInput(source, "--continue-from", f"saved with other {key} than this "
                                                      "run's: continue it as it was started")
    epoch, expected = saved.get("epoch"), saved.get("checkpoint_sha256")
    if not isinstance(epoch, int) or isinstance(epoch, bool) or not isinstance(expected, str):
        raise BadInput(source, "--continue-from", f"{RUN_FILE} names no epoch and checkpoint")
    try:
        actual = files.hash_dir(folder / CHECKPOINT)  # read once: not cached
    except OSError as error:
        raise BadInput(source, "--continue-from", error.strerror or "unreadable") from None
    if actual != expected:
        raise BadInput(source, "--continue-from", f"sha256 {actual[:16]}... of the saved state "
                                                  f"is not the {expected[:16]}... it was saved "
                                                  "with (damaged or replaced)")
    trace = _json(folder / TRACE_FILE, source)
    if not (isinstance(trace, dict) and isinstance(trace.get("lines"), list)
            and isinstance(trace.get("record"), dict)
            and trace["record"].get("id") == hit.label):
        raise BadInput(source, "--continue-from", f"{TRACE_FILE} is not this run's trace")
    return SavedRun(hit, folder, epoch, trace["lines"], trace["record"],
                    float(trace.get("elapsed_s", 0.0)))
