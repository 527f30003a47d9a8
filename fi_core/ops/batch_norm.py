"""Batch norm with per-replica batch statistics (epsilon 1e-3, as Keras): see
`fi_core.engine.nn.BatchNorm`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fi_core.ops import Group, Op, register_group, register_op


@dataclass(frozen=True)
class Norm:
    name: str
    channels: int
    momentum: float


def _shape(b: Any, name: str, x: Any, momentum: float = 0.9) -> Any:
    b.record("norms", Norm(name, x.channels, momentum))
    return x


def _compute(b: Any, name: str, x: Any, momentum: float = 0.9) -> Any:
    return b.layer("norms", name)(x, b.ctx)


def _keras(b: Any, name: str, x: Any, momentum: float = 0.9) -> Any:
    import keras

    return keras.layers.BatchNormalization(momentum=momentum, epsilon=1e-3, name=name)(x)


def _create(spec: Norm, config: Any, index: int) -> Any:
    from fi_core.engine import nn

    return nn.BatchNorm(spec.channels, name=spec.name, replicas=config.replicas,
                        momentum=spec.momentum)


NORMS = register_group(Group("norms", _create, always=True, order=2))
BATCH_NORM = register_op(Op("batch_norm", _shape, _compute, _keras))
