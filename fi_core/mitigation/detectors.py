"""Detectors: each says, after a training step (or an evaluation), whether something is wrong,
the value it compared, the threshold, and why.

A detector is made by one registered function (`@register`) from its parameters. What it needs
from inside the compiled step is its `probe` (a few scalars, see `probes`); the decision is
Python (`judge`), on the probe's values and the detector's own running state (a dict of floats,
saved with every snapshot and restored by a rollback, so a re-executed step sees what the first
execution saw). A detector whose probe watches variables one by one may also offer a `gate`,
the in-graph test the artifact's detection experiment multiplies each update by (`skip_update`).

Adding a detector: write one function here that returns a `Detector`, decorate it with
`@register`, and name it in a preset (`presets.py`). The training loop does not change.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from fi_core.mitigation import probes

if TYPE_CHECKING:  # TensorFlow is imported where a probe runs, not when a preset is named
    import tensorflow as tf

    from fi_core.engine.train import Trainer
    from fi_core.mitigation.probes import Measure

State = dict[str, float]
FP32_MAX = float(np.finfo(np.float32).max)


@dataclass(frozen=True)
class StateField:
    """One entry of a detector's running state: its range, and whether it is a count. An
    observe run's record primes injection runs with these values, so each is read strictly."""

    low: float
    high: float
    whole: bool = False


RUNNING_STATE = {"mean": StateField(0.0, FP32_MAX), "count": StateField(0.0, 2.0**53, True)}
"""`_running`'s state: the running mean of a loss or a norm (finite fp32 values, never
negative) and how many values it has folded in."""


@dataclass(frozen=True)
class Finding:
    """A detector that fired: the value it compared, against what, and why (one line)."""

    detector: str
    value: float
    threshold: float
    reason: str


@dataclass(frozen=True)
class Observation:
    """What the loop shows the detectors: a training step (its loss and every probe's values),
    or the evaluation at an epoch's end (its test loss)."""

    loss: float | None = None
    test_loss: float | None = None
    probes: Mapping[str, np.ndarray] = field(default_factory=dict)

    @property
    def is_evaluation(self) -> bool:
        return self.test_loss is not None


Judge = Callable[[Observation, State, list[str]], "Finding | None"]
"""(what was seen, the detector's running state (updated in place), the watched variables'
names) -> a Finding when it fires, else None."""
Probe = Callable[["Measure", list[int]], "tf.Tensor"]
"""(the step's measurements, indices of the watched variables) -> one small tensor."""
GateTest = Callable[["tf.Tensor"], "tf.Tensor"]
"""A watched variable's new first moment (Adam) or update (SGD) -> 1.0 to keep the update,
0.0 to skip it (in-graph, elementwise-free: one reduction)."""


@dataclass(frozen=True)
class Detector:
    name: str
    params: Mapping[str, Any]
    judge: Judge
    probe: Probe | None = None
    watch: str | None = None  # the variable selection `probe` and `gate` get (probes.selected)
    gate: GateTest | None = None
    optimizers: tuple[str, ...] = ("adam", "sgd")  # the workloads' optimisers it applies to
    labels: Callable[[Trainer], list[str]] | None = None  # names of the probe's entries
    state: Mapping[str, StateField] | None = None  # its running state (None: undeclared)

    def names(self, trainer: Trainer) -> list[str]:
        """What each entry of the probe's values is (for the reason of a finding)."""
        if self.labels is not None:
            return self.labels(trainer)
        if self.watch is not None:
            return [name for _, name in probes.selected(trainer, self.watch)]
        return []


DETECTORS: dict[str, Callable[..., Detector]] = {}


def register(factory: Callable[..., Detector]) -> Callable[..., Detector]:
    """Make a detector available to presets under its function's name."""
    DETECTORS[factory.__name__] = factory
    return factory


def build(name: str, params: Mapping[str, Any]) -> Detector:
    if name not in DETECTORS:
        raise ValueError(f"unknown detector {name!r} (known: {', '.join(DETECTORS)})")
    return DETECTORS[name](**params)


# ---------------------------------------------------------------- helpers
def _running(name: str, what: str, value: float, state: State, factor: float, decay: float,
             warmup: int) -> Finding | None:
    """A value against `factor` times its exponential running mean (after `warmup` values).
    A value that fires is not folded into the mean; a non-finite value always fires."""
    mean, count = state.get("mean"), int(state.get("count", 0))
    threshold = factor * mean if mean is not None and count >= warmup else math.inf
    if not math.isfinite(value):
        return Finding(name, value, threshold, f"{what} is {value}")
    if value > threshold:
        return Finding(name, value, threshold,
                       f"{what} {value:.6g} is above {factor:g} x its running mean {mean:.6g}")
    state["mean"] = value if mean is None else decay * mean + (1.0 - decay) * value
    state["count"] = float(count + 1)
    return None


def _worst(values: np.ndarray, names: list[str]) -> tuple[float, str]:
    """The largest value (NaN first: it fails every bound) and the variable it belongs to."""
    values = np.asarray(values, np.float64)
    nan = np.isnan(values)
    at = int(np.argmax(nan)) if nan.any() else int(np.argmax(values))
    return float(values[at]), names[at]


# ---------------------------------------------------------------- the detectors
@register
def nonfinite(gradients: bool = True) -> Detector:
    """A non-finite training loss, test loss (at an epoch's end) or, with `gradients`, a
    non-finite gradient (their sum of squares is not finite)."""

    def probe(measure: Measure, indices: list[int]) -> tf.Tensor:
        return measure.shared("gradient_square_sum", probes.gradient_square_sum)

    def judge(seen: Observation, state: State, names: list[str]) -> Finding | None:
        if seen.is_evaluation:
            if not math.isfinite(seen.test_loss):
                return Finding("nonfinite", seen.test_loss, math.inf,
                               f"test loss is {seen.test_loss}")
            return None
        if not math.isfinite(seen.loss):
            return Finding("nonfinite", seen.loss, math.inf, f"training loss is {seen.loss}")
        if gradients:
            square_sum = float(seen.probes["nonfinite"])
            if not math.isfinite(square_sum):
                return Finding("nonfinite", square_sum, math.inf,
                               f"gradients' sum of squares is {square_sum}")
        return None

    return Detector("nonfinite", {"gradients": gradients}, judge, state={},
                    probe=probe if gradients else None)


@register
def adam_m_bound(threshold: float = 20.0, variables: str = "conv_kernels") -> Detector:
    """The paper's detector: every element of Adam's first moment m of the watched variables
    must stay below `threshold` after the step's update (signed and one-sided: a large negative
    m passes; NaN fails, as `m < threshold` is false for NaN)."""

    def probe(measure: Measure, indices: list[int]) -> tf.Tensor:
        return probes.first_moment_max(measure.tensors, indices)

    def judge(seen: Observation, state: State, names: list[str]) -> Finding | None:
        if seen.is_evaluation:
            return None
        value, where = _worst(seen.probes["adam_m_bound"], names)
        if value < threshold:
            return None
        return Finding("adam_m_bound", value, threshold,
                       f"Adam's first moment of {where} reached {value:.6g}")

    def gate(moment: tf.Tensor) -> tf.Tensor:
        return probes.all_below(moment, threshold)

    return Detector("adam_m_bound", {"threshold": threshold, "variables": variables}, judge,
                    state={},
                    probe=probe, watch=variables, gate=gate, optimizers=("adam",))


@register
def sgd_update_bound(threshold: float = 2.0, variables: str = "conv_kernels") -> Detector:
    """The paper's bound carried over to SGD, which keeps no history: every element of this
    step's update lr * g of the watched variables must stay below `threshold` in magnitude
    (default 2.0: the paper's 20.0 on a gradient, times the 0.1 learning rate of the artifact's
    SGD workload)."""

    def probe(measure: Measure, indices: list[int]) -> tf.Tensor:
        return probes.update_max_abs(measure.tensors, indices)

    def judge(seen: Observation, state: State, names: list[str]) -> Finding | None:
        if seen.is_evaluation:
            return None
        value, where = _worst(seen.probes["sgd_update_bound"], names)
        if value < threshold:
            return None
        return Finding("sgd_update_bound", value, threshold,
                       f"the update of {where} reached {value:.6g}")

    def gate(update: tf.Tensor) -> tf.Tensor:
        return probes.all_abs_below(update, threshold)

    return Detector("sgd_update_bound", {"threshold": threshold, "variables": variables}, judge,
                    state={},
                    probe=probe, watch=variables, gate=gate, optimizers=("sgd",))


@register
def loss_spike(factor: float = 3.0, decay: float = 0.9, warmup: int = 5) -> Detector:
    """The training loss against `factor` times its running mean (exponential, `decay`),
    once `warmup` steps have been seen; a non-finite loss fires at once."""

    def judge(seen: Observation, state: State, names: list[str]) -> Finding | None:
        if seen.is_evaluation:
            return None
        return _running("loss_spike", "training loss", seen.loss, state, factor, decay, warmup)

    return Detector("loss_spike", {"factor": factor, "decay": decay, "warmup": warmup}, judge,
                    state=RUNNING_STATE)


@register
def grad_norm(factor: float = 10.0, decay: float = 0.9, warmup: int = 5) -> Detector:
    """The gradients' global norm against `factor` times its running mean."""

    def probe(measure: Measure, indices: list[int]) -> tf.Tensor:
        return measure.shared("gradient_square_sum", probes.gradient_square_sum)

    def judge(seen: Observation, state: State, names: list[str]) -> Finding | None:
        if seen.is_evaluation:
            return None
        square_sum = float(seen.probes["grad_norm"])
        norm = math.sqrt(square_sum) if math.isfinite(square_sum) else square_sum
        return _running("grad_norm", "gradient norm", norm, state, factor, decay, warmup)

    return Detector("grad_norm", {"factor": factor, "decay": decay, "warmup": warmup}, judge,
                    probe=probe, state=RUNNING_STATE)


@register
def bn_stats(bound: float = 1.0e6) -> Detector:
    """Every batch norm's moving variance (each replica's copy) must stay finite and below
    `bound`. Activations before a batch norm of a network that trains are of order 1 to 100
    (their variance far below the bound); a corrupted activation of magnitude x moves its
    channel's variance by about x^2 / n, and the test accuracy of that replica's share of the
    test set with it, for hundreds of steps."""

    def probe(measure: Measure, indices: list[int]) -> tf.Tensor:
        return probes.moving_variance_max(measure.tensors)

    def judge(seen: Observation, state: State, names: list[str]) -> Finding | None:
        if seen.is_evaluation:
            return None
        values = seen.probes["bn_stats"]
        if len(values) == 0:
            return None
        value, where = _worst(values, names)
        if value < bound:
            return None
        return Finding("bn_stats", value, bound,
                       f"a moving variance of {where} reached {value:.6g}")

    def labels(trainer: Trainer) -> list[str]:
        return [norm.name for norm in probes.batch_norms(trainer)]

    return Detector("bn_stats", {"bound": bound}, judge, probe=probe, labels=labels, state={})
