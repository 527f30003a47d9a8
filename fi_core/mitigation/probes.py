"""What detectors measure inside the compiled step: a few scalars per step, never a tensor.

A probe is a function of the step's tensors (`train.StepTensors`, read after the update) that
returns one small tensor (a scalar, or one value per selected variable). Probes that several
detectors need (the gradients' sum of squares) are computed once per step (`Measure.shared`).
Which variables a detector watches is a named selection (`VARIABLE_SELECTIONS`), resolved once
against the model into indices of `Trainer.variables`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # TensorFlow is imported where a probe runs, not when a preset is named
    import tensorflow as tf

    from fi_core.engine import nn
    from fi_core.engine.train import StepTensors, Trainer

VARIABLE_SELECTIONS = ("conv_kernels", "stem", "kernels", "all")
"""conv_kernels: every conv site's kernel (the paper's "conv kernels"); stem: the first conv's
kernel only (what the artifact's name test `inject_conv2d/kernel` probably matched); kernels:
every site's kernel, the classifier included; all: every trainable variable."""


def selected(trainer: Trainer, selection: str) -> list[tuple[int, str]]:
    """(index into `trainer.variables`, readable name) of the variables a selection names."""
    if selection not in VARIABLE_SELECTIONS:
        raise ValueError(f"variables {selection!r} is not one of {VARIABLE_SELECTIONS}")
    index = {v.ref(): i for i, v in enumerate(trainer.variables)}
    if selection == "all":
        return [(i, _name(v)) for i, v in enumerate(trainer.variables)]
    sites = [layer for layer in trainer.model.sites.values()
             if selection == "kernels" or layer.site.kind == "conv"]
    if selection == "stem":
        sites = sites[:1]
    return [(index[layer.kernel.ref()], f"{layer.site.name}/kernel") for layer in sites]


def _name(variable: tf.Variable) -> str:
    return variable.name.split(":")[0]


def batch_norms(trainer: Trainer) -> list[nn.BatchNorm]:
    return list(trainer.model.norms.values())


class Measure:
    """The probes of one step, while the step is traced (or run eagerly): the step's tensors and
    the shared measurements already made."""

    def __init__(self, tensors: StepTensors) -> None:
        self.tensors = tensors
        self._shared: dict[str, tf.Tensor] = {}

    def shared(self, name: str, compute: Callable[[StepTensors], tf.Tensor]) -> tf.Tensor:
        if name not in self._shared:
            self._shared[name] = compute(self.tensors)
        return self._shared[name]


def _tf():
    import tensorflow as tf

    return tf


def gradient_square_sum(tensors: StepTensors) -> tf.Tensor:
    """Sum of the squares of every gradient element (one op per variable): non-finite when any
    gradient is, or when their norm overflows fp32 (above about 1.8e19, a fault's magnitude)."""
    tf = _tf()
    return tf.add_n([tf.nn.l2_loss(g) for g in tensors.grads]) * 2.0


def first_moment_max(tensors: StepTensors, indices: list[int]) -> tf.Tensor:
    """Largest element of Adam's new first moment m per selected variable (NaN when any element
    is: reduce_max propagates NaN, which a test checks)."""
    tf = _tf()
    moments = tensors.trainer.optimizer.m
    return tf.stack([tf.reduce_max(moments[i]) for i in indices])


def update_max_abs(tensors: StepTensors, indices: list[int]) -> tf.Tensor:
    """Largest |lr * gradient| per selected variable: SGD's update of this step (the product
    is monotonic in |g|, so this is the largest element of the update itself)."""
    tf = _tf()
    optimizer = tensors.trainer.optimizer
    lr = optimizer.schedule(optimizer.iterations - 1)  # the rate this step used
    return tf.stack([tf.reduce_max(tf.abs(tensors.grads[i])) * lr for i in indices])


def moving_variance_max(tensors: StepTensors) -> tf.Tensor:
    """Largest moving variance of every batch norm (all replicas' copies), per layer. A
    corrupted activation of magnitude x moves its channel's variance by about x^2 / n, and its
    mean by x / n, so the variance is the one to watch."""
    tf = _tf()
    norms = batch_norms(tensors.trainer)
    if not norms:
        return tf.zeros([0])
    return tf.stack([tf.reduce_max(norm.moving_variance) for norm in norms])


def all_below(values: tf.Tensor, bound: float) -> tf.Tensor:
    """1.0 when every element is below `bound` (NaN is not), else 0.0: a gate's factor."""
    tf = _tf()
    return tf.cast(tf.reduce_all(values < bound), tf.float32)


def all_abs_below(values: tf.Tensor, bound: float) -> tf.Tensor:
    tf = _tf()
    return tf.cast(tf.reduce_all(tf.abs(values) < bound), tf.float32)
