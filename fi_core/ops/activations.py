"""Elementwise activations and a constant scale: shape-preserving, no variables."""

from __future__ import annotations

from typing import Any

from fi_core.ops import Op, register_op


def _same(b: Any, x: Any, *args: Any) -> Any:
    return x


def _relu(b: Any, x: Any) -> Any:
    import tensorflow as tf

    return tf.nn.relu(x)


def _relu_keras(b: Any, x: Any) -> Any:
    import keras

    return keras.layers.ReLU()(x)


def _swish(b: Any, x: Any) -> Any:
    import tensorflow as tf

    return tf.nn.silu(x)


def _sigmoid(b: Any, x: Any) -> Any:
    import tensorflow as tf

    return tf.sigmoid(x)


def _activation_keras(name: str):
    def build(b: Any, x: Any) -> Any:
        import keras

        return keras.layers.Activation(name)(x)

    return build


def _scale(b: Any, x: Any, factor: float) -> Any:
    """`x` times a constant."""
    return x * factor


def _scale_keras(b: Any, x: Any, factor: float) -> Any:
    import keras

    return keras.layers.Rescaling(factor)(x)


register_op(Op("relu", _same, _relu, _relu_keras))
register_op(Op("swish", _same, _swish, _activation_keras("silu")))
register_op(Op("sigmoid", _same, _sigmoid, _activation_keras("sigmoid")))
register_op(Op("scale", _same, _scale, _scale_keras))
