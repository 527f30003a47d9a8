"""A third pass of the network declarations: plain Keras layers, the baseline of
`bench_fi_core.py`. Batch norm is Keras' (statistics over the whole batch), dropout Keras'
dropout, so compare it with fi_core at one replica."""

from __future__ import annotations

import math
from collections.abc import Sequence

import keras
import tensorflow as tf

from fi_core.builder import Builder, Init
from fi_core.networks import network_of
from fi_core.workloads import WorkloadConfig


class StandardisedConv(keras.layers.Conv2D):
    """Conv2D with scaled weight standardisation and a per-channel gain (NF-ResNet)."""

    def build(self, input_shape) -> None:
        super().build(input_shape)
        self.gain = self.add_weight(name="gain", shape=(self.filters,), initializer="ones")

    def convolution_op(self, inputs, kernel):
        mean, variance = tf.nn.moments(kernel, axes=[0, 1, 2], keepdims=True)
        fan_in = float(math.prod(kernel.shape[:-1]))
        kernel = (kernel - mean) * tf.math.rsqrt(tf.maximum(variance * fan_in, 1e-4)) * self.gain
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


class KerasBuilder(Builder):
    """Builds a Keras functional graph from a declaration."""

    def __init__(self, seed: int) -> None:
        self.init = keras.initializers.GlorotNormal(seed=seed)

    def conv(self, name: str, x, filters: int, kernel: int, stride: int = 1, *,
             bias: bool = False, listed: bool = True, standardised: bool = False,
             init: Init = "glorot"):
        layer = StandardisedConv if standardised else keras.layers.Conv2D
        return layer(filters, kernel, stride, padding="same", use_bias=bias,
                     kernel_initializer=self.init, name=name)(x)

    def dense(self, name: str, x, units: int, *, bias: bool = True, listed: bool = False):
        return keras.layers.Dense(units, use_bias=bias, kernel_initializer=self.init,
                                  name=name)(x)

    def depthwise(self, name: str, x, kernel: int, stride: int = 1):
        return keras.layers.DepthwiseConv2D(kernel, stride, padding="same", use_bias=False,
                                            name=name)(x)

    def batch_norm(self, name: str, x, momentum: float = 0.9):
        return keras.layers.BatchNormalization(momentum=momentum, epsilon=1e-3, name=name)(x)

    def gain(self, name: str, x, init: float = 0.0):
        return ScalarGain(init, name=name)(x)

    def relu(self, x):
        return keras.layers.ReLU()(x)

    def swish(self, x):
        return keras.layers.Activation("silu")(x)

    def sigmoid(self, x):
        return keras.layers.Activation("sigmoid")(x)

    def scale(self, x, factor: float):
        return keras.layers.Rescaling(factor)(x)

    def dropout(self, x, rate: float):
        return keras.layers.Dropout(rate)(x) if rate else x

    def global_pool(self, x, keepdims: bool = False):
        return keras.layers.GlobalAveragePooling2D(keepdims=keepdims)(x)

    def concat(self, xs: Sequence):
        return keras.layers.Concatenate()(list(xs))

    def add(self, a, b):
        return keras.layers.Add()([a, b])

    def multiply(self, a, b):
        return keras.layers.Multiply()([a, b])

    def channels(self, x) -> int:
        return int(x.shape[-1])


def keras_model(config: WorkloadConfig) -> keras.Model:
    inputs = keras.Input((config.image_size, config.image_size, config.channels))
    logits = network_of(config).build(KerasBuilder(config.seed), config, inputs)
    return keras.Model(inputs, logits)
