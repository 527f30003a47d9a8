"""A depthwise conv ('same' padding, no bias): not an injection site, as in the artifact."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from fi_core.ops import Group, Op, register_group, register_op

DEPTHWISE_SEED = 10_000
"""Seed offset of depthwise kernels: (workload seed, DEPTHWISE_SEED + their index)."""


@dataclass(frozen=True)
class Depthwise:
    name: str
    kernel: int
    stride: int
    channels: int


def _shape(b: Any, name: str, x: Any, kernel: int, stride: int = 1) -> Any:
    size = b.spatial(x, name)
    b.record("depthwise", Depthwise(name, kernel, stride, x.channels))
    return type(x).image(math.ceil(size / stride), x.channels)


def _compute(b: Any, name: str, x: Any, kernel: int, stride: int = 1) -> Any:
    return b.layer("depthwise", name)(x)


def _keras(b: Any, name: str, x: Any, kernel: int, stride: int = 1) -> Any:
    import keras

    return keras.layers.DepthwiseConv2D(kernel, stride, padding="same", use_bias=False,
                                        name=name)(x)


def _create(spec: Depthwise, config: Any, index: int) -> Any:
    from fi_core.engine import nn

    return nn.Depthwise(spec, seed=(config.seed, DEPTHWISE_SEED + index))


DEPTHWISE = register_group(Group("depthwise", _create, always=True, order=1))
DEPTHWISE_OP = register_op(Op("depthwise", _shape, _compute, _keras))
