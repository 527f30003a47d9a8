"""Run the same steps with emulated replicas and with MirroredStrategy over R logical CPUs;
print the losses, accuracies and fault reports of both as JSON (used by test_replicas.py), and
the per-example test losses before and after one replica's moving statistics are corrupted.
Logical devices must be configured before TensorFlow starts, hence a separate process."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import tensorflow as tf

from fi_core.engine import data, nn, replicas, tf_setup, train
from fi_core.spec import injection

CORRUPTED_REPLICA = 1


def corrupt_moving_statistics(trainer: train.Trainer, replica: int) -> None:
    """Shift one replica's moving means in every batch norm (its copy only)."""
    for module in trainer.model.submodules:
        if isinstance(module, nn.BatchNorm):
            rows = module.moving_mean.numpy()
            rows[replica] += 3.0
            module.moving_mean.assign(tf.constant(rows))


def main(csv_paths: list[str]) -> None:
    hits = [injection.parse(Path(p)) for p in csv_paths]
    config = hits[0].config
    strategy = replicas.make("mirrored", config.replicas)  # before TensorFlow starts
    tf_setup.configure()
    dataset = data.load(config)
    results = {}
    for name, trainer in (("emulated", train.Trainer(config, dataset)),
                          ("mirrored", train.Trainer(config, dataset, strategy))):
        steps = []
        for step in range(3):
            result = trainer.step(0, step)
            steps.append([result.loss, result.accuracy])
        for hit in hits:
            result = trainer.step(hit.epoch, hit.step, hit)
            steps.append([result.loss, result.accuracy, result.golden.tolist(),
                          result.injected.tolist()])
        result = trainer.step(0, 5)  # after the faulty update
        steps.append([result.loss, result.accuracy])
        steps.append(list(trainer.evaluate()))
        results[name] = steps
        before, _ = trainer.evaluate_examples()
        corrupt_moving_statistics(trainer, CORRUPTED_REPLICA)
        after, _ = trainer.evaluate_examples()
        results[f"{name} test losses"] = np.stack([before, after]).tolist()
    print(json.dumps(results))


if __name__ == "__main__":
    main(sys.argv[1:])
