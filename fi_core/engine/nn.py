"""Layers in plain TensorFlow: injection sites (any kind), batch norm per replica, dropout.

Every site is one op with a custom gradient that computes the gradient of each operand itself
with its kind's native backprop ops, and applies a backward fault there when the step's plan
targets it; everything between sites is TensorFlow's autodiff, so a corrupted dX propagates
upstream exactly as a real one would.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import tensorflow as tf

from fi_core.engine import fault_ops
from fi_core.engine.fault_ops import FaultPlan, Replicas
from fi_core.sites import SiteSpec, kind_of
from fi_core.spec.passes import FORWARD

TRAINABLE = tf.VariableAggregation.ONLY_FIRST_REPLICA
"""Every replica applies the same all-reduced update; under a strategy the first one's wins."""


@dataclass
class StepContext:
    """What one call of the model needs to know about its step."""

    training: bool
    replicas: Replicas
    seed: tf.Tensor | None = None  # int64 [2]: derived from (workload seed, epoch, step)
    plan: FaultPlan | None = None


def glorot_normal(shape: tuple[int, ...], fan_in: int, fan_out: int, seed: tuple[int, int]):
    """Keras' Glorot normal: a truncated normal with std sqrt(2 / (fan_in + fan_out)) / 0.8796,
    drawn statelessly from `seed` so that a model is a pure function of the workload seed."""
    std = math.sqrt(2.0 / (fan_in + fan_out)) / 0.87962566103423978
    return tf.random.stateless_truncated_normal(shape, seed=seed, stddev=std)


def fan_in_normal(shape: tuple[int, ...], fan_in: int, seed: tuple[int, int]):
    """Keras' VarianceScaling(1.0, fan_in, untruncated normal), the NF-ResNet kernels."""
    return tf.random.stateless_normal(shape, seed=seed, stddev=math.sqrt(1.0 / fan_in))


class SiteLayer(tf.Module):
    """An injection site of any kind (`fi_core.sites`): the kind's variables as attributes,
    its forward op with a custom gradient that computes every backward pass with the kind's
    native gradients and applies a fault there when the step's plan targets it. `index` is the
    site's position in the workload's site list (how a fault plan names it)."""

    def __init__(self, site: SiteSpec, index: int, seed: tuple[int, int]) -> None:
        super().__init__(name=site.name)
        self.site, self.index = site, index
        self.kind = kind_of(site)
        for name, variable in self.kind.variables(site, seed).items():
            setattr(self, name, variable)

    def __call__(self, *args: Any) -> tf.Tensor:
        """`layer(x, ctx)` for a kernel site, `layer(a, b, ctx)` for two activations."""
        *inputs, ctx = args
        site, kind, index = self.site, self.kind, self.index
        plan, replicas = ctx.plan, ctx.replicas

        @tf.custom_gradient
        def op(x: tf.Tensor, w: tf.Tensor):
            y = kind.forward(site, x, w)
            if plan is not None and plan.stage == FORWARD:
                y = fault_ops.forward(kind, site, index, plan, replicas, x, w, y)

            def grad(dy: tf.Tensor):
                grads = [kind.gradient(site, b.name, x, w, dy) for b in kind.backward]
                for i, b in enumerate(kind.backward):
                    if plan is not None and plan.stage == b.name:
                        grads[i] = fault_ops.backward(kind, b, site, index, plan, replicas, x, w,
                                                      dy, grads[i])
                ordered = [None, None]
                for b, g in zip(kind.backward, grads, strict=True):
                    ordered[b.of] = g
                return tuple(ordered)

            return y, grad

        return kind.finish(self, op(*kind.native_operands(self, inputs)))


class Depthwise(tf.Module):
    """A depthwise conv ('same' padding, no bias, Glorot normal): not an injection site, as in
    the artifact; TensorFlow's own gradient."""

    def __init__(self, spec: Any, seed: tuple[int, int]) -> None:
        super().__init__(name=spec.name)
        self.spec = spec
        k, channels = spec.kernel, spec.channels
        self.kernel = tf.Variable(
            glorot_normal((k, k, channels, 1), k * k * channels, k * k, seed), name="kernel",
            aggregation=TRAINABLE)

    def __call__(self, x: tf.Tensor) -> tf.Tensor:
        stride = self.spec.stride
        return tf.nn.depthwise_conv2d(x, self.kernel, [1, stride, stride, 1], "SAME")


class BatchNorm(tf.Module):
    """Batch norm whose statistics are per replica, moving ones included, as under the
    artifact's TPUStrategy (Keras 2.6 creates them as ON_READ variables: one copy per replica).
    Epsilon 1e-3 and momentum 0.9 as in the artifact.

    Training: the batch is `groups` replica slices stacked on axis 0; each slice is normalised
    with its own batch statistics and updates its own row of the moving statistics (`[R, C]`
    variables: every row is one replica's copy, so a checkpoint holds every copy). Inference:
    replica r's share of the batch is normalised with row r (see `Trainer.evaluate`).

    The batch variance is E[x^2] - E[x]^2, as XLA computes it on the TPU the artifact ran on: a
    corrupted activation whose square overflows makes this NaN (inf - inf) in the very step, as
    in the artifact's immediate-NaN trace; a two-pass variance would be inf and hide it. The
    moving variance takes the unbiased batch variance, as Keras does."""

    def __init__(self, channels: int, name: str, replicas: int, momentum: float = 0.9,
                 epsilon: float = 1e-3) -> None:
        super().__init__(name=name)
        self.momentum, self.epsilon = momentum, epsilon
        self.replicas = rows = replicas
        self.gamma = tf.Variable(tf.ones([channels]), name="gamma", aggregation=TRAINABLE)
        self.beta = tf.Variable(tf.zeros([channels]), name="beta", aggregation=TRAINABLE)
        # Under a strategy every replica computes all rows (an all-gather), so the first
        # replica's assignment is everyone's.
        self.moving_mean = tf.Variable(tf.zeros([rows, channels]), name="moving_mean",
                                       trainable=False, aggregation=TRAINABLE)
        self.moving_variance = tf.Variable(tf.ones([rows, channels]), name="moving_variance",
                                           trainable=False, aggregation=TRAINABLE)

    def _check(self, replicas: Replicas) -> None:
        if replicas.total != self.replicas:
            raise ValueError(f"{self.name}: built for {self.replicas} replicas, called with "
                             f"{replicas.total}")

    def __call__(self, x: tf.Tensor, ctx: StepContext) -> tf.Tensor:
        replicas = ctx.replicas
        self._check(replicas)
        if not ctx.training:
            return self._inference(x, replicas)
        groups = replicas.groups
        shape = tf.shape(x)
        stacked = tf.reshape(x, tf.concat([[groups, shape[0] // groups], shape[1:]], 0))
        axes = list(range(1, x.shape.rank))
        means = tf.reduce_mean(stacked, axes, keepdims=True)
        variances = tf.reduce_mean(tf.square(stacked), axes, keepdims=True) - tf.square(means)
        y = tf.reshape(tf.nn.batch_normalization(stacked, means, variances, self.beta,
                                                 self.gamma, self.epsilon), shape)
        count = tf.cast(tf.size(x) // (groups * x.shape[-1]), tf.float32)
        rows = tf.stack([tf.reshape(means, [groups, -1]),
                         tf.reshape(variances, [groups, -1]) * (
                             count / tf.maximum(count - 1.0, 1.0))], axis=1)
        if groups != replicas.total:  # one replica of a strategy: collect everyone's rows
            rows = tf.distribute.get_replica_context().all_gather(rows, axis=0)
        rows = tf.stop_gradient(rows)
        decay = 1.0 - self.momentum
        self.moving_mean.assign_sub((self.moving_mean - rows[:, 0]) * decay)
        self.moving_variance.assign_sub((self.moving_variance - rows[:, 1]) * decay)
        return y

    def _inference(self, x: tf.Tensor, replicas: Replicas) -> tf.Tensor:
        """Each replica's share of the batch normalised with its own moving statistics."""
        if replicas.groups != replicas.total:  # one replica of a strategy: its own row
            mean = tf.gather(self.moving_mean, replicas.base)
            variance = tf.gather(self.moving_variance, replicas.base)
            return tf.nn.batch_normalization(x, mean, variance, self.beta, self.gamma,
                                             self.epsilon)
        groups = replicas.groups
        shape = tf.shape(x)
        stacked = tf.reshape(x, tf.concat([[groups, shape[0] // groups], shape[1:]], 0))
        per_row = [groups] + [1] * (x.shape.rank - 1) + [-1]
        y = tf.nn.batch_normalization(stacked, tf.reshape(self.moving_mean, per_row),
                                      tf.reshape(self.moving_variance, per_row), self.beta,
                                      self.gamma, self.epsilon)
        return tf.reshape(y, shape)


def dropout(x: tf.Tensor, rate: float, ctx: StepContext, index: int) -> tf.Tensor:
    """Inverted dropout whose mask is a pure function of (workload seed, epoch, step, layer
    index): one mask over the global batch, of which each replica uses its own rows, so the same
    step drops the same units on one device or on eight. A multiply, as a mask is applied on
    hardware: a dropped unit that holds INF or NaN becomes NaN."""
    if not ctx.training or rate == 0.0:
        return x
    replicas = ctx.replicas
    seed = tf.random.experimental.stateless_fold_in(ctx.seed, index)
    if replicas.groups == replicas.total:
        draws = tf.random.stateless_uniform(tf.shape(x), seed=seed)
    else:  # one replica of a tf.distribute strategy: its rows of the global mask
        shape = tf.shape(x)
        rows = shape[0] // replicas.groups
        full = tf.concat([[rows * replicas.total], shape[1:]], 0)
        first = tf.cast(replicas.base, tf.int32) * rows
        draws = tf.random.stateless_uniform(full, seed=seed)[first:first + shape[0]]
    return x * (tf.cast(draws >= rate, x.dtype) * (1.0 / (1.0 - rate)))
