"""Replay the injection step of artifact CSVs at paper size, and check what it changed.

For each CSV: the paper preset its `model` names (CIFAR-10 shapes, 8 replicas x 128), built from
its initial state, trains the CSV's injection step once on random images (CIFAR-10 is not
downloaded here; the operand shapes are what matter), with the fault. The step runs eagerly, and
every operand the fault machinery corrupts is recorded, so the script can check that exactly the
element(s) the CSV's positions name changed, to exactly the CSV's values, in the target operand
of the target site, pass and replica, and nowhere else. One line per CSV; exit 1 if any fails.

    python benchmarks/replay_artifact_steps.py [CSV ...]     # default: every artifact CSV
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from fi_core.engine import tf_setup  # noqa: E402

tf_setup.start(verbose=False)

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from fi_core.engine import data, fault_ops, train  # noqa: E402
from fi_core.spec import injection  # noqa: E402

ARTIFACT_CSVS = sorted((HERE.parent / "injections" / "artifact").glob("*/*.csv"))


def random_dataset(config) -> data.Dataset:
    """A stand-in dataset: one batch of random images per call (the shapes are the paper's)."""
    rng = np.random.default_rng(0)
    shape = (config.global_batch, config.image_size, config.image_size, config.channels)
    x = tf.constant(rng.standard_normal(shape), tf.float32)
    y = tf.constant(rng.integers(0, 10, config.global_batch), tf.int32)
    return data.Dataset(x, y, x[: config.test_batch], y[: config.test_batch])


def replay_step(path: Path) -> tuple[bool, str]:
    hit = injection.parse(path)
    config = hit.config
    trainer = train.Trainer(config, random_dataset(config))  # injection step eager
    size = config.batch_per_replica_at(hit.step) * config.replicas
    trainer.batches.batch = lambda epoch, step: (trainer.batches.dataset.train_x[:size],
                                                 trainer.batches.dataset.train_y[:size])
    corrupted_operands = []
    original = fault_ops.corrupt

    def recording(plan, target):
        out = original(plan, target)
        corrupted_operands.append((target.numpy(), out[0].numpy(), out[1].numpy()))
        return out

    fault_ops.corrupt = recording
    try:
        started = time.perf_counter()
        result = trainer.step(hit.epoch, hit.step, hit)
        seconds = time.perf_counter() - started
    finally:
        fault_ops.corrupt = original
    label = f"{path.parent.name}/{path.name}: {hit.layer} {hit.operand} {tuple(hit.shape)}"
    if len(corrupted_operands) != 1:
        return False, f"{label}: the fault ran {len(corrupted_operands)} times, not once"
    target, corrupted, mask = corrupted_operands[0]
    problems = []
    if target.shape != tuple(hit.shape):
        problems.append(f"operand shape {target.shape}")
    changed = np.flatnonzero(mask.reshape(-1))
    if changed.tolist() != sorted(hit.flat.tolist()):
        problems.append(f"hit {changed.size} elements, not the CSV's {hit.count}")
    flat_target, flat_corrupted = target.reshape(-1), corrupted.reshape(-1)
    untouched = np.ones(flat_target.size, bool)
    untouched[hit.flat] = False
    if not np.array_equal(flat_corrupted[untouched], flat_target[untouched], equal_nan=True):
        problems.append("elements outside the positions changed")
    if hit.value_kind == "explicit" and not np.array_equal(flat_corrupted[hit.flat],
                                                           np.float32(hit.floats)):
        problems.append("the written values are not the CSV's")
    loss = "non-finite" if not np.isfinite(result.loss) else f"{result.loss:.4f}"
    verdict = "; ".join(problems) or (f"exactly its {hit.count} element(s) changed, "
                                      f"to its values")
    return not problems, f"{label}: {verdict} (step loss {loss}, {seconds:.1f} s)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("csvs", nargs="*", type=Path, default=ARTIFACT_CSVS)
    args = parser.parse_args(argv)
    failed = 0
    for path in args.csvs:
        ok, line = replay_step(path)
        print(("ok   " if ok else "FAIL ") + line, flush=True)
        failed += not ok
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
