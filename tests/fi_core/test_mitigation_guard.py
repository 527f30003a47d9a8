"""The mitigation hook's decisions, on the real training loop with a scripted trainer: where a
rollback goes back to (lag, spacing, depth), going one snapshot further back when the
re-execution detects again, giving up when nothing is left, observing only, a detection at an
evaluation, and the trace it leaves (committed history in JSON, a log in text). No TensorFlow:
the training state is a dict the snapshots copy."""

from __future__ import annotations

import copy
import math

import pytest

from fi_core.engine.train import StepResult
from fi_core.mitigation.detectors import Detector, Finding, Observation
from fi_core.mitigation.guard import Guard
from fi_core.mitigation.presets import Preset
from fi_core.replay import runs
from fi_core.spec import workloads
from fi_core.store.progress import Progress
from fi_core.store.trace import Trace

CONFIG = workloads.resolve("resnet18_small", {"epochs": "3"})
SPE = CONFIG.steps_per_epoch  # 10


class DictState:
    """Stands in for `snapshots.StateCopy`: the whole training state is one dict."""

    def __init__(self) -> None:
        self.value = {"w": 0, "bad_from": None}

    def read(self) -> dict:
        return copy.deepcopy(self.value)

    def write(self, values: dict) -> None:
        self.value = copy.deepcopy(values)


class ScriptedTrainer:
    """Trains by counting steps. A transient fault at global step `fault_at` corrupts the state,
    which shows in the loss (negative) `latency` steps later and stays; `false_alarm_at` gives a
    negative loss at a step whatever the state (a deterministic false positive), `alarm_from`
    at every step from there on. Training more than `budget` steps is a rollback loop."""

    def __init__(self, fault_at: int | None = None, latency: int = 0,
                 false_alarm_at: int | None = None, nan_evaluation: int | None = None,
                 alarm_from: int | None = None, budget: int = 200) -> None:
        self.state = DictState()
        self.fault_at, self.latency, self.false_alarm_at = fault_at, latency, false_alarm_at
        self.nan_evaluation, self.alarm_from, self.budget = nan_evaluation, alarm_from, budget
        self.hit = False
        self.trained: list[int] = []

    def step(self, epoch: int, step: int, injection=None) -> StepResult:
        position = epoch * SPE + step
        self.trained.append(position)
        assert len(self.trained) <= self.budget, f"a rollback loop: {self.trained[-30:]}"
        state = self.state.value
        if position == self.fault_at and not self.hit:
            state["bad_from"], self.hit = position + self.latency, True
        state["w"] += 1
        bad = state["bad_from"] is not None and position >= state["bad_from"]
        alarm = position == self.false_alarm_at or (self.alarm_from is not None
                                                    and position >= self.alarm_from)
        loss = -1.0 if bad or alarm else 1.0 / state["w"]
        return StepResult(loss, 0.5)

    def evaluate(self) -> tuple[float, float]:
        state = self.state.value
        if self.nan_evaluation is not None and state["bad_from"] is not None:
            return math.nan, 0.1
        return 0.5 / state["w"], 0.9


def negative_loss() -> Detector:
    """Fires on a negative loss or a non-finite test loss; counts what it lets through."""

    def judge(seen: Observation, state: dict, names: list[str]) -> Finding | None:
        if seen.is_evaluation:
            if math.isfinite(seen.test_loss):
                return None
            return Finding("negative_loss", seen.test_loss, math.inf, "test loss")
        if seen.loss < 0:
            return Finding("negative_loss", seen.loss, 0.0, "negative loss")
        state["passed"] = state.get("passed", 0.0) + 1.0
        return None

    return Detector("negative_loss", {}, judge)


class Instruments:
    def __init__(self, preset: Preset, trainer: ScriptedTrainer) -> None:
        self.preset, self.detectors, self.state = preset, [negative_loss()], trainer.state


def run(trainer: ScriptedTrainer, mode: str = "active", every: int = 3, depth: int = 2,
        lag: int = 1, start_epoch: int = 1) -> tuple[Trace, Guard, str]:
    preset = Preset("scripted", "test", recovery="rollback", every=every, depth=depth, lag=lag)
    trace = Trace("golden", "scripted", "resnet18_small", CONFIG)
    guard = Guard(Instruments(preset, trainer), mode, trainer, trace)
    guard.begin(start_epoch * SPE)
    progress = Progress("[test]", 10, live=False, stream=_Null())
    ending = runs.train_epochs(trainer, CONFIG, trace, progress, start_epoch, hook=guard)
    return trace, guard, ending


class _Null:
    def write(self, text: str) -> None:
        pass

    def flush(self) -> None:
        pass


def committed(trace: Trace) -> list[tuple[int, int, float]]:
    return [(s["epoch"], s["step"], s["loss"]) for s in trace.record["steps"]]


@pytest.fixture(scope="module")
def clean() -> Trace:
    return run(ScriptedTrainer())[0]


def test_a_transient_fault_is_rolled_back_to_a_snapshot_lag_steps_before(clean):
    """Snapshots at 10 (the start), 12 (every 3): a fault seen at 14 goes back to 12 (the
    newest at or before 14 - lag), re-executes 12..14, and the committed run is the clean one."""
    trainer = ScriptedTrainer(fault_at=14)
    trace, guard, ending = run(trainer)
    assert ending == runs.FINISHED
    assert committed(trace) == committed(clean)
    assert trace.record["epochs"] == clean.record["epochs"]
    assert trainer.trained[:8] == [10, 11, 12, 13, 14, 12, 13, 14]
    [detection] = guard.detections
    assert (detection["epoch"], detection["step"], detection["action"]) == (1, 4, "rollback")
    assert detection["resume"] == {"epoch": 1, "step": 2} and detection["steps_reexecuted"] == 3
    assert detection["seconds"] > 0
    # The detector's running state is the snapshot's again: it counted 12, 13 once each.
    assert guard.states["negative_loss"]["passed"] == len(clean.record["steps"])
    record = guard.record()
    assert record["totals"]["rollbacks"] == 1 and record["totals"]["steps_reexecuted"] == 3
    assert record["totals"]["steps_trained"] == len(trainer.trained) == 23
    # The text is a log: the faulty step, the detection line, then the re-executed steps.
    lines = trace.lines
    at = lines.index("Mitigation: epoch 1, step 4, detector negative_loss, value -1.0, "
                     "threshold 0.0, action rollback, resume at epoch 1 step 2")
    assert lines[at - 1].startswith("Epoch: 1/3, step: 4/10, loss: -1.00000")
    assert lines[at + 1].startswith("Epoch: 1/3, step: 2/10, loss: ")
    assert lines[0] == "Mitigation preset: scripted, mode active"


def test_lag_zero_and_a_late_symptom_go_one_snapshot_further_back(clean):
    """The fault at 14 shows at 15, where a snapshot was just taken (dirty): the rollback to 15
    detects again in the re-execution, so the next one goes to the snapshot before (12)."""
    trainer = ScriptedTrainer(fault_at=14, latency=1)
    trace, guard, _ = run(trainer, lag=0)
    assert [(d["action"], d["resume"]) for d in guard.detections] == [
        ("rollback", {"epoch": 1, "step": 5}), ("rollback", {"epoch": 1, "step": 2})]
    assert [d["steps_reexecuted"] for d in guard.detections] == [1, 4]
    assert committed(trace) == committed(clean)


def test_a_detection_that_reproduces_is_given_up_and_training_goes_on(clean):
    """A false positive comes back on every re-execution (training is deterministic): one
    rollback, one further back, then nothing is left (depth 2): unrecovered, training goes on
    and the run's trace keeps the step as it was."""
    trainer = ScriptedTrainer(false_alarm_at=14)
    trace, guard, ending = run(trainer)
    assert ending == runs.FINISHED
    assert [d["action"] for d in guard.detections] == ["rollback", "rollback", "unrecovered"]
    assert [d["resume"] for d in guard.detections] == [
        {"epoch": 1, "step": 2}, {"epoch": 1, "step": 0}, None]
    steps = committed(trace)
    assert len(steps) == len(committed(clean)) and steps[4] == (1, 4, -1.0)
    assert steps[:4] + steps[5:] == committed(clean)[:4] + committed(clean)[5:]


def test_observe_mode_records_and_changes_nothing(clean):
    trainer = ScriptedTrainer(false_alarm_at=14)
    _, guard, _ = run(trainer, mode="observe")
    assert [(d["action"], d["resume"]) for d in guard.detections] == [("none", None)]
    assert trainer.trained == list(range(10, 30))
    record = guard.record()
    assert record["mode"] == "observe" and record["totals"]["rollbacks"] == 0
    assert record["totals"]["snapshots"] == 8  # taken as an active run would (their cost)
    # Running states at every epoch end, to prime injection runs.
    assert sorted(record["states"]) == ["1", "2"]
    assert record["states"]["1"]["negative_loss"]["passed"] == 9.0


def test_a_nonfinite_evaluation_rolls_back_across_the_epoch_end(clean):
    """A fault at the epoch's last step (19) that only the evaluation sees: back to 18, the
    epoch's end evaluated again, once in the committed trace."""
    trainer = ScriptedTrainer(fault_at=19, latency=5, nan_evaluation=1)
    trace, guard, ending = run(trainer)
    assert ending == runs.FINISHED
    [detection] = guard.detections
    assert (detection["at"], detection["epoch"], detection["step"]) == ("evaluation", 1, 9)
    assert detection["resume"] == {"epoch": 1, "step": 8}
    assert [e["epoch"] for e in trace.record["epochs"]] == [1, 2]
    assert trace.record["epochs"] == clean.record["epochs"]
    assert sum(line.startswith("End of epoch: 1/3") for line in trace.lines) == 2
    assert trace.lines.count("Mitigation: epoch 1, evaluation, detector negative_loss, value nan, "
                             "threshold inf, action rollback, resume at epoch 1 step 8") == 1


@pytest.mark.parametrize(("alarm_from", "lag"), [(14, 1), (10, 1), (14, 0), (19, 1)])
def test_a_detector_firing_on_every_step_ends_after_the_depth_of_rollbacks(alarm_from, lag):
    """A detector that fires on every step from `alarm_from` on (a tampered running mean does
    that): each rollback goes to a snapshot not restored before, the chain ends `unrecovered`
    after at most `depth` rollbacks, and every later detection is recorded unrecovered while
    training goes on to the end. Without the fix the run never ended (the budget stops it)."""
    trainer = ScriptedTrainer(alarm_from=alarm_from, budget=60)
    trace, guard, ending = run(trainer, lag=lag)
    assert ending == runs.FINISHED
    actions = [d["action"] for d in guard.detections]
    rollbacks = actions.count("rollback")
    assert 1 <= rollbacks <= 2 and actions[:rollbacks] == ["rollback"] * rollbacks
    assert set(actions[rollbacks:]) == {"unrecovered"}
    targets = [(d["resume"]["epoch"], d["resume"]["step"]) for d in guard.detections
               if d["action"] == "rollback"]
    assert len(set(targets)) == len(targets)  # a rollback never repeats itself
    assert [(s["epoch"], s["step"]) for s in trace.record["steps"]] == [
        (e, s) for e in (1, 2) for s in range(SPE)]
    assert len(trainer.trained) <= 20 + sum(d["steps_reexecuted"] for d in guard.detections)
    assert guard.record()["totals"]["unrecovered"] == len(actions) - rollbacks


def test_after_giving_up_a_later_detection_rolls_back_to_a_fresh_snapshot():
    """Given up at 14 (a false positive that reproduces), training goes on; the fault at 24
    (after quiet steps) is still recovered, from a snapshot taken after the give-up."""
    trainer = ScriptedTrainer(false_alarm_at=14, fault_at=24)
    trace, guard, ending = run(trainer)
    assert ending == runs.FINISHED
    assert [d["action"] for d in guard.detections] == ["rollback", "rollback", "unrecovered",
                                                       "rollback"]
    assert guard.detections[-1]["resume"] == {"epoch": 2, "step": 1}
    assert all(loss > 0 for e, s, loss in committed(trace) if (e, s) != (1, 4))
