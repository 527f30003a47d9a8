"""Ops that combine tensors or reduce them: residual add, gating product, channel concat,
global average pool."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fi_core.ops import Op, register_op


def _add_shape(b: Any, x: Any, y: Any) -> Any:
    if x != y:
        raise ValueError(f"add of {x} and {y}")
    return x


def _add(b: Any, x: Any, y: Any) -> Any:
    """Residual add (same shapes)."""
    return x + y


def _add_keras(b: Any, x: Any, y: Any) -> Any:
    import keras

    return keras.layers.Add()([x, y])


def _multiply_shape(b: Any, x: Any, y: Any) -> Any:
    if x.channels != y.channels or y.size not in (x.size, 1):
        raise ValueError(f"multiply of {x} and {y}")
    return x


def _multiply(b: Any, x: Any, y: Any) -> Any:
    """Elementwise product; `y` may be `[N, 1, 1, C]` (a channel gate)."""
    return x * y


def _multiply_keras(b: Any, x: Any, y: Any) -> Any:
    import keras

    return keras.layers.Multiply()([x, y])


def _concat_shape(b: Any, xs: Sequence[Any]) -> Any:
    if len({x.dims[:-1] for x in xs}) != 1:
        raise ValueError(f"concat of different sizes: {list(xs)}")
    return xs[0].with_channels(sum(x.channels for x in xs))


def _concat(b: Any, xs: Sequence[Any]) -> Any:
    """Concatenation on the channel axis."""
    import tensorflow as tf

    return tf.concat(list(xs), axis=-1)


def _concat_keras(b: Any, xs: Sequence[Any]) -> Any:
    import keras

    return keras.layers.Concatenate()(list(xs))


def _pool_shape(b: Any, x: Any, keepdims: bool = False) -> Any:
    b.spatial(x, "global_pool")
    return type(x).image(1, x.channels) if keepdims else type(x).vector(x.channels)


def _pool(b: Any, x: Any, keepdims: bool = False) -> Any:
    """Mean over height and width: `[N, C]`, or `[N, 1, 1, C]` with `keepdims`."""
    import tensorflow as tf

    return tf.reduce_mean(x, axis=[1, 2], keepdims=keepdims)


def _pool_keras(b: Any, x: Any, keepdims: bool = False) -> Any:
    import keras

    return keras.layers.GlobalAveragePooling2D(keepdims=keepdims)(x)


register_op(Op("add", _add_shape, _add, _add_keras))
register_op(Op("multiply", _multiply_shape, _multiply, _multiply_keras))
register_op(Op("concat", _concat_shape, _concat, _concat_keras))
register_op(Op("global_pool", _pool_shape, _pool, _pool_keras))
