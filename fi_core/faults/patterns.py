"""Which elements a fault hits: functions (shape, rng) -> positions, one row per element.

Runs are aligned on the flattened (row-major) index of the operand, as in the artifact.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

Pattern = Callable[[tuple[int, ...], np.random.Generator], np.ndarray]


def _unravel(flat: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    return np.stack(np.unravel_index(flat, shape), axis=1).astype(np.int64)


def single() -> Pattern:
    """One uniformly random element."""

    def sample(shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
        return _unravel(rng.integers(0, int(np.prod(shape)), size=1), shape)

    return sample


def aligned_run(group: int) -> Pattern:
    """`group` consecutive elements starting at a flat index that is a multiple of `group`
    (cut short at the end of the tensor)."""

    def sample(shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
        size = int(np.prod(shape))
        start = int(rng.integers(0, -(-size // group))) * group
        return _unravel(np.arange(start, min(start + group, size)), shape)

    return sample


def global_run(group: int, max_groups: int = 8) -> Pattern:
    """A run of 1..`max_groups` consecutive aligned groups of `group` elements: the artifact's
    `_GLB` models, with the run length bounded so that a CSV stays small."""

    def sample(shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
        size = int(np.prod(shape))
        groups = -(-size // group)
        first = int(rng.integers(0, groups))
        count = int(rng.integers(1, min(max_groups, groups - first) + 1))
        return _unravel(np.arange(first * group, min((first + count) * group, size)), shape)

    return sample
