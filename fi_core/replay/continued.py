"""Runs stopped at their horizon, continued to the end (`fi-core inject --continue-from D`).

A stopped run's state holds everything its training depends on (weights, optimiser state and
counter, every replica's batch-norm statistics; data order and dropout are functions of
(seed, epoch, step)), so training on from it is training on without the stop: the trace it
writes is the uninterrupted run's, byte for byte, apart from its wall time.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import tensorflow as tf

from fi_core.engine import data
from fi_core.engine.train import Trainer
from fi_core.replay import rejoin, runs
from fi_core.spec.workloads import WorkloadConfig
from fi_core.store import golden as golden_folder
from fi_core.store import horizon as horizon_files
from fi_core.store.progress import BatchProgress
from fi_core.store.trace import Trace


def continue_runs(saved: Sequence[horizon_files.SavedRun], config: WorkloadConfig,
                  golden_dir: Path, out_dir: Path, data_dir: Path | None = None,
                  strategy: tf.distribute.Strategy | None = None,
                  early_exit: str = "injection-epoch") -> list[Path]:
    """Train each saved run on from its horizon to its end; write its trace pair in `out_dir`."""
    trainer = Trainer(config, data.load(config, data_dir), strategy)
    golden_run = rejoin.GoldenRun(golden_dir, config.learning_rate,
                                  golden_folder.checkpoint_hash)
    batch = BatchProgress(len(saved))
    written = []
    try:
        for run in saved:
            hit = run.hit
            trainer.restore(horizon_files.checkpoint_folder(run.folder))
            trainer.set_learning_rate(hit.config.learning_rate)
            trace = Trace.resumed(hit.config, run.lines, run.record, run.elapsed)
            steps = (hit.config.epochs - run.epoch - 1) * hit.config.steps_per_epoch
            progress = batch.run(f"[{hit.label}]", steps)
            progress.message(f"continued after epoch {run.epoch} ({run.folder})")
            try:
                ending = runs.train_epochs(
                    trainer, hit.config, trace, progress, run.epoch + 1,
                    rejoined=runs.rejoin_check(early_exit, hit, trainer, golden_run))
            finally:
                progress.close()
            written.append(runs.finish_trace(trace, hit, out_dir, ending, golden_run))
            batch.finished(f"[{hit.label}]", ending)
    finally:
        batch.close()
    return written
