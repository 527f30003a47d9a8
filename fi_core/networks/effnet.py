"""The artifact's EfficientNet-B0 variant (`effnet`): width and depth 1.0, swish, SE on the
expanded width, no dropout or drop-connect, BN momentum 0.9, no conv bias except in SE.

Stem `conv1` 3x3/2 (32) -> BN -> swish; seven blocks `blockB` of MBConvs `blockB_mbconv_i`;
head `conv2` 1x1 (1280) -> BN -> swish -> global pool -> dense 10 (`fc`, unlisted). An MBConv:
`_conv1` 1x1 expansion (present even for expansion 1) -> BN -> swish -> depthwise k x k with
the stride (not a site) -> BN -> squeeze-excitation (`_se_reduce_conv`, `_se_expand_conv`, with
bias, reduced to max(1, int(0.25 x expanded width))) -> swish -> `_conv2` 1x1 projection -> BN,
plus the input when the stride is 1 and the width is unchanged. The artifact's layer lists run
from the head back to the stem.
"""

from __future__ import annotations

from fi_core.networks import Network, grouped, in_reverse_order, register
from fi_core.spec.builder import Builder, Tensor
from fi_core.spec.workloads import NUM_CLASSES, WorkloadConfig

BLOCKS = ((1, 3, 1, 16, 1), (6, 3, 2, 24, 2), (6, 5, 2, 40, 2), (6, 3, 2, 80, 3),
          (6, 5, 1, 112, 3), (6, 5, 2, 192, 4), (6, 3, 1, 320, 1))
"""Per block: expansion, kernel, stride of its first MBConv, output width, repeats."""


def round_filters(filters: int, width: float, divisor: int = 8) -> int:
    """EfficientNet's width rounding: a multiple of 8, never below 90 % of the scaled width."""
    scaled = filters * width
    rounded = max(divisor, int(scaled + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * scaled else rounded


def mbconv(b: Builder, config: WorkloadConfig, name: str, x: Tensor, out: int, expansion: int,
           kernel: int, stride: int) -> Tensor:
    cin = b.channels(x)
    wide = cin * expansion
    y = b.swish(b.batch_norm(f"{name}_bn1", b.conv(f"{name}_conv1", x, wide, 1)))
    y = b.batch_norm(f"{name}_bn2", b.depthwise(f"{name}_dwconv", y, kernel, stride))
    y = b.swish(b.squeeze_excite(f"{name}_se", y, max(1, int(wide * 0.25))))
    y = b.batch_norm(f"{name}_bn3", b.conv(f"{name}_conv2", y, out, 1))
    if stride == 1 and cin == out:
        y = b.add(b.dropout(y, config.dropout), x)
    return y


def build(b: Builder, config: WorkloadConfig, x: Tensor) -> Tensor:
    width = config.width
    h = b.swish(b.batch_norm("bn1", b.conv("conv1", x, round_filters(32, width), 3, 2)))
    for number, (expansion, kernel, stride, out, repeats) in enumerate(BLOCKS, start=1):
        for i in range(repeats):
            h = mbconv(b, config, f"block{number}_mbconv_{i}", h, round_filters(out, width),
                       expansion, kernel, stride if i == 0 else 1)
    h = b.swish(b.batch_norm("bn2", b.conv("conv2", h, round_filters(1280, width), 1)))
    h = b.dropout(b.global_pool(h), config.dropout)
    return b.dense("fc", h, NUM_CLASSES)


register(
    Network("effnet", build, forward_order=in_reverse_order,
            backward_order=grouped(in_reverse_order)),
    {
        "effnet": WorkloadConfig(model="effnet", network="effnet", learning_rate=2e-3,
                                 end_learning_rate=5e-4, decay_steps=2000, dropout=0.0),
        "effnet_small": WorkloadConfig(
            model="effnet", network="effnet", dataset="digits", image_size=16, width=0.25,
            replicas=8, batch_per_replica=18, epochs=20, learning_rate=2e-3,
            end_learning_rate=5e-4, decay_steps=200, dropout=0.0, test_batch=360, flip=False,
            crop_pad=0),
    },
)
