"""`bitflip` (`inj_bits`): each listed element has one bit (0-31) of its golden fp32 value
flipped, in the graph, so the value flipped is the one the step really computed (INPUT, WT,
RBFLIP)."""

from __future__ import annotations

import numpy as np

from fi_core.faults.patterns import Selection
from fi_core.faults.rules import Field, RuleInputs, ValueRule, register_rule


def _draw(rng: np.random.Generator, selection: Selection) -> list[str]:
    return [str(int(b)) for b in rng.integers(0, 32, size=selection.count)]


def _compute(inputs: RuleInputs):
    import tensorflow as tf

    bits = tf.cast(inputs.ints, tf.int32)
    raw = tf.bitcast(inputs.golden, tf.int32)
    mask = tf.bitwise.left_shift(tf.ones_like(bits), bits)
    return tf.bitcast(tf.bitwise.bitwise_xor(raw, mask), tf.float32)


BITFLIP = register_rule(ValueRule(
    name="bitflip", key="inj_bits", fields=(Field("int", 0, 32),), per_element=True,
    draw=_draw, compute=_compute,
    summary="each listed element's golden fp32 value with the given bit (0-31) flipped"))
