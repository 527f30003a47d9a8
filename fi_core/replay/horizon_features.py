"""What a run looks like at its horizon, for a predictor of its outcome (prediction-powered
campaigns, `fi_core.store.horizon`).

The features compare the run's training state with the golden run's at the same epoch end:
how far its weights, Adam moments and batch-norm statistics have moved from the golden ones
(relative L2 distance, and the largest element-wise difference), the largest values it holds,
and its losses and accuracies beside the golden run's. A Masked run sits close to the golden
state; a run on its way to a degraded or divergent end does not.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from fi_core.engine.train import Trainer
from fi_core.replay.rejoin import GoldenRun
from fi_core.spec.injection import Injection
from fi_core.store import files
from fi_core.store import horizon as horizon_files
from fi_core.store.trace import Trace, json_safe


def state_groups(trainer: Trainer) -> dict[str, list[int]]:
    """Indices into `trainer.state_variables` of the weights, Adam's two moments and the
    batch-norm statistics (the model's variables that are not trained)."""
    members = {"weights": trainer.variables,
               "adam_m": getattr(trainer.optimizer, "m", []),
               "adam_v": getattr(trainer.optimizer, "v", [])}
    ids = {name: {id(v) for v in variables} for name, variables in members.items()}
    statistics = {id(v) for v in trainer.model.variables} - ids["weights"]
    groups: dict[str, list[int]] = {name: [] for name in (*members, "statistics")}
    for index, variable in enumerate(trainer.state_variables):
        found = next((name for name, group in ids.items() if id(variable) in group), None)
        if found is None and id(variable) in statistics and variable.dtype.is_floating:
            found = "statistics"
        if found is not None:
            groups[found].append(index)
    return groups


def _compare(run: Sequence[np.ndarray], golden: Sequence[np.ndarray]) -> dict[str, float]:
    """Relative L2 distance, largest absolute difference, and the run's largest |value|."""
    if not run:
        return {"distance": math.nan, "max_diff": math.nan, "max_abs": math.nan}
    diff = gold = 0.0
    max_diff = max_abs = 0.0
    with np.errstate(all="ignore"):
        for r, g in zip(run, golden, strict=True):
            r64, g64 = r.astype(np.float64), g.astype(np.float64)
            delta = np.abs(r64 - g64)
            diff += float(np.sum(np.square(delta)))
            gold += float(np.sum(np.square(g64)))
            max_diff = max(max_diff, float(np.max(delta, initial=0.0)))
            max_abs = max(max_abs, float(np.max(np.abs(r64), initial=0.0)))
    distance = math.sqrt(diff) / math.sqrt(gold) if gold > 0 else math.sqrt(diff)
    return {"distance": distance, "max_diff": max_diff, "max_abs": max_abs}


def features(trainer: Trainer, golden_state: Sequence[np.ndarray], epoch_row: dict[str, Any],
             golden_row: dict[str, Any] | None) -> dict[str, float]:
    """The features of a run after its horizon epoch (`epoch_row`: its trace's entry for that
    epoch; `golden_row`: the golden trace's). Non-finite values stay what they are."""
    run_state = [v.numpy() for v in trainer.state_variables]
    found: dict[str, float] = {}
    for name, indices in state_groups(trainer).items():
        compared = _compare([run_state[i] for i in indices], [golden_state[i] for i in indices])
        for key, value in compared.items():
            found[f"{name}_{key}"] = value
    for key in ("train_loss", "train_accuracy", "test_loss", "test_accuracy"):
        found[key] = float(epoch_row[key])
        found[f"golden_{key}"] = math.nan if golden_row is None else float(golden_row[key])
    return found


class Observer:
    """One run's horizon: its features after the horizon epoch, and, when the plan has a state
    folder, the run stopped there with its state saved."""

    def __init__(self, plan: horizon_files.Plan, hit: Injection, trainer: Trainer, trace: Trace,
                 golden_run: GoldenRun) -> None:
        self.plan, self.hit, self.trainer, self.trace = plan, hit, trainer, trace
        self.golden_run = golden_run
        self.epoch = plan.epoch(hit)
        self.found: dict[str, float] | None = None

    @property
    def stop_after(self) -> int | None:
        return self.epoch if self.plan.state_dir is not None else None

    def after_epoch(self, epoch: int) -> None:
        if epoch == self.epoch:
            golden = self.golden_run.state(self.trainer, epoch)
            self.found = features(self.trainer, golden, self.trace.record["epochs"][-1],
                                  self.golden_run.epoch_row(epoch))

    def write(self, out_dir: Path, ending: str, state: str | None = None) -> Path:
        """The run's horizon record (after its trace pair or its saved state: written last)."""
        record = {
            "format": horizon_files.FORMAT, "kind": "horizon", "id": self.hit.label,
            "csv": self.trace.record["csv"], "horizon": self.plan.epochs,
            "epoch": self.epoch, "ended": ending, "state": state,
            "steps_trained": len(self.trace.record["steps"]),
            "evaluations": len(self.trace.record["epochs"]),
            "features": self.found, "wall_time_s": self.trace.elapsed(),
        }
        path = horizon_files.record_path(out_dir, self.hit.label)
        with files.signals_deferred():
            files.write_atomic(path, json.dumps(json_safe(record), indent=1) + "\n")
        return path

    def stop(self, out_dir: Path) -> Path:
        """Save the training state and the trace so far, then write the horizon record."""
        assert self.plan.state_dir is not None
        folder = horizon_files.state_path(self.plan.state_dir, self.hit.label)
        fingerprint = horizon_files.run_fingerprint(self.hit, self.golden_run.dir,
                                                    self.plan.options)
        with files.signals_deferred():
            (folder / horizon_files.RUN_FILE).unlink(missing_ok=True)
            checkpoint = self.trainer.save(horizon_files.checkpoint_folder(folder), self.epoch,
                                           {"id": self.hit.label})
            horizon_files.write_state_files(folder, fingerprint, self.epoch, checkpoint,
                                            self.trace.lines, json_safe(self.trace.record),
                                            self.trace.elapsed())
        return self.write(out_dir, horizon_files.STOPPED, state=folder.name)
