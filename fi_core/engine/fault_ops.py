"""Applying one fault inside the injection step's graph.

A `FaultPlan` is what the sites see. Only its pass (forward, grad_in, grad_wt) is static; the
target site, operand, replica, the elements hit and the value rule with its parameters are
run-time tensors (`FaultTensors`, declared once below). So one traced injection step per pass
serves every CSV of a workload: each site holds its fault code behind a `tf.cond` on its own
index, with a `tf.switch_case` on the operand inside, and only the target's branches run. The
value rule is a `tf.switch_case` over the registry inside one graph function that every site
calls (not inlined), so the rules exist once per traced step, not once per site and operand
(inlined, they made tracing four times slower). (Measured on the small workload: about 15 s of
tracing per pass, against 12 s per (pass, operand) when the operand was static too and 40 s for
one graph holding all three passes; on a TPU each trace is an XLA compilation, so fewer is better
still.)

The elements hit are a mask over the target operand, flattened row-major: the listed flat
indices, or the run `first..last`. The value rule computes a new value for every element and
the mask keeps the hit ones, so shapes are static (a run of millions of elements costs no more
than one element) and a run never becomes a list.

Sites call `forward` or `backward` (with the pass's `Backward` declaration) with their native
tensors and get the corrupted
result back; only the target replica's slice of the batch changes. Operand faults use linearity
(result + op(operand' - operand)), so every element the fault cannot reach stays bit-identical.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
import tensorflow as tf

from fi_core.faults import rules
from fi_core.sites import OPERANDS, Backward, SiteKind, SiteSpec
from fi_core.spec.passes import FORWARD


class FaultTensors(NamedTuple):
    """The run-time tensors of one fault. `SPEC` below declares each one's dtype and shape;
    `fault_tensors` builds them, the traced step takes them as its signature, the sites read
    them through `FaultPlan`."""

    layer: Any  # int32 []: index of the target site in the workload's site list
    operand: Any  # int32 []: index in OPERANDS
    replica: Any  # int32 []: global replica index
    rule: Any  # int32 []: index of the value rule in the registry (rules.index_of)
    indices: Any  # int64 [k]: flat indices of the listed positions (empty for a run)
    span: Any  # int64 [2]: first and last flat index of a run (last < first: no run)
    floats: Any  # float32 [m]: the rule's float parameters (per element: one per position)
    ints: Any  # int64 [m]: the rule's int parameters (per element: one per position)


SPEC = FaultTensors(
    layer=tf.TensorSpec([], tf.int32), operand=tf.TensorSpec([], tf.int32),
    replica=tf.TensorSpec([], tf.int32), rule=tf.TensorSpec([], tf.int32),
    indices=tf.TensorSpec([None], tf.int64), span=tf.TensorSpec([2], tf.int64),
    floats=tf.TensorSpec([None], tf.float32), ints=tf.TensorSpec([None], tf.int64),
)
NO_RUN = (0, -1)
SUMMARY = ("min", "max", "mean", "max_abs")


def fault_tensors(**values: Any) -> FaultTensors:
    """`FaultTensors` from plain values (numbers, lists, arrays), with SPEC's dtypes."""
    return FaultTensors(**{name: tf.constant(np.asarray(values[name]), spec.dtype)
                           for name, spec in SPEC._asdict().items()})


def relaxed(tensors: FaultTensors) -> FaultTensors:
    """The tensors with the static sizes SPEC leaves open forgotten, so that one graph serves
    faults of every length (also where no input signature fixes them, under a strategy)."""
    return FaultTensors(*(tf.compat.v1.placeholder_with_default(t, spec.shape)
                          for t, spec in zip(tensors, SPEC, strict=True)))


@dataclass
class FaultPlan:
    """One fault, as run-time tensors of the injection step."""

    stage: str  # static: the pass ("fwrd", "grad_in", "grad_wt"): one traced step each
    tensors: FaultTensors
    report: dict[str, tf.Tensor] = field(default_factory=dict)

    @classmethod
    def of(cls, stage: str, **values: Any) -> FaultPlan:
        """A plan from plain values (tests and tools; the engine uses `fault_tensors`)."""
        return cls(stage, fault_tensors(**values))

    def record(self, fired: tf.Tensor, values: tuple[tf.Tensor, tf.Tensor, tf.Tensor]) -> None:
        """Keep the report of the site that fired: golden and injected values of the listed
        positions, and the summary of both over every element hit."""
        for name, value in zip(("golden", "injected", "summary"), values, strict=True):
            self.report[name] = tf.where(fired, value,
                                         self.report.get(name, tf.zeros_like(value)))


@dataclass(frozen=True)
class Replicas:
    """How the batch a site sees maps to replicas: `groups` replicas stacked on the batch axis
    starting at global replica `base`, out of `total` in the step. Emulation on one device has
    every replica here (groups = total, base 0); a tf.distribute replica has groups 1."""

    groups: int
    base: tf.Tensor | int = 0
    total: int = 0  # 0 means `groups`

    def __post_init__(self) -> None:
        if not self.total:
            object.__setattr__(self, "total", self.groups)


def _hit(plan: FaultPlan, size: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """Flat index of every element, and whether the fault hits it."""
    t = plan.tensors
    index = tf.range(size, dtype=tf.int64)
    in_run = tf.logical_and(index >= t.span[0], index <= t.span[1])
    listed = tf.scatter_nd(t.indices[:, None], tf.ones_like(t.indices, tf.int32), [size]) > 0
    return index, tf.logical_or(in_run, listed)


def _rule_branch(plan: FaultPlan, rule: rules.ValueRule, golden: tf.Tensor, index: tf.Tensor,
                 size: tf.Tensor) -> Callable[[], tf.Tensor]:
    def compute() -> tf.Tensor:
        floats, ints = plan.tensors.floats, plan.tensors.ints
        if rule.per_element:  # each listed position's parameter, at its element
            where = plan.tensors.indices[:, None]
            floats = tf.scatter_nd(where, floats, [size])
            ints = tf.scatter_nd(where, ints, [size])
        new = rule.compute(rules.RuleInputs(golden, index, floats, ints))
        return tf.reshape(tf.cast(new, tf.float32), [size])

    return compute


def _summary(values: tf.Tensor, hit: tf.Tensor) -> tf.Tensor:
    """[min, max, mean, max_abs] of the hit values (NaN if one is NaN); the mean is a sum of
    values divided first, so that it does not overflow in fp32."""
    count = tf.reduce_sum(tf.cast(hit, tf.float32))
    finite_or_inf = tf.logical_and(hit, tf.logical_not(tf.math.is_nan(values)))
    big = tf.constant(np.inf, tf.float32)
    stats = tf.stack([
        tf.reduce_min(tf.where(finite_or_inf, values, big)),
        tf.reduce_max(tf.where(finite_or_inf, values, -big)),
        tf.reduce_sum(tf.where(finite_or_inf, values / tf.maximum(count, 1.0), 0.0)),
        tf.reduce_max(tf.where(finite_or_inf, tf.abs(values), -big)),
    ])
    any_nan = tf.reduce_any(tf.logical_and(hit, tf.math.is_nan(values)))
    return tf.where(any_nan, tf.fill([4], tf.constant(np.nan, tf.float32)), stats)


def _corrupt_flat(golden: tf.Tensor, tensors: FaultTensors):
    """The fault on a flat operand: (corrupted, hit mask, golden and injected values of the
    listed positions, summary of both over the hit elements)."""
    plan = FaultPlan("", tensors)
    size = tf.size(golden, out_type=tf.int64)
    index, hit = _hit(plan, size)
    branches = [_rule_branch(plan, rule, golden, index, size) for rule in rules.in_order()]
    new = tf.switch_case(tensors.rule, branches)
    corrupted = tf.where(hit, new, golden)
    listed = tensors.indices
    return (corrupted, hit, tf.gather(golden, listed), tf.gather(corrupted, listed),
            tf.concat([_summary(golden, hit), _summary(corrupted, hit)], 0))


_SHARED: dict[tuple[str, ...], Callable] = {}


def _shared_corrupt_flat() -> Callable:
    """`_corrupt_flat` as one function that every site calls (not inlined), so that the value
    rules' branches exist once per graph, not once per site and operand; one per set of
    registered rules."""
    names = tuple(rules.RULES)
    if names not in _SHARED:
        _SHARED[names] = tf.function(
            _corrupt_flat, input_signature=(tf.TensorSpec([None], tf.float32), SPEC),
            experimental_attributes={"_noinline": True})
    return _SHARED[names]


def corrupt(plan: FaultPlan, target: tf.Tensor):
    """The fault on one replica's operand `target`: (corrupted operand, hit mask, report).
    Elements not hit keep their exact values."""
    corrupted, hit, *report = _shared_corrupt_flat()(tf.reshape(target, [-1]), plan.tensors)
    shape = tf.shape(target)
    return tf.reshape(corrupted, shape), tf.reshape(hit, shape), tuple(report)


def _difference(corrupted: tf.Tensor, target: tf.Tensor, hit: tf.Tensor) -> tf.Tensor:
    """corrupted - target where hit, exactly zero elsewhere (also where target is not finite)."""
    return tf.where(hit, corrupted - target, tf.zeros_like(target))


def _slice(t: tf.Tensor, r: tf.Tensor, n: tf.Tensor) -> tf.Tensor:
    return t[r * n:(r + 1) * n]


def _place(delta: tf.Tensor, r: tf.Tensor, n: tf.Tensor, groups: int) -> tf.Tensor:
    """A replica's `[n, ...]` slice padded with zeros to the full `[groups*n, ...]` batch."""
    if groups == 1:
        return delta
    paddings = tf.concat([[[r * n, (groups - 1 - r) * n]],
                          tf.zeros([delta.shape.rank - 1, 2], tf.int32)], axis=0)
    return tf.pad(delta, paddings)


@tf.custom_gradient
def _straight_through(original: tf.Tensor, corrupted: tf.Tensor):
    """Forward: the corrupted tensor. Backward: as if no fault happened, because the hardware's
    backward ops read their operands from memory, not the faulty forward result."""

    def grad(upstream: tf.Tensor):
        return upstream, None  # None, not zeros: the tape then never differentiates the fault

    return corrupted, grad


Report = tuple[tf.Tensor, tf.Tensor, tf.Tensor]
Corrupt = Callable[[tf.Tensor], tuple[tf.Tensor, Report]]
"""(local replica) -> (corrupted result, report: golden and injected values of the listed
positions, summary of both)."""


def _guarded(plan: FaultPlan, index: int, replicas: Replicas, native: tf.Tensor,
             by_operand: dict[str, Corrupt]) -> tf.Tensor:
    """Run the operand's corruption only when this site is the target and the target replica
    is in this program's batch; otherwise pass `native` through."""
    local = tf.cast(plan.tensors.replica, tf.int32) - tf.cast(replicas.base, tf.int32)
    fired = tf.equal(plan.tensors.layer, index)
    if replicas.groups != replicas.total:
        fired = tf.logical_and(fired, tf.logical_and(local >= 0, local < replicas.groups))
    k = tf.shape(plan.tensors.indices)[0]

    def idle():
        zeros = tf.zeros([k], tf.float32)
        return native, (zeros, zeros, tf.zeros([2 * len(SUMMARY)], tf.float32))

    def run():
        r = tf.clip_by_value(local, 0, replicas.groups - 1)
        branches = [lambda fault=by_operand[name]: fault(r) for name in OPERANDS]
        return tf.switch_case(plan.tensors.operand, branches)

    out, report = tf.cond(fired, run, idle)
    plan.record(fired, report)
    return out


def _operand_effect(kind: SiteKind, site: SiteSpec, plan: FaultPlan, pass_: str, operand: str,
                    a: tf.Tensor, b: tf.Tensor) -> tuple[tf.Tensor, Report]:
    """Effect on the op's output (artifact layout) of corrupting operand a or b."""
    target = a if operand == "input" else b
    corrupted, hit, report = corrupt(plan, target)
    delta = _difference(corrupted, target, hit)
    effect = (kind.apply(site, pass_, delta, b) if operand == "input"
              else kind.apply(site, pass_, a, delta))
    return effect, report


def _replace_in_batch(plan: FaultPlan, full: tf.Tensor, r: tf.Tensor, n: tf.Tensor,
                      groups: int) -> tuple[tf.Tensor, Report]:
    """Output fault on a batch-major tensor: the target replica's hit elements are replaced."""
    corrupted, hit, report = corrupt(plan, _slice(full, r, n))
    if groups == 1:
        return corrupted, report
    return tf.where(_place(hit, r, n, groups), _place(corrupted, r, n, groups), full), report


def _replica_operands(kind: SiteKind, x: tf.Tensor, w: tf.Tensor, dy: tf.Tensor | None,
                      r: tf.Tensor, n: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor | None]:
    """One replica's rows of the batch-major native operands (and of dY)."""
    x_r = _slice(x, r, n) if kind.batched[0] else x
    w_r = _slice(w, r, n) if kind.batched[1] else w
    return x_r, w_r, None if dy is None else _slice(dy, r, n)


def forward(kind: SiteKind, site: SiteSpec, index: int, plan: FaultPlan, replicas: Replicas,
            x: tf.Tensor, w: tf.Tensor, y: tf.Tensor) -> tf.Tensor:
    """The pre-bias output `y` of a forward site, with the fault applied if it targets it."""
    n = tf.shape(x if kind.batched[0] else w)[0] // replicas.groups

    def operand_fault(operand: str) -> Corrupt:
        def on_replica(r):
            a, b = kind.artifact_operands(site, FORWARD, *_replica_operands(kind, x, w, None, r,
                                                                             n))
            effect, report = _operand_effect(kind, site, plan, FORWARD, operand, a, b)
            return y + _place(effect, r, n, replicas.groups), report

        return on_replica

    by_operand = {"input": operand_fault("input"), "weight": operand_fault("weight"),
                  "output": lambda r: _replace_in_batch(plan, y, r, n, replicas.groups)}
    return _straight_through(y, _guarded(plan, index, replicas, y, by_operand))


def backward(kind: SiteKind, pass_: Backward, site: SiteSpec, index: int, plan: FaultPlan,
             replicas: Replicas, x: tf.Tensor, w: tf.Tensor, dy: tf.Tensor,
             native: tf.Tensor) -> tf.Tensor:
    """The gradient `native` a backward pass computed, with a fault in that pass's op if it
    targets this site. A summed pass (a variable's gradient, summed over this program's
    replicas) gets the target replica's share corrupted; any other pass its rows of the batch."""
    n = tf.shape(dy)[0] // replicas.groups
    groups = replicas.groups

    def operand_fault(operand: str) -> Corrupt:
        def on_replica(r):
            a, b = kind.artifact_operands(site, pass_.name, *_replica_operands(kind, x, w, dy, r,
                                                                               n))
            effect, report = _operand_effect(kind, site, plan, pass_.name, operand, a, b)
            if pass_.summed:
                return native + kind.to_native(site, pass_.name, effect), report
            return native + _place(effect, r, n, groups), report

        return on_replica

    def summed_output_fault(r):
        own = native if groups == 1 else kind.gradient(site, pass_.name,
                                                       *_replica_operands(kind, x, w, dy, r, n))
        mine = kind.to_artifact(site, pass_.name, own)
        corrupted, hit, report = corrupt(plan, mine)
        if groups == 1:
            return kind.to_native(site, pass_.name, corrupted), report
        # The other replicas' shares stay; this replica's hit elements become the new values.
        delta = _difference(corrupted, mine, hit)
        return native + kind.to_native(site, pass_.name, delta), report

    output = (summed_output_fault if pass_.summed
              else lambda r: _replace_in_batch(plan, native, r, n, groups))
    by_operand = {"input": operand_fault("input"), "weight": operand_fault("weight"),
                  "output": output}
    return _guarded(plan, index, replicas, native, by_operand)
