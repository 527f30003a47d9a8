"""Side-by-side step times of the engine, measured in one process on one device.

Prints three ratios against their goals (machines are noisy: only ratios measured in the same
run mean anything, so the variants are timed in interleaved rounds and the medians compared):

1. fi_core fault-free step vs a plain Keras model of the same architecture and batch (<= 1.05);
2. an injection step vs a normal step, both with R emulated replicas (<= 1.5);
3. R=8 emulated replicas vs R=1 at the same global batch (<= 1.3).

    python benchmarks/bench_fi_core.py [--workload resnet18_small] [--rounds 7] [--steps 10]
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fi_core import tf_setup

tf_setup.configure()

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from fi_core import architecture, campaign, data, injection, train, workloads  # noqa: E402


def keras_resnet18(config: workloads.WorkloadConfig) -> keras.Model:
    """The same network in Keras layers (BN over the whole batch, Keras dropout)."""
    init = keras.initializers.GlorotNormal(seed=config.seed)
    bn = config.batch_norm
    sites = architecture.site_by_name(config)

    def conv(site: architecture.Site, x):
        y = keras.layers.Conv2D(site.cout, site.kernel, site.stride, padding="same",
                                use_bias=site.bias, kernel_initializer=init)(x)
        return keras.layers.BatchNormalization(momentum=0.9, epsilon=1e-3)(y) if bn else y

    inputs = keras.Input((config.image_size, config.image_size, config.channels))
    h = keras.layers.ReLU()(conv(sites["conv1"], inputs))
    blocks = sorted({s.name.rsplit("_", 1)[0] for s in sites.values() if "basic" in s.name})
    for block in blocks:
        down = sites.get(f"{block}_downsample")
        shortcut = conv(down, h) if down else h
        y = keras.layers.ReLU()(conv(sites[f"{block}_conv1"], h))
        y = keras.layers.Dropout(config.dropout)(y)
        y = conv(sites[f"{block}_conv2"], y)
        h = keras.layers.Dropout(config.dropout)(keras.layers.ReLU()(y + shortcut))
    pooled = keras.layers.GlobalAveragePooling2D()(h)
    return keras.Model(inputs, keras.layers.Dense(10, kernel_initializer=init)(pooled))


def keras_step(config: workloads.WorkloadConfig):
    model = keras_resnet18(config)
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


def a_fault(config: workloads.WorkloadConfig, tmp: Path, stage: str,
            fmodel: str) -> injection.Injection:
    """An operand fault (the costlier kind: it runs the op once more on one replica)."""
    spec = campaign.CampaignSpec("bench", config, {}, stages=(stage,), fmodels=(fmodel,),
                                 layers=("basicblock_2_basic_0_conv1",))
    rows = campaign.draw(spec, seed=1, index=0)
    rows["target_step"] = ["0"]
    rows.pop("workload")
    path = tmp / f"bench_{stage}.csv"
    injection.write(path, rows)
    return injection.parse(path)


def timed(fn, x, y, steps: int) -> float:
    start = time.perf_counter()
    for _ in range(steps):
        out = fn(x, y)
    float(out[0] if isinstance(out, tuple) else out)
    return (time.perf_counter() - start) / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workload", default="resnet18_small")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--steps", type=int, default=10)
    args = parser.parse_args()

    base = workloads.PRESETS[args.workload]
    global_batch = base.global_batch
    one = dataclasses.replace(base, replicas=1, batch_per_replica=global_batch)
    eight = dataclasses.replace(base, replicas=8, batch_per_replica=global_batch // 8)
    tmp = Path("results/bench")
    tmp.mkdir(parents=True, exist_ok=True)
    # Workload presets are looked up by name when a CSV is parsed: register the variant.
    workloads.PRESETS["bench"] = eight
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
            eight, dataset, a_fault(eight, tmp, "fwrd_inject", "N64_INPUT")),
        "fi_core R=8 backward injection": fi_step(
            eight, dataset, a_fault(eight, tmp, "bkwd_inject", "WT")),
    }
    for fn in variants.values():  # trace and warm up
        timed(fn, x, y, 2)
    samples: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(args.rounds):
        for name, fn in variants.items():
            samples[name].append(timed(fn, x, y, args.steps))
    median = {name: statistics.median(v) for name, v in samples.items()}
    print(f"workload {args.workload}: global batch {global_batch}, "
          f"{args.rounds} rounds x {args.steps} steps, medians")
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
        print(f"  {name:34s} {ratio:6.3f}  (goal <= {goal}: {verdict})")


if __name__ == "__main__":
    main()
