"""`copy_random` (`inj_copy_seed`): every hit element takes the golden value at a uniformly
random position of the same operand, the positions derived in the graph from the recorded seed
(the `_GLB` runs of RD_CORRECT_GLB, N64_INPUT_GLB and N64_WT_GLB: one seed in the CSV however
long the run)."""

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

SALT = 0x434F5059


def _draw(rng: np.random.Generator, selection: Selection) -> list[str]:
    return [draw_seed(rng)]


def _compute(inputs: RuleInputs):
    import tensorflow as tf

    size = tf.size(inputs.golden, out_type=tf.int64)
    sources = tf.random.stateless_uniform(tf.shape(inputs.golden),
                                          stateless_seed(inputs.ints[0], SALT), 0, size,
                                          tf.int64, alg=PHILOX)
    return tf.gather(inputs.golden, sources)


COPY_RANDOM = register_rule(ValueRule(
    name="copy_random", key="inj_copy_seed", fields=(Field("int", 0, SEED_HIGH),),
    per_element=False, draw=_draw, compute=_compute,
    summary="every hit element takes the golden value at a random position (from the seed)"))
