"""What a hit element becomes. A value rule draws, at campaign time, the CSV rows that fix it.

Three kinds of rows reach the engine, and it resolves each in-graph at the injection step:
`inj_values` (explicit replacement values), `inj_bits` (flip that bit of the golden value) and
`inj_src_pos` (copy the value found at that position of the same tensor).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

ValueRule = Callable[[np.random.Generator, np.ndarray, tuple[int, ...]], dict[str, list[str]]]


def format_value(value: float) -> str:
    """Shortest text that reads back as the same float32."""
    return repr(float(np.float32(value)))


def format_position(position: np.ndarray) -> str:
    return "/".join(str(int(i)) for i in position)


def bit_flip() -> ValueRule:
    """Flip one uniformly random bit (0-31) of each hit element's fp32 value."""

    def draw(rng: np.random.Generator, positions: np.ndarray, shape: tuple[int, ...]):
        return {"inj_bits": [str(int(b)) for b in rng.integers(0, 32, size=len(positions))]}

    return draw


def random_finite() -> ValueRule:
    """A uniformly random 32-bit pattern that is a finite fp32 (the artifact's RD)."""

    def draw(rng: np.random.Generator, positions: np.ndarray, shape: tuple[int, ...]):
        out: list[str] = []
        while len(out) < len(positions):
            bits = rng.integers(0, 2**32, size=1, dtype=np.uint64).astype(np.uint32)
            value = bits.view(np.float32)[0]
            if np.isfinite(value):
                out.append(format_value(value))
        return {"inj_values": out}

    return draw


def copy_from_random() -> ValueRule:
    """Each hit element takes the value of another uniformly random element of the same tensor
    (the artifact's _CORRECT models); the source value is read at run time."""

    def draw(rng: np.random.Generator, positions: np.ndarray, shape: tuple[int, ...]):
        flat = rng.integers(0, int(np.prod(shape)), size=len(positions))
        sources = np.stack(np.unravel_index(flat, shape), axis=1)
        return {"inj_src_pos": [format_position(p) for p in sources]}

    return draw


def zero() -> ValueRule:
    def draw(rng: np.random.Generator, positions: np.ndarray, shape: tuple[int, ...]):
        return {"inj_values": ["0.0"] * len(positions)}

    return draw


def uniform(low: float, high: float) -> ValueRule:
    """Uniform in [low, high): the artifact's worst-case studies used 1e16 to 1e18."""

    def draw(rng: np.random.Generator, positions: np.ndarray, shape: tuple[int, ...]):
        return {"inj_values": [format_value(v) for v in rng.uniform(low, high, len(positions))]}

    return draw
