"""Side-by-side step times of the engine, per workload, measured in one process on one device.

Prints, for each workload, three ratios against their goals (machines are noisy: only ratios
measured in the same run mean anything, so the variants are timed in interleaved rounds and the
medians compared):

1. fi_core fault-free step vs a plain Keras model of the same network and batch (<= 1.05);
   the Keras model is built from the same declaration (benchmarks/keras_networks.py);
2. an injection step vs a normal step, both with R emulated replicas (<= 1.5);
3. R=8 emulated replicas vs R=1 at the same global batch (<= 1.3).

    python benchmarks/bench_fi_core.py [--workload W ...] [--rounds 7] [--steps 10]

Without --workload it measures every small CPU preset; `--workload resnet18` is paper size.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE)]

from fi_core.engine import tf_setup  # noqa: E402

tf_setup.start(verbose=False)

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from keras_networks import keras_model  # noqa: E402

from fi_core import networks  # noqa: E402
from fi_core.engine import data, train  # noqa: E402
from fi_core.spec import architecture, campaign, injection, workloads  # noqa: E402

SMALL = ("resnet18_small", "effnet_small", "densenet_small", "nfnet_small")


def keras_step(config: workloads.WorkloadConfig):
    model = keras_model(config)
    optimizer = keras.optimizers.Adam(keras.optimizers.schedules.PolynomialDecay(
        config.learning_rate, config.decay_steps, config.end_learning_rate), epsilon=1e-7)
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    @tf.function
    def step(x, y):
        with tf.GradientTape() as tape:
            loss = loss_fn(y, model(x, training=True))
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables, strict=True))
        return loss

    return step


def fi_step(config: workloads.WorkloadConfig, dataset: data.Dataset, fault=None):
    trainer = train.Trainer(config, dataset)
    seed = data.stream_seed(config, data.DROPOUT, 0, 0)
    args = train.fault_args(fault, config) if fault is not None else ()
    compiled = trainer._compiled(fault.pass_ if fault is not None else None)
    return lambda x, y: compiled(x, y, seed, *args)


def a_fault(config: workloads.WorkloadConfig, preset: str, tmp: Path, stage: str,
            fmodel: str) -> injection.Injection:
    """An operand fault (the costlier kind: it runs the op once more on one replica) on the
    middle layer of the artifact's forward list."""
    layers = architecture.forward_layers(config)
    spec = campaign.CampaignSpec("bench", config, {}, stages=(stage,), fmodels=(fmodel,),
                                 layers=(layers[len(layers) // 2],))
    rows = campaign.draw(spec, seed=1, index=0)
    rows["target_step"] = ["0"]
    rows["workload"] = [preset]
    path = tmp / f"{preset}_{stage}.csv"
    injection.write(path, rows)
    return injection.parse(path)


def timed(fn, x, y, steps: int) -> float:
    start = time.perf_counter()
    for _ in range(steps):
        out = fn(x, y)
    float(out[0] if isinstance(out, tuple) else out)
    return (time.perf_counter() - start) / steps


def measure(workload: str, rounds: int, steps: int) -> None:
    base = workloads.PRESETS[workload]
    global_batch = base.global_batch
    one = dataclasses.replace(base, replicas=1, batch_per_replica=global_batch)
    eight = dataclasses.replace(base, replicas=8, batch_per_replica=global_batch // 8)
    tmp = Path("results/bench")
    tmp.mkdir(parents=True, exist_ok=True)
    # Presets are looked up by name when a CSV is parsed: register the variant.
    networks.register(networks.network_of(eight), {f"bench_{workload}": eight})
    rng = np.random.default_rng(0)
    shape = (global_batch, base.image_size, base.image_size, base.channels)
    x = tf.constant(rng.standard_normal(shape), tf.float32)
    y = tf.constant(rng.integers(0, 10, global_batch), tf.int32)
    dataset = data.Dataset(x, y, x, y)

    variants = {
        "keras R=1": keras_step(one),
        "fi_core R=1": fi_step(one, dataset),
        "fi_core R=8": fi_step(eight, dataset),
        "fi_core R=8 forward injection": fi_step(
            eight, dataset, a_fault(eight, f"bench_{workload}", tmp, "fwrd_inject",
                                    "N64_INPUT")),
        "fi_core R=8 backward injection": fi_step(
            eight, dataset, a_fault(eight, f"bench_{workload}", tmp, "bkwd_inject", "WT")),
    }
    for fn in variants.values():  # trace and warm up
        timed(fn, x, y, 2)
    samples: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(rounds):
        for name, fn in variants.items():
            samples[name].append(timed(fn, x, y, steps))
    median = {name: statistics.median(v) for name, v in samples.items()}
    print(f"workload {workload}: global batch {global_batch}, "
          f"{rounds} rounds x {steps} steps, medians")
    for name, value in median.items():
        print(f"  {name:34s} {value * 1000:8.1f} ms/step")
    ratios = [
        ("fi_core R=1 / keras R=1", median["fi_core R=1"] / median["keras R=1"], 1.05),
        ("forward injection / normal (R=8)",
         median["fi_core R=8 forward injection"] / median["fi_core R=8"], 1.5),
        ("backward injection / normal (R=8)",
         median["fi_core R=8 backward injection"] / median["fi_core R=8"], 1.5),
        ("R=8 / R=1", median["fi_core R=8"] / median["fi_core R=1"], 1.3),
    ]
    for name, ratio, goal in ratios:
        verdict = "meets" if ratio <= goal else "MISSES"
        print(f"  {name:34s} {ratio:6.3f}  (goal <= {goal}: {verdict})", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workload", action="append", default=None,
                        help="a preset (repeatable); default: every small CPU preset")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--steps", type=int, default=10)
    args = parser.parse_args()
    for workload in args.workload or SMALL:
        measure(workload, args.rounds, args.steps)


if __name__ == "__main__":
    main()
