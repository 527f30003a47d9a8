"""Datasets and deterministic batches.

Data order, augmentation and dropout are pure functions of (seed, epoch, step): every random
draw uses TensorFlow's stateless ops with a seed folded from the workload seed, a purpose tag,
the epoch and the step. Nothing depends on how many steps ran before in this process.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tensorflow as tf

from fi_core.spec.workloads import LOADERS, WorkloadConfig
from fi_core.store import cifar

ORDER, AUGMENT, DROPOUT = 1, 2, 3
CIFAR_FOLDER = cifar.FOLDER


def stream_seed(config: WorkloadConfig, purpose: int, *counters: int) -> tf.Tensor:
    """A stateless seed for one purpose at one point of training."""
    seed = tf.constant([config.seed, purpose], tf.int64)
    for counter in counters:
        seed = tf.random.experimental.stateless_fold_in(seed, counter)
    return tf.cast(seed, tf.int64)


def _digits() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    return bunch.images.astype(np.float32)[..., None] / 16.0, bunch.target.astype(np.int32)


def _cifar10(data_dir: Path | None) -> tuple[np.ndarray, ...]:
    """CIFAR-10 as float images in [0, 1] and int32 labels (`fi_core.store.cifar` reads the
    batches without running code from them)."""
    train_x, train_y, test_x, test_y = cifar.read(data_dir)
    return (train_x.astype(np.float32) / 255.0, train_y, test_x.astype(np.float32) / 255.0,
            test_y)


def _resize(images: np.ndarray, size: int) -> np.ndarray:
    """Nearest-neighbour resize (the digits' 8x8 to 16x16 is an exact 2x upscale)."""
    if images.shape[1] == size:
        return images
    rows = (np.arange(size) * images.shape[1]) // size
    cols = (np.arange(size) * images.shape[2]) // size
    return images[:, rows][:, :, cols]


@dataclass
class Dataset:
    """Normalised train and test arrays of one workload."""

    train_x: tf.Tensor
    train_y: tf.Tensor
    test_x: tf.Tensor
    test_y: tf.Tensor


def load(config: WorkloadConfig, data_dir: Path | None = None) -> Dataset:
    """The workload's dataset, normalised by the training set's mean and standard deviation:
    one scalar of each over every pixel and channel (`normalise=scalar`, the artifact's
    `prepare_data.py`), or one per channel (`normalise=channel`).

    digits: scikit-learn's bundled 1,797 8x8 images; every fifth image (index % 5 == 0) is the
    test set (360), the rest train (1,437). cifar10: the standard python-format folder. A
    dataset a plugin registered (`workloads.register_dataset`) gives its own arrays."""
    if config.dataset in LOADERS:
        arrays = LOADERS[config.dataset](config, data_dir)
        return Dataset(*(tf.constant(a) for a in arrays))
    if config.dataset == "digits":
        images, labels = _digits()
        test = np.arange(len(images)) % 5 == 0
        train_x, train_y, test_x, test_y = images[~test], labels[~test], images[test], labels[test]
    else:
        train_x, train_y, test_x, test_y = _cifar10(data_dir)
    train_x, test_x = _resize(train_x, config.image_size), _resize(test_x, config.image_size)
    axes = (0, 1, 2, 3) if config.normalise == "scalar" else (0, 1, 2)
    mean = train_x.mean(axis=axes, dtype=np.float64)
    std = train_x.std(axis=axes, dtype=np.float64)
    norm = lambda a: ((a - mean) / std).astype(np.float32)  # noqa: E731
    return Dataset(tf.constant(norm(train_x)), tf.constant(train_y),
                   tf.constant(norm(test_x)), tf.constant(test_y))


class ReplicaShares:
    """How a batch of `size` examples splits over `replicas` replicas, as tf.distribute splits a
    global batch: contiguous shares whose sizes differ by at most one, the first replicas taking
    the larger ones. `pad` lays a batch out as R equal shares of `width` rows (padding rows
    repeat row 0 and are marked invalid), `unpad` takes the valid rows back in batch order."""

    def __init__(self, size: int, replicas: int) -> None:
        base, extra = divmod(size, replicas)
        self.sizes = [base + (r < extra) for r in range(replicas)]
        self.width = base + (extra > 0)
        starts = np.cumsum([0, *self.sizes[:-1]])
        index = np.zeros((replicas, self.width), np.int32)
        self.valid = np.zeros((replicas, self.width), bool)
        for r, (start, count) in enumerate(zip(starts, self.sizes, strict=True)):
            index[r, :count] = np.arange(start, start + count)
            self.valid[r, :count] = True
        self.index, self.valid = index.reshape(-1), self.valid.reshape(-1)
        self.even = bool(self.valid.all())

    def pad(self, t: tf.Tensor) -> tf.Tensor:
        return t if self.even else tf.gather(t, self.index)

    def unpad(self, values: np.ndarray) -> np.ndarray:
        return values if self.even else values[self.valid]


class Batches:
    """The training batches of a workload: shuffled per epoch, augmented per step (random flips
    per image and a random crop of the zero-padded images, as the artifact, when the workload
    asks; the crop offset is drawn once per replica batch (`crop=replica`, the artifact's
    `MyRandomCrop` under TPUStrategy) or per image (`crop=image`))."""

    def __init__(self, config: WorkloadConfig, dataset: Dataset) -> None:
        self.config, self.dataset = config, dataset
        self._order: tuple[int, tf.Tensor] | None = None

    def order(self, epoch: int) -> tf.Tensor:
        if self._order is None or self._order[0] != epoch:
            count = self.config.train_examples
            keys = tf.random.stateless_uniform([count], seed=stream_seed(self.config, ORDER, epoch))
            self._order = (epoch, tf.argsort(keys, stable=True))
        return self._order[1]

    def batch(self, epoch: int, step: int) -> tuple[tf.Tensor, tf.Tensor]:
        """Images and labels of a step: replica r gets rows r*n .. (r+1)*n - 1."""
        size = self.config.batch_per_replica_at(step) * self.config.replicas
        start = step * self.config.global_batch
        indices = self.order(epoch)[start:start + size]
        images = tf.gather(self.dataset.train_x, indices)
        if self.config.flip or self.config.crop_pad:
            seed = stream_seed(self.config, AUGMENT, epoch, step)
            crops = self.config.replicas if self.config.crop == "replica" else size
            images = _augment(images, seed, self.config.flip, self.config.crop_pad, crops)
        return images, tf.gather(self.dataset.train_y, indices)

    def test_batches(self):
        size = self.config.test_batch
        for start in range(0, self.config.test_examples, size):
            yield (self.dataset.test_x[start:start + size],
                   self.dataset.test_y[start:start + size])


@tf.function(reduce_retracing=True)
def _augment(images: tf.Tensor, seed: tf.Tensor, flip: bool, pad: int, crops: int
             ) -> tf.Tensor:
    """Random horizontal and vertical flips (per image), zero padding by `pad`, random crop
    back: `crops` offsets, each shared by a contiguous group of images (one group per replica
    batch, or one image per group)."""
    count, height, width = tf.shape(images)[0], images.shape[1], images.shape[2]
    if flip:
        draws = tf.random.stateless_uniform([count, 2], seed=seed)
        flip_h = (draws[:, 0] < 0.5)[:, None, None, None]
        flip_v = (draws[:, 1] < 0.5)[:, None, None, None]
        images = tf.where(flip_h, tf.reverse(images, [2]), images)
        images = tf.where(flip_v, tf.reverse(images, [1]), images)
    if pad:
        offsets = tf.random.stateless_uniform(
            [crops, 2], seed=tf.random.experimental.stateless_fold_in(seed, 1), minval=0,
            maxval=2 * pad + 1, dtype=tf.int32)
        offsets = tf.repeat(offsets, count // crops, axis=0)
        padded = tf.pad(images, [[0, 0], [pad, pad], [pad, pad], [0, 0]])
        rows = offsets[:, :1] + tf.range(height)[None, :]
        cols = offsets[:, 1:] + tf.range(width)[None, :]
        images = tf.gather(tf.gather(padded, rows, axis=1, batch_dims=1), cols, axis=2,
                           batch_dims=1)
    return images
