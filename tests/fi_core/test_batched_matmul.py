"""The batched-matmul site kind (both operands activations): no-fault gradients equal
TensorFlow's own for both operands, and a fault on each operand of each pass changes exactly
what the artifact's op on the corrupted operands gives, on the target replica's rows only."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import tensorflow as tf

from fi_core.engine import nn
from fi_core.engine.fault_ops import NO_RUN, FaultPlan, Replicas
from fi_core.faults import rules
from fi_core.sites import OPERANDS, kind_of
from fi_core.sites.batched_matmul import GRAD_A, GRAD_B, MatmulSite
from fi_core.spec.passes import FORWARD

SHAPES = [((), 3, 4, 2), ((2,), 3, 4, 5), ((2, 3), 2, 3, 4)]
"""(batch dims, M, K, N): a plain matmul per example, per head, per (head, group)."""


def make(batch: tuple[int, ...], m: int, k: int, n: int) -> tuple[MatmulSite, nn.SiteLayer]:
    site = MatmulSite("scores", "batched_matmul", batch, m, k, n)
    return site, nn.SiteLayer(site, 0, seed=(1, 2))


def run(layer, a, b, dc, plan=None, groups=1):
    """Forward output and the gradients of both operands, with the loss sum(c * dc)."""
    at, bt = tf.constant(a, tf.float32), tf.constant(b, tf.float32)
    ctx = nn.StepContext(training=True, replicas=Replicas(groups), plan=plan)
    with tf.GradientTape() as tape:
        tape.watch([at, bt])
        c = layer(at, bt, ctx)
        loss = tf.reduce_sum(c * tf.constant(dc, tf.float32))
    da, db = tape.gradient(loss, [at, bt])
    return c.numpy(), da.numpy(), db.numpy()


def operands(rows, site, shape_rng):
    lead = (rows, *site.batch)
    a = shape_rng.standard_normal((*lead, site.m, site.k)).astype(np.float32)
    b = shape_rng.standard_normal((*lead, site.k, site.n)).astype(np.float32)
    dc = shape_rng.standard_normal((*lead, site.m, site.n)).astype(np.float32)
    return a, b, dc


@pytest.mark.parametrize("shape", SHAPES)
def test_no_fault_gradients_equal_tensorflow_native_ones(shape):
    site, layer = make(*shape)
    a, b, dc = operands(4, site, np.random.default_rng(len(shape[0])))
    c, da, db = run(layer, a, b, dc, groups=2)
    at, bt = tf.constant(a), tf.constant(b)
    with tf.GradientTape() as tape:
        tape.watch([at, bt])
        loss = tf.reduce_sum(tf.matmul(at, bt) * dc)
    da_tf, db_tf = tape.gradient(loss, [at, bt])
    np.testing.assert_array_equal(c, tf.matmul(at, bt).numpy())
    np.testing.assert_allclose(da, da_tf.numpy(), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(db, db_tf.numpy(), rtol=1e-6, atol=1e-6)


def test_operand_shapes_are_those_of_the_artifact_operands():
    site, _ = make((2,), 3, 4, 5)
    kind = kind_of(site)
    a, b, dc = (tf.constant(t) for t in operands(2, site, np.random.default_rng(0)))
    for pass_ in kind.passes:
        x, w = kind.artifact_operands(site, pass_, a, b, None if pass_ == FORWARD else dc)
        out = kind.apply(site, pass_, x, w)
        assert [tuple(t.shape) for t in (x, w, out)] == [
            site.operand_shape(pass_, operand, 2) for operand in OPERANDS]


def _plan(site, pass_, operand, position, value, replica, n):
    shape = site.operand_shape(pass_, operand, n)
    flat = np.ravel_multi_index(np.asarray([position], np.int64).T, shape)
    return FaultPlan.of(pass_, layer=0, operand=OPERANDS.index(operand), replica=replica,
                        rule=rules.index_of("explicit"), indices=flat, span=NO_RUN,
                        floats=[value], ints=[0])


def _expected(pass_, operand, a, b, dc, position, value):
    """One replica's (C, dA, dB) after the fault, from NumPy matmuls on the artifact's operands."""
    a, b, dc = (t.astype(np.float64) for t in (a, b, dc))
    c, da, db = a @ b, dc @ np.swapaxes(b, -1, -2), np.swapaxes(a, -1, -2) @ dc
    x, w = {FORWARD: (a, b), GRAD_A: (dc, np.swapaxes(b, -1, -2)),
            GRAD_B: (np.swapaxes(a, -1, -2), dc)}[pass_]
    x, w = x.copy(), w.copy()
    if operand == "output":
        out = x @ w
        out[position] = value
    else:
        (x if operand == "input" else w)[position] = value
        out = x @ w
    if pass_ == FORWARD:
        return out, da, db  # the backward ops read the fault-free operands
    return (c, out, db) if pass_ == GRAD_A else (c, da, out)


@pytest.mark.parametrize(("pass_", "operand"), list(itertools.product(
    [FORWARD, GRAD_A, GRAD_B], OPERANDS)))
def test_a_fault_changes_only_what_the_artifact_op_on_the_corrupted_operands_gives(pass_,
                                                                                   operand):
    site, layer = make((2,), 3, 4, 5)
    a, b, dc = operands(4, site, np.random.default_rng(7))  # two replicas of two rows
    c0, da0, db0 = run(layer, a, b, dc, groups=2)
    shape = site.operand_shape(pass_, operand, 2)
    position = tuple(d - 1 for d in shape)  # the last element: every index is exercised
    plan = _plan(site, pass_, operand, position, 3.5, replica=1, n=2)
    c1, da1, db1 = run(layer, a, b, dc, plan=plan, groups=2)
    want = _expected(pass_, operand, a[2:], b[2:], dc[2:], position, 3.5)
    for got, expected, clean in zip((c1, da1, db1), want, (c0, da0, db0), strict=True):
        np.testing.assert_allclose(got[2:], expected, rtol=1e-5, atol=1e-5)
        np.testing.assert_array_equal(got[:2], clean[:2])  # the other replica is untouched
    golden, injected = plan.report["golden"].numpy(), plan.report["injected"].numpy()
    assert injected.tolist() == [3.5] and golden[0] != 3.5
