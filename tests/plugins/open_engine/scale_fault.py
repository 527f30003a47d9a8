"""A fault model as a plugin: one element of the output multiplied by 2^k, k drawn in [4, 20)
(an exponent bit stuck high, roughly). The value rule draws k at generation time and writes it
in the CSV's `inj_scale_pow2` row; `compute` runs in the injection step's graph."""

from __future__ import annotations

from fi_core import faults
from fi_core.faults import FaultModel, Field, ValueRule, patterns


def draw(rng, selection):
    return [str(int(rng.integers(4, 20)))]


def compute(inputs):
    import tensorflow as tf

    return inputs.golden * tf.pow(2.0, tf.cast(inputs.ints[0], tf.float32))


SCALE = faults.register_rule(ValueRule(
    name="scale_pow2", key="inj_scale_pow2", fields=(Field("int", 4, 20),), per_element=False,
    draw=draw, compute=compute, summary="the element times 2^k"))
faults.register(FaultModel("OUT_SCALE", "output", patterns.single(), SCALE))
