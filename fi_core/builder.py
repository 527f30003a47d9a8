"""The small vocabulary every network is declared in, once.

A network is one function `build(b: Builder, config, x) -> logits` that only calls the methods
below. It runs two ways: `architecture.ShapeBuilder` follows shapes without TensorFlow (the site
list, operand shapes, the variables to create), and `model.TFBuilder` computes the forward pass
with the model's variables. The two passes can never disagree, because there is one declaration.

Tensors are opaque to a declaration: a `Shape` in the shape pass, a `tf.Tensor` in the TF pass.
Channel counts a declaration needs are its own arithmetic, or `b.channels(x)`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any, Literal

Tensor = Any
Init = Literal["glorot", "fan_in_normal"]


class Builder(ABC):
    """The operations a network may use. Every conv and dense is an injection site."""

    # --------------------------------------------------------------- layers with variables
    @abstractmethod
    def conv(self, name: str, x: Tensor, filters: int, kernel: int, stride: int = 1, *,
             bias: bool = False, listed: bool = True, standardised: bool = False,
             init: Init = "glorot") -> Tensor:
        """A square 'same'-padded conv site named `name` (forward `name`, backward `name_grad_in`
        and `name_grad_wt`). `listed`: in the artifact's layer lists (campaigns draw unlisted
        sites only with --all-sites). `standardised`: scaled weight standardisation with a
        trainable gain (NF-ResNet); the forward weight operand is then the standardised kernel.
        The bias, if any, is added after the op: an output fault is always pre-bias."""

    @abstractmethod
    def dense(self, name: str, x: Tensor, units: int, *, bias: bool = True,
              listed: bool = False) -> Tensor:
        """A dense site on `[N, C]` (the classifier)."""

    @abstractmethod
    def depthwise(self, name: str, x: Tensor, kernel: int, stride: int = 1) -> Tensor:
        """A depthwise conv (no bias): not an injection site, as in the artifact."""

    @abstractmethod
    def batch_norm(self, name: str, x: Tensor, momentum: float = 0.9) -> Tensor:
        """Batch norm with per-replica batch statistics (epsilon 1e-3, as Keras)."""

    @abstractmethod
    def gain(self, name: str, x: Tensor, init: float = 0.0) -> Tensor:
        """`x` times a trainable scalar (NF-ResNet's skip gain)."""

    # --------------------------------------------------------------- stateless operations
    @abstractmethod
    def relu(self, x: Tensor) -> Tensor: ...

    @abstractmethod
    def swish(self, x: Tensor) -> Tensor: ...

    @abstractmethod
    def sigmoid(self, x: Tensor) -> Tensor: ...

    @abstractmethod
    def scale(self, x: Tensor, factor: float) -> Tensor:
        """`x` times a constant."""

    @abstractmethod
    def dropout(self, x: Tensor, rate: float) -> Tensor:
        """Inverted dropout; its mask is a function of (seed, epoch, step, call order)."""

    @abstractmethod
    def global_pool(self, x: Tensor, keepdims: bool = False) -> Tensor:
        """Mean over height and width: `[N, C]`, or `[N, 1, 1, C]` with `keepdims`."""

    @abstractmethod
    def concat(self, xs: Sequence[Tensor]) -> Tensor:
        """Concatenation on the channel axis."""

    @abstractmethod
    def add(self, a: Tensor, b: Tensor) -> Tensor:
        """Residual add (same shapes)."""

    @abstractmethod
    def multiply(self, a: Tensor, b: Tensor) -> Tensor:
        """Elementwise product; `b` may be `[N, 1, 1, C]` (a channel gate)."""

    @abstractmethod
    def channels(self, x: Tensor) -> int: ...

    # --------------------------------------------------------------- composed blocks
    def squeeze_excite(self, name: str, x: Tensor, reduced: int) -> Tensor:
        """Squeeze-and-excitation as in the artifact's EfficientNet: global pool, the conv sites
        `<name>_reduce_conv` (1x1, bias) -> swish -> `<name>_expand_conv` (1x1, bias) ->
        sigmoid, times `x`."""
        width = self.channels(x)
        gate = self.global_pool(x, keepdims=True)
        gate = self.swish(self.conv(f"{name}_reduce_conv", gate, reduced, 1, bias=True))
        gate = self.sigmoid(self.conv(f"{name}_expand_conv", gate, width, 1, bias=True))
        return self.multiply(x, gate)
