"""`uniform` (`inj_uniform`: seed, low, high): every hit element becomes a value drawn uniformly
from [low, high) in fp32, derived in the graph from the seed: the worst-case value range
(`--value-range`) for runs too long to list their values."""

from __future__ import annotations

import numpy as np

from fi_core.faults.patterns import Selection
from fi_core.faults.rules import (
    PHILOX,
    SEED_HIGH,
    Field,
    RuleInputs,
    ValueRule,
    draw_seed,
    format_value,
    register_rule,
    stateless_seed,
)

SALT = 0x554E4946


def _compute(inputs: RuleInputs):
    import tensorflow as tf

    return tf.random.stateless_uniform(tf.shape(inputs.golden),
                                       stateless_seed(inputs.ints[0], SALT),
                                       inputs.floats[0], inputs.floats[1], tf.float32, alg=PHILOX)


def _check(floats: np.ndarray, ints: np.ndarray) -> str | None:
    low, high = (float(np.float32(v)) for v in floats)
    return None if low < high else f"low {low!r} is not below high {high!r}"


def within(low: float, high: float) -> ValueRule:
    """`uniform` drawing its seed, with the range [low, high)."""

    def draw(rng: np.random.Generator, selection: Selection) -> list[str]:
        return [draw_seed(rng), format_value(low), format_value(high)]

    return UNIFORM.drawing(draw)


UNIFORM = register_rule(ValueRule(
    name="uniform", key="inj_uniform",
    fields=(Field("int", 0, SEED_HIGH), Field("float"), Field("float")), per_element=False,
    draw=lambda rng, selection: [draw_seed(rng), "1e+16", "1e+18"], compute=_compute,
    summary="every hit element becomes a uniform fp32 value in [low, high) from the seed",
    check=_check))
