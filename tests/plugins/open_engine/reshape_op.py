"""An op as a plugin: `b.reshape(x, dims)` gives every example the shape `dims` (same number
of elements): image rows as a sequence of tokens, or a sequence flattened for a classifier."""

from __future__ import annotations

import math
from typing import Any

from fi_core.ops import Op, register_op


def _shape(b: Any, x: Any, dims: tuple[int, ...]) -> Any:
    if math.prod(x.dims) != math.prod(dims):
        raise ValueError(f"reshape of {x} to {dims}")
    return type(x)(tuple(dims))


def _compute(b: Any, x: Any, dims: tuple[int, ...]) -> Any:
    import tensorflow as tf

    return tf.reshape(x, [-1, *dims])


def _keras(b: Any, x: Any, dims: tuple[int, ...]) -> Any:
    import keras

    return keras.layers.Reshape(tuple(dims))(x)


register_op(Op("reshape", _shape, _compute, _keras))
