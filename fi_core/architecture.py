"""The injectable operations of a workload and the shapes of their operands, without TensorFlow.

One declarative list of sites (every conv and dense, in creation order) is the single source of
truth: the model is built from it, and CSV validation and campaign generation read operand shapes
from it without importing TensorFlow.

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
from dataclasses import dataclass
from functools import cache

from fi_core.workloads import NUM_CLASSES, WorkloadConfig

FORWARD, GRAD_IN, GRAD_WT = "fwrd", "grad_in", "grad_wt"
OPERANDS = ("input", "weight", "output")
STAGES = {"fwrd_inject": FORWARD, "bkwd_inject": "bkwd"}


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


def split_layer_name(layer: str) -> tuple[str, str]:
    """`L_grad_in` -> (L, grad_in); `L_grad_wt` -> (L, grad_wt); `L` -> (L, fwrd)."""
    for suffix in (GRAD_IN, GRAD_WT):
        if layer.endswith("_" + suffix):
            return layer[: -len(suffix) - 1], suffix
    return layer, FORWARD


def _filters(base: int, width: float) -> int:
    return max(1, round(base * width))


@cache
def resnet18_sites(config: WorkloadConfig) -> tuple[Site, ...]:
    """Sites of the artifact's ResNet-18 in creation order: conv1, then per basic block
    (downsample,) conv1, conv2, then the classifier `fc` (not in the artifact's lists)."""
    bias_everywhere = not config.batch_norm
    size = config.image_size
    stem = _filters(64, config.width)
    sites = [Site("conv1", "conv", 7, 2, config.channels, stem, size, bias=True)]
    size, cin = sites[0].out_size, stem
    for stage, base in enumerate((64, 128, 256, 512), start=1):
        cout = _filters(base, config.width)
        for block in range(2):
            stride = 2 if stage > 1 and block == 0 else 1
            prefix = f"basicblock_{stage}_basic_{block}"
            if stride != 1 or cin != cout:
                sites.append(Site(f"{prefix}_downsample", "conv", 1, stride, cin, cout, size,
                                  bias=bias_everywhere))
            conv1 = Site(f"{prefix}_conv1", "conv", 3, stride, cin, cout, size,
                         bias=bias_everywhere)
            sites.append(conv1)
            sites.append(Site(f"{prefix}_conv2", "conv", 3, 1, cout, cout, conv1.out_size,
                              bias=bias_everywhere))
            size, cin = conv1.out_size, cout
    sites.append(Site("fc", "dense", 1, 1, cin, NUM_CLASSES, 1, bias=True,
                      in_artifact_list=False))
    return tuple(sites)


def sites_of(config: WorkloadConfig) -> tuple[Site, ...]:
    """All sites of a workload's model (every ResNet-18 variant shares one layout)."""
    return resnet18_sites(config)


def site_by_name(config: WorkloadConfig) -> dict[str, Site]:
    return {site.name: site for site in sites_of(config)}


def forward_layers(config: WorkloadConfig, *, artifact_only: bool = True) -> list[str]:
    """Forward site names in the artifact's order (creation order)."""
    return [s.name for s in sites_of(config) if s.in_artifact_list or not artifact_only]


def backward_layers(config: WorkloadConfig, *, artifact_only: bool = True) -> list[str]:
    """Backward site names in the artifact's order: blocks in reverse, within a block the
    shortcut first and then the main path in reverse; `_grad_in` before `_grad_wt`."""
    blocks: dict[str, list[str]] = {}
    for name in forward_layers(config, artifact_only=artifact_only):
        blocks.setdefault(name.rsplit("_", 1)[0] if "basic" in name else name, []).append(name)
    names = []
    for members in reversed(blocks.values()):
        shortcut = [m for m in members if m.endswith("downsample")]
        main_path = [m for m in members if not m.endswith("downsample")]
        for name in shortcut + main_path[::-1]:
            names += [f"{name}_{GRAD_IN}", f"{name}_{GRAD_WT}"]
    return names
