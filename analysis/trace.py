"""The parsed form of one training run, shared by the text and JSON parsers.

Both trace formats are reduced to this one structure so that outcome classification, the
results table and the figures never need to know which format a run came from. The checks
that do not depend on the format (ranges, consistency of the non-finite record with the
curves, where the injection hit) are here too, in ``check_consistency``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from analysis.inputs import Unreadable, read_regular
from fi_formats.names import BACKWARD_STAGE, is_backward_layer
from fi_formats.oneline import printable

TRAIN_LOSS = "train_loss"
TEST_LOSS = "test_loss"
NO_MITIGATION = "none"

# A trace larger than this is refused unread (a paper-size run's JSON record is about 1 MB).
MAX_TRACE_BYTES = 64 * 1024 * 1024
# Problems kept per trace; the others are only counted (a binary file has one per "line").
MAX_PROBLEMS = 5

@dataclass
class Summary:
    """Statistics of the values at the injection sites; None where not recorded."""

    min: float | None = None
    max: float | None = None
    mean: float | None = None
    max_abs: float | None = None

    @classmethod
    def of(cls, values: list[float]) -> Summary | None:
        """Computed from a list (older traces without summaries); None for no values."""
        if not values:
            return None
        a = np.asarray(values, dtype=np.float64)
        with np.errstate(invalid="ignore", over="ignore"):
            return cls(float(a.min()), float(a.max()), float(a.mean()), float(np.abs(a).max()))


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
    value_kind: str | None = None
    count: int | None = None  # elements hit, when recorded
    range_first: int | None = None  # a run of elements: flat row-major indices, inclusive
    range_last: int | None = None
    golden_summary: Summary | None = None
    injected_summary: Summary | None = None

    @property
    def is_backward(self) -> bool:
        """A backward-pass fault, by stage or by the layer-name convention."""
        if self.stage == BACKWARD_STAGE:
            return True
        return self.layer is not None and is_backward_layer(self.layer)

    @property
    def elements(self) -> int:
        """Number of elements hit: the recorded count, else the positions listed."""
        return self.count if self.count is not None else len(self.positions)

    def golden_stats(self) -> Summary | None:
        """The recorded summary, else one computed from the listed values."""
        return self.golden_summary or Summary.of(self.golden_values)

    def injected_stats(self) -> Summary | None:
        return self.injected_summary or Summary.of(self.injected_values)


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

    def first_nonfinite_test_epoch(self) -> int | None:
        """The first epoch whose evaluation gave a non-finite test loss, or None."""
        bad = ~np.isfinite(self.test_loss)
        return int(self.epoch[int(np.argmax(bad))]) if bad.any() else None


@dataclass
class Detections:
    """What a mitigation recorded in a run (fi_core.mitigation): its detections, the first one
    at or after the injection (the others are false alarms), and what recovering cost."""

    mode: str | None = None  # "active" or "observe"
    count: int = 0  # detection entries (one per detector that fired)
    flagged_steps: int = 0  # distinct steps (or evaluations) at which something fired
    first_after_injection: tuple[int, int] | None = None  # (epoch, step)
    before_injection: int = 0  # detections before the injection step: false alarms
    rollbacks: int = 0  # detection events (detectors firing together) that rolled back
    unrecovered: int = 0  # ... that found no snapshot left to roll back to
    steps_reexecuted: int = 0
    steps_trained: int | None = None  # JSON traces: steps the run trained, re-executions included
    step_seconds: float | None = None  # JSON traces: wall time of the timed steps (not the first)
    timed_steps: int | None = None

    def add(
        self, epoch: int, step: int, injection: tuple[int, int] | None, action: str, new_event: bool
    ) -> None:
        """Count one detection (in order); `new_event`: the first of the detectors that fired
        together."""
        self.count += 1
        if new_event:
            self.rollbacks += action == "rollback"
            self.unrecovered += action == "unrecovered"
        if injection is not None and (epoch, step) < injection:
            self.before_injection += 1
        elif self.first_after_injection is None:
            self.first_after_injection = (epoch, step)


@dataclass
class Trace:
    """One run, as read from a trace file. ``problems`` non-empty means incomplete."""

    path: str
    fmt: str  # "json" or "text"
    id: str
    kind: str  # "injection" or "golden"
    problems: list[str] = field(default_factory=list)
    n_problems: int = 0  # all problems found; only the first MAX_PROBLEMS are kept
    workload: str | None = None
    config: dict[str, object] = field(default_factory=dict)
    csv: dict[str, str] | None = None
    injection: Injection | None = None
    start_epoch: int | None = None
    first_nonfinite: tuple[int, int] | None = None
    nonfinite_metric: str | None = None  # TRAIN_LOSS or TEST_LOSS when first_nonfinite is set
    rejoined_epoch: int | None = None
    mitigation: str = NO_MITIGATION
    detections: Detections | None = None  # None: no mitigation recorded (or `none`)
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
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return None
        return int(value) if math.isfinite(value) else None

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

    def problem(
        self,
        reason: str,
        line: int | None = None,
        field_name: str | None = None,
        first: bool = False,
    ) -> None:
        """Record why the trace is not usable as a complete run, with file and line/field
        (``first``: the problem that sums up the others, shown first)."""
        self.n_problems += 1
        if first:
            self.problems.insert(0, "")
            del self.problems[MAX_PROBLEMS:]
        elif len(self.problems) >= MAX_PROBLEMS:
            return
        where = printable(self.path, 1000)
        reason = printable(reason)
        if line is not None:
            text = f"{where}:{line}: {reason}"
        elif field_name is not None:
            text = f"{where}: {printable(field_name, 100)}: {reason}"
        else:
            text = f"{where}: {reason}"
        if first:
            self.problems[0] = text
        else:
            self.problems.append(text)

    def problem_summary(self) -> str | None:
        """All kept problems on one line, with the count of those not kept."""
        if not self.problems:
            return None
        more = self.n_problems - len(self.problems)
        return " | ".join(self.problems) + (f" | ... and {more} more" if more > 0 else "")


def read_trace_bytes(trace: Trace) -> bytes | None:
    """The file's bytes, or None with a problem recorded: unreadable, not a regular file
    (a FIFO would block, a device never end), or larger than MAX_TRACE_BYTES."""
    try:
        return read_regular(trace.path, MAX_TRACE_BYTES, "a trace")
    except Unreadable as exc:
        trace.problem(str(exc))
        return None


def _first_outside(values: np.ndarray, low: float, high: float) -> float | None:
    """A value outside [low, high] (NaN is not outside), or None: two reductions when all
    are inside, the common case."""
    if values.size == 0 or (values.min() >= low and values.max() <= high):
        return None
    with np.errstate(invalid="ignore"):
        outside = (values < low) | (values > high)
    return values[int(np.argmax(outside))].item() if outside.any() else None


def _check_ranges(trace: Trace, spe: int, epochs: int) -> None:
    """Epochs, steps and accuracies of the curves within the run's own bounds, in order."""
    c = trace.curves
    assert c is not None
    for name, values, top in (
        ("steps[].epoch", c.step_epoch, epochs),
        ("steps[].step", c.step_step, spe),
        ("epochs[].epoch", c.epoch, epochs),
    ):
        bad = _first_outside(values, 0, top - 1)
        if bad is not None:
            trace.problem(f"{bad} is outside 0..{top - 1}", field_name=name)
            return
    for name, values in (
        ("steps[].accuracy", c.step_accuracy),
        ("epochs[].train_accuracy", c.train_accuracy),
        ("epochs[].test_accuracy", c.test_accuracy),
    ):
        bad = _first_outside(values, 0.0, 1.0)
        if bad is not None:
            trace.problem(f"{bad!r} is not in [0, 1]", field_name=name)
            return
    order = c.step_epoch.astype(np.int64) * spe + c.step_step
    if order.size > 1 and not (order[1:] > order[:-1]).all():
        trace.problem("steps are not in training order", field_name="steps")
    elif c.epoch.size > 1 and not (c.epoch[1:] > c.epoch[:-1]).all():
        trace.problem("epochs are not in training order", field_name="epochs")


def _check_injection(trace: Trace, spe: int, epochs: int) -> None:
    """The injection's epoch, step, replica and elements within the run and the operand."""
    inj = trace.injection
    assert inj is not None
    if not (0 <= inj.epoch < epochs and 0 <= inj.step < spe):
        trace.problem(
            f"epoch {inj.epoch} step {inj.step} is outside the run "
            f"(epochs 0..{epochs - 1}, steps 0..{spe - 1})",
            field_name="injection",
        )
        return
    replicas = trace.cfg_int("replicas")
    if inj.replica is not None and replicas is not None and inj.replica >= replicas:
        trace.problem(f"{inj.replica} >= {replicas} replicas", field_name="injection.replica")
    shape = inj.shape
    size = math.prod(shape) if shape else None
    for i, pos in enumerate(inj.positions):
        if shape is not None and (
            len(pos) != len(shape) or any(p >= d for p, d in zip(pos, shape, strict=False))
        ):
            trace.problem(
                f"{tuple(pos)} is not a position in shape {tuple(shape)}",
                field_name=f"injection.positions[{i}]",
            )
            return
    if inj.range_first is not None and inj.range_last is not None:
        if inj.range_first > inj.range_last:
            trace.problem(
                f"first {inj.range_first} > last {inj.range_last}", field_name="injection.range"
            )
        elif size is not None and inj.range_last >= size:
            trace.problem(
                f"last {inj.range_last} is outside the {size} elements of shape {tuple(shape)}",
                field_name="injection.range",
            )
    if inj.count is not None and size is not None and inj.count > size:
        trace.problem(
            f"{inj.count} elements, more than the {size} of shape {tuple(shape)}",
            field_name="injection.count",
        )


def _check_nonfinite(trace: Trace, spe: int) -> None:
    """The recorded first non-finite value agrees with the curves; a non-finite test loss that
    older traces did not record (training went on) is taken as the end of the run, as the
    artifact stops there."""
    c = trace.curves
    assert c is not None
    train = c.first_nonfinite_step()
    test_epoch = c.first_nonfinite_test_epoch()
    test = None if test_epoch is None else (test_epoch, spe - 1)
    recorded, metric = trace.first_nonfinite, trace.nonfinite_metric
    if recorded is None:
        if train is not None:
            trace.problem(
                f"no non-finite loss recorded, but the loss at epoch {train[0]} step "
                f"{train[1]} is non-finite",
                field_name="first_nonfinite",
            )
            return
    elif metric == TEST_LOSS:
        if test is None or recorded != test:
            seen = "none" if test is None else f"epoch {test[0]}"
            trace.problem(
                f"records a non-finite test loss at epoch {recorded[0]} step {recorded[1]}; "
                f"the epochs show {seen} (the step must be the epoch's last, {spe - 1})",
                field_name="first_nonfinite",
            )
            return
        if train is not None:
            trace.problem(
                f"a non-finite test loss ended the run, yet the training loss at epoch "
                f"{train[0]} step {train[1]} is non-finite too",
                field_name="first_nonfinite",
            )
            return
    elif recorded != train:
        seen = "no non-finite step" if train is None else f"epoch {train[0]} step {train[1]}"
        trace.problem(
            f"records a non-finite loss at epoch {recorded[0]} step {recorded[1]}, the steps "
            f"show {seen}",
            field_name="first_nonfinite",
        )
        return
    if test is not None and (trace.first_nonfinite is None or test < trace.first_nonfinite):
        trace.first_nonfinite, trace.nonfinite_metric = test, TEST_LOSS
    elif trace.first_nonfinite is not None and trace.nonfinite_metric is None:
        trace.nonfinite_metric = TRAIN_LOSS


def check_consistency(trace: Trace) -> None:
    """Format-independent checks that decide whether a parsed run is complete and coherent."""
    spe, epochs = trace.steps_per_epoch, trace.epochs
    if spe is None or spe <= 0:
        trace.problem("missing or non-positive steps per epoch", field_name="steps_per_epoch")
    if epochs is None or epochs <= 0:
        trace.problem("missing or non-positive number of epochs", field_name="epochs")
    if trace.curves is None or trace.problems or spe is None or epochs is None:
        return
    _check_ranges(trace, spe, epochs)
    if trace.problems:
        return
    _check_nonfinite(trace, spe)
    inj = trace.injection
    if inj is not None and not trace.problems:
        _check_injection(trace, spe, epochs)
    if inj is not None and trace.first_nonfinite is not None:
        nf = trace.first_nonfinite[0] * spe + trace.first_nonfinite[1]
        if nf < inj.epoch * spe + inj.step:
            trace.problem(
                f"loss non-finite at epoch {trace.first_nonfinite[0]} step "
                f"{trace.first_nonfinite[1]}, before the injection (epoch {inj.epoch} step "
                f"{inj.step})",
                field_name="first_nonfinite",
            )
    if trace.rejoined_epoch is not None:
        if trace.first_nonfinite is not None:
            trace.problem(
                "a run that rejoined the golden state cannot have a non-finite loss",
                field_name="rejoined_golden",
            )
        elif inj is not None and not inj.epoch <= trace.rejoined_epoch < epochs:
            trace.problem(
                f"epoch {trace.rejoined_epoch} is outside epochs {inj.epoch}..{epochs - 1} "
                "(from the injection to the end)",
                field_name="rejoined_golden",
            )
    if trace.problems:
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
