"""The injectable operations of a workload and the shapes of their operands, without TensorFlow.

The shape pass runs a network's one declaration (`fi_core.networks`) on `Shape`s: it yields the
sites (every conv and dense, in creation order), the other layers that hold variables, and the
artifact's layer lists. CSV validation and campaign generation read operand shapes from it
without importing TensorFlow; the TensorFlow model (`fi_core.model`) creates its variables from
the same pass, so the two cannot disagree.

Operand layouts follow the artifact (see the artifact README, "Where a fault lands"):

- forward `L`: input `[N,H,W,Cin]`, weight `[k,k,Cin,Cout]`, output (pre-bias) `[N,H',W',Cout]`;
- `L_grad_in`: input = dY zero-interleaved (stride > 1), then padded by (k-1)/2:
  `[N,H+2p,W+2p,Cout]`;
  weight = kernel rotated 180 degrees with in/out swapped `[k,k,Cout,Cin]`; output dX `[N,H,W,Cin]`;
- `L_grad_wt`: input = forward input as `[Cin,H+2p,W+2p,N]`; weight = interleaved dY as
  `[H,W,N,Cout]`; output `[Cin,k,k,Cout]`.

A dense layer is the rank-2 analogue: forward `[N,Cin] x [Cin,Cout] -> [N,Cout]`; grad_in
`[N,Cout] x [Cout,Cin] -> [N,Cin]`; grad_wt `[Cin,N] x [N,Cout] -> [Cin,Cout]`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache

from fi_core.builder import Builder, Init
from fi_core.passes import FORWARD, GRAD_IN, GRAD_WT
from fi_core.workloads import NUM_CLASSES, WorkloadConfig
from fi_formats.names import OPERANDS, STAGES, split_layer_name  # noqa: F401 (re-exported)


@dataclass(frozen=True)
class Site:
    """One conv (square kernel, 'same' padding) or dense operation."""

    name: str
    kind: str  # "conv" | "dense"
    kernel: int
    stride: int
    cin: int
    cout: int
    in_size: int  # input height = width (1 for dense)
    bias: bool
    in_artifact_list: bool = True
    standardised: bool = False  # scaled weight standardisation (NF-ResNet)
    init: Init = "glorot"

    @property
    def out_size(self) -> int:
        return math.ceil(self.in_size / self.stride)

    @property
    def pad(self) -> int:
        """The artifact's symmetric padding of the backward operands, (k-1)/2."""
        return (self.kernel - 1) // 2

    @property
    def interleave_offset(self) -> int:
        """Index of dY[0] in the zero-interleaved gradient: TF's 'same' padding puts
        pad_total // 2 on top, the artifact pads (k-1)/2, and the difference shifts the values
        (odd indices for a 3x3 or 7x7 stride-2 kernel, even for 1x1)."""
        pad_total = max((self.out_size - 1) * self.stride + self.kernel - self.in_size, 0)
        return self.pad - pad_total // 2

    def operand_shape(self, pass_: str, operand: str, n: int) -> tuple[int, ...]:
        """Shape of an operand (`input`, `weight`, `output`) of this site's forward pass or
        `grad_in`/`grad_wt`, for a per-replica batch of `n`."""
        if operand not in OPERANDS:
            raise ValueError(operand)
        h, ho, p, k = self.in_size, self.out_size, self.pad, self.kernel
        if self.kind == "dense":
            shapes = {
                FORWARD: ((n, self.cin), (self.cin, self.cout), (n, self.cout)),
                GRAD_IN: ((n, self.cout), (self.cout, self.cin), (n, self.cin)),
                GRAD_WT: ((self.cin, n), (n, self.cout), (self.cin, self.cout)),
            }
        else:
            shapes = {
                FORWARD: ((n, h, h, self.cin), (k, k, self.cin, self.cout),
                          (n, ho, ho, self.cout)),
                GRAD_IN: ((n, h + 2 * p, h + 2 * p, self.cout), (k, k, self.cout, self.cin),
                          (n, h, h, self.cin)),
                GRAD_WT: ((self.cin, h + 2 * p, h + 2 * p, n), (h, h, n, self.cout),
                          (self.cin, k, k, self.cout)),
            }
        return shapes[pass_][OPERANDS.index(operand)]


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
