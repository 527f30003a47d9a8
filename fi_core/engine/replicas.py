"""Where the replicas run: emulated in one program (default), or a tf.distribute strategy.

Emulation stacks the R replica slices on the batch axis of one program; each batch norm keeps
per-slice statistics, and the loss is averaged over the global batch, as on a TPU's 8 cores.
`mirrored` runs real replicas with MirroredStrategy (GPUs, or logical CPU devices when there are
none); `tpu` uses TPUStrategy on a Cloud TPU VM.
"""

from __future__ import annotations

import tensorflow as tf

from fi_core.spec.errors import BadInput

KINDS = ("emulated", "mirrored", "tpu")


def logical_cpus(count: int) -> list[str]:
    """Split the CPU into `count` logical devices; must run before TensorFlow initialises."""
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(count)])
    return [device.name for device in tf.config.list_logical_devices("CPU")]


def _connect(kind: str, replicas: int, tpu: str | None) -> tf.distribute.Strategy:
    if kind == "mirrored":
        gpus = tf.config.list_physical_devices("GPU")
        devices = ([f"/gpu:{i}" for i in range(len(gpus))] if gpus
                   else logical_cpus(replicas))
        return tf.distribute.MirroredStrategy(devices=devices)
    resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu or "local")
    tf.config.experimental_connect_to_cluster(resolver)
    tf.tpu.experimental.initialize_tpu_system(resolver)
    return tf.distribute.TPUStrategy(resolver)


def make(kind: str, replicas: int, tpu: str | None = None) -> tf.distribute.Strategy | None:
    """A strategy for `replicas` replicas, or None for emulation on one device. Call it before
    TensorFlow runs anything: splitting the CPU into logical devices must come first.

    Hardware that is missing or does not answer (no TPU, a TPU name that does not resolve,
    devices already initialised) is bad input: one line, naming the strategy."""
    if kind == "emulated":
        return None
    if kind not in KINDS:
        raise BadInput("--strategy", "strategy", f"unknown {kind!r} (known: {', '.join(KINDS)})")
    try:
        strategy = _connect(kind, replicas, tpu)
    except Exception as error:  # TensorFlow's many ways of saying "no such hardware"
        first = next((line.strip() for line in str(error).splitlines() if line.strip()), "")
        what = f"TPU {tpu!r}" if tpu else "a TPU" if kind == "tpu" else "the devices"
        raise BadInput("--strategy", kind, f"cannot use {what} ({type(error).__name__}: "
                                           f"{first[:200]})") from None
    if strategy.num_replicas_in_sync != replicas:
        raise BadInput("--strategy", "replicas",
                       f"the workload has {replicas} replicas, the {kind} strategy "
                       f"{strategy.num_replicas_in_sync}")
    return strategy
