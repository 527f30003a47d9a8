"""The artifact's ResNet-18 (and its no-BN variant) as a tf.Module built from the site list."""

from __future__ import annotations

import tensorflow as tf

from fi_core import architecture, nn
from fi_core.nn import StepContext
from fi_core.workloads import WorkloadConfig


class ResNet18(tf.Module):
    """conv1 7x7/2 -> BN -> ReLU; four stages of two basic blocks; global average pool; fc.

    A basic block: conv1 -> BN -> ReLU -> dropout -> conv2 -> BN, plus the shortcut (identity or
    1x1/2 `downsample` -> BN), add, ReLU, dropout. Without batch norm (`resnet18_nobn`) every
    conv has a bias and the BN steps are skipped.
    """

    def __init__(self, config: WorkloadConfig) -> None:
        super().__init__(name="resnet18")
        self.config = config
        self.sites = architecture.sites_of(config)
        self.layers = {
            site.name: nn.SiteLayer(site, index, seed=(config.seed, index))
            for index, site in enumerate(self.sites)
        }
        self.norms = {
            site.name: nn.BatchNorm(site.cout, name=f"{site.name}_bn")
            for site in self.sites
            if config.batch_norm and site.kind == "conv"
        }
        self.blocks = sorted({s.name.rsplit("_", 1)[0] for s in self.sites if "basic" in s.name})

    def _conv(self, name: str, x: tf.Tensor, ctx: StepContext) -> tf.Tensor:
        y = self.layers[name](x, ctx)
        return self.norms[name](y, ctx) if name in self.norms else y

    def __call__(self, x: tf.Tensor, ctx: StepContext) -> tf.Tensor:
        """Logits for a batch of images `[groups * n, H, W, C]`."""
        rate = self.config.dropout
        h = tf.nn.relu(self._conv("conv1", x, ctx))
        for index, block in enumerate(self.blocks):
            shortcut = (self._conv(f"{block}_downsample", h, ctx)
                        if f"{block}_downsample" in self.layers else h)
            y = tf.nn.relu(self._conv(f"{block}_conv1", h, ctx))
            y = nn.dropout(y, rate, ctx, 2 * index)
            y = self._conv(f"{block}_conv2", y, ctx)
            h = nn.dropout(tf.nn.relu(y + shortcut), rate, ctx, 2 * index + 1)
        pooled = tf.reduce_mean(h, axis=[1, 2])
        return self.layers["fc"](pooled, ctx)


def build(config: WorkloadConfig) -> ResNet18:
    """The model of a workload (every implemented workload is a ResNet-18 variant)."""
    return ResNet18(config)
