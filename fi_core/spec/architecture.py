"""The injectable operations of a workload and the shapes of their operands, without TensorFlow.

The shape pass runs a network's one declaration (`fi_core.networks`) on `Shape`s: it yields the
sites (every op of a site kind, in creation order), the other layers that hold variables, and the
artifact's layer lists. CSV validation and campaign generation read operand shapes from it
without importing TensorFlow; the TensorFlow model (`fi_core.engine.model`) creates its variables
from the same pass, so the two cannot disagree.

Operand shapes and layouts are the site kinds' (`fi_core.sites`, one file per kind).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any, ClassVar

from fi_core.sites import SiteSpec, kind_of
from fi_core.sites import split_layer_name as split_layer_name
from fi_core.sites.kernel import KernelSite
from fi_core.spec.builder import Builder
from fi_core.spec.passes import FORWARD as FORWARD  # re-exported: the passes' names
from fi_core.spec.passes import GRAD_IN as GRAD_IN
from fi_core.spec.passes import GRAD_WT as GRAD_WT
from fi_core.spec.workloads import WorkloadConfig
from fi_formats.names import BACKWARD_LAYER
from fi_formats.names import OPERANDS as OPERANDS  # re-exported: the operand slots
from fi_formats.names import STAGES as STAGES

Site = KernelSite
"""The site of a conv or dense layer (other kinds have their own dataclass)."""


@dataclass(frozen=True)
class Shape:
    """What the shape pass knows of a tensor: its per-example dims (the batch axis is left
    out): `(size, size, channels)` for an image, `(channels,)` after a global pool, any rank for
    other tensors (a sequence's `(tokens, width)`)."""

    dims: tuple[int, ...]

    @classmethod
    def image(cls, size: int, channels: int) -> Shape:
        return cls((size, size, channels))

    @classmethod
    def vector(cls, channels: int) -> Shape:
        return cls((channels,))

    @property
    def size(self) -> int | None:
        """Height = width of an image, None for any other rank."""
        return self.dims[0] if len(self.dims) == 3 else None

    @property
    def channels(self) -> int:
        return self.dims[-1]

    def with_channels(self, channels: int) -> Shape:
        return Shape((*self.dims[:-1], channels))


@dataclass(frozen=True)
class Layout:
    """Everything the shape pass found: each group's layer specs in creation order (`sites`
    holds every site, of every kind, in the order a fault plan indexes them)."""

    groups: Mapping[str, tuple[Any, ...]]
    counts: Mapping[str, int]
    logits: Shape

    @property
    def sites(self) -> tuple[SiteSpec, ...]:
        return self.groups.get("sites", ())

    @property
    def depthwise(self) -> tuple[Any, ...]:
        return self.groups.get("depthwise", ())

    @property
    def norms(self) -> tuple[Any, ...]:
        return self.groups.get("norms", ())

    @property
    def gains(self) -> tuple[Any, ...]:
        return self.groups.get("gains", ())

    @property
    def dropouts(self) -> int:
        return self.counts.get("dropout", 0)


@dataclass
class ShapeBuilder(Builder):
    """Runs a declaration on shapes, recording every layer that holds variables. Each name may
    be used once; a shape that does not fit is a bug of the declaration (ValueError)."""

    part: ClassVar[str] = "shape"
    records: dict[str, list[Any]] = field(default_factory=dict)
    _names: set[str] = field(default_factory=set)

    def record(self, group: str, spec: Any) -> None:
        """Add a variable-holding layer's spec (its `name` claimed once across the network)."""
        if spec.name in self._names:
            raise ValueError(f"layer name {spec.name!r} is used twice")
        if BACKWARD_LAYER.fullmatch(spec.name):
            raise ValueError(f"layer name {spec.name!r} has the form of a backward layer "
                             "(<site>_grad_<x>)")
        self._names.add(spec.name)
        self.records.setdefault(group, []).append(spec)

    @staticmethod
    def spatial(x: Shape, what: str) -> int:
        """The size of an image tensor; any other rank is a declaration's bug."""
        if x.size is None:
            raise ValueError(f"{what} needs an [N, H, W, C] input")
        return x.size

    def channels(self, x: Shape) -> int:
        return x.channels


@cache
def layout(config: WorkloadConfig) -> Layout:
    """The shape pass of a workload's network."""
    from fi_core.networks import network_of
    from fi_core.tasks import task_of

    task = task_of(config)
    builder = ShapeBuilder()
    logits = network_of(config).build(builder, config, task.input_shape(config))
    if logits != task.output_shape(config):
        raise ValueError(f"network {config.network!r} gives {logits}, not "
                         f"{task.output_shape(config)} ({task.name})")
    groups = {name: tuple(specs) for name, specs in builder.records.items()}
    return Layout(groups, builder.counted, logits)


def sites_of(config: WorkloadConfig) -> tuple[SiteSpec, ...]:
    """All sites of a workload's model, in creation order (a fault plan's site index)."""
    return layout(config).sites


def site_by_name(config: WorkloadConfig) -> dict[str, SiteSpec]:
    return {site.name: site for site in sites_of(config)}


def _names(config: WorkloadConfig, artifact_only: bool) -> list[str]:
    return [s.name for s in sites_of(config) if s.in_artifact_list or not artifact_only]


def forward_layers(config: WorkloadConfig, *, artifact_only: bool = True) -> list[str]:
    """Forward site names in the artifact's order (`layers/<model>_fwrd_layers.txt`)."""
    from fi_core.networks import network_of

    return network_of(config).forward_order(_names(config, artifact_only))


def backward_layers(config: WorkloadConfig, *, artifact_only: bool = True) -> list[str]:
    """Backward site names in the artifact's order (`layers/<model>_bkwd_layers.txt`)."""
    from fi_core.networks import network_of

    sites = site_by_name(config)
    return network_of(config).backward_order(
        _names(config, artifact_only), lambda name: kind_of(sites[name]).passes[1:])
