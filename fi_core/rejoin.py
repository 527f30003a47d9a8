"""Exact early exit: a run whose training state is bit-identical to the golden run's at an epoch
end is the golden run from there on, so its trace can end with the golden run's.

The training state is every variable a checkpoint holds: weights, optimiser slots and iteration
counter, and every replica's batch-norm moving statistics. Data order, augmentation and dropout
are functions of (seed, epoch, step), so equal state at the end of epoch E means equal training
after it (as long as the learning rate is the golden run's too, which is checked).

The golden state of an epoch is read once per process: the run's own state is set aside, the
golden checkpoint restored and digested variable by variable, and the run's state put back (an
exact assignment). Comparing is then a digest per variable until the first difference, which for
a run that differs is usually the first variable.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fi_core.golden import checkpoint_dir
from fi_core.trace import Trace
from fi_core.train import Trainer


def _digest(value: np.ndarray) -> bytes:
    return hashlib.blake2b(value.tobytes(), digest_size=16).digest()


@dataclass(frozen=True)
class GoldenTail:
    """The golden run's trace from one epoch on, as text lines and JSON entries."""

    lines: list[str]
    steps: list[dict]
    epochs: list[dict]
    first_nonfinite: dict | None


class GoldenRun:
    """A golden run's checkpoints and trace, as the early exit needs them."""

    def __init__(self, golden_dir: Path, learning_rate: float,
                 checkpoint_hash: Callable[[Path], str]) -> None:
        self.dir, self.learning_rate = golden_dir, learning_rate
        self.checkpoint_hash = checkpoint_hash
        self._digests: dict[int, list[bytes]] = {}

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

    def digests(self, trainer: Trainer, epoch: int) -> list[bytes]:
        """Per-variable digests of the golden state at the end of `epoch`."""
        if epoch not in self._digests:
            variables = trainer.state_variables
            own = [v.numpy() for v in variables]
            trainer.restore(checkpoint_dir(self.dir, epoch))
            self._digests[epoch] = [_digest(v.numpy()) for v in variables]
            for variable, value in zip(variables, own, strict=True):
                variable.assign(value)
        return self._digests[epoch]

    def matches(self, trainer: Trainer, epoch: int) -> bool:
        """Whether the trainer's state equals the golden state at the end of `epoch`, bit for
        bit."""
        golden = self.digests(trainer, epoch)
        return all(_digest(v.numpy()) == d
                   for v, d in zip(trainer.state_variables, golden, strict=True))

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
