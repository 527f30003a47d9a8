"""Workload configurations and overrides.

A workload fixes everything that makes two runs comparable: network, data, batch layout,
optimiser and seed. Presets are named and live next to their network, one file per network in
`fi_core.networks`; any field can be overridden by name (`--set epochs=20` on the command line,
or an `epochs,20` row in an injection CSV).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from fi_core.spec.errors import BadInput
from fi_formats import numbers

DATASETS = {"cifar10": (50_000, 10_000, 32, 3), "digits": (1_437, 360, 8, 1)}
"""name -> (train examples, test examples, native image size, channels)."""

Loader = Callable[["WorkloadConfig", Any], tuple[Any, Any, Any, Any]]
"""(config, data folder or None) -> train inputs, train labels, test inputs, test labels, as
NumPy arrays ready for the step (normalised, in the task's dtypes)."""
LOADERS: dict[str, Loader] = {}
"""Datasets a plugin added; the built-in image sets are read by `fi_core.engine.data`."""


def register_dataset(name: str, sizes: tuple[int, int, int, int], load: Loader) -> None:
    """Add a dataset: `sizes` as in DATASETS (for a non-image set, its per-example size in the
    third place and 1 in the fourth), `load` its arrays. A name is registered once."""
    if name in DATASETS:
        raise ValueError(f"dataset {name!r} is already registered")
    DATASETS[name] = tuple(sizes)
    LOADERS[name] = load

NUM_CLASSES = 10


@dataclass(frozen=True)
class WorkloadConfig:
    """Everything a golden run and its injections must agree on. `model` is the artifact's
    model name (the CSV's `model` key); `network` names the declaration that builds it."""

    model: str = "resnet18"
    network: str = "resnet18"
    batch_norm: bool = True
    dataset: str = "cifar10"
    image_size: int = 32
    width: float = 1.0
    replicas: int = 8
    batch_per_replica: int = 128
    epochs: int = 80
    optimizer: str = "adam"
    learning_rate: float = 1e-3
    end_learning_rate: float = 1e-4
    decay_steps: int = 5000
    dropout: float = 0.15
    flip: bool = True
    crop_pad: int = 6
    seed: int = 123
    test_batch: int = 1000
    crop: str = "replica"  # one crop offset per replica batch (the artifact), or per "image"
    normalise: str = "scalar"  # one mean and std over all channels (the artifact), or "channel"

    @property
    def global_batch(self) -> int:
        return self.replicas * self.batch_per_replica

    @property
    def train_examples(self) -> int:
        return DATASETS[self.dataset][0]

    @property
    def test_examples(self) -> int:
        return DATASETS[self.dataset][1]

    @property
    def channels(self) -> int:
        return DATASETS[self.dataset][3]

    @property
    def steps_per_epoch(self) -> int:
        """Ceil, as the artifact: 50,000 / 1,024 gives 49 steps, the last one partial."""
        return math.ceil(self.train_examples / self.global_batch)

    def batch_per_replica_at(self, step: int) -> int:
        """Per-replica batch of a step: the last step of an epoch gets what is left, split evenly
        over the replicas (a remainder smaller than the replica count is dropped)."""
        if step < self.steps_per_epoch - 1:
            return self.batch_per_replica
        left = self.train_examples - step * self.global_batch
        return left // self.replicas

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


class _Presets(Mapping[str, WorkloadConfig]):
    """Every registered preset, by name (filled from `fi_core.networks` on first use)."""

    @staticmethod
    def _all() -> Mapping[str, WorkloadConfig]:
        from fi_core.networks import presets

        return presets()

    def __getitem__(self, name: str) -> WorkloadConfig:
        return self._all()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._all())

    def __len__(self) -> int:
        return len(self._all())


PRESETS: Mapping[str, WorkloadConfig] = _Presets()

FIXED = ("model", "network", "batch_norm")
"""Fields that make the network what it is: fixed by the preset."""

OVERRIDABLE = tuple(f.name for f in dataclasses.fields(WorkloadConfig) if f.name not in FIXED)
"""Fields a CSV row or `--set` may change."""

STRUCTURAL = ("model", "network", "batch_norm", "dataset", "image_size", "width", "replicas",
              "batch_per_replica", "epochs", "optimizer", "dropout", "flip", "crop_pad", "seed",
              "test_batch", "end_learning_rate", "decay_steps", "crop", "normalise")
"""Fields an injection run must share with the golden run it resumes from. Only the initial
learning rate may differ: the artifact's CSVs carry their own."""


INTEGER = numbers.BOUNDED_INTEGER
"""A workload integer (`fi_formats.numbers`): at most 19 digits, and then within int64 (seeds and
sizes reach TensorFlow as int64)."""
DECIMAL = numbers.BOUNDED_DECIMAL
"""A workload float: ASCII decimal or exponent notation (no `nan`, `inf`, `_`, `0x`)."""
BOOLEAN = {"true": True, "false": False, "1": True, "0": False}
SPACE = " \t"
INT64 = 2**63


def _coerce(source: str, key: str, raw: Any, kind: type) -> Any:
    """A field's value from its text (a `--set` value, a CSV field): strictly of its type, as
    the injection CSV reader reads numbers; spaces and tabs around it are ignored."""
    text = raw if isinstance(raw, str) else str(raw)
    text = text.strip(SPACE)
    if kind is bool:
        value = BOOLEAN.get(text.lower())
        if value is None:
            raise BadInput(source, key, f"expected true, false, 1 or 0, got {text[:40]!r}")
        return value
    if kind is int:
        if not INTEGER.fullmatch(text) or not -INT64 <= int(text) < INT64:
            raise BadInput(source, key, f"expected an int, got {text[:40]!r} (ASCII digits, "
                                        "within int64)")
        return int(text)
    if kind is float:
        value = float(text) if DECIMAL.fullmatch(text) else math.nan
        if not math.isfinite(value):
            raise BadInput(source, key, f"expected a finite float, got {text[:40]!r} (ASCII "
                                        "decimal notation)")
        return value
    return text


LIMITS = {
    "image_size": (4, 1024), "replicas": (1, 1024), "batch_per_replica": (1, 65_536),
    "epochs": (1, 100_000), "test_batch": (1, 1_048_576), "decay_steps": (1, 2**31 - 1),
    "seed": (0, 2**62),
}
"""Inclusive bounds of the integer fields: what one machine can hold (and TensorFlow's int64
seeds, with room for the golden runs' seeds above it), checked before anything is allocated."""

MAX_DATASET_ELEMENTS = 2**31
"""The resized train and test images, as float32, at most 8 GiB (normalising them takes twice
that in float64 for a moment)."""

MAX_STEP_ELEMENTS = 2**28
"""One step's input images over all replicas, as float32, at most 1 GiB."""


def _out_of_limits(config: WorkloadConfig) -> tuple[str, str] | None:
    for key, (low, high) in LIMITS.items():
        value = getattr(config, key)
        if not low <= value <= high:
            return key, f"{value} is outside [{low}, {high}]"
    if config.crop_pad > config.image_size:
        return "crop_pad", f"{config.crop_pad} is larger than the image size {config.image_size}"
    if config.dataset not in DATASETS:
        return None  # reported by _check
    pixels = config.image_size ** 2 * config.channels
    dataset = (config.train_examples + config.test_examples) * pixels
    if dataset > MAX_DATASET_ELEMENTS:
        return "image_size", (f"{config.image_size} makes the {config.dataset} images "
                              f"{dataset * 4 / 2**30:.3g} GiB as float32 (at most "
                              f"{MAX_DATASET_ELEMENTS * 4 / 2**30:.0f} GiB)")
    step = config.global_batch * pixels
    if step > MAX_STEP_ELEMENTS:
        return "batch_per_replica", (f"one step's images would be {step * 4 / 2**30:.3g} GiB "
                                     f"as float32 (at most "
                                     f"{MAX_STEP_ELEMENTS * 4 / 2**30:.0f} GiB)")
    return None


def _check(source: str, config: WorkloadConfig) -> None:
    problems = {
        "dataset": config.dataset not in DATASETS and f"unknown dataset {config.dataset!r}",
        "image_size": config.image_size < 4 and "must be at least 4",
        "width": not 0 < config.width <= 4 and "must be in (0, 4]",
        "replicas": config.replicas < 1 and "must be at least 1",
        "batch_per_replica": config.batch_per_replica < 1 and "must be at least 1",
        "epochs": config.epochs < 1 and "must be at least 1",
        "optimizer": config.optimizer not in ("adam", "sgd") and "must be adam or sgd",
        "learning_rate": config.learning_rate <= 0 and "must be positive",
        "end_learning_rate": config.end_learning_rate <= 0 and "must be positive",
        "decay_steps": config.decay_steps < 1 and "must be at least 1",
        "dropout": not 0 <= config.dropout < 1 and "must be in [0, 1)",
        "test_batch": config.test_batch < 1 and "must be at least 1",
        "crop_pad": config.crop_pad < 0 and "must be at least 0",
        "crop": config.crop not in ("replica", "image") and "must be replica or image",
        "normalise": config.normalise not in ("scalar", "channel") and "must be scalar or channel",
    }
    for key, problem in problems.items():
        if problem:
            raise BadInput(source, key, problem)
    too_big = _out_of_limits(config)
    if too_big:
        raise BadInput(source, *too_big)
    if config.batch_per_replica_at(config.steps_per_epoch - 1) < 1:
        raise BadInput(source, "batch_per_replica",
                       "the last step of an epoch would leave a replica without examples")


def resolve(preset: str, overrides: Mapping[str, Any] | None = None,
            source: str = "workload") -> WorkloadConfig:
    """The preset's configuration with `overrides` applied and checked."""
    if preset not in PRESETS:
        raise BadInput(source, "workload",
                       f"unknown workload {preset!r} (known: {', '.join(PRESETS)})")
    config = PRESETS[preset]
    types = {f.name: f.type for f in dataclasses.fields(WorkloadConfig)}
    changes = {}
    for key, raw in (overrides or {}).items():
        if key not in OVERRIDABLE:
            raise BadInput(source, key, f"not a workload field (fields: {', '.join(OVERRIDABLE)})")
        kind = {"int": int, "float": float, "bool": bool}.get(str(types[key]), str)
        changes[key] = _coerce(source, key, raw, kind)
    config = dataclasses.replace(config, **changes)
    _check(source, config)
    return config


def structural_mismatch(a: WorkloadConfig, b: WorkloadConfig) -> str | None:
    """Name of the first structural field on which two configurations differ, if any."""
    for name in STRUCTURAL:
        if getattr(a, name) != getattr(b, name):
            return name
    return None


def check(source: str, config: WorkloadConfig) -> None:
    """Refuse a configuration with a field out of its range (one line naming the field)."""
    _check(source, config)
