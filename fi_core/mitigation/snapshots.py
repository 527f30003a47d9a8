"""In-memory snapshots of the whole training state, for rolling back.

A snapshot holds the value of every variable a checkpoint holds (weights, optimiser slots and
iteration counter, every replica's batch-norm moving statistics), read in one call of a traced
function. Reading does not copy: TensorFlow gives the snapshot the variable's buffer and the
next update of the variable copies it first (copy on write), so a snapshot costs one read per
variable now and one copy of the state during the next step. Restoring assigns the values
back: bit for bit the state that was read.

Alongside the state, a snapshot keeps whatever the caller needs to resume from the same point
(the trace's length, the detectors' running state): `extra`.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import tensorflow as tf


@dataclass
class Snapshot:
    position: int  # global step (epoch * steps_per_epoch + step) about to run
    values: list[tf.Tensor]
    extra: Any


class StateCopy:
    """Reading and writing back every variable of the training state, each in one call of a
    traced function (traced once per process: a trainer's runs share it)."""

    def __init__(self, variables: Sequence[tf.Variable]) -> None:
        import tensorflow as tf

        self.variables = list(variables)
        self.read = tf.function(lambda: [v.read_value() for v in self.variables])
        self.write = tf.function(self._assign)

    def _assign(self, values: list[tf.Tensor]) -> None:
        for variable, value in zip(self.variables, values, strict=True):
            variable.assign(value)


class SnapshotRing:
    """The last `depth` snapshots, one taken every `every` global steps."""

    def __init__(self, state: StateCopy, every: int, depth: int) -> None:
        if every < 1 or depth < 1:
            raise ValueError("every and depth must be at least 1")
        self.every, self.depth = every, depth
        self.state = state
        self.snapshots: list[Snapshot] = []  # oldest first
        self.taken = 0
        self.seconds = 0.0

    def due(self, position: int) -> bool:
        """Whether a snapshot should be taken before global step `position`."""
        newest = self.snapshots[-1].position if self.snapshots else None
        return position % self.every == 0 and newest != position

    def save(self, position: int, extra: Any) -> None:
        started = time.perf_counter()
        self.snapshots.append(Snapshot(position, self.state.read(), extra))
        del self.snapshots[:-self.depth]
        self.taken += 1
        self.seconds += time.perf_counter() - started

    def at_or_before(self, position: int, skip: Collection[int] = ()) -> Snapshot | None:
        """The newest snapshot taken at or before global step `position`, if any (none taken
        at a position in `skip`)."""
        for snapshot in reversed(self.snapshots):
            if snapshot.position <= position and snapshot.position not in skip:
                return snapshot
        return None

    @property
    def oldest(self) -> Snapshot | None:
        return self.snapshots[0] if self.snapshots else None

    def oldest_but(self, skip: Collection[int]) -> Snapshot | None:
        """The oldest snapshot kept that was not taken at a position in `skip`."""
        return next((s for s in self.snapshots if s.position not in skip), None)

    def restore(self, snapshot: Snapshot) -> None:
        """Put the state back, and forget the snapshots taken after it (another timeline)."""
        self.state.write(snapshot.values)
        self.snapshots = [s for s in self.snapshots if s.position <= snapshot.position]

    def clear(self) -> None:
        self.snapshots = []
