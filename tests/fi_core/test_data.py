"""Data: the embedded digits, the CIFAR-10 reader, normalisation, deterministic batches and
crops, progress output."""

from __future__ import annotations

import dataclasses
import io
import pickle
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from fi_core.engine import data
from fi_core.spec import workloads
from fi_core.spec.errors import BadInput
from fi_core.store.progress import BatchProgress


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
        images[:, 2048:] = images[:, 2048:] // 2 + 128  # a brighter blue channel
        labels = [int(v) for v in rng.integers(0, 10, per_batch)]  # as the official files
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
    # The artifact normalises by one scalar mean and std; per channel on request.
    scalar = data.load(config, tmp_path).train_x.numpy()
    assert abs(scalar.mean()) < 1e-5 and scalar.std() == pytest.approx(1.0, abs=1e-4)
    assert scalar[..., 2].mean() - scalar[..., 1].mean() > 0.5
    channel = data.load(dataclasses.replace(config, normalise="channel"), tmp_path).train_x
    assert np.allclose(channel.numpy().mean(axis=(0, 1, 2)), 0.0, atol=1e-5)
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


def _crop_offsets(images: np.ndarray, pad: int) -> list[tuple[int, int]]:
    """Each image's crop offset, read from the zero padding it shows (the normalised digits'
    background is not zero)."""
    offsets = []
    for image in images[..., 0]:
        zero_rows = np.flatnonzero(np.all(image == 0.0, axis=1))
        zero_cols = np.flatnonzero(np.all(image == 0.0, axis=0))
        size = image.shape[0]
        top, bottom = (zero_rows < size // 2).sum(), (zero_rows >= size // 2).sum()
        left, right = (zero_cols < size // 2).sum(), (zero_cols >= size // 2).sum()
        offsets.append((pad - top + bottom, pad - left + right))
    return offsets


def test_crop_offset_per_replica_batch_or_per_image():
    """The artifact crops every image of a replica's batch at one offset (`MyRandomCrop`)."""
    for crop in ("replica", "image"):
        config = workloads.resolve("resnet18_small", {"crop_pad": "3", "crop": crop})
        images, _ = data.Batches(config, data.load(config)).batch(1, 2)
        offsets = _crop_offsets(images.numpy(), 3)
        groups = [set(offsets[r * 18:(r + 1) * 18]) for r in range(8)]
        if crop == "replica":
            assert all(len(group) == 1 for group in groups)
            assert len(set.union(*groups)) > 1
        else:
            assert all(len(group) > 1 for group in groups)


def test_progress_live_on_a_terminal_and_one_line_per_epoch_in_a_log():
    live, log = io.StringIO(), io.StringIO()
    for stream, is_live in ((live, True), (log, False)):
        batch = BatchProgress(2, stream=stream, live=is_live)
        progress = batch.run("[run]", total_steps=4)
        for step in range(2):
            progress.step(0, step, 1.5, 0.25)
        progress.epoch(0, 1.5, 0.25, 0.5)
        progress.close()
        batch.finished("[run]", "finished")
        batch.close()
    # A terminal: tqdm's bars (the CSVs, the run with its step rate and time left).
    shown = live.getvalue()
    assert "\r" in shown and "CSVs:" in shown and "1/2" in shown
    assert "[run]:" in shown and "2/4 [" in shown and "step/s" in shown
    assert "epoch 0 step 1 loss 1.5000 acc 0.2500" in shown
    # A log: one plain line per epoch and per finished CSV, nothing else.
    lines = log.getvalue().splitlines()
    assert len(lines) == 2 and lines[0].startswith("[run] epoch 0: train loss 1.5000")
    assert "left 0:00:0" in lines[0]
    assert lines[1].startswith("[run] done (finished): 1/2 CSVs, elapsed 0:00:00 left ")
