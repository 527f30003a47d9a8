"""A sequence task added without touching the training loop: token ids in, next-token loss and
token accuracy out. One plugin module registers the task, an embedding op (an op that holds a
variable, in a layer group of its own), a deterministic corpus and a tiny network with its
preset; `tests/fi_core/test_tasks.py` trains it with the ordinary `fi-core golden`.

The corpus: sequence i counts modulo VOCAB from a start with a step (both drawn from a fixed
seed), so the next token follows from the two before it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from fi_core.networks import Network, register
from fi_core.ops import Group, Op, register_group, register_op
from fi_core.spec import workloads
from fi_core.spec.architecture import Shape
from fi_core.tasks import Task, register_task

VOCAB, TOKENS, WIDTH = 10, 8, 8
TRAIN, TEST = 512, 128


class NextToken(Task):
    name = "next_token"

    def input_shape(self, config: Any) -> Shape:
        return Shape((TOKENS,))

    def output_shape(self, config: Any) -> Shape:
        return Shape((TOKENS, VOCAB))

    def num_classes(self, config: Any) -> int:
        return VOCAB

    def batch_signature(self, config: Any) -> list[Any]:
        import tensorflow as tf

        return [tf.TensorSpec([None, TOKENS], tf.int32), tf.TensorSpec([None, TOKENS], tf.int32)]

    def example_losses(self, logits: Any, labels: Any) -> Any:
        import tensorflow as tf

        per_token = tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits)
        return tf.reduce_mean(per_token, axis=-1)

    def example_hits(self, logits: Any, labels: Any) -> Any:
        import tensorflow as tf

        right = tf.equal(tf.argmax(logits, -1, output_type=tf.int32), labels)
        return tf.reduce_mean(tf.cast(right, tf.float32), axis=-1)


register_task(NextToken())


def counting(config: Any, data_dir: Any) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(7)
    count = TRAIN + TEST
    start = rng.integers(0, VOCAB, count)[:, None]
    step = rng.integers(1, 4, count)[:, None]
    seq = ((start + step * np.arange(TOKENS + 1)) % VOCAB).astype(np.int32)
    x, y = seq[:, :-1], seq[:, 1:]
    return x[:TRAIN], y[:TRAIN], x[TRAIN:], y[TRAIN:]


workloads.register_dataset("counting", (TRAIN, TEST, TOKENS, 1), counting)


@dataclass(frozen=True)
class Table:
    name: str
    rows: int
    width: int


def _embed_shape(b: Any, name: str, x: Any, rows: int, width: int) -> Shape:
    b.record("embeddings", Table(name, rows, width))
    return Shape((*x.dims, width))


def _embed_compute(b: Any, name: str, x: Any, rows: int, width: int) -> Any:
    import tensorflow as tf

    return tf.gather(b.layer("embeddings", name), x)


def _create(spec: Table, config: Any, index: int) -> Any:
    import tensorflow as tf

    seed = (config.seed, 20_000 + index)
    initial = tf.random.stateless_normal([spec.rows, spec.width], seed=seed)
    return tf.Variable(initial, name=spec.name,
                       aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)


register_group(Group("embeddings", _create))
register_op(Op("embedding", _embed_shape, _embed_compute))


def build(b: Any, config: Any, x: Any) -> Any:
    import reshape_op  # noqa: F401  (the open-engine plugin's reshape op)

    h = b.embedding("tokens", x, VOCAB, WIDTH)
    h = b.relu(b.dense("mix", b.reshape(h, (TOKENS * WIDTH,)), 64, listed=True))
    return b.reshape(b.dense("head", h, TOKENS * VOCAB, listed=True), (TOKENS, VOCAB))


register(Network("counter", build, task="next_token"), {
    "counter": workloads.WorkloadConfig(
        model="counter", network="counter", batch_norm=False, dataset="counting", image_size=8,
        replicas=2, batch_per_replica=32, epochs=4, learning_rate=1e-2, decay_steps=100,
        dropout=0.0, flip=False, crop_pad=0, test_batch=128),
})
