"""`x` times a trainable scalar (NF-ResNet's skip gain)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fi_core.ops import Group, Op, register_group, register_op


@dataclass(frozen=True)
class Gain:
    name: str
    init: float


def _shape(b: Any, name: str, x: Any, init: float = 0.0) -> Any:
    b.record("gains", Gain(name, init))
    return x


def _compute(b: Any, name: str, x: Any, init: float = 0.0) -> Any:
    return x * b.layer("gains", name)


def _keras(b: Any, name: str, x: Any, init: float = 0.0) -> Any:
    from fi_core.ops import _keras_layers as keras_layers

    return keras_layers.ScalarGain(init, name=name)(x)


def _create(spec: Gain, config: Any, index: int) -> Any:
    import tensorflow as tf

    from fi_core.engine import nn

    return tf.Variable(spec.init, dtype=tf.float32, name=spec.name, aggregation=nn.TRAINABLE)


GAINS = register_group(Group("gains", _create, always=True, order=3))
GAIN = register_op(Op("gain", _shape, _compute, _keras))
