"""Tasks: what a training step consumes and what it reports, declared once per task.

A task says what a network's input is (its per-example shape, and the TensorFlow signature of
a batch of inputs and labels), what the network must output, how many classes its labels have,
and the two per-example numbers the trace reports: the loss and the hits (the share of the
example that was predicted right: 1 or 0 for an image, the right tokens' fraction for a
sequence). The training loop (`fi_core.engine.train`) sums them over the batch and never asks which
task it runs. A network names its task (`fi_core.networks.Network.task`); a new task is one file
of this package, or of a plugin module, that calls `register_task`.

The shapes are TensorFlow-free (the shape pass and CSV validation read them); the parts that
compute import TensorFlow inside.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any, ClassVar

from fi_core.spec.discovery import import_modules


class Task(ABC):
    name: ClassVar[str]

    # ------------------------------------------------------------------ TensorFlow-free
    @abstractmethod
    def input_shape(self, config: Any) -> Any:
        """The per-example shape (`architecture.Shape`) of the network's input."""

    @abstractmethod
    def output_shape(self, config: Any) -> Any:
        """The per-example shape the network's output must have."""

    @abstractmethod
    def num_classes(self, config: Any) -> int:
        """How many classes a label takes (the trace's `num_classes`: chance level)."""

    # ------------------------------------------------------------------ TensorFlow
    @abstractmethod
    def batch_signature(self, config: Any) -> list[Any]:
        """`tf.TensorSpec`s of a batch's inputs and labels (batch size left open)."""

    @abstractmethod
    def example_losses(self, logits: Any, labels: Any) -> Any:
        """The loss of every example, `[N]`."""

    @abstractmethod
    def example_hits(self, logits: Any, labels: Any) -> Any:
        """The accuracy of every example, `[N]` float32 (their mean is the batch's accuracy)."""


_TASKS: dict[str, Task] = {}


def register_task(task: Task) -> Task:
    if task.name in _TASKS and _TASKS[task.name] is not task:
        raise ValueError(f"task {task.name!r} is already registered")
    _TASKS[task.name] = task
    return task


def tasks() -> Mapping[str, Task]:
    import_modules(__name__, __path__)
    return _TASKS


def task_of(config: Any) -> Task:
    """The task of a workload: its network's."""
    from fi_core.networks import network_of

    name = network_of(config).task
    known = tasks()
    if name not in known:
        raise KeyError(f"network {config.network!r} names unknown task {name!r} "
                       f"(known: {', '.join(known)})")
    return known[name]
