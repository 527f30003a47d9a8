"""A mitigation at work: the in-graph instruments of a trainer, and the hook of one run.

`Instruments` is what the compiled step runs for a preset (its detectors' probes, and for
`skip_update` the per-variable gate); one per `Trainer`, so one per process. `Guard` is the
training loop's hook for one run: after every step (and every evaluation) it shows the
detectors what was seen, records what fires, and acts as the preset says: nothing (observe), or
a rollback to a snapshot, after which the loop resumes at the snapshot's step. It keeps the
JSON trace's `steps` and `epochs` the run's committed history (a rollback cuts them back to the
snapshot's), while the text trace stays a log: the steps that were rolled back stay, followed
by one `Mitigation:` line per detection.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fi_core.mitigation import probes
from fi_core.mitigation.detectors import Detector, Finding, Observation, State
from fi_core.mitigation.presets import MODES, Preset
from fi_core.mitigation.snapshots import Snapshot, SnapshotRing, StateCopy
from fi_core.store.trace import Trace

if TYPE_CHECKING:
    import tensorflow as tf

    from fi_core.engine.train import StepResult, StepTensors, Trainer


class Instruments:
    """The preset's in-graph part: probes after the update, the gate inside it."""

    def __init__(self, preset: Preset, optimizer: str, mode: str = "active") -> None:
        self.preset = preset
        self.detectors = preset.build(optimizer)
        skip = mode == "active" and preset.recovery == "skip_update"
        self.gate = self._gate if skip else None
        self._watched: dict[str, list[int]] = {}
        self.state: StateCopy | None = None

    def bind(self, trainer: Trainer) -> None:
        """Resolve the detectors' variable selections against the trainer's model, and prepare
        the state copies of rollbacks."""
        self._watched = {d.name: [i for i, _ in probes.selected(trainer, d.watch)]
                         for d in self.detectors if d.watch is not None}
        if self.preset.recovery == "rollback":
            self.state = StateCopy(trainer.state_variables)

    def probe(self, tensors: StepTensors) -> dict[str, tf.Tensor]:
        measure = probes.Measure(tensors)
        return {d.name: d.probe(measure, self._watched.get(d.name, []))
                for d in self.detectors if d.probe is not None}

    def _gate(self, index: int, statistic: tf.Tensor) -> tf.Tensor | None:
        factor = None
        for d in self.detectors:
            if d.gate is not None and index in self._watched.get(d.name, ()):
                keep = d.gate(statistic)
                factor = keep if factor is None else factor * keep
        return factor


@dataclass
class _Marks:
    """What a snapshot needs besides the training state to resume from its step."""

    steps: int
    epochs: int
    first_nonfinite: Any
    states: dict[str, State]


@dataclass
class _Recovery:
    """A rollback under way: re-executing from `target` up to `until` (the detecting step)."""

    detection: dict[str, Any]
    target: Snapshot
    until: int
    started: float


class Guard:
    """The hook of one run (see the module docstring). `states`: the detectors' running state
    to start from (an observe run's, at the end of the epoch before this run's first)."""

    def __init__(self, instruments: Instruments, mode: str, trainer: Trainer, trace: Trace,
                 states: dict[str, State] | None = None) -> None:
        if mode not in MODES:
            raise ValueError(f"mode {mode!r} is not one of {MODES}")
        self.preset, self.mode = instruments.preset, mode
        self.detectors: list[Detector] = instruments.detectors
        self.trace = trace
        self.spe = trace.config.steps_per_epoch
        self.names = {d.name: d.names(trainer) for d in self.detectors}
        self.states = {d.name: dict((states or {}).get(d.name, {})) for d in self.detectors}
        # Observe runs take the snapshots too (never restored): their cost is the preset's.
        self.ring = (SnapshotRing(instruments.state, self.preset.every, self.preset.depth)
                     if instruments.state is not None else None)
        self.detections: list[dict[str, Any]] = []
        self.epoch_states: dict[str, dict[str, State]] = {}
        self.recovery: _Recovery | None = None
        # Positions of the snapshots restored since the fault was injected: restoring one again
        # would re-execute exactly what was re-executed from it before (training is
        # deterministic), so a rollback never goes back to one of them.
        self.restored: set[int] = set()
        # An unrecovered detection gives up until a training step passes without a detection: a
        # detector that fires on every step starts no new rollbacks (it ends after the depth's
        # worth of them), and training goes on.
        self.given_up = False
        self.steps_trained = 0
        self.events = 0  # detection events: the detectors that fired after one step, together
        self._mark: float | None = None  # when the last timed interval ended
        self.step_seconds, self.timed_steps = 0.0, 0

    # ----------------------------------------------------------------- the loop's hook
    def begin(self, position: int) -> None:
        """The run starts at global step `position` (a snapshot of the state it starts from)."""
        self.trace.mitigation_header(self.preset.name, self.mode)
        self._snapshot(position, force=True)
        self._mark = None  # the run's first step is not timed (it may include tracing)

    def after_step(self, epoch: int, step: int, result: StepResult) -> int | None:
        """After a training step: the global step to resume from (a rollback), or None."""
        position = epoch * self.spe + step
        self.steps_trained += 1
        if result.golden is not None:  # the fault's step: what was re-executed before differs
            self.restored.clear()
        found = self._judge(Observation(loss=result.loss, probes=result.probes))
        if found:
            resume = self._act(epoch, step, position, found, evaluation=False)
        else:
            resume = None
            self.given_up = False
            self._progress(position)
            self._snapshot(position + 1)
        self._time(counted=resume is None)
        return resume

    def after_evaluation(self, epoch: int, test_loss: float) -> int | None:
        """After the evaluation at the end of `epoch`: the global step to resume from, or None."""
        position = (epoch + 1) * self.spe - 1
        found = self._judge(Observation(test_loss=test_loss))
        resume = None
        if found:
            resume = self._act(epoch, self.spe - 1, position, found, evaluation=True)
        else:
            self.epoch_states[str(epoch)] = copy.deepcopy(self.states)
        self._time(counted=False)  # evaluations are not steps
        return resume

    def _time(self, counted: bool) -> None:
        """Step time as a fault-free run pays it: from the end of the last hook call to the end
        of this one (the step, its probes, the decision, a snapshot); evaluations, restores and
        the run's first step are left out."""
        now = time.perf_counter()
        if counted and self._mark is not None:
            self.step_seconds += now - self._mark
            self.timed_steps += 1
        self._mark = now

    # ----------------------------------------------------------------- deciding
    def _judge(self, seen: Observation) -> list[Finding]:
        found = []
        for d in self.detectors:
            finding = d.judge(seen, self.states[d.name], self.names[d.name])
            if finding is not None:
                found.append(finding)
        return found

    def _action(self) -> str:
        if self.mode == "observe" or self.preset.recovery == "none":
            return "none"
        return self.preset.recovery

    def _act(self, epoch: int, step: int, position: int, found: list[Finding],
             evaluation: bool) -> int | None:
        action = self._action()
        target = None
        if action == "rollback":
            target = None if self.given_up else self._target(position)
            if target is None:
                action = "unrecovered"
                self.given_up = True
        event = self.events
        self.events += 1
        entries = [self._record(epoch, step, finding, action, target, evaluation, event,
                                position - target.position + 1 if target and i == 0 else 0)
                   for i, finding in enumerate(found)]
        self._close(time.perf_counter())  # a recovery under way ends here, one way or another
        if target is None:
            if not evaluation:
                self._snapshot(position + 1)
            return None
        assert self.ring is not None
        self.ring.restore(target)
        self.restored.add(target.position)
        self._rewind(target)
        self.recovery = _Recovery(entries[0], target, position, time.perf_counter())
        return target.position

    def _target(self, position: int) -> Snapshot | None:
        """Where to roll back to: the newest snapshot at least `lag` steps before the detecting
        step (or the oldest kept); during a re-execution, one snapshot older than the last.
        Never a snapshot restored since the fault's step (`restored`)."""
        assert self.ring is not None
        skip = self.restored
        if self.recovery is not None and position <= self.recovery.until:
            return self.ring.at_or_before(self.recovery.target.position - 1, skip)
        return (self.ring.at_or_before(position - self.preset.lag, skip)
                or self.ring.oldest_but(skip))

    def _rewind(self, target: Snapshot) -> None:
        marks: _Marks = target.extra
        record = self.trace.record
        del record["steps"][marks.steps:]
        del record["epochs"][marks.epochs:]
        record["first_nonfinite"] = copy.deepcopy(marks.first_nonfinite)
        self.states = copy.deepcopy(marks.states)
        self.epoch_states = {k: v for k, v in self.epoch_states.items()
                             if (int(k) + 1) * self.spe <= target.position}

    def _snapshot(self, position: int, force: bool = False) -> None:
        if self.ring is not None and (self.ring.due(position) or force):
            record = self.trace.record
            self.ring.save(position, _Marks(len(record["steps"]), len(record["epochs"]),
                                            copy.deepcopy(record["first_nonfinite"]),
                                            copy.deepcopy(self.states)))

    # ----------------------------------------------------------------- recording
    def _record(self, epoch: int, step: int, finding: Finding, action: str,
                target: Snapshot | None, evaluation: bool, event: int,
                reexecuted: int) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "event": event, "epoch": epoch, "step": step,
            "at": "evaluation" if evaluation else "step",
            "detector": finding.detector, "value": finding.value,
            "threshold": finding.threshold, "reason": finding.reason, "action": action,
            "resume": None, "steps_reexecuted": reexecuted, "seconds": 0.0,
        }
        if target is not None:
            resume_epoch, resume_step = divmod(target.position, self.spe)
            entry["resume"] = {"epoch": resume_epoch, "step": resume_step}
        self.detections.append(entry)
        self.trace.detection(entry)
        return entry

    def _progress(self, position: int) -> None:
        """A re-execution that reached its detecting step again is over: its wall time."""
        if self.recovery is not None and position >= self.recovery.until:
            self._close(time.perf_counter())

    def _close(self, now: float) -> None:
        if self.recovery is not None:
            self.recovery.detection["seconds"] = round(now - self.recovery.started, 6)
            self.recovery = None

    def record(self) -> dict[str, Any]:
        """The trace's `mitigation` object (call once, when the run has ended)."""
        self._close(time.perf_counter())
        actions = {d["event"]: d["action"] for d in self.detections}
        count = {action: sum(1 for a in actions.values() if a == action)
                 for action in ("rollback", "skip_update", "unrecovered", "none")}
        flagged = {(d["epoch"], d["step"], d["at"]) for d in self.detections}
        out: dict[str, Any] = {
            "preset": self.preset.name, "mode": self.mode, "spec": self.preset.describe(),
            "detectors": [d.name for d in self.detectors],
            "detections": self.detections,
            "totals": {
                "detections": len(self.detections), "events": len(actions),
                "flagged_steps": len(flagged),
                "rollbacks": count["rollback"], "skipped_updates": count["skip_update"],
                "unrecovered": count["unrecovered"],
                "steps_reexecuted": sum(d["steps_reexecuted"] for d in self.detections),
                "recovery_seconds": round(float(sum(d["seconds"] for d in self.detections)), 6),
                "steps_trained": self.steps_trained,
                "snapshots": self.ring.taken if self.ring else 0,
                "snapshot_seconds": round(self.ring.seconds, 6) if self.ring else 0.0,
                "step_seconds": round(self.step_seconds, 6), "timed_steps": self.timed_steps,
            },
        }
        if self.mode == "observe":
            out["states"] = self.epoch_states
        return out
