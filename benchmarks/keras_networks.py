"""A third pass of the network declarations: plain Keras layers, the baseline of
`bench_fi_core.py`. Each op's Keras twin is declared with the op (`fi_core.ops`); batch norm
is Keras' (statistics over the whole batch), dropout Keras' dropout, so compare it with fi_core
at one replica."""

from __future__ import annotations

import keras

from fi_core.networks import network_of
from fi_core.spec.builder import Builder
from fi_core.spec.workloads import WorkloadConfig


class KerasBuilder(Builder):
    """Builds a Keras functional graph from a declaration."""

    part = "keras"

    def __init__(self, seed: int) -> None:
        self.init = keras.initializers.GlorotNormal(seed=seed)

    def channels(self, x) -> int:
        return int(x.shape[-1])


def keras_model(config: WorkloadConfig) -> keras.Model:
    inputs = keras.Input((config.image_size, config.image_size, config.channels))
    logits = network_of(config).build(KerasBuilder(config.seed), config, inputs)
    return keras.Model(inputs, logits)
