"""The artifact's DenseNet-121 variant (`densenet`): growth 32, blocks of 6/12/24/16
bottlenecks, compression 0.5, dropout 0.5, BN momentum 0.9, ReLU, every conv with a bias.

Stem `densenet_conv` 7x7/2 (64) -> BN -> ReLU -> `densenet_conv_p` 3x3/2 (64), a strided conv in
place of the max-pool. A bottleneck `densenet_dense_block_B_bottleneck_i`: BN -> ReLU -> `_conv1`
1x1 (4 x growth) -> BN -> ReLU -> `_conv2` 3x3 (growth) -> dropout, concatenated to the block's
features. A transition `densenet_transition_T`: BN -> ReLU -> `_conv` 1x1 to half the width ->
`_conv_p` 3x3/2 in place of the pool. No final BN: global pool, dense 10 (`fc`). The `_conv_p`
convs and `fc` are sites outside the artifact's lists.
"""

from __future__ import annotations

from fi_core.networks import Network, grouped, in_creation_order, register
from fi_core.spec.builder import Builder, Tensor
from fi_core.spec.workloads import NUM_CLASSES, WorkloadConfig

BLOCKS = (6, 12, 24, 16)
COMPRESSION = 0.5


def bottleneck(b: Builder, config: WorkloadConfig, name: str, x: Tensor, growth: int) -> Tensor:
    y = b.relu(b.batch_norm(f"{name}_bn1", x))
    y = b.relu(b.batch_norm(f"{name}_bn2", b.conv(f"{name}_conv1", y, 4 * growth, 1, bias=True)))
    y = b.conv(f"{name}_conv2", y, growth, 3, bias=True)
    return b.dropout(y, config.dropout)


def transition(b: Builder, name: str, x: Tensor) -> Tensor:
    width = int(COMPRESSION * b.channels(x))
    y = b.conv(f"{name}_conv", b.relu(b.batch_norm(f"{name}_bn", x)), width, 1, bias=True)
    return b.conv(f"{name}_conv_p", y, width, 3, 2, bias=True, listed=False)


def build(b: Builder, config: WorkloadConfig, x: Tensor) -> Tensor:
    growth, stem = max(1, round(32 * config.width)), max(1, round(64 * config.width))
    h = b.relu(b.batch_norm("densenet_bn", b.conv("densenet_conv", x, stem, 7, 2, bias=True)))
    h = b.conv("densenet_conv_p", h, stem, 3, 2, bias=True, listed=False)
    for number, layers in enumerate(BLOCKS, start=1):
        features = [h]
        for i in range(layers):
            name = f"densenet_dense_block_{number}_bottleneck_{i}"
            features.append(bottleneck(b, config, name, h, growth))
            h = b.concat(features)
        if number < len(BLOCKS):
            h = transition(b, f"densenet_transition_{number}", h)
    return b.dense("fc", b.global_pool(h), NUM_CLASSES)


register(
    Network("densenet", build, forward_order=in_creation_order,
            backward_order=grouped(in_creation_order)),
    {
        "densenet": WorkloadConfig(model="densenet", network="densenet", dropout=0.5),
        "densenet_small": WorkloadConfig(
            model="densenet", network="densenet", dataset="digits", image_size=16, width=0.25,
            replicas=8, batch_per_replica=18, epochs=20, decay_steps=200, dropout=0.5,
            test_batch=360, flip=False, crop_pad=0),
    },
)
