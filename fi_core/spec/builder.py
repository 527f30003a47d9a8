"""The vocabulary every network is declared in, once.

A network is one function `build(b: Builder, config, x) -> logits` that calls `b.<op>(...)` for
the ops of `fi_core.ops` (conv, dense, batch_norm, relu, dropout, ...; each declared once, with
its shape rule, its TensorFlow computation and its Keras twin). It runs three ways:
`architecture.ShapeBuilder` follows shapes without TensorFlow (the site list, operand shapes,
the variables to create), `model.TFBuilder` computes the forward pass with the model's
variables, and the benchmark's `KerasBuilder` builds plain Keras layers. The passes cannot
disagree, because there is one declaration.

Tensors are opaque to a declaration: a `Shape` in the shape pass, a `tf.Tensor` in the TF pass.
Channel counts a declaration needs are its own arithmetic, or `b.channels(x)`.
"""

from __future__ import annotations

import functools
from abc import ABC, abstractmethod
from typing import Any, ClassVar, Literal

from fi_core import ops

Tensor = Any
Init = Literal["glorot", "fan_in_normal"]


class Builder(ABC):
    """Runs a declaration's ops in one pass: `part` names the part of each `ops.Op` it runs
    (`shape`, `compute` or `keras`). An unknown op is an AttributeError naming the known ones."""

    part: ClassVar[str]

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        run = getattr(ops.op(name), self.part)
        if run is None:
            raise AttributeError(f"op {name!r} has no {self.part} part")
        return functools.partial(run, self)

    @abstractmethod
    def channels(self, x: Tensor) -> int:
        """The channel count (last axis) of a tensor."""

    def count(self, what: str) -> int:
        """How many times `what` was counted before in this pass (then one more): the call order
        of ops such as dropout, whose random stream is indexed by it."""
        counts = self.__dict__.setdefault("_counts", {})
        index = counts.get(what, 0)
        counts[what] = index + 1
        return index

    @property
    def counted(self) -> dict[str, int]:
        """Everything `count` counted in this pass, by name."""
        return dict(self.__dict__.get("_counts", {}))
