"""Which elements a fault hits: patterns are functions (shape, rng) -> Selection.

Runs are aligned on the flattened (row-major) index of the operand and drawn exactly as the
artifact draws them (ISCA_AE_Extend `fault_injection/models/inject_utils.py`,
`choose_inj_pos.random_positions` with `num_inj`): with G = floor(size / group) whole groups,
the first group is uniform over 0..G-1, and a `_GLB` run ends at a group drawn uniformly between
the one after the start and G - 1 (exclusive), so a run covers about a quarter of the operand on
average. Where the artifact's draw cannot succeed, see `global_run` and `aligned_run`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Selection:
    """The elements of an operand of `shape` that a fault hits: listed `positions` (one row per
    element, row-major indices), or, when `positions` is None, the run of consecutive flat
    indices `first..last` (inclusive), which a CSV stores as two numbers however long it is."""

    shape: tuple[int, ...]
    positions: np.ndarray | None = None
    first: int = 0
    last: int = -1

    @property
    def is_run(self) -> bool:
        return self.positions is None

    @property
    def count(self) -> int:
        return self.last - self.first + 1 if self.is_run else len(self.positions)

    @property
    def size(self) -> int:
        """Number of elements of the operand."""
        return math.prod(self.shape)


Pattern = Callable[[tuple[int, ...], np.random.Generator], Selection]


def listed(shape: tuple[int, ...], flat: np.ndarray) -> Selection:
    """A selection of the given flat indices, as listed positions."""
    positions = np.stack(np.unravel_index(np.asarray(flat, np.int64), shape), axis=1)
    return Selection(tuple(shape), positions=positions.astype(np.int64))


def single() -> Pattern:
    """One uniformly random element."""

    def sample(shape: tuple[int, ...], rng: np.random.Generator) -> Selection:
        return listed(shape, rng.integers(0, math.prod(shape), size=1))

    return sample


def aligned_run(group: int) -> Pattern:
    """`group` consecutive elements starting at a flat index that is a multiple of `group`: one
    of the operand's whole groups, uniformly (the artifact never starts in the partial group at
    the end). An operand smaller than one group is hit whole (the artifact's draw fails there)."""

    def sample(shape: tuple[int, ...], rng: np.random.Generator) -> Selection:
        size = math.prod(shape)
        groups = size // group
        if groups < 1:
            return listed(shape, np.arange(size))
        start = int(rng.integers(0, groups)) * group
        return listed(shape, np.arange(start, start + group))

    return sample


def global_run(group: int) -> Pattern:
    """The artifact's `_GLB` run: whole groups `start..end-1` of `group` elements, with `start`
    uniform over 0..G-2 and `end` uniform over start+1..G-1, G = floor(size / group).

    The artifact draws `start` over 0..G-1 and then fails (numpy's `low >= high`) when it drew
    the last group, so every run it completed follows this distribution; the last whole group
    and the partial tail are never hit. An operand of fewer than two whole groups, where the
    artifact always fails, is hit whole."""

    def sample(shape: tuple[int, ...], rng: np.random.Generator) -> Selection:
        size = math.prod(shape)
        groups = size // group
        if groups < 2:
            return Selection(tuple(shape), first=0, last=size - 1)
        start = int(rng.integers(0, groups - 1))
        end = int(rng.integers(start + 1, groups))
        return Selection(tuple(shape), first=start * group, last=end * group - 1)

    return sample
