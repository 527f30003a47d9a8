"""Golden runs and injection replays: the training loop around `Trainer`.

Replay semantics (the artifact's): load the golden checkpoint saved at the end of epoch
`target_epoch - 1` (`initial` for epoch 0), train from step 0 of `target_epoch`, corrupt one
operation on one replica at `target_step`, keep training to the last epoch or until the train
loss or the end-of-epoch test loss is not finite. A non-finite loss is a result: the trace says
so and the run ends normally. A run whose state is back to the golden run's at an epoch end
stops there too, its trace ending with the golden run's (`rejoin`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

import tensorflow as tf

from fi_core.engine import data, train
from fi_core.engine.train import StepResult, Trainer
from fi_core.mitigation.guard import Guard, Instruments
from fi_core.mitigation.priming import Setting
from fi_core.replay import horizon_features, rejoin
from fi_core.spec import injection
from fi_core.spec.injection import Injection
from fi_core.spec.workloads import WorkloadConfig
from fi_core.store import files, outputs
from fi_core.store import golden as golden_folder
from fi_core.store import horizon as horizon_files
from fi_core.store.golden import INITIAL, WORKLOAD_FILE, check_against_golden, checkpoint_dir
from fi_core.store.progress import BatchProgress, Progress
from fi_core.store.trace import Trace, json_safe

FINISHED, NONFINITE, REJOINED = "finished", "non-finite", "rejoined the golden run"
"""How a run ended: its last epoch, a non-finite train or test loss, or the golden state."""


class Hook(Protocol):
    """What the loop asks after every step and every evaluation (a mitigation, see
    `fi_core.mitigation.guard.Guard`): None to go on, or the global step to resume from after
    it has put the training state (and the trace) back to that step."""

    def after_step(self, epoch: int, step: int, result: StepResult) -> int | None: ...

    def after_evaluation(self, epoch: int, test_loss: float) -> int | None: ...


def train_epochs(trainer: Trainer, config: WorkloadConfig, trace: Trace, progress: Progress,
                 start_epoch: int, fault: Injection | None = None,
                 after_epoch: Callable[[int], None] | None = None,
                 rejoined: Callable[[int], bool] | None = None,
                 hook: Hook | None = None, stop_after: int | None = None) -> str:
    """Train epochs `start_epoch..` and say how the run ended. As in the artifact, training
    stops at a non-finite train loss (after that step) or a non-finite test loss (after that
    epoch's evaluation). `rejoined(epoch)` says, after an epoch, whether the run is back in the
    golden state (then it stops: the rest is the golden run's). `hook` may send training back to
    an earlier step; the fault is transient: a re-executed injection step is not hit again.
    `stop_after`: the epoch after which a run that goes on is stopped (its horizon)."""
    spe = config.steps_per_epoch
    position, end = start_epoch * spe, config.epochs * spe
    pending = fault
    while position < end:
        epoch, step = divmod(position, spe)
        hit = pending if pending is not None and (epoch, step) == (pending.epoch,
                                                                   pending.step) else None
        result = trainer.step(epoch, step, hit)
        if hit is not None:
            pending = None
            trace.injection(*_injection_details(hit, result.golden, result.injected,
                                                result.summary))
        trace.step(epoch, step, result.loss, result.accuracy)
        progress.step(epoch, step, result.loss, result.accuracy)
        resume = hook.after_step(epoch, step, result) if hook is not None else None
        if resume is not None:
            position = _resumed(progress, resume, spe)
            continue
        if not math.isfinite(result.loss):
            trace.nonfinite()
            progress.message(f"non-finite loss at epoch {epoch} step {step}: stopped")
            return NONFINITE
        position += 1
        if step < spe - 1:
            continue
        test_loss, test_accuracy = trainer.evaluate()
        train_loss, train_accuracy = _epoch_means(trace, config, epoch)
        trace.end_epoch(epoch, train_loss, train_accuracy, test_loss, test_accuracy)
        progress.epoch(epoch, train_loss, train_accuracy, test_accuracy)
        resume = hook.after_evaluation(epoch, test_loss) if hook is not None else None
        if resume is not None:
            position = _resumed(progress, resume, spe)
            continue
        if not math.isfinite(test_loss):
            trace.nonfinite()
            progress.message(f"non-finite test loss after epoch {epoch}: stopped")
            return NONFINITE
        if after_epoch is not None:
            after_epoch(epoch)
        if rejoined is not None and epoch + 1 < config.epochs and rejoined(epoch):
            progress.message(f"state bit-identical to the golden run after epoch {epoch}: "
                             "the rest is the golden run's")
            return REJOINED
        if stop_after is not None and epoch == stop_after and epoch + 1 < config.epochs:
            return horizon_files.STOPPED
    return FINISHED


def _resumed(progress: Progress, position: int, spe: int) -> int:
    epoch, step = divmod(position, spe)
    progress.message(f"rolled back: training resumes at epoch {epoch} step {step}")
    return position


def _epoch_means(trace: Trace, config: WorkloadConfig, epoch: int) -> tuple[float, float]:
    """The epoch's train loss and accuracy: the steps' values weighted by their batch sizes, in
    step order (the committed steps of the epoch are the trace's last ones)."""
    loss_sum = correct = seen = 0.0
    for row in trace.record["steps"][-config.steps_per_epoch:]:
        assert row["epoch"] == epoch
        size = config.batch_per_replica_at(row["step"]) * config.replicas
        loss_sum, correct, seen = (loss_sum + row["loss"] * size,
                                   correct + row["accuracy"] * size, seen + size)
    return loss_sum / seen, correct / seen


def _injection_details(hit: Injection, golden, injected, summary) -> tuple[dict, list[str]]:
    """The trace's injection record and the text shown as "inject data" per listed position.
    A run records its range, count and summaries only (it can be millions of elements)."""

    def stats(values) -> dict[str, float]:
        return {name: float(v) for name, v in zip(("min", "max", "mean", "max_abs"), values,
                                                  strict=True)}

    details = {
        "stage": hit.stage, "fmodel": hit.fmodel, "operand": hit.operand,
        "replica": hit.replica, "layer": hit.layer, "epoch": hit.epoch, "step": hit.step,
        "shape": list(hit.shape), "positions": hit.positions.tolist(), "count": hit.count,
        "value_kind": hit.value_kind,
        "golden_values": [float(v) for v in golden],
        "injected_values": [float(v) for v in injected],
        "golden_summary": stats(summary[:4]), "injected_summary": stats(summary[4:]),
        "requested": list(hit.requested),
    }
    if hit.span is not None:
        details["range"] = {"first": hit.span[0], "last": hit.span[1]}
    if hit.value_kind == "explicit":
        shown = [repr(float(text)) for text in hit.requested]
    else:
        shown = [repr(float(v)) for v in injected]
    return details, shown


def golden(workload: str, config: WorkloadConfig, out: Path, data_dir: Path | None = None,
           strategy: tf.distribute.Strategy | None = None) -> dict[str, str]:
    """Fault-free training from scratch: a checkpoint after every epoch, and the golden trace.
    Returns the checkpoint hashes by epoch.

    The folder is built beside `out` (`golden.partial_dir`) and renamed into place after the
    trace, written last: `out` never holds a run that did not finish, and a failed or
    interrupted run removes what it wrote (a killed one leaves the hidden partial folder, which
    the next run into `out` removes)."""
    golden_folder.check_out(out)
    trainer = Trainer(config, data.load(config, data_dir), strategy)
    try:
        work = golden_folder.start_partial(out)
        hashes = _golden_into(trainer, workload, config, work, out.name)
        files.replace_dir(work, out)
    finally:
        golden_folder.discard_partial(out)
    return hashes


def _golden_into(trainer: Trainer, workload: str, config: WorkloadConfig, work: Path,
                 run_id: str) -> dict[str, str]:
    files.write_atomic(work / WORKLOAD_FILE, json.dumps(
        {"workload": workload, "config": config.to_dict()}, indent=1, sort_keys=True) + "\n")
    meta = {"workload": workload, "seed": config.seed}
    hashes = {INITIAL: trainer.save(checkpoint_dir(work, -1), -1, meta)}

    def save(epoch: int) -> None:
        hashes[str(epoch)] = trainer.save(checkpoint_dir(work, epoch), epoch, meta)

    trace = Trace("golden", run_id, workload, config)
    progress = Progress(f"[golden {run_id}]", config.epochs * config.steps_per_epoch)
    try:
        train_epochs(trainer, config, trace, progress, 0, after_epoch=save)
    finally:
        progress.close()
    trace.write(work / "trace.txt", work / "trace.json", checkpoints=hashes)
    return hashes


def inject(csv_paths: Sequence[Path], golden_dir: Path, out_dir: Path,
           data_dir: Path | None = None, strategy: tf.distribute.Strategy | None = None,
           **options) -> list[Path]:
    """Replay each CSV against the golden run; write `<stem>.txt` and `<stem>.json` per CSV.
    Every CSV is checked before anything runs, so bad input writes nothing. `options` are
    `replay`'s."""
    hits = injection.parse_all(csv_paths)
    config = check_against_golden(hits, golden_dir)
    outputs.check_inject(hits, golden_dir, out_dir)
    return replay(hits, config, golden_dir, out_dir, data_dir, strategy, **options)


def replay(hits: Sequence[Injection], config: WorkloadConfig, golden_dir: Path, out_dir: Path,
           data_dir: Path | None = None, strategy: tf.distribute.Strategy | None = None,
           injection_step: str = "auto", early_exit: str = "injection-epoch",
           mitigation: Setting | None = None,
           horizon: horizon_files.Plan | None = None) -> list[Path]:
    """`inject` for CSVs already parsed and checked against the golden run (`config`).

    `injection_step`: "eager", "traced" or "auto" (see `train.INJECTION_STEPS`; auto traces a
    pass when this batch has enough CSVs of it to repay the tracing). `early_exit`: when a run
    whose state is bit-identical to the golden run's stops, its trace ending with the golden
    run's (`rejoin.MODES`). `mitigation`: a preset's detectors and recovery in every run (None:
    the plain training step, exactly as without). `horizon`: record each run's features at its
    horizon, and with a state folder stop it there (`fi_core.store.horizon`)."""
    if early_exit not in rejoin.MODES:
        raise ValueError(f"early_exit {early_exit!r} is not one of {rejoin.MODES}")
    instruments = (Instruments(mitigation.preset, config.optimizer, mitigation.mode)
                   if mitigation is not None else None)
    trainer = Trainer(config, data.load(config, data_dir), strategy,
                      train.injection_steps(injection_step, [hit.pass_ for hit in hits]),
                      instruments)
    checkpoint_hash = golden_folder.checkpoint_hash  # once per process and folder
    golden_run = rejoin.GoldenRun(golden_dir, config.learning_rate, checkpoint_hash)
    if horizon is not None:  # both folders exist afterwards, also when no run reached it
        for folder in (out_dir, horizon.state_dir):
            if folder is not None:
                folder.mkdir(parents=True, exist_ok=True)
    batch = BatchProgress(len(hits))
    written = []
    try:
        for hit in hits:
            written.append(_replay_one(trainer, hit, out_dir, checkpoint_hash, golden_run,
                                       early_exit, batch, mitigation, horizon))
    finally:
        batch.close()
    return written


def _replay_one(trainer: Trainer, hit: Injection, out_dir: Path,
                checkpoint_hash: Callable[[Path], str], golden_run: rejoin.GoldenRun,
                early_exit: str, batch: BatchProgress, mitigation: Setting | None,
                horizon: horizon_files.Plan | None = None) -> Path:
    # Verified before TensorFlow reads it (hashed once per process, before TensorFlow started),
    # then kept in memory for the other CSVs of the batch.
    folder = golden_run.restore(trainer, hit.epoch - 1)
    trainer.set_learning_rate(hit.config.learning_rate)
    trace = Trace("injection", hit.label, hit.workload, hit.config)
    guard = (Guard(trainer.instruments, mitigation.mode, trainer, trace,
                   mitigation.states_before(hit.epoch)) if mitigation is not None else None)
    trace.record["csv"] = {key: ",".join(values) for key, values in hit.rows.items()}
    trace.inject_header(hit.epoch, hit.step)
    trace.loaded(folder, checkpoint_hash(folder), hit.epoch)

    observer = (horizon_features.Observer(horizon, hit, trainer, trace, golden_run)
                if horizon is not None else None)
    steps = (hit.config.epochs - hit.epoch) * hit.config.steps_per_epoch
    progress = batch.run(f"[{hit.label}]", steps)
    if guard is not None:
        guard.begin(hit.epoch * hit.config.steps_per_epoch)
    try:
        ending = train_epochs(
            trainer, hit.config, trace, progress, hit.epoch, fault=hit,
            rejoined=rejoin_check(early_exit, hit, trainer, golden_run), hook=guard,
            after_epoch=observer.after_epoch if observer is not None else None,
            stop_after=observer.stop_after if observer is not None else None)
    finally:
        progress.close()
    if ending == horizon_files.STOPPED:
        assert observer is not None
        written = observer.stop(out_dir)
    else:
        written = finish_trace(trace, hit, out_dir, ending, golden_run, guard)
        if observer is not None:
            observer.write(out_dir, ending)
    batch.finished(f"[{hit.label}]", ending)
    return written


def rejoin_check(early_exit: str, hit: Injection, trainer: Trainer,
                 golden_run: rejoin.GoldenRun) -> Callable[[int], bool]:
    """`train_epochs`' question after an epoch: is this run back in the golden state?"""

    def rejoined(epoch: int) -> bool:
        checked = early_exit == "every-epoch" or (early_exit == "injection-epoch"
                                                  and epoch == hit.epoch)
        return (checked and golden_run.usable_at(epoch, hit.config.learning_rate)
                and golden_run.matches(trainer, epoch))

    return rejoined


def finish_trace(trace: Trace, hit: Injection, out_dir: Path, ending: str,
                 golden_run: rejoin.GoldenRun, guard: Guard | None = None) -> Path:
    """End a run's trace (with the golden tail if it rejoined) and write its pair."""
    if ending == REJOINED:
        epoch = trace.record["epochs"][-1]["epoch"]
        rejoin.append_tail(trace, golden_run.tail(epoch), epoch)
    if guard is not None:
        trace.record["mitigation"] = guard.record()
    text, record = outputs.trace_paths(out_dir, hit.label)
    with files.signals_deferred():  # a complete pair or none
        trace.write(text, record)
    return record


def observe(golden_dir: Path, mitigation: Setting, out_dir: Path, data_dir: Path | None = None,
            strategy: tf.distribute.Strategy | None = None) -> Path:
    """The golden run's fault-free training replayed from its initial checkpoint with a preset's
    detectors observing: what fires is a false positive. Writes `<golden folder name>.txt` and
    `.json` (a golden-kind trace whose `mitigation` also holds the detectors' running states at
    every epoch end, to prime injection runs: `priming`)."""
    golden = golden_folder.open_golden(golden_dir)  # verified: workload, trace, hashes
    workload, config = golden.workload, golden.config
    instruments = Instruments(mitigation.preset, config.optimizer, "observe")
    trainer = Trainer(config, data.load(config, data_dir), strategy, instruments=instruments)
    folder = golden_folder.verify_checkpoint(golden, -1)
    trainer.restore(folder)
    label = outputs.observe_label(golden_dir)
    trace = Trace("golden", label, workload, config)
    guard = Guard(instruments, "observe", trainer, trace)
    progress = Progress(f"[observe {mitigation.preset.name} {label}]",
                        config.epochs * config.steps_per_epoch)
    guard.begin(0)
    try:
        train_epochs(trainer, config, trace, progress, 0, hook=guard)
    finally:
        progress.close()
    initial = golden.checkpoints[INITIAL]
    identical = (golden.record["steps"] == _json_round_trip(trace.record["steps"])
                 and golden.record["epochs"] == _json_round_trip(trace.record["epochs"]))
    if not identical:
        progress.message("the replayed training differs from the golden run's trace")
    trace.record["mitigation"] = {**guard.record(), "golden": {
        "path": str(golden_dir), "sha256": initial, "trace_sha256": golden.trace_sha256,
        "identical": identical}}
    text, record = outputs.trace_paths(out_dir, label)
    with files.signals_deferred():  # a complete pair or none
        trace.write(text, record, checkpoints={INITIAL: initial})
    return record


def _json_round_trip(rows: list[dict]) -> list[dict]:
    """Rows as the JSON record holds them (non-finite floats as strings)."""
    return json.loads(json.dumps(json_safe(rows)))
