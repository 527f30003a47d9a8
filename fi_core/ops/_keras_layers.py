"""Keras layers the Keras twins need and Keras lacks (imported only by those twins)."""

from __future__ import annotations

import math

import keras
import tensorflow as tf

from fi_core.sites.kernel import WS_EPSILON


class StandardisedConv(keras.layers.Conv2D):
    """Conv2D with scaled weight standardisation and a per-channel gain (NF-ResNet)."""

    def build(self, input_shape) -> None:
        super().build(input_shape)
        self.gain = self.add_weight(name="gain", shape=(self.filters,), initializer="ones")

    def convolution_op(self, inputs, kernel):
        mean, variance = tf.nn.moments(kernel, axes=[0, 1, 2], keepdims=True)
        fan_in = float(math.prod(kernel.shape[:-1]))
        kernel = ((kernel - mean) * tf.math.rsqrt(tf.maximum(variance * fan_in, WS_EPSILON))
                  * self.gain)
        return super().convolution_op(inputs, kernel)


class ScalarGain(keras.layers.Layer):
    def __init__(self, init: float, **kwargs) -> None:
        super().__init__(**kwargs)
        self.init = init

    def build(self, input_shape) -> None:
        self.value = self.add_weight(name="value", shape=(),
                                     initializer=keras.initializers.Constant(self.init))

    def call(self, x):
        return x * self.value
