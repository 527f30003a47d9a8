"""The artifact's NF-ResNet (`nfnet`): no normalisation layers, scaled weight standardisation in
every conv (a per-channel gain and a bias, fan-in normal kernels), alpha 1, no stochastic depth,
SE or dropout.

Activation: ReLU x 1.7139588594436646. Stem `NF_ResNet_init_conv` 3x3/2 (64), a site outside
the lists. Blocks `NF_ResNet_block_0..7`, two per stage, outputs 256/512/1024/2048 (bottleneck a
quarter of that), first-block stride 1/2/2/2. A block: h = act(x) x beta; main path `_conv0` 1x1
-> act -> `_conv1` 3x3 (stride) -> act -> `_conv2` 1x1 -> times the skip gain (a trainable
scalar, initially 0); shortcut `_conv_shortcut` 1x1 (stride) on h when the stride or the width
changes, else x; output main x alpha + shortcut. beta = 1 / expected std, which grows as
sqrt(std^2 + alpha^2) per block and restarts at each stage. Head: mean over H, W of act(out),
dense 10 (`fc`).

The artifact's own NF-ResNet path is unfinished (its block convs get no injection arguments and
its backward names lack an underscore); this follows its layer lists, and a forward weight
fault hits the standardised kernel, as the artifact means it to.
"""

from __future__ import annotations

import math

from fi_core.networks import Network, grouped, in_creation_order, register
from fi_core.spec.builder import Builder, Tensor
from fi_core.spec.workloads import NUM_CLASSES, WorkloadConfig

GAMMA = 1.7139588594436646
"""Scales ReLU so that a unit Gaussian keeps unit variance."""
ALPHA = 1.0
STAGES = ((64, 1), (128, 2), (256, 2), (512, 2))
"""Per stage: base width (times 4 x `width`), stride of its first block; two blocks each."""


def act(b: Builder, x: Tensor) -> Tensor:
    return b.scale(b.relu(x), GAMMA)


def conv(b: Builder, name: str, x: Tensor, filters: int, kernel: int, stride: int = 1, *,
         listed: bool = True) -> Tensor:
    return b.conv(name, x, filters, kernel, stride, bias=True, listed=listed, standardised=True,
                  init="fan_in_normal")


def block(b: Builder, name: str, x: Tensor, out: int, stride: int, beta: float) -> Tensor:
    h = b.scale(act(b, x), beta)
    y = act(b, conv(b, f"{name}_conv0", h, out // 4, 1))
    y = act(b, conv(b, f"{name}_conv1", y, out // 4, 3, stride))
    y = b.gain(f"{name}_skip_gain", conv(b, f"{name}_conv2", y, out, 1), init=0.0)
    shortcut = x
    if stride > 1 or b.channels(x) != out:
        shortcut = conv(b, f"{name}_conv_shortcut", h, out, 1, stride)
    return b.add(b.scale(y, ALPHA), shortcut)


def build(b: Builder, config: WorkloadConfig, x: Tensor) -> Tensor:
    scale = 4 * config.width
    h = conv(b, "NF_ResNet_init_conv", x, max(1, round(16 * scale)), 3, 2, listed=False)
    index, expected_std = 0, 1.0
    for base, first_stride in STAGES:
        for i in range(2):
            h = block(b, f"NF_ResNet_block_{index}", h, max(4, round(base * scale)),
                      first_stride if i == 0 else 1, 1.0 / expected_std)
            index += 1
            expected_std = math.sqrt((1.0 if i == 0 else expected_std) ** 2 + ALPHA**2)
    return b.dense("fc", b.global_pool(act(b, h)), NUM_CLASSES)


register(
    Network("nfnet", build, forward_order=in_creation_order,
            backward_order=grouped(in_creation_order)),
    {
        # The initial rate 0.01 is the artifact's technique/replay/config.py value for nfnet
        # (it ships no nfnet CSV to confirm it); the decay is reproduce_injections.py's.
        "nfnet": WorkloadConfig(model="nfnet", network="nfnet", learning_rate=0.01,
                                dropout=0.0),
        "nfnet_small": WorkloadConfig(
            model="nfnet", network="nfnet", dataset="digits", image_size=16, width=0.25,
            replicas=8, batch_per_replica=18, epochs=20, learning_rate=1e-3, decay_steps=200,
            dropout=0.0, test_batch=360, flip=False, crop_pad=0),
    },
)
