"""`copy` (`inj_src_pos`): each listed element takes the golden value found at its own source
position of the same operand (RD_CORRECT, N16_RD_CORRECT, N64_INPUT, N64_WT). The sources are
drawn uniformly over the whole operand at campaign generation, as the artifact's
`get_random_correct` does; the values are read in the graph."""

from __future__ import annotations

import numpy as np

from fi_core.faults.patterns import Selection
from fi_core.faults.rules import Field, RuleInputs, ValueRule, format_position, register_rule


def _draw(rng: np.random.Generator, selection: Selection) -> list[str]:
    flat = rng.integers(0, selection.size, size=selection.count)
    sources = np.stack(np.unravel_index(flat, selection.shape), axis=1)
    return [format_position(p) for p in sources]


def _compute(inputs: RuleInputs):
    import tensorflow as tf

    return tf.gather(inputs.golden, inputs.ints)


COPY = register_rule(ValueRule(
    name="copy", key="inj_src_pos", fields=(Field("position"),), per_element=True,
    draw=_draw, compute=_compute,
    summary="each listed element takes the golden value at its given source position"))
