"""Squeeze-and-excitation as in the artifact's EfficientNet, composed of other ops."""

from __future__ import annotations

from typing import Any

from fi_core.ops import Op, register_op


def squeeze_excite(b: Any, name: str, x: Any, reduced: int) -> Any:
    """Global pool, the conv sites `<name>_reduce_conv` (1x1, bias) -> swish ->
    `<name>_expand_conv` (1x1, bias) -> sigmoid, times `x`."""
    width = b.channels(x)
    gate = b.global_pool(x, keepdims=True)
    gate = b.swish(b.conv(f"{name}_reduce_conv", gate, reduced, 1, bias=True))
    gate = b.sigmoid(b.conv(f"{name}_expand_conv", gate, width, 1, bias=True))
    return b.multiply(x, gate)


SQUEEZE_EXCITE = register_op(Op.composed("squeeze_excite", squeeze_excite))
