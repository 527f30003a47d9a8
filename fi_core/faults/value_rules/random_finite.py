"""`random_finite` (`inj_random_seed`): every hit element becomes a uniformly random finite
fp32 bit pattern, derived in the graph from the recorded seed and the element's flat index (the
`_GLB` run of RD_GLB, however long, is one seed in the CSV).

Uniform over the finite patterns is what the artifact's redraw-until-finite gives: the sign and
the 23 mantissa bits uniform, the exponent uniform over 0..254."""

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
    register_rule,
    stateless_seed,
)

SALT = 0x52414E44  # separates this rule's random streams from other rules' with the same seed


def _draw(rng: np.random.Generator, selection: Selection) -> list[str]:
    return [draw_seed(rng)]


def _compute(inputs: RuleInputs):
    import tensorflow as tf

    shape = tf.shape(inputs.golden)
    exponent = tf.random.stateless_uniform(shape, stateless_seed(inputs.ints[0], SALT), 0, 255,
                                           tf.int32, alg=PHILOX)
    low = tf.random.stateless_uniform(shape, stateless_seed(inputs.ints[0], SALT + 1), 0,
                                      2**24, tf.int32, alg=PHILOX)
    sign = tf.bitwise.left_shift(tf.bitwise.right_shift(low, 23), 31)
    mantissa = tf.bitwise.bitwise_and(low, 0x7FFFFF)
    bits = tf.bitwise.bitwise_or(sign, tf.bitwise.bitwise_or(
        tf.bitwise.left_shift(exponent, 23), mantissa))
    return tf.bitcast(bits, tf.float32)


RANDOM_FINITE = register_rule(ValueRule(
    name="random_finite", key="inj_random_seed", fields=(Field("int", 0, SEED_HIGH),),
    per_element=False, draw=_draw, compute=_compute,
    summary="every hit element becomes a random finite fp32 pattern derived from the seed"))
