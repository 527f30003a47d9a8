"""The TensorFlow pass of a network's declaration: its variables and its forward function.

`Model` creates one variable-holding layer per entry of the shape pass (`architecture.layout`),
then runs the same declaration with `TFBuilder`, which looks each layer up by name. Sites keep the
seeds they always had (workload seed, site index), so a network's initial weights depend only on
its sites, not on the layers declared between them.
"""

from __future__ import annotations

from typing import Any

import tensorflow as tf

from fi_core import ops
from fi_core.engine.nn import StepContext
from fi_core.networks import network_of
from fi_core.spec import architecture
from fi_core.spec.builder import Builder
from fi_core.spec.workloads import WorkloadConfig


class Model(tf.Module):
    """A workload's network: one attribute per layer group (`sites`, `depthwise`, `norms`,
    `gains`, and any a plugin op adds), each a dict of that group's layers by name."""

    def __init__(self, config: WorkloadConfig) -> None:
        super().__init__(name=config.network)
        self.config = config
        self.network = network_of(config)
        layout = architecture.layout(config)
        for group in ops.groups().values():
            specs = layout.groups.get(group.name, ())
            if specs or group.always:
                setattr(self, group.name, {spec.name: group.create(spec, config, index)
                                           for index, spec in enumerate(specs)})

    def __call__(self, x: tf.Tensor, ctx: StepContext) -> tf.Tensor:
        """Logits for a batch of images `[groups * n, H, W, C]`."""
        return self.network.build(TFBuilder(self, ctx), self.config, x)


class TFBuilder(Builder):
    """Runs a declaration on tensors with a model's layers (see `fi_core.spec.builder`)."""

    part = "compute"

    def __init__(self, model: Model, ctx: StepContext) -> None:
        self.model, self.ctx = model, ctx

    def layer(self, group: str, name: str) -> Any:
        """The model's layer `name` of `group` (created from the shape pass's spec)."""
        return getattr(self.model, group)[name]

    def channels(self, x: tf.Tensor) -> int:
        return int(x.shape[-1])


def build(config: WorkloadConfig) -> Model:
    """The model of a workload."""
    return Model(config)
