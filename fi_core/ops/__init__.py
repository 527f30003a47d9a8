"""The builder's operations, each declared once: its shape rule, its TensorFlow computation and
its plain-Keras twin (the benchmark's baseline).

A network declaration calls `b.<op>(...)` on a builder (`fi_core.spec.builder`); the builder looks
the op up here and runs the part for its pass: `shape` in the shape pass (no TensorFlow: it
follows shapes and records the layers that hold variables), `compute` in the model's pass,
`keras` in the Keras pass of `benchmarks/keras_networks.py`. A composed op (squeeze-and-excite)
is one function of other ops, the same in every pass.

An op is one file of this package registering an `Op` (a plugin module can register one the
same way, `fi_core.spec.plugins`). The parts import TensorFlow or Keras inside, so that declaring an
op never starts TensorFlow. An op that holds variables records a spec with `b.record(group,
spec)` in its shape rule and names a `Group`, which says how the model creates the spec's
variables; `compute` then finds them with `b.layer(group, name)`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from fi_core.spec.discovery import import_modules

Part = Callable[..., Any]
"""(builder, *args, **kwargs) -> the op's result in that builder's pass."""


@dataclass(frozen=True)
class Op:
    """One builder operation. `keras` may be None for an op with no Keras twin (a network
    using it has no Keras baseline)."""

    name: str
    shape: Part
    compute: Part
    keras: Part | None = None

    @classmethod
    def composed(cls, name: str, build: Part) -> Op:
        """An op made of other ops: the same function in every pass."""
        return cls(name, build, build, build)


@dataclass(frozen=True)
class Group:
    """A kind of variable-holding layer, kept in the model as `Model.<name>[layer name]`.
    `create(spec, config, index)` makes one layer's holder (index: its place among the group's
    specs, in creation order). `always`: the attribute exists even when the network has none;
    `order`: groups are created in this order. Both keep a checkpoint's object graph (which lists
    a model's attributes in the order they are set) what it has always been."""

    name: str
    create: Callable[[Any, Any, int], Any]
    always: bool = False
    order: int = 100


_OPS: dict[str, Op] = {}
_GROUPS: dict[str, Group] = {}


def register_op(op: Op) -> Op:
    if op.name in _OPS and _OPS[op.name] != op:
        raise ValueError(f"op {op.name!r} is already registered")
    if not op.name.isidentifier() or op.name.startswith("_"):
        raise ValueError(f"op name {op.name!r} must be a public identifier")
    _OPS[op.name] = op
    return op


def register_group(group: Group) -> Group:
    if group.name in _GROUPS and _GROUPS[group.name] != group:
        raise ValueError(f"layer group {group.name!r} is already registered")
    _GROUPS[group.name] = group
    return group


def _discover() -> None:
    import_modules(__name__, __path__)  # not `_keras_layers`: the Keras twins import it
    from fi_core.sites import kinds

    kinds()  # site kinds register their builder ops (conv, dense, ...) as they load


def ops() -> Mapping[str, Op]:
    _discover()
    return _OPS


def groups() -> Mapping[str, Group]:
    """Every layer group, in the order a model creates them."""
    _discover()
    return dict(sorted(_GROUPS.items(), key=lambda item: item[1].order))


def op(name: str) -> Op:
    known = ops()
    if name not in known:
        raise AttributeError(f"no builder op {name!r} (known: {', '.join(sorted(known))})")
    return known[name]
