"""Exact early exit, and the golden states it compares with.

A run whose training state is bit-identical to the golden run's at an epoch end is the golden run
from there on, so its trace can end with the golden run's. The training state is every variable
a checkpoint holds: weights, optimiser slots and iteration counter, and every replica's
batch-norm moving statistics. Data order, augmentation and dropout are functions of (seed, epoch,
step), so equal state at the end of epoch E means equal training after it (as long as the
learning rate is the golden run's too, which is checked).

`GoldenRun` keeps the golden states it has read in memory (up to a byte budget, the least
recently used first out), so a batch of CSVs reads each checkpoint once per process: to start a
run (`restore`) and to compare with (`matches`). A checkpoint is verified against the golden
trace's sha256 before TensorFlow reads it (`golden.verify_checkpoint`). Comparing stops at the
first variable that differs, which for a run that differs is usually the first one.

By default the check runs at the end of the injection epoch only: on the default campaign every
run that rejoined the golden state did so there (9 of 60), and a later check costs a golden
state read per epoch; `every-epoch` checks after every epoch.
"""

from __future__ import annotations

import functools
import json
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fi_core.engine.train import Trainer
from fi_core.store import golden as golden_folder
from fi_core.store.golden import checkpoint_dir
from fi_core.store.trace import Trace

MODES = ("injection-epoch", "every-epoch", "off")
"""When a run is compared with the golden state: after its injection epoch, after every epoch,
or never."""
STATE_BUDGET = 1 << 30
"""Bytes of golden states kept in memory (a paper-size ResNet-18 state is about 130 MB)."""


@dataclass(frozen=True)
class GoldenTail:
    """The golden run's trace from one epoch on, as text lines and JSON entries."""

    lines: list[str]
    steps: list[dict]
    epochs: list[dict]
    first_nonfinite: dict | None


class GoldenRun:
    """A golden run's states and trace, as replays need them."""

    def __init__(self, golden_dir: Path, learning_rate: float,
                 checkpoint_hash: Callable[[Path], str], budget: int = STATE_BUDGET) -> None:
        self.dir, self.learning_rate = golden_dir, learning_rate
        self.checkpoint_hash = checkpoint_hash
        self.budget = budget
        self._states: OrderedDict[int, list[np.ndarray]] = OrderedDict()

    @functools.cached_property
    def _trace(self) -> tuple[list[str], dict] | None:
        """The golden trace (text lines, JSON record), or None when it is missing."""
        text, record = self.dir / "trace.txt", self.dir / "trace.json"
        if not (text.is_file() and record.is_file()):
            return None
        return text.read_text().splitlines(), json.loads(record.read_text())

    def usable_at(self, epoch: int, learning_rate: float) -> bool:
        """Whether a run with this learning rate may end with the golden tail after `epoch`:
        the checkpoint exists and is the one the golden trace was written with."""
        if learning_rate != self.learning_rate or self._trace is None:
            return False
        folder = checkpoint_dir(self.dir, epoch)
        expected = self._trace[1].get("checkpoints", {}).get(str(epoch))
        return (folder / "meta.json").is_file() and expected == self.checkpoint_hash(folder)

    def _read(self, trainer: Trainer, epoch: int) -> list[np.ndarray]:
        """The golden state after `epoch` (-1: the initial one); leaves it in the trainer."""
        if epoch in self._states:
            self._states.move_to_end(epoch)
            return self._states[epoch]
        golden = golden_folder.open_golden(self.dir)
        trainer.restore(golden_folder.verify_checkpoint(golden, epoch))
        state = [v.numpy() for v in trainer.state_variables]
        self._states[epoch] = state
        while (len(self._states) > 1
               and sum(a.nbytes for s in self._states.values() for a in s) > self.budget):
            self._states.popitem(last=False)
        return state

    def restore(self, trainer: Trainer, epoch: int) -> Path:
        """Put the golden state after `epoch` into the trainer; return its checkpoint folder."""
        cached = epoch in self._states
        state = self._read(trainer, epoch)
        if cached:
            for variable, value in zip(trainer.state_variables, state, strict=True):
                variable.assign(value)
        return checkpoint_dir(self.dir, epoch)

    def state(self, trainer: Trainer, epoch: int) -> list[np.ndarray]:
        """The golden state after `epoch`, read without changing the trainer's own state."""
        if epoch not in self._states:
            variables = trainer.state_variables
            own = [v.numpy() for v in variables]
            self._read(trainer, epoch)
            for variable, value in zip(variables, own, strict=True):
                variable.assign(value)
        return self._states[epoch]

    def matches(self, trainer: Trainer, epoch: int) -> bool:
        """Whether the trainer's state equals the golden state after `epoch`, bit for bit."""
        golden = self.state(trainer, epoch)
        return all(v.numpy().tobytes() == g.tobytes()
                   for v, g in zip(trainer.state_variables, golden, strict=True))

    def epoch_row(self, epoch: int) -> dict | None:
        """The golden trace's entry for `epoch` (None without a golden trace or that epoch)."""
        if self._trace is None:
            return None
        return next((row for row in self._trace[1]["epochs"] if row["epoch"] == epoch), None)

    def tail(self, epoch: int) -> GoldenTail:
        """The golden trace after `epoch`: text lines of later epochs, their steps and epochs."""
        assert self._trace is not None
        lines, record = self._trace
        first = next((i for i, line in enumerate(lines) if line.startswith(f"Epoch: {epoch + 1}/")),
                     len(lines))
        nonfinite = record.get("first_nonfinite")
        return GoldenTail(
            lines=lines[first:],
            steps=[s for s in record["steps"] if s["epoch"] > epoch],
            epochs=[e for e in record["epochs"] if e["epoch"] > epoch],
            first_nonfinite=nonfinite if nonfinite and nonfinite["epoch"] > epoch else None)


def append_tail(trace: Trace, tail: GoldenTail, epoch: int) -> None:
    """End `trace` with the golden run's trace after `epoch`, marked as such."""
    trace.lines += tail.lines
    trace.record["steps"] += tail.steps
    trace.record["epochs"] += tail.epochs
    if trace.record["first_nonfinite"] is None:
        trace.record["first_nonfinite"] = tail.first_nonfinite
    trace.record["rejoined_golden"] = {"epoch": epoch}
