"""What mitigation costs, measured side by side in one process: step time with each preset's
detectors against none, the cost of saving state (a snapshot) and of restoring it, one recovery
in steps and seconds, and the paper's algebraic undo of Adam against a snapshot (its cost and
its error, after a fault-free step and after a fault's gradient).

Every preset gets its own trainer of the same workload (same initial weights, same batches);
the variants are timed in interleaved rounds, and each round's time per step (the median of its
steps) is compared with the same round's `none`, so that load from other processes cancels out
as far as it can. The ratios are printed with their spread over the rounds (min-max), for wall
and CPU time; the probes are also timed alone, which a busy machine disturbs less.

    python benchmarks/bench_mitigation.py [--workload resnet18_small] [--rounds 7] [--steps 10]
    python benchmarks/bench_mitigation.py --workload resnet18 --rounds 3 --steps 2   # paper size

The small workload trains on its embedded digits; the paper-size one on random images of the
CIFAR-10 shape (the step costs the same, no download). Run with one thread per process
(TF_NUM_INTRAOP_THREADS=1 TF_NUM_INTEROP_THREADS=1), as the campaigns do.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent)]

from fi_core.engine import tf_setup  # noqa: E402

tf_setup.start()

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from fi_core.engine import data, train  # noqa: E402
from fi_core.engine.fault_ops import Replicas  # noqa: E402
from fi_core.mitigation.guard import Instruments  # noqa: E402
from fi_core.mitigation.presets import NONE, PRESETS  # noqa: E402
from fi_core.mitigation.snapshots import StateCopy  # noqa: E402
from fi_core.mitigation.undo import adam_undo  # noqa: E402
from fi_core.spec import workloads  # noqa: E402

GOAL = 1.005  # the paper preset's detectors: at most 0.5 % per step
SNAPSHOT = "none + a snapshot before every step"


def dataset_of(config: workloads.WorkloadConfig) -> data.Dataset:
    if config.dataset == "digits":
        return data.load(config)
    rng = np.random.default_rng(0)
    shape = (config.image_size, config.image_size, config.channels)

    def images(n: int) -> tf.Tensor:
        return tf.constant(rng.standard_normal((n, *shape), dtype=np.float32))

    def labels(n: int) -> tf.Tensor:
        return tf.constant(rng.integers(0, 10, n), tf.int32)

    return data.Dataset(images(config.train_examples), labels(config.train_examples),
                        images(config.test_examples), labels(config.test_examples))


def make_trainer(config: workloads.WorkloadConfig, dataset: data.Dataset,
                 preset: str) -> train.Trainer:
    instruments = (Instruments(PRESETS[preset], config.optimizer) if preset != NONE else None)
    return train.Trainer(config, dataset, instruments=instruments)


class Variant:
    """A trainer, and what one timed step of it does."""

    def __init__(self, trainer: train.Trainer, snapshot: bool = False) -> None:
        self.trainer = trainer
        self.copy = StateCopy(trainer.state_variables) if snapshot else None
        self.ring: list[list[tf.Tensor]] = []
        self.position = 0

    def step(self) -> None:
        spe = self.trainer.config.steps_per_epoch
        if self.copy is not None:  # a ring of two, as the presets keep
            self.ring = [*self.ring[-1:], self.copy.read()]
        self.trainer.step(0, self.position % min(spe, 2))
        self.position += 1


def timed(variant: Variant, steps: int) -> tuple[float, float]:
    """Wall and CPU seconds per step: the medians over the round's steps (a step another
    process preempted does not move them)."""
    walls, cpus = [], []
    for _ in range(steps):
        wall, cpu = time.perf_counter(), time.process_time()
        variant.step()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return statistics.median(walls), statistics.median(cpus)


def spread(values: list[float]) -> str:
    return f"{statistics.median(values):.4f} ({min(values):.4f}-{max(values):.4f})"


def seconds(fn: Callable[[], object], repeats: int) -> float:
    fn()
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def probe_cost(trainer: train.Trainer, repeats: int = 200) -> float:
    """Seconds of a trainer's probes alone (on the current state, gradients of zeros: the cost
    does not depend on the values), minus the cost of calling an empty traced function."""
    grads = [tf.zeros_like(v) for v in trainer.variables]
    loss = tf.constant(1.0)
    probe = tf.function(lambda: trainer.instruments.probe(train.StepTensors(loss, grads,
                                                                            trainer)))
    empty = tf.function(lambda: loss + 0.0)
    return seconds(probe, repeats) - seconds(empty, repeats)


def undo_error(trainer: train.Trainer, fault: float | None) -> tuple[float, float, float, int]:
    """Apply one Adam step to a copy of the state and undo it algebraically: the largest
    absolute error of the variables, of m and of v against the state before (NaN when an
    element is NaN), and how many elements of v are NaN after the undo. With `fault`, one
    gradient element of a conv kernel is that value."""
    config = trainer.config
    state = StateCopy(trainer.state_variables)
    before = [t.numpy() for t in state.read()]
    x, y = trainer.batches.batch(0, 0)
    seed = data.stream_seed(config, data.DROPOUT, 0, 0)
    _, _, grads = trainer._loss_grads(x, y, seed, None, Replicas(config.replicas),
                                      tf.cast(tf.shape(x)[0], tf.float32))
    grads = list(grads)
    index = next(i for i, v in enumerate(trainer.variables) if len(v.shape) == 4)
    if fault is not None:
        grad = grads[index].numpy()
        grad.flat[0] = fault
        grads[index] = tf.constant(grad)
    snapshot = state.read()
    trainer.optimizer.apply(grads, trainer.variables)
    adam_undo(trainer.optimizer, grads, trainer.variables)
    after = {id(v): v.numpy() for v in trainer.state_variables}
    state.write(snapshot)

    position = {id(v): i for i, v in enumerate(trainer.state_variables)}

    def error(group: list[tf.Variable]) -> float:
        gaps = np.concatenate([np.abs(after[id(v)] - before[position[id(v)]]).ravel()
                               for v in group])
        return float(np.max(gaps))  # NaN when any element is

    nan_v = sum(int(np.isnan(after[id(v)]).sum()) for v in trainer.optimizer.v)
    return (error(trainer.variables), error(trainer.optimizer.m), error(trainer.optimizer.v),
            nan_v)


def measure(workload: str, rounds: int, steps: int, presets: list[str]) -> None:
    config = workloads.resolve(workload, {})
    dataset = dataset_of(config)
    variants = {name: Variant(make_trainer(config, dataset, name)) for name in presets}
    variants[SNAPSHOT] = Variant(variants[NONE].trainer, snapshot=True)
    for variant in variants.values():  # trace and warm up
        timed(variant, 2)
    walls: dict[str, list[float]] = {name: [] for name in variants}
    cpus: dict[str, list[float]] = {name: [] for name in variants}
    names = list(variants)
    for r in range(rounds):
        for name in names[r % len(names):] + names[:r % len(names)]:
            wall, cpu = timed(variants[name], steps)
            walls[name].append(wall)
            cpus[name].append(cpu)
    print(f"workload {workload}: global batch {config.global_batch}, {rounds} rounds x {steps} "
          f"steps; per-round ratios against none: median (min-max)")
    for name in names:
        wall_ratio = [w / b for w, b in zip(walls[name], walls[NONE], strict=True)]
        cpu_ratio = [c / b for c, b in zip(cpus[name], cpus[NONE], strict=True)]
        print(f"  {name:36s} {statistics.median(walls[name]) * 1000:9.1f} ms/step  wall "
              f"{spread(wall_ratio)}  CPU {spread(cpu_ratio)}")
    step = statistics.median(walls[NONE])
    cpu_step = statistics.median(cpus[NONE])
    for name in presets:
        if name != NONE:
            cost = probe_cost(variants[name].trainer)
            print(f"  {name}: its probes alone {cost * 1e6:.0f} us = {100 * cost / step:.2f} % "
                  "of a step")

    trainer = variants[NONE].trainer
    state = StateCopy(trainer.state_variables)
    floats = sum(int(np.prod(v.shape)) for v in trainer.state_variables)
    read = seconds(state.read, 20)
    held = state.read()
    restore = seconds(lambda: state.write(held), 10)
    extra = statistics.median([c / b - 1.0 for c, b in zip(cpus[SNAPSHOT], cpus[NONE],
                                                             strict=True)])
    print(f"  saving state: {floats:,} floats ({floats * 4 / 2**20:.1f} MiB); reading them "
          f"{read * 1000:.2f} ms; with the copy the next step makes, {extra * cpu_step * 1000:.2f}"
          f" ms of CPU = {100 * extra:.2f} % of a step; every 10 steps {10 * extra:.3f} % per "
          "step")
    print(f"  restoring a snapshot: {restore * 1000:.2f} ms")
    for name in presets:
        preset = PRESETS[name]
        if preset.recovery != "rollback":
            continue
        low, high = preset.lag + 1, preset.lag + preset.every
        mean = (low + high) / 2
        print(f"  one recovery with {name} (snapshot every {preset.every}, lag {preset.lag}): "
              f"{low}-{high} steps re-executed, {mean:.1f} on average = "
              f"{mean * step + restore:.3f} s (restore included)")
    if config.optimizer == "adam":
        undo = tf.function(lambda g: adam_undo(trainer.optimizer, g, trainer.variables))
        zeros = [tf.zeros_like(v) for v in trainer.variables]
        before = state.read()
        cost = seconds(lambda: (undo(zeros), trainer.optimizer.iterations.assign_add(1)), 10)
        state.write(before)
        print(f"  the paper's algebraic undo of Adam: {cost * 1000:.2f} ms (no saving cost, the "
              f"step's gradients are kept)")
        for label, fault in (("after a fault-free step", None),
                             ("after a gradient element of 1e17", 1e17),
                             ("after a gradient element of 1e20 (its square overflows)", 1e20)):
            var, m, v, nan_v = undo_error(trainer, fault)
            print(f"    {label}: largest error of variables {var:.3g}, m {m:.3g}, v {v:.3g}; "
                  f"elements of v left NaN: {nan_v}")
    if "paper" in presets:
        ratio = statistics.median([w / b for w, b in zip(walls["paper"], walls[NONE],
                                                         strict=True)])
        verdict = "meets" if ratio <= GOAL else "MISSES"
        print(f"  paper preset's detectors per step: {ratio:.4f} (goal <= {GOAL}: {verdict})",
              flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workload", action="append", default=None,
                        help="a preset (repeatable); default resnet18_small; resnet18 is paper "
                             "size")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--presets", default=",".join(PRESETS),
                        help="comma list, none first (default: every preset)")
    args = parser.parse_args()
    presets = [NONE, *(p for p in args.presets.split(",") if p and p != NONE)]
    for workload in args.workload or ["resnet18_small"]:
        measure(workload, args.rounds, args.steps, presets)


if __name__ == "__main__":
    main()
