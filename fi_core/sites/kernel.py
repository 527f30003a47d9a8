"""The site of a conv or dense layer: its geometry, without TensorFlow (the kinds are
`fi_core.sites.conv` and `fi_core.sites.dense`, their shared parts `kernel_kind`)."""

from __future__ import annotations

import math
from dataclasses import dataclass

Init = str  # "glorot" | "fan_in_normal"

WS_EPSILON = 1e-4
"""Floor of fan_in x variance in scaled weight standardisation (the artifact's eps)."""


@dataclass(frozen=True)
class KernelSite:
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

    @property
    def kernel_shape(self) -> tuple[int, ...]:
        if self.kind == "dense":
            return (self.cin, self.cout)
        return (self.kernel, self.kernel, self.cin, self.cout)

    def operand_shape(self, pass_: str, operand: str, n: int) -> tuple[int, ...]:
        """Shape of an operand of this site's pass, per-replica batch `n`."""
        from fi_core.sites import operand_shape

        return operand_shape(self, pass_, operand, n)
