"""Run traces: the artifact's text format, line for line (its lines are written by
`fi_formats.trace_text`, the module the analysis reads them with), and a JSON record with
everything.

Both are kept in memory while the run goes and written atomically at its end, so a killed run
leaves no trace at all (and the pipeline reruns it).
"""

from __future__ import annotations

import json
import math
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np

import fi_core
import fi_formats
from fi_core.spec.workloads import WorkloadConfig
from fi_core.store.files import write_all_or_none
from fi_core.tasks import task_of
from fi_formats import trace_text as text

FORMAT = fi_formats.TRACE_FORMAT


def json_safe(value: Any) -> Any:
    """Non-finite floats as the strings "NaN", "Infinity", "-Infinity" (strict JSON)."""
    if isinstance(value, float | np.floating):
        value = float(value)
        encoded = fi_formats.encode_nonfinite(value)
        return value if encoded is None else encoded
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, np.integer):
        return int(value)
    return value


def versions() -> dict[str, str]:
    import tensorflow as tf

    return {"fi_core": fi_core.__version__, "python": platform.python_version(),
            "tensorflow": tf.__version__, "numpy": np.__version__}


class Trace:
    """Collects one run's text lines and JSON record."""

    def __init__(self, kind: str, run_id: str, workload: str, config: WorkloadConfig) -> None:
        self.lines: list[str] = []
        self.config = config
        self.started = time.monotonic()
        self.record: dict[str, Any] = {
            "format": FORMAT, "kind": kind, "id": run_id, "complete": True,
            "workload": workload,
            "config": {**config.to_dict(), "num_classes": task_of(config).num_classes(config),
                       "steps_per_epoch": config.steps_per_epoch},
            "csv": None, "injection": None, "start_epoch": 0, "first_nonfinite": None,
            "steps": [], "epochs": [], "golden_checkpoint": None, "rejoined_golden": None,
        }

    @classmethod
    def resumed(cls, config: WorkloadConfig, lines: list[str], record: dict[str, Any],
                elapsed: float) -> Trace:
        """A run's trace as it was saved when the run stopped (`fi_core.store.horizon`), to be
        continued: its record as JSON holds it, its clock `elapsed` seconds on."""
        trace = cls.__new__(cls)
        trace.lines, trace.config, trace.record = list(lines), config, record
        trace.started = time.monotonic() - elapsed
        return trace

    def elapsed(self) -> float:
        return round(time.monotonic() - self.started, 3)

    def inject_header(self, epoch: int, step: int) -> None:
        self.lines += text.inject_header_lines(epoch, step)

    def loaded(self, path: Path, sha256: str, epoch: int) -> None:
        self.lines.append(text.load_line(path))
        self.record["golden_checkpoint"] = {"path": str(path), "sha256": sha256}
        self.record["start_epoch"] = epoch

    def step(self, epoch: int, step: int, loss: float, accuracy: float) -> None:
        self.lines.append(text.step_line(epoch, self.config.epochs, step,
                                         self.config.steps_per_epoch, loss, accuracy))
        self.record["steps"].append({"epoch": epoch, "step": step, "loss": loss,
                                     "accuracy": accuracy})
        if not math.isfinite(loss):
            self._first_nonfinite(epoch, step, "train_loss")

    def injection(self, details: dict[str, Any], shown: list[str]) -> None:
        """The artifact's injection lines; `shown` is the text printed as "inject data". A run
        (`range` in `details`) is one `Range is` line instead of one line per element."""
        shape = tuple(details["shape"])
        self.lines += text.site_lines(details["replica"], details["layer"], shape)
        if "range" in details:
            first, last = (tuple(int(i) for i in np.unravel_index(details["range"][end], shape))
                           for end in ("first", "last"))
            golden = float(details["golden_summary"]["max_abs"])
            injected = float(details["injected_summary"]["max_abs"])
            self.lines.append(text.range_line(first, last, details["count"], golden, injected))
        for position, golden, shown_value in zip(details["positions"], details["golden_values"],
                                                 shown, strict=True):
            self.lines.append(text.position_line(tuple(position), golden, shown_value))
        self.record["injection"] = details

    def mitigation_header(self, preset: str, mode: str) -> None:
        """The line that names the run's mitigation (none: no line, as before mitigations)."""
        self.lines.append(text.preset_line(preset, mode))

    def detection(self, entry: dict[str, Any]) -> None:
        """One line per detection of a mitigation (`fi_core.mitigation`), after the step (or
        the epoch's evaluation) that fired it; a rollback names the step training resumes at,
        and the steps logged after the line re-execute from there."""
        step = None if entry["at"] == "evaluation" else entry["step"]
        resume = entry.get("resume")
        self.lines.append(text.detection_line(
            entry["epoch"], step, entry["detector"], float(entry["value"]),
            float(entry["threshold"]), entry["action"],
            None if resume is None else (resume["epoch"], resume["step"])))

    def _first_nonfinite(self, epoch: int, step: int, metric: str) -> None:
        if self.record["first_nonfinite"] is None:
            self.record["first_nonfinite"] = {"epoch": epoch, "step": step, "metric": metric}

    def nonfinite(self) -> None:
        """The artifact's last line of a run stopped by a non-finite train or test loss."""
        self.lines.append(text.NAN_STOP)

    def end_epoch(self, epoch: int, train_loss: float, train_accuracy: float, test_loss: float,
                  test_accuracy: float) -> None:
        self.lines.append(text.epoch_line(epoch, self.config.epochs, train_loss, train_accuracy,
                                          test_loss, test_accuracy))
        self.record["epochs"].append({
            "epoch": epoch, "train_loss": train_loss, "train_accuracy": train_accuracy,
            "test_loss": test_loss, "test_accuracy": test_accuracy})
        if not math.isfinite(test_loss):  # evaluated after the epoch's last step
            self._first_nonfinite(epoch, self.config.steps_per_epoch - 1, "test_loss")

    def write(self, text_path: Path, json_path: Path, **extra: Any) -> None:
        """Write both files or neither (JSON renamed last: its presence means the run finished)."""
        self.record.update(extra)
        self.record["wall_time_s"] = self.elapsed()
        self.record["versions"] = versions()
        write_all_or_none([(text_path, "\n".join(self.lines) + "\n"),
                           (json_path, json.dumps(json_safe(self.record), indent=1) + "\n")])
