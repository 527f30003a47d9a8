"""Site kinds: what an injectable operation is, declared once per kind.

A site is one operation with two operands and a result (the artifact's `input x weight ->
output`, whatever the op), in the forward pass and in each backward pass that computes the
gradient of one of its operands. A **site kind** (`conv`, `dense`, `batched_matmul`, ...) is one
`SiteKind` in one file of this package, registered with `register_kind`; a plugin module can
register one the same way (`fi_core.spec.plugins`). It declares:

- its passes: `fwrd` and its backward passes (`Backward`: the layer-name suffix, the operand
  whose gradient it is, whether that gradient is summed over the replicas, as a variable's is);
- the shapes of the three operands of every pass in the artifact's layout, for a per-replica
  batch (TensorFlow-free: CSV validation and campaign generation read them);
- its variables, if it has any (a kernel; none when both operands are activations);
- in TensorFlow (imported inside the methods, as value rules do, so that declaring a kind never
  starts TensorFlow): the forward op, each backward pass's native gradient, and the artifact's
  operand layouts, through which a fault on an operand is applied by linearity
  (result + op(operand' - operand)), exact for these bilinear ops. A kind whose op is not
  bilinear would recompute its result from the corrupted operand instead.

The engine (`fi_core.engine.nn.SiteLayer`, `fi_core.engine.fault_ops`) is written against this
interface only: it never asks which kind a site is. A **state site** (a variable between two
steps, such as Adam's first moment) fits the same shape with one operand and no op: its "pass"
is the step boundary, its operand the stored tensor, its result the tensor the next step reads
(docs/extending.md).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

from fi_core.spec.discovery import import_modules
from fi_core.spec.passes import FORWARD
from fi_formats import names

OPERANDS = names.OPERANDS
"""The operand slots of every pass of every kind: first operand, second operand, result (the
artifact's names: in `grad_wt` its "input" is the forward input and its "weight" is dY)."""

Shape3 = tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]


class SiteSpec(Protocol):
    """What the engine needs of a site, whatever its kind (each kind has its own dataclass)."""

    name: str
    kind: str
    in_artifact_list: bool


@dataclass(frozen=True)
class Backward:
    """One backward pass of a kind: `name` is its layer-name suffix (`L_grad_in`), `of` the
    native operand (0 or 1) whose gradient it computes, `summed` whether that gradient is summed
    over the replicas in the step (a variable's gradient) rather than one slice per replica."""

    name: str
    of: int
    summed: bool


class SiteKind(ABC):
    """One kind of site. Methods taking `x`, `w`, `dy` get the op's native operands and output
    gradient; for a batched operand (`batched`) they are one replica's slice where a method says
    so. TensorFlow is imported inside the methods that compute."""

    name: ClassVar[str]
    backward: ClassVar[tuple[Backward, ...]]
    batched: ClassVar[tuple[bool, bool]]
    """Whether each native operand is batch-major (split over replicas on axis 0)."""

    @property
    def passes(self) -> tuple[str, ...]:
        return (FORWARD, *(b.name for b in self.backward))

    def backward_pass(self, pass_: str) -> Backward:
        for b in self.backward:
            if b.name == pass_:
                return b
        raise ValueError(f"{self.name} has no pass {pass_!r}")

    # ------------------------------------------------------------------ TensorFlow-free
    @abstractmethod
    def operand_shapes(self, site: Any, pass_: str, n: int) -> Shape3:
        """(input, weight, output) shapes of a pass in the artifact's layout, per replica."""

    # ------------------------------------------------------------------ TensorFlow
    def variables(self, site: Any, seed: tuple[int, int]) -> dict[str, Any]:
        """The site's variables, by attribute name, in creation order (none by default)."""
        return {}

    def native_operands(self, layer: Any, inputs: tuple[Any, ...]) -> tuple[Any, Any]:
        """The op's two native operands from the layer's call arguments (its variables are
        attributes of `layer`). Default: both are call arguments."""
        return inputs[0], inputs[1]

    def finish(self, layer: Any, y: Any) -> Any:
        """The layer's output from the op's result (a bias add); an output fault is before it."""
        return y

    @abstractmethod
    def forward(self, site: Any, x: Any, w: Any) -> Any:
        """The forward op on native operands."""

    @abstractmethod
    def gradient(self, site: Any, pass_: str, x: Any, w: Any, dy: Any) -> Any:
        """The native gradient a backward pass computes (for `x`, `dy` of the same rows)."""

    @abstractmethod
    def artifact_operands(self, site: Any, pass_: str, x: Any, w: Any,
                          dy: Any) -> tuple[Any, Any]:
        """(input, weight) operands of a pass in the artifact's layout, from one replica's
        slices (`dy` is None in the forward pass)."""

    @abstractmethod
    def apply(self, site: Any, pass_: str, a: Any, b: Any) -> Any:
        """A pass's op on artifact-layout operands. Its result is in the native layout of one
        replica's slice, or, for a summed pass, in the artifact's layout of the result."""

    def to_native(self, site: Any, pass_: str, result: Any) -> Any:
        """A summed pass's artifact-layout result in its native layout."""
        return result

    def to_artifact(self, site: Any, pass_: str, native: Any) -> Any:
        """A summed pass's native result in the artifact's layout."""
        return native


_KINDS: dict[str, SiteKind] = {}


def register_kind(kind: SiteKind) -> SiteKind:
    """Add a site kind; a name is registered once."""
    if kind.name in _KINDS and _KINDS[kind.name] is not kind:
        raise ValueError(f"site kind {kind.name!r} is already registered")
    passes = [b.name for b in kind.backward]
    if len(set(passes)) != len(passes) or not all(names.BACKWARD_PASS.fullmatch(p)
                                                  for p in passes):
        raise ValueError(f"site kind {kind.name!r}: backward pass names {passes} must differ "
                         f"from each other and match {names.BACKWARD_PASS.pattern}")
    if sorted(b.of for b in kind.backward) != list(range(len(kind.backward))):
        raise ValueError(f"site kind {kind.name!r}: each backward pass differentiates one "
                         "operand, each operand once")
    _KINDS[kind.name] = kind
    return kind


def _discover() -> None:
    import_modules(__name__, __path__)


def kinds() -> Mapping[str, SiteKind]:
    _discover()
    return _KINDS


def kind_of(site: SiteSpec) -> SiteKind:
    known = kinds()
    if site.kind not in known:
        raise KeyError(f"unknown site kind {site.kind!r} (known: {', '.join(known)})")
    return known[site.kind]


def operand_shape(site: SiteSpec, pass_: str, operand: str, n: int) -> tuple[int, ...]:
    """Shape of an operand (`input`, `weight`, `output`) of a site's pass, per-replica batch
    `n`."""
    if operand not in OPERANDS:
        raise ValueError(operand)
    return tuple(kind_of(site).operand_shapes(site, pass_, n)[OPERANDS.index(operand)])


def backward_pass_names() -> tuple[str, ...]:
    """Every backward pass of every registered kind, in registration order, once each."""
    found: list[str] = []
    for kind in kinds().values():
        found += [b.name for b in kind.backward if b.name not in found]
    return tuple(found)


def split_layer_name(layer: str, site_names: Mapping[str, SiteSpec] | None = None
                     ) -> tuple[str, str]:
    """`L_grad_in` -> (L, grad_in); `L` -> (L, fwrd) (the grammar of `fi_formats.names`).
    With `site_names`, a backward name counts only where its pass is one of that site's kind;
    any other name is returned whole, as a forward name (which then names no site)."""
    base, pass_ = names.split_layer_name(layer)
    if site_names is not None and pass_ != FORWARD and (
            base not in site_names or pass_ not in kind_of(site_names[base]).passes):
        return layer, FORWARD
    return base, pass_
