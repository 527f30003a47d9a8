"""Data: the embedded digits, the CIFAR-10 reader, deterministic batches, progress output."""

from __future__ import annotations

import io
import pickle
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from fi_core import data, workloads
from fi_core.errors import BadInput
from fi_core.progress import Progress


def test_digits_split_and_normalisation():
    config = workloads.PRESETS["resnet18_small"]
    dataset = data.load(config)
    assert dataset.train_x.shape == (1437, 16, 16, 1)
    assert dataset.test_x.shape == (360, 16, 16, 1)
    assert abs(float(tf.reduce_mean(dataset.train_x))) < 1e-5
    assert float(tf.math.reduce_std(dataset.train_x)) == pytest.approx(1.0, abs=1e-4)
    # 8x8 upscaled by two: every pixel is a 2x2 block
    image = dataset.train_x[0, :, :, 0].numpy()
    assert np.array_equal(image[::2, ::2], image[1::2, 1::2])


def _fake_cifar(folder: Path, per_batch: int) -> None:
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        images = rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8)
        images[:, 0] = 255  # red channel, first pixel
        images[:, 1024] = 0  # green channel, first pixel
        labels = list(rng.integers(0, 10, per_batch))
        with open(folder / name, "wb") as handle:
            pickle.dump({b"data": images, b"labels": labels}, handle)


def test_cifar_reader_layout_and_count_check(tmp_path, monkeypatch):
    _fake_cifar(tmp_path / data.CIFAR_FOLDER, per_batch=4)
    monkeypatch.setitem(workloads.DATASETS, "cifar10", (20, 4, 32, 3))
    config = workloads.PRESETS["resnet18"]
    train_x, train_y, test_x, _ = data._cifar10(tmp_path)
    assert train_x.shape == (20, 32, 32, 3) and test_x.shape == (4, 32, 32, 3)
    assert np.all(train_x[:, 0, 0, 0] == 1.0) and np.all(train_x[:, 0, 0, 1] == 0.0)
    assert train_y.dtype == np.int32
    monkeypatch.setitem(workloads.DATASETS, "cifar10", (50_000, 10_000, 32, 3))
    with pytest.raises(BadInput, match="expected 50000 training and 10000 test images"):
        data.load(config, tmp_path)
    with pytest.raises(BadInput, match="CIFAR-10 not found"):
        data.load(config, tmp_path / "elsewhere")


def test_batches_are_a_function_of_seed_epoch_and_step():
    config = workloads.resolve("resnet18_small", {"flip": "true", "crop_pad": "3"})
    dataset = data.load(config)
    first, again = data.Batches(config, dataset), data.Batches(config, dataset)
    x1, y1 = first.batch(2, 3)
    first.batch(5, 0)  # other draws in between change nothing
    x2, y2 = again.batch(2, 3)
    assert np.array_equal(x1.numpy(), x2.numpy()) and np.array_equal(y1.numpy(), y2.numpy())
    x3, _ = again.batch(2, 4)
    assert not np.array_equal(x1.numpy(), x3.numpy())
    shuffled = data.Batches(workloads.resolve("resnet18_small", {"seed": "124"}), dataset)
    assert not np.array_equal(shuffled.batch(2, 3)[1].numpy(), y1.numpy())
    plain_config = workloads.PRESETS["resnet18_small"]
    plain, _ = data.Batches(plain_config, dataset).batch(2, 3)
    assert not np.array_equal(plain.numpy(), x1.numpy())  # augmentation did something
    last = config.steps_per_epoch - 1
    assert first.batch(0, last)[0].shape[0] == config.batch_per_replica_at(last) * 8


def test_progress_live_on_a_terminal_and_one_line_per_epoch_in_a_log():
    live, log = io.StringIO(), io.StringIO()
    for stream, is_live in ((live, True), (log, False)):
        progress = Progress("[run]", total_steps=4, stream=stream, live=is_live)
        for step in range(2):
            progress.step(0, step, 1.5, 0.25)
        progress.epoch(0, 1.5, 0.25, 0.5)
    assert "\r[run] epoch 0 step 1  loss 1.5000  acc 0.2500  left " in live.getvalue()
    lines = log.getvalue().splitlines()
    assert len(lines) == 1 and lines[0].startswith("[run] epoch 0: train loss 1.5000")
    assert "left 0:00:0" in lines[0]
