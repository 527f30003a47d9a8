"""The parsed form of one training run, shared by the text and JSON parsers.

Both trace formats are reduced to this one structure so that outcome classification, the
results table and the figures never need to know which format a run came from.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

BACKWARD_SUFFIXES = ("_grad_in", "_grad_wt")
FORWARD_STAGE = "fwrd_inject"
BACKWARD_STAGE = "bkwd_inject"


def stage_from_layer(layer: str | None) -> str | None:
    """The artifact's layer names imply the stage: `_grad_in`/`_grad_wt` are backward."""
    if layer is None:
        return None
    return BACKWARD_STAGE if layer.endswith(BACKWARD_SUFFIXES) else FORWARD_STAGE


@dataclass
class Injection:
    """Where and how the fault was injected (every field the traces carry)."""

    epoch: int
    step: int
    layer: str | None = None
    stage: str | None = None
    fmodel: str | None = None
    operand: str | None = None
    replica: int | None = None
    shape: list[int] | None = None
    positions: list[list[int]] = field(default_factory=list)
    golden_values: list[float] = field(default_factory=list)
    injected_values: list[float] = field(default_factory=list)
    requested: list[str] = field(default_factory=list)

    @property
    def is_backward(self) -> bool:
        """A backward-pass fault, by stage or by the layer-name convention."""
        if self.stage == BACKWARD_STAGE:
            return True
        return self.layer is not None and self.layer.endswith(BACKWARD_SUFFIXES)


@dataclass
class Curves:
    """Per-step and per-epoch values as numpy arrays (cheap to ship between processes)."""

    step_epoch: np.ndarray
    step_step: np.ndarray
    step_loss: np.ndarray
    step_accuracy: np.ndarray
    epoch: np.ndarray
    train_loss: np.ndarray
    train_accuracy: np.ndarray
    test_loss: np.ndarray
    test_accuracy: np.ndarray

    @classmethod
    def from_lists(
        cls,
        steps: list[tuple[int, int, float, float]],
        epochs: list[tuple[int, float, float, float, float]],
    ) -> Curves:
        """Build from (epoch, step, loss, acc) and (epoch, trl, tra, tel, tea) tuples."""
        s = np.array(steps, dtype=np.float64).reshape(-1, 4)
        e = np.array(epochs, dtype=np.float64).reshape(-1, 5)
        return cls(
            step_epoch=s[:, 0].astype(np.int32),
            step_step=s[:, 1].astype(np.int32),
            step_loss=s[:, 2].copy(),
            step_accuracy=s[:, 3].copy(),
            epoch=e[:, 0].astype(np.int32),
            train_loss=e[:, 1].copy(),
            train_accuracy=e[:, 2].copy(),
            test_loss=e[:, 3].copy(),
            test_accuracy=e[:, 4].copy(),
        )

    def first_nonfinite_step(self) -> tuple[int, int] | None:
        """(epoch, step) of the first non-finite training loss, or None."""
        bad = ~np.isfinite(self.step_loss)
        if not bad.any():
            return None
        i = int(np.argmax(bad))
        return int(self.step_epoch[i]), int(self.step_step[i])


@dataclass
class Trace:
    """One run, as read from a trace file. ``problems`` non-empty means incomplete."""

    path: str
    fmt: str  # "json" or "text"
    id: str
    kind: str  # "injection" or "golden"
    problems: list[str] = field(default_factory=list)
    workload: str | None = None
    config: dict[str, object] = field(default_factory=dict)
    csv: dict[str, str] | None = None
    injection: Injection | None = None
    start_epoch: int | None = None
    first_nonfinite: tuple[int, int] | None = None
    curves: Curves | None = None
    golden_sha256: str | None = None
    golden_checkpoint_path: str | None = None
    checkpoints: dict[str, str] | None = None
    wall_time_s: float | None = None

    @property
    def complete(self) -> bool:
        return not self.problems

    def cfg_int(self, key: str) -> int | None:
        value = self.config.get(key)
        return (
            int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None
        )

    @property
    def steps_per_epoch(self) -> int | None:
        return self.cfg_int("steps_per_epoch")

    @property
    def epochs(self) -> int | None:
        return self.cfg_int("epochs")

    @property
    def num_classes(self) -> int | None:
        return self.cfg_int("num_classes")

    def final_epoch_index(self) -> int | None:
        """Index into the epoch arrays of the last completed epoch."""
        if self.curves is None or self.curves.epoch.size == 0:
            return None
        return int(np.argmax(self.curves.epoch))

    def problem(self, reason: str, line: int | None = None, field_name: str | None = None) -> None:
        """Record why the trace is not usable as a complete run, with file and line/field."""
        if line is not None:
            self.problems.append(f"{self.path}:{line}: {reason}")
        elif field_name is not None:
            self.problems.append(f"{self.path}: {field_name}: {reason}")
        else:
            self.problems.append(f"{self.path}: {reason}")


def check_consistency(trace: Trace) -> None:
    """Format-independent checks that decide whether a parsed run is complete and coherent."""
    spe, epochs = trace.steps_per_epoch, trace.epochs
    if spe is None or spe <= 0:
        trace.problem("missing or non-positive steps per epoch", field_name="steps_per_epoch")
    if epochs is None or epochs <= 0:
        trace.problem("missing or non-positive number of epochs", field_name="epochs")
    if trace.curves is None:
        return
    observed = trace.curves.first_nonfinite_step()
    if trace.first_nonfinite is None and observed is not None:
        trace.problem(
            f"no non-finite loss recorded, but the loss at epoch {observed[0]} step "
            f"{observed[1]} is non-finite",
            field_name="first_nonfinite",
        )
    inj = trace.injection
    if inj is not None and trace.first_nonfinite is not None and spe:
        nf = trace.first_nonfinite[0] * spe + trace.first_nonfinite[1]
        if nf < inj.epoch * spe + inj.step:
            trace.problem(
                f"loss non-finite at epoch {trace.first_nonfinite[0]} step "
                f"{trace.first_nonfinite[1]}, before the injection (epoch {inj.epoch} step "
                f"{inj.step})",
                field_name="first_nonfinite",
            )
    if trace.problems or epochs is None:
        return
    last = trace.final_epoch_index()
    if trace.first_nonfinite is None:
        if last is None:
            trace.problem(
                "no completed epoch and no non-finite loss: run cut short", field_name="epochs"
            )
            return
        final = int(trace.curves.epoch[last])
        if final != epochs - 1:
            trace.problem(
                f"ends after epoch {final} of 0..{epochs - 1} without a non-finite loss: "
                "run cut short",
                field_name="epochs",
            )
            return
        values = (trace.curves.train_accuracy[last], trace.curves.test_accuracy[last])
        if not all(math.isfinite(v) for v in values):
            trace.problem("final train/test accuracy is not a finite number", field_name="epochs")
