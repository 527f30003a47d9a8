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
    """TensorFlow's own `stateless_uniform(low, high)` arithmetic (`u * (high - low) + low`),
    bit for bit, wherever it is finite; where `high - low` overflows fp32 (bounds of opposite
    signs beyond about 1.7e38) the same `u` in float64. Then clamped into [low, high)."""
    import tensorflow as tf

    low, high = inputs.floats[0], inputs.floats[1]
    u = tf.random.stateless_uniform(tf.shape(inputs.golden),
                                    stateless_seed(inputs.ints[0], SALT), 0.0, 1.0, tf.float32,
                                    alg=PHILOX)  # exactly the draw `stateless_uniform` scales
    plain = u * (high - low) + low
    wide64 = [tf.cast(t, tf.float64) for t in (u, low, high)]
    wide = tf.cast(wide64[1] + wide64[0] * (wide64[2] - wide64[1]), tf.float32)
    return clamp_below(tf.where(tf.math.is_finite(plain), plain, wide), low, high)


def _ordered(value):
    """fp32 bits as int32 in the order of the values (-0 and +0 both 0): comparisons on these
    are exact whatever the CPU does to subnormal floats (TensorFlow flushes them to zero)."""
    import tensorflow as tf

    bits = tf.bitcast(value, tf.int32)
    return tf.where(bits < 0, -tf.bitwise.bitwise_and(bits, 0x7FFFFFFF), bits)


def clamp_below(value, low, high):
    """`value` where it lies in [low, high) (low < high), else the nearest fp32 of that range:
    in the integer order of the bits, so no rounding and no flushed subnormal can leave it."""
    import tensorflow as tf

    order = _ordered(value)
    kept = tf.clip_by_value(order, _ordered(low), _ordered(high) - 1)
    bits = tf.where(kept < 0, tf.bitwise.bitwise_or(-kept, tf.constant(-2**31, tf.int32)), kept)
    return tf.where(kept == order, value, tf.bitcast(bits, tf.float32))


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
