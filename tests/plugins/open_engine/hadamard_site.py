"""A site kind as a plugin: the elementwise product `a * b` of two activations of one shape
(the gate of a gated linear unit). Forward `L`: input a, weight b, output a * b; `L_grad_a`:
input dC, weight b, output dA = dC * b; `L_grad_b`: input a, weight dC, output dB = a * dC.
Every operand is one slice per replica; the op is bilinear, so a fault on an operand is applied
exactly by linearity."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fi_core.ops import Op, register_op
from fi_core.sites import Backward, SiteKind, register_kind
from fi_core.spec.passes import FORWARD


@dataclass(frozen=True)
class ProductSite:
    name: str
    kind: str
    dims: tuple[int, ...]
    in_artifact_list: bool = True


class Hadamard(SiteKind):
    name = "hadamard"
    backward = (Backward("grad_a", 0, summed=False), Backward("grad_b", 1, summed=False))
    batched = (True, True)

    def operand_shapes(self, site: ProductSite, pass_: str, n: int):
        shape = (n, *site.dims)
        return shape, shape, shape

    def forward(self, site, x, w):
        return x * w

    def gradient(self, site, pass_, x, w, dy):
        return dy * w if pass_ == "grad_a" else x * dy

    def artifact_operands(self, site, pass_, x, w, dy):
        return {FORWARD: (x, w), "grad_a": (dy, w), "grad_b": (x, dy)}[pass_]

    def apply(self, site, pass_, a, b):
        return a * b


HADAMARD = register_kind(Hadamard())


def _shape(b: Any, name: str, x: Any, y: Any) -> Any:
    if x != y:
        raise ValueError(f"{name}: hadamard of {x} and {y}")
    b.record("sites", ProductSite(name, HADAMARD.name, x.dims))
    return x


def _compute(b: Any, name: str, x: Any, y: Any) -> Any:
    return b.layer("sites", name)(x, y, b.ctx)


register_op(Op("hadamard", _shape, _compute))
