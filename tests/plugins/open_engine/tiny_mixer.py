"""A tiny network as a plugin, built from the other plugins and the built-in site kinds: the
digits' 64 pixels embedded by a dense layer and cut into 8 tokens of 8 (so that a variable
depends on every site's gradients), a gate (the `hadamard` site kind of `hadamard_site`),
a token mix (the built-in `batched_matmul`: tokens x gated tokens), flattened by `reshape_op`'s
op, then the built-in dense classifier."""

from __future__ import annotations

import hadamard_site  # noqa: F401  (registers the site kind and its op)
import reshape_op  # noqa: F401  (registers the op)

from fi_core.networks import Network, register
from fi_core.spec.workloads import NUM_CLASSES, WorkloadConfig


def build(b, config, x):
    embedded = b.dense("embed", b.reshape(x, (64,)), 64)
    tokens = b.reshape(embedded, (8, 8))
    gated = b.hadamard("gate", tokens, tokens)
    mixed = b.batched_matmul("mix", tokens, gated, listed=True)
    return b.dense("fc", b.reshape(mixed, (64,)), NUM_CLASSES, listed=True)


register(Network("tiny_mixer", build), {
    "tiny_mixer": WorkloadConfig(
        model="tiny_mixer", network="tiny_mixer", batch_norm=False, dataset="digits",
        image_size=8, replicas=2, batch_per_replica=64, epochs=3, learning_rate=3e-3,
        decay_steps=100, dropout=0.0, flip=False, crop_pad=0, test_batch=360),
})
