"""Golden runs and injection replays: the training loop around `Trainer`.

Replay semantics (the artifact's): load the golden checkpoint saved at the end of epoch
`target_epoch - 1` (`initial` for epoch 0), train from step 0 of `target_epoch`, corrupt one
operation on one replica at `target_step`, keep training to the last epoch or until the loss is
not finite. A non-finite loss is a result: the trace says so and the run ends normally.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Callable, Sequence
from pathlib import Path

import tensorflow as tf

from fi_core import data, files, injection
from fi_core.golden import INITIAL, WORKLOAD_FILE, check_against_golden, checkpoint_dir
from fi_core.injection import Injection
from fi_core.progress import Progress
from fi_core.trace import Trace
from fi_core.train import Trainer
from fi_core.workloads import WorkloadConfig


def train_epochs(trainer: Trainer, config: WorkloadConfig, trace: Trace, progress: Progress,
                 start_epoch: int, fault: Injection | None = None,
                 after_epoch: Callable[[int], None] | None = None) -> bool:
    """Train epochs `start_epoch..`; False when the loss became non-finite (training stopped)."""
    for epoch in range(start_epoch, config.epochs):
        loss_sum = correct = seen = 0.0
        for step in range(config.steps_per_epoch):
            due = fault is not None and (epoch, step) == (fault.epoch, fault.step)
            hit = fault if due else None
            result = trainer.step(epoch, step, hit)
            if hit is not None:
                trace.injection(*_injection_details(hit, result.golden, result.injected,
                                                    result.summary))
            trace.step(epoch, step, result.loss, result.accuracy)
            progress.step(epoch, step, result.loss, result.accuracy)
            if not math.isfinite(result.loss):
                trace.nonfinite()
                progress.message(f"non-finite loss at epoch {epoch} step {step}: stopped")
                return False
            size = config.batch_per_replica_at(step) * config.replicas
            loss_sum, correct, seen = (loss_sum + result.loss * size,
                                       correct + result.accuracy * size, seen + size)
        test_loss, test_accuracy = trainer.evaluate()
        trace.end_epoch(epoch, loss_sum / seen, correct / seen, test_loss, test_accuracy)
        progress.epoch(epoch, loss_sum / seen, correct / seen, test_accuracy)
        if after_epoch is not None:
            after_epoch(epoch)
    return True


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
    Returns the checkpoint hashes by epoch."""
    trainer = Trainer(config, data.load(config, data_dir), strategy)
    out.mkdir(parents=True, exist_ok=True)
    files.write_atomic(out / WORKLOAD_FILE, json.dumps(
        {"workload": workload, "config": config.to_dict()}, indent=1, sort_keys=True) + "\n")
    meta = {"workload": workload, "seed": config.seed}
    hashes = {INITIAL: trainer.save(checkpoint_dir(out, -1), -1, meta)}

    def save(epoch: int) -> None:
        hashes[str(epoch)] = trainer.save(checkpoint_dir(out, epoch), epoch, meta)

    trace = Trace("golden", out.name, workload, config)
    progress = Progress(f"[golden {out.name}]", config.epochs * config.steps_per_epoch)
    train_epochs(trainer, config, trace, progress, 0, after_epoch=save)
    trace.write(out / "trace.txt", out / "trace.json", checkpoints=hashes)
    return hashes


def inject(csv_paths: Sequence[Path], golden_dir: Path, out_dir: Path,
           data_dir: Path | None = None, strategy: tf.distribute.Strategy | None = None
           ) -> list[Path]:
    """Replay each CSV against the golden run; write `<stem>.txt` and `<stem>.json` per CSV.
    Every CSV is checked before anything runs, so bad input writes nothing."""
    hits = injection.parse_all(csv_paths)
    return replay(hits, check_against_golden(hits, golden_dir), golden_dir, out_dir, data_dir,
                  strategy)


def replay(hits: Sequence[Injection], config: WorkloadConfig, golden_dir: Path, out_dir: Path,
           data_dir: Path | None = None, strategy: tf.distribute.Strategy | None = None
           ) -> list[Path]:
    """`inject` for CSVs already parsed and checked against the golden run (`config`)."""
    trainer = Trainer(config, data.load(config, data_dir), strategy)
    checkpoint_hash = functools.cache(files.hash_dir)  # CSVs of a batch share checkpoints
    written = []
    for hit in hits:
        folder = checkpoint_dir(golden_dir, hit.epoch - 1)
        trainer.restore(folder)
        trainer.set_learning_rate(hit.config.learning_rate)
        trace = Trace("injection", hit.label, hit.workload, hit.config)
        trace.record["csv"] = {key: ",".join(values) for key, values in hit.rows.items()}
        trace.inject_header(hit.epoch, hit.step)
        trace.loaded(folder, checkpoint_hash(folder), hit.epoch)
        steps = (hit.config.epochs - hit.epoch) * hit.config.steps_per_epoch
        progress = Progress(f"[{hit.label}]", steps)
        train_epochs(trainer, hit.config, trace, progress, hit.epoch, fault=hit)
        text, record = out_dir / f"{hit.label}.txt", out_dir / f"{hit.label}.json"
        trace.write(text, record)
        written.append(record)
    return written
