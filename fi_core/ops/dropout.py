"""Inverted dropout, its mask a function of (seed, epoch, step, call order): see
`fi_core.engine.nn.dropout`."""

from __future__ import annotations

from typing import Any

from fi_core.ops import Op, register_op


def _shape(b: Any, x: Any, rate: float) -> Any:
    b.count("dropout")
    return x


def _compute(b: Any, x: Any, rate: float) -> Any:
    from fi_core.engine import nn

    return nn.dropout(x, rate, b.ctx, b.count("dropout"))


def _keras(b: Any, x: Any, rate: float) -> Any:
    import keras

    return keras.layers.Dropout(rate)(x) if rate else x


DROPOUT = register_op(Op("dropout", _shape, _compute, _keras))
