"""ResNet-18 as the artifact trains it, and its two variants (no batch norm; SGD, no dropout).

conv1 7x7/2 (bias) -> BN -> ReLU (no max-pool); four stages `basicblock_1..4` of two basic
blocks `_basic_0`, `_basic_1` (64, 128, 256, 512 filters times `width`, stride 2 in the first
block of stages 2-4). A basic block: conv1 3x3 -> BN -> ReLU -> dropout -> conv2 3x3 -> BN, plus
the shortcut (identity, or `downsample` 1x1 -> BN), add, ReLU, dropout. Global average pool,
dense 10 (`fc`, a site outside the artifact's lists). Every conv has a bias, added after the op
and before batch norm, as in the artifact (`InjectConv2D` keeps Keras' default `use_bias=True`):
batch norm cancels it in the forward pass, but a corrupted gradient reaches it.
"""

from __future__ import annotations

from collections.abc import Sequence

from fi_core.networks import Network, Passes, register
from fi_core.spec.builder import Builder, Tensor
from fi_core.spec.workloads import NUM_CLASSES, WorkloadConfig


def _conv_bn(b: Builder, config: WorkloadConfig, name: str, x: Tensor, filters: int,
             kernel: int, stride: int = 1) -> Tensor:
    y = b.conv(name, x, filters, kernel, stride, bias=True)
    return b.batch_norm(f"{name}_bn", y) if config.batch_norm else y


def build(b: Builder, config: WorkloadConfig, x: Tensor) -> Tensor:
    width = config.width
    stem = max(1, round(64 * width))
    h = b.relu(_conv_bn(b, config, "conv1", x, stem, 7, 2))
    for stage, base in enumerate((64, 128, 256, 512), start=1):
        filters = max(1, round(base * width))
        for block in range(2):
            name = f"basicblock_{stage}_basic_{block}"
            stride = 2 if stage > 1 and block == 0 else 1
            shortcut = h
            if stride != 1 or b.channels(h) != filters:
                shortcut = _conv_bn(b, config, f"{name}_downsample", h, filters, 1, stride)
            y = b.relu(_conv_bn(b, config, f"{name}_conv1", h, filters, 3, stride))
            y = b.dropout(y, config.dropout)
            y = _conv_bn(b, config, f"{name}_conv2", y, filters, 3)
            h = b.dropout(b.relu(b.add(y, shortcut)), config.dropout)
    return b.dense("fc", b.global_pool(h), NUM_CLASSES)


def backward_order(names: Sequence[str], passes: Passes) -> list[str]:
    """The artifact's hand-written backward pass: blocks in reverse; within a block the shortcut
    first, then the main path backwards; `_grad_in` before `_grad_wt` of each layer."""
    blocks: dict[str, list[str]] = {}
    for name in names:
        key = name.rsplit("_", 1)[0] if name.startswith("basicblock_") else name
        blocks.setdefault(key, []).append(name)
    order = []
    for members in reversed(blocks.values()):
        shortcut = [m for m in members if m.endswith("_downsample")]
        order += shortcut + [m for m in reversed(members) if m not in shortcut]
    return [f"{name}_{op}" for name in order for op in passes(name)]


PAPER = WorkloadConfig(model="resnet18", network="resnet18")

register(
    Network("resnet18", build, backward_order=backward_order),
    {
        "resnet18": PAPER,
        "resnet18_nobn": WorkloadConfig(model="resnet18_nobn", network="resnet18",
                                        batch_norm=False),
        "resnet18_sgd": WorkloadConfig(
            model="resnet18_sgd", network="resnet18", optimizer="sgd", learning_rate=0.1,
            end_learning_rate=1e-3, decay_steps=2000, dropout=0.0),
        # The CPU default: width 0.25 on the embedded 16x16 digits, 20 epochs of 10 steps, no
        # augmentation (flipped digits are other digits; docs/fi_core.md has the measurements).
        "resnet18_small": WorkloadConfig(
            model="resnet18", network="resnet18", dataset="digits", image_size=16, width=0.25,
            replicas=8, batch_per_replica=18, epochs=20, decay_steps=200, test_batch=360,
            flip=False, crop_pad=0),
    },
)
