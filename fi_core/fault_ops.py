"""Applying one fault inside the injection step's graph.

A `FaultPlan` is what the sites see. Only its pass (forward, grad_in, grad_wt) is static; the
target site, operand, replica, positions and value rule are run-time tensors. So one traced
injection step per pass serves every CSV of a workload: each site holds its fault code behind a
`tf.cond` on its own index, with a `tf.switch_case` on the operand inside, and only the target's
branch runs. (Measured on the small workload: about 15 s of tracing per pass, against 12 s per
(pass, operand) when the operand was static too and 40 s for one graph holding all three
passes; on a TPU each trace is an XLA compilation, so fewer is better still.)

Sites call `forward`, `grad_in` or `grad_wt` with their native tensors and get the corrupted
result back; only the target replica's slice of the batch changes. Operand faults use linearity
(result + op(operand' - operand)), so every element the fault cannot reach stays bit-identical.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import tensorflow as tf

from fi_core import layouts
from fi_core.architecture import FORWARD, GRAD_IN, GRAD_WT, OPERANDS, Site

VALUE_KINDS = ("explicit", "bitflip", "copy")


@dataclass
class FaultPlan:
    """One fault, as run-time tensors of the injection step."""

    stage: str  # static: the pass ("fwrd", "grad_in", "grad_wt"): one traced step each
    layer: tf.Tensor  # int32: index of the target site
    operand: tf.Tensor  # int32: index in OPERANDS
    kind: tf.Tensor  # int32: index in VALUE_KINDS
    replica: tf.Tensor  # int32: global replica index
    positions: tf.Tensor  # int64 (k, rank)
    values: tf.Tensor  # float32 (k,): explicit values
    bits: tf.Tensor  # int32 (k,): bits to flip
    sources: tf.Tensor  # int64 (k, rank): positions to copy from
    report: dict[str, tf.Tensor] = field(default_factory=dict)

    def record(self, fired: tf.Tensor, golden: tf.Tensor, injected: tf.Tensor) -> None:
        """Keep the golden and injected values of the site that fired."""
        zeros = tf.zeros_like(golden)
        self.report["golden"] = tf.where(fired, golden, self.report.get("golden", zeros))
        self.report["injected"] = tf.where(fired, injected, self.report.get("injected", zeros))


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


def _resolve(plan: FaultPlan, golden: tf.Tensor, tensor: tf.Tensor) -> tf.Tensor:
    """New values: explicit, golden with one bit flipped, or copied from other positions."""
    flipped = tf.bitcast(tf.bitwise.bitwise_xor(
        tf.bitcast(golden, tf.int32), tf.bitwise.left_shift(tf.ones_like(plan.bits), plan.bits)),
        tf.float32)
    copied = tf.gather_nd(tensor, plan.sources)
    return tf.where(tf.equal(plan.kind, 0), plan.values,
                    tf.where(tf.equal(plan.kind, 1), flipped, copied))


def _slice(t: tf.Tensor, r: tf.Tensor, n: tf.Tensor) -> tf.Tensor:
    return t[r * n:(r + 1) * n]


def _place(delta: tf.Tensor, r: tf.Tensor, n: tf.Tensor, groups: int) -> tf.Tensor:
    """A replica's `[n, ...]` slice padded with zeros to the full `[groups*n, ...]` batch."""
    if groups == 1:
        return delta
    paddings = tf.concat([[[r * n, (groups - 1 - r) * n]],
                          tf.zeros([delta.shape.rank - 1, 2], tf.int32)], axis=0)
    return tf.pad(delta, paddings)


def _shift_batch(positions: tf.Tensor, offset: tf.Tensor) -> tf.Tensor:
    """Per-replica positions -> positions in the stacked batch (axis 0 moves by `offset`)."""
    column = tf.fill([tf.shape(positions)[0], 1], tf.cast(offset, tf.int64))
    return positions + tf.concat([column, tf.zeros_like(positions[:, 1:])], axis=1)


@tf.custom_gradient
def _straight_through(original: tf.Tensor, corrupted: tf.Tensor):
    """Forward: the corrupted tensor. Backward: as if no fault happened, because the hardware's
    backward ops read their operands from memory, not the faulty forward result."""

    def grad(upstream: tf.Tensor):
        return upstream, tf.zeros_like(corrupted)

    return corrupted, grad


Corrupt = Callable[[tf.Tensor], tuple[tf.Tensor, tf.Tensor, tf.Tensor]]
"""(local replica) -> (corrupted result, golden values, injected values)."""


def _guarded(plan: FaultPlan, index: int, replicas: Replicas, native: tf.Tensor,
             by_operand: dict[str, Corrupt]) -> tf.Tensor:
    """Run the operand's corruption only when this site is the target and the target replica
    is in this program's batch; otherwise pass `native` through."""
    local = tf.cast(plan.replica, tf.int32) - tf.cast(replicas.base, tf.int32)
    fired = tf.equal(plan.layer, index)
    if replicas.groups != replicas.total:
        fired = tf.logical_and(fired, tf.logical_and(local >= 0, local < replicas.groups))
    k = tf.shape(plan.positions)[0]

    def idle():
        zeros = tf.zeros([k], tf.float32)
        return native, zeros, zeros

    def run():
        r = tf.clip_by_value(local, 0, replicas.groups - 1)
        branches = [lambda corrupt=by_operand[name]: corrupt(r) for name in OPERANDS]
        return tf.switch_case(plan.operand, branches)

    out, golden, injected = tf.cond(fired, run, idle)
    plan.record(fired, golden, injected)
    return out


def _operand_effect(site: Site, plan: FaultPlan, pass_: str, operand: str, a: tf.Tensor,
                    b: tf.Tensor):
    """Effect on the op's output (artifact layout) of corrupting operand a or b."""
    target = a if operand == "input" else b
    golden = tf.gather_nd(target, plan.positions)
    new = _resolve(plan, golden, target)
    delta = tf.scatter_nd(plan.positions, new - golden, tf.shape(target, out_type=tf.int64))
    effect = (layouts.apply_op(site, pass_, delta, b) if operand == "input"
              else layouts.apply_op(site, pass_, a, delta))
    return effect, golden, new


def _replace_in_batch(plan: FaultPlan, full: tf.Tensor, r: tf.Tensor, n: tf.Tensor):
    """Output fault on a batch-major tensor: set the target replica's elements."""
    mine = _slice(full, r, n)
    golden = tf.gather_nd(mine, plan.positions)
    new = _resolve(plan, golden, mine)
    out = tf.tensor_scatter_nd_update(full, _shift_batch(plan.positions, r * n), new)
    return out, golden, new


def forward(site: Site, index: int, plan: FaultPlan, replicas: Replicas, x: tf.Tensor,
            w: tf.Tensor, y: tf.Tensor) -> tf.Tensor:
    """The pre-bias output `y` of a forward site, with the fault applied if it targets it."""
    n = tf.shape(x)[0] // replicas.groups

    def operand_fault(operand: str) -> Corrupt:
        def corrupt(r):
            a, b = layouts.operands(site, FORWARD, _slice(x, r, n), w, None)
            effect, golden, new = _operand_effect(site, plan, FORWARD, operand, a, b)
            return y + _place(effect, r, n, replicas.groups), golden, new

        return corrupt

    by_operand = {"input": operand_fault("input"), "weight": operand_fault("weight"),
                  "output": lambda r: _replace_in_batch(plan, y, r, n)}
    return _straight_through(y, _guarded(plan, index, replicas, y, by_operand))


def grad_in(site: Site, index: int, plan: FaultPlan, replicas: Replicas, dy: tf.Tensor,
            w: tf.Tensor, dx: tf.Tensor) -> tf.Tensor:
    """The input gradient `dx`, with a fault in the site's `_grad_in` op if it targets it."""
    n = tf.shape(dy)[0] // replicas.groups

    def operand_fault(operand: str) -> Corrupt:
        def corrupt(r):
            a, b = layouts.operands(site, GRAD_IN, None, w, _slice(dy, r, n))
            effect, golden, new = _operand_effect(site, plan, GRAD_IN, operand, a, b)
            return dx + _place(effect, r, n, replicas.groups), golden, new

        return corrupt

    by_operand = {"input": operand_fault("input"), "weight": operand_fault("weight"),
                  "output": lambda r: _replace_in_batch(plan, dx, r, n)}
    return _guarded(plan, index, replicas, dx, by_operand)


def grad_wt(site: Site, index: int, plan: FaultPlan, replicas: Replicas, x: tf.Tensor,
            dy: tf.Tensor, dw: tf.Tensor,
            replica_dw: Callable[[tf.Tensor, tf.Tensor], tf.Tensor]) -> tf.Tensor:
    """The kernel gradient `dw` (summed over this program's replicas), with a fault in the
    target replica's `_grad_wt` op. `replica_dw(x_r, dy_r)` computes one replica's share."""
    n = tf.shape(dy)[0] // replicas.groups

    def operand_fault(operand: str) -> Corrupt:
        def corrupt(r):
            a, b = layouts.operands(site, GRAD_WT, _slice(x, r, n), None, _slice(dy, r, n))
            effect, golden, new = _operand_effect(site, plan, GRAD_WT, operand, a, b)
            return dw + layouts.weight_grad_to_native(site, effect), golden, new

        return corrupt

    def output_fault(r):
        own = dw if replicas.groups == 1 else replica_dw(_slice(x, r, n), _slice(dy, r, n))
        mine = layouts.weight_grad_to_artifact(site, own)
        golden = tf.gather_nd(mine, plan.positions)
        new = _resolve(plan, golden, mine)
        where = layouts.native_weight_positions(site, plan.positions)
        if replicas.groups == 1:
            return tf.tensor_scatter_nd_update(dw, where, new), golden, new
        # The other replicas' shares stay; this replica's elements become `new`.
        delta = tf.scatter_nd(where, new - golden, tf.shape(dw, out_type=tf.int64))
        return dw + delta, golden, new

    by_operand = {"input": operand_fault("input"), "weight": operand_fault("weight"),
                  "output": output_fault}
    return _guarded(plan, index, replicas, dw, by_operand)
