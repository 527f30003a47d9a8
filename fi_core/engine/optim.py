"""Explicit optimisers: their state is ordinary variables that a checkpoint saves and restores
and that a mitigation can inspect. Hyperparameters as in the artifact (Keras defaults)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import tensorflow as tf

from fi_core.engine.nn import TRAINABLE
from fi_core.spec.workloads import WorkloadConfig


class PolynomialDecay:
    """Linear decay from `initial` to `end` over `steps`, then constant (Keras' default power 1).

    The initial rate is a variable kept out of checkpoints, so that one traced step serves
    injection CSVs with different learning rates (`set_initial`)."""

    def __init__(self, initial: float, end: float, steps: int) -> None:
        self.initial = tf.Variable(initial, dtype=tf.float32, trainable=False,
                                   aggregation=TRAINABLE)
        self.end, self.steps = end, steps

    def set_initial(self, value: float) -> None:
        self.initial.assign(value)

    def __call__(self, iteration: tf.Tensor) -> tf.Tensor:
        done = tf.minimum(tf.cast(iteration, tf.float32), float(self.steps)) / self.steps
        return (self.initial - self.end) * (1.0 - done) + self.end


Gate = Callable[[int, tf.Tensor], "tf.Tensor | None"]
"""A mitigation's in-graph check of one variable's step (`fi_core.mitigation`): given the
variable's index and its new first moment (Adam) or its update (SGD), the factor its update is
multiplied by (1.0 keeps it, 0.0 skips it, as the artifact's detection experiment does), or
None for a variable it does not watch (its update is left as it is)."""


class Optimizer(tf.Module):
    """Base: an iteration counter and one `apply` that updates every variable in place."""

    def __init__(self, schedule: PolynomialDecay, name: str) -> None:
        super().__init__(name=name)
        self.schedule = schedule
        self.iterations = tf.Variable(0, dtype=tf.int64, name="iterations", trainable=False,
                                      aggregation=TRAINABLE)

    def apply(self, grads: Sequence[tf.Tensor], variables: Sequence[tf.Variable],
              gate: Gate | None = None) -> None:
        raise NotImplementedError


class SGD(Optimizer):
    """Plain SGD, no momentum (the artifact's resnet18_sgd)."""

    def __init__(self, schedule: PolynomialDecay) -> None:
        super().__init__(schedule, "sgd")

    def apply(self, grads, variables, gate: Gate | None = None) -> None:
        lr = self.schedule(self.iterations)
        for index, (grad, var) in enumerate(zip(grads, variables, strict=True)):
            update = lr * grad
            factor = gate(index, update) if gate is not None else None
            if factor is not None:
                update = update * factor
            var.assign_sub(update)
        self.iterations.assign_add(1)


class Adam(Optimizer):
    """Adam as Keras computes it: lr_t = lr * sqrt(1 - b2^t) / (1 - b1^t),
    var -= lr_t * m / (sqrt(v) + eps), with eps 1e-7."""

    def __init__(self, schedule: PolynomialDecay, variables: Sequence[tf.Variable],
                 beta_1: float = 0.9, beta_2: float = 0.999, epsilon: float = 1e-7) -> None:
        super().__init__(schedule, "adam")
        self.beta_1, self.beta_2, self.epsilon = beta_1, beta_2, epsilon
        self.m = [tf.Variable(tf.zeros_like(v), name="m", trainable=False, aggregation=TRAINABLE)
                  for v in variables]
        self.v = [tf.Variable(tf.zeros_like(v), name="v", trainable=False, aggregation=TRAINABLE)
                  for v in variables]

    def apply(self, grads, variables, gate: Gate | None = None) -> None:
        lr = self.schedule(self.iterations)
        t = tf.cast(self.iterations + 1, tf.float32)
        lr_t = lr * tf.sqrt(1.0 - tf.pow(self.beta_2, t)) / (1.0 - tf.pow(self.beta_1, t))
        for index, (grad, var, m, v) in enumerate(zip(grads, variables, self.m, self.v,
                                                      strict=True)):
            m.assign_add((grad - m) * (1.0 - self.beta_1))
            v.assign_add((tf.square(grad) - v) * (1.0 - self.beta_2))
            update = lr_t * m / (tf.sqrt(v) + self.epsilon)
            factor = gate(index, m.read_value()) if gate is not None else None
            if factor is not None:  # m and v keep their new values whatever the gate says
                update = update * factor
            var.assign_sub(update)
        self.iterations.assign_add(1)


def build(config: WorkloadConfig, variables: Sequence[tf.Variable],
          learning_rate: float | None = None) -> Optimizer:
    """The workload's optimiser; `learning_rate` replaces the initial rate (an artifact CSV
    carries its own)."""
    schedule = PolynomialDecay(learning_rate or config.learning_rate, config.end_learning_rate,
                               config.decay_steps)
    if config.optimizer == "sgd":
        return SGD(schedule)
    return Adam(schedule, variables)
