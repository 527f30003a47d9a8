"""The TensorFlow pass of a network's declaration: its variables and its forward function.

`Model` creates one variable-holding layer per entry of the shape pass (`architecture.layout`),
then runs the same declaration with `TFBuilder`, which looks each layer up by name. Sites keep the
seeds they always had (workload seed, site index), so a network's initial weights depend only on
its sites, not on the layers declared between them.
"""

from __future__ import annotations

from collections.abc import Sequence

import tensorflow as tf

from fi_core import architecture, nn
from fi_core.builder import Builder, Init
from fi_core.networks import network_of
from fi_core.nn import StepContext
from fi_core.workloads import WorkloadConfig

DEPTHWISE_SEED = 10_000
"""Seed offset of depthwise kernels: (workload seed, DEPTHWISE_SEED + their index)."""


class Model(tf.Module):
    """A workload's network: sites, depthwise convs, batch norms and scalar gains by name."""

    def __init__(self, config: WorkloadConfig) -> None:
        super().__init__(name=config.network)
        self.config = config
        self.network = network_of(config)
        layout = architecture.layout(config)
        self.sites = {site.name: nn.SiteLayer(site, index, seed=(config.seed, index))
                      for index, site in enumerate(layout.sites)}
        self.depthwise = {
            spec.name: nn.Depthwise(spec, seed=(config.seed, DEPTHWISE_SEED + index))
            for index, spec in enumerate(layout.depthwise)}
        self.norms = {spec.name: nn.BatchNorm(spec.channels, name=spec.name,
                                              replicas=config.replicas, momentum=spec.momentum)
                      for spec in layout.norms}
        self.gains = {spec.name: tf.Variable(spec.init, dtype=tf.float32, name=spec.name,
                                             aggregation=nn.TRAINABLE)
                      for spec in layout.gains}

    def __call__(self, x: tf.Tensor, ctx: StepContext) -> tf.Tensor:
        """Logits for a batch of images `[groups * n, H, W, C]`."""
        return self.network.build(TFBuilder(self, ctx), self.config, x)


class TFBuilder(Builder):
    """Runs a declaration on tensors with a model's layers (see `fi_core.builder`)."""

    def __init__(self, model: Model, ctx: StepContext) -> None:
        self.model, self.ctx = model, ctx
        self._dropouts = 0

    def conv(self, name: str, x: tf.Tensor, filters: int, kernel: int, stride: int = 1, *,
             bias: bool = False, listed: bool = True, standardised: bool = False,
             init: Init = "glorot") -> tf.Tensor:
        return self.model.sites[name](x, self.ctx)

    def dense(self, name: str, x: tf.Tensor, units: int, *, bias: bool = True,
              listed: bool = False) -> tf.Tensor:
        return self.model.sites[name](x, self.ctx)

    def depthwise(self, name: str, x: tf.Tensor, kernel: int, stride: int = 1) -> tf.Tensor:
        return self.model.depthwise[name](x)

    def batch_norm(self, name: str, x: tf.Tensor, momentum: float = 0.9) -> tf.Tensor:
        return self.model.norms[name](x, self.ctx)

    def gain(self, name: str, x: tf.Tensor, init: float = 0.0) -> tf.Tensor:
        return x * self.model.gains[name]

    def relu(self, x: tf.Tensor) -> tf.Tensor:
        return tf.nn.relu(x)

    def swish(self, x: tf.Tensor) -> tf.Tensor:
        return tf.nn.silu(x)

    def sigmoid(self, x: tf.Tensor) -> tf.Tensor:
        return tf.sigmoid(x)

    def scale(self, x: tf.Tensor, factor: float) -> tf.Tensor:
        return x * factor

    def dropout(self, x: tf.Tensor, rate: float) -> tf.Tensor:
        index, self._dropouts = self._dropouts, self._dropouts + 1
        return nn.dropout(x, rate, self.ctx, index)

    def global_pool(self, x: tf.Tensor, keepdims: bool = False) -> tf.Tensor:
        return tf.reduce_mean(x, axis=[1, 2], keepdims=keepdims)

    def concat(self, xs: Sequence[tf.Tensor]) -> tf.Tensor:
        return tf.concat(list(xs), axis=-1)

    def add(self, a: tf.Tensor, b: tf.Tensor) -> tf.Tensor:
        return a + b

    def multiply(self, a: tf.Tensor, b: tf.Tensor) -> tf.Tensor:
        return a * b

    def channels(self, x: tf.Tensor) -> int:
        return int(x.shape[-1])


def build(config: WorkloadConfig) -> Model:
    """The model of a workload."""
    return Model(config)
