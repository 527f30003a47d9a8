"""The injectable operations of a workload and the shapes of their operands, without TensorFlow.

The shape pass runs a network's one declaration (`fi_core.networks`) on `Shape`s: it yields the
sites (every conv and dense, in creation order), the other layers that hold variables, and the
artifact's layer lists. CSV validation and campaign generation read operand shapes from it
without importing TensorFlow; the TensorFlow model (`fi_core.model`) creates its variables from
the same pass, so the two cannot disagree.

Operand shapes and layouts are the site kinds' (`fi_core.sites`, one file per kind).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache

from fi_core.builder import Builder, Init
from fi_core.passes import FORWARD
from fi_core.passes import GRAD_IN as GRAD_IN  # re-exported: the passes' names
from fi_core.passes import GRAD_WT as GRAD_WT
from fi_core.sites import OPERANDS as OPERANDS  # re-exported: the operand slots
from fi_core.sites import split_layer_name as split_layer_name
from fi_core.sites.kernel import KernelSite
from fi_core.workloads import NUM_CLASSES, WorkloadConfig

STAGES = {"fwrd_inject": FORWARD, "bkwd_inject": "bkwd"}

Site = KernelSite
"""The site of a conv or dense layer (other kinds have their own dataclass)."""


@dataclass(frozen=True)
class Shape:
    """What the shape pass knows of a tensor: `[N, size, size, channels]`, or `[N, channels]`
    when `size` is None (after a global pool)."""

    size: int | None
    channels: int


@dataclass(frozen=True)
class Depthwise:
    name: str
    kernel: int
    stride: int
    channels: int


@dataclass(frozen=True)
class Norm:
    name: str
    channels: int
    momentum: float


@dataclass(frozen=True)
class Gain:
    name: str
    init: float


@dataclass(frozen=True)
class Layout:
    """Everything the shape pass found, each kind in creation order."""

    sites: tuple[Site, ...]
    depthwise: tuple[Depthwise, ...]
    norms: tuple[Norm, ...]
    gains: tuple[Gain, ...]
    dropouts: int
    logits: Shape


@dataclass
class ShapeBuilder(Builder):
    """Runs a declaration on shapes, recording every layer that holds variables. Each name may
    be used once; a shape that does not fit is a bug of the declaration (ValueError)."""

    sites: list[Site] = field(default_factory=list)
    depthwise_layers: list[Depthwise] = field(default_factory=list)
    norms: list[Norm] = field(default_factory=list)
    gains: list[Gain] = field(default_factory=list)
    dropouts: int = 0
    _names: set[str] = field(default_factory=set)

    def _claim(self, name: str) -> None:
        if name in self._names:
            raise ValueError(f"layer name {name!r} is used twice")
        self._names.add(name)

    @staticmethod
    def _spatial(x: Shape, what: str) -> int:
        if x.size is None:
            raise ValueError(f"{what} needs an [N, H, W, C] input")
        return x.size

    def conv(self, name: str, x: Shape, filters: int, kernel: int, stride: int = 1, *,
             bias: bool = False, listed: bool = True, standardised: bool = False,
             init: Init = "glorot") -> Shape:
        self._claim(name)
        site = Site(name, "conv", kernel, stride, x.channels, filters, self._spatial(x, name),
                    bias=bias, in_artifact_list=listed, standardised=standardised, init=init)
        self.sites.append(site)
        return Shape(site.out_size, filters)

    def dense(self, name: str, x: Shape, units: int, *, bias: bool = True,
              listed: bool = False) -> Shape:
        self._claim(name)
        if x.size is not None:
            raise ValueError(f"{name} needs an [N, C] input")
        self.sites.append(Site(name, "dense", 1, 1, x.channels, units, 1, bias=bias,
                               in_artifact_list=listed))
        return Shape(None, units)

    def depthwise(self, name: str, x: Shape, kernel: int, stride: int = 1) -> Shape:
        self._claim(name)
        size = self._spatial(x, name)
        self.depthwise_layers.append(Depthwise(name, kernel, stride, x.channels))
        return Shape(math.ceil(size / stride), x.channels)

    def batch_norm(self, name: str, x: Shape, momentum: float = 0.9) -> Shape:
        self._claim(name)
        self.norms.append(Norm(name, x.channels, momentum))
        return x

    def gain(self, name: str, x: Shape, init: float = 0.0) -> Shape:
        self._claim(name)
        self.gains.append(Gain(name, init))
        return x

    def relu(self, x: Shape) -> Shape:
        return x

    def swish(self, x: Shape) -> Shape:
        return x

    def sigmoid(self, x: Shape) -> Shape:
        return x

    def scale(self, x: Shape, factor: float) -> Shape:
        return x

    def dropout(self, x: Shape, rate: float) -> Shape:
        self.dropouts += 1
        return x

    def global_pool(self, x: Shape, keepdims: bool = False) -> Shape:
        self._spatial(x, "global_pool")
        return Shape(1 if keepdims else None, x.channels)

    def concat(self, xs: Sequence[Shape]) -> Shape:
        if len({x.size for x in xs}) != 1:
            raise ValueError(f"concat of different sizes: {list(xs)}")
        return Shape(xs[0].size, sum(x.channels for x in xs))

    def add(self, a: Shape, b: Shape) -> Shape:
        if a != b:
            raise ValueError(f"add of {a} and {b}")
        return a

    def multiply(self, a: Shape, b: Shape) -> Shape:
        if a.channels != b.channels or b.size not in (a.size, 1):
            raise ValueError(f"multiply of {a} and {b}")
        return a

    def channels(self, x: Shape) -> int:
        return x.channels


@cache
def layout(config: WorkloadConfig) -> Layout:
    """The shape pass of a workload's network."""
    from fi_core.networks import network_of

    builder = ShapeBuilder()
    logits = network_of(config).build(builder, config, Shape(config.image_size,
                                                             config.channels))
    if logits != Shape(None, NUM_CLASSES):
        raise ValueError(f"network {config.network!r} gives {logits}, not [N, {NUM_CLASSES}]")
    return Layout(tuple(builder.sites), tuple(builder.depthwise_layers), tuple(builder.norms),
                  tuple(builder.gains), builder.dropouts, logits)


def sites_of(config: WorkloadConfig) -> tuple[Site, ...]:
    """All sites of a workload's model, in creation order (a fault plan's site index)."""
    return layout(config).sites


def site_by_name(config: WorkloadConfig) -> dict[str, Site]:
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

    return network_of(config).backward_order(_names(config, artifact_only))
