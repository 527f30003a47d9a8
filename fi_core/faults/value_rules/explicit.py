"""`explicit` (`inj_values`): each listed element takes the value written in the CSV, as in the
artifact's own CSVs. The value is drawn at campaign generation; this file holds the draws the
artifact's models use (random finite bit patterns, zero) and the worst-case uniform range."""

from __future__ import annotations

import numpy as np

from fi_core.faults.patterns import Selection
from fi_core.faults.rules import Field, RuleInputs, ValueRule, format_value, register_rule


def _random_finite_values(rng: np.random.Generator, selection: Selection) -> list[str]:
    """A uniformly random 32-bit pattern that is a finite fp32, per element (the artifact's RD:
    it redraws a pattern until it is finite)."""
    out: list[str] = []
    while len(out) < selection.count:
        bits = rng.integers(0, 2**32, size=1, dtype=np.uint64).astype(np.uint32)
        value = bits.view(np.float32)[0]
        if np.isfinite(value):
            out.append(format_value(value))
    return out


def _compute(inputs: RuleInputs):
    return inputs.floats


EXPLICIT = register_rule(ValueRule(
    name="explicit", key="inj_values", fields=(Field("float"),), per_element=True,
    draw=_random_finite_values, compute=_compute,
    summary="each listed element takes the finite fp32 value given for it"))


def random_finite() -> ValueRule:
    """`explicit`, drawing random finite fp32 bit patterns (RD, N16_RD)."""
    return EXPLICIT


def zero() -> ValueRule:
    """`explicit`, drawing 0.0 (ZERO)."""
    return EXPLICIT.drawing(lambda rng, selection: ["0.0"] * selection.count)


def uniform(low: float, high: float) -> ValueRule:
    """`explicit`, drawing uniformly from [low, high): the artifact's worst-case studies used
    1e16 to 1e18. Drawn in float64 (so no range of fp32 bounds overflows), each value rounded
    to fp32 and kept in [low, high) as fp32 values (the rounding may reach `high`)."""
    bottom = np.float32(low)
    top = np.nextafter(np.float32(high), np.float32(-np.inf))

    def draw(rng: np.random.Generator, selection: Selection) -> list[str]:
        values = rng.uniform(low, high, selection.count).astype(np.float32)
        return [format_value(v) for v in np.clip(values, bottom, top)]

    return EXPLICIT.drawing(draw)
