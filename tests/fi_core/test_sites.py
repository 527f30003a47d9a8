"""Injection sites: the artifact's operand layouts, and what a fault on each operand of each
pass does, checked against a slow NumPy model of the artifact's ops (tests/fi_core/reference.py).
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import tensorflow as tf

from fi_core.engine import nn
from fi_core.engine.fault_ops import NO_RUN, FaultPlan, Replicas
from fi_core.faults import rules
from fi_core.spec.architecture import FORWARD, GRAD_IN, GRAD_WT, OPERANDS, Site
from tests.fi_core import reference as ref

CONV_GEOMETRIES = [(3, 1, 6), (3, 2, 8), (1, 2, 8), (7, 2, 16), (3, 2, 7), (7, 2, 8), (5, 2, 8),
                   (5, 1, 6), (1, 1, 4)]
"""(kernel, stride, input size): every kind of conv of the paper's networks, and odd sizes."""


def make_site(kernel: int, stride: int, size: int, cin: int = 3, cout: int = 4) -> Site:
    return Site("probe", "conv", kernel, stride, cin, cout, size, bias=False)


def native(layer: nn.SiteLayer, x: np.ndarray, dy: np.ndarray, plan=None, groups: int = 1):
    """Forward output, dX and dW of a site layer, with the loss sum(y * dy)."""
    xt = tf.constant(x, tf.float32)
    ctx = nn.StepContext(training=True, replicas=Replicas(groups), plan=plan)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        y = layer(xt, ctx)
        loss = tf.reduce_sum(y * tf.constant(dy, tf.float32))
    dx, dw = tape.gradient(loss, [xt, layer.kernel])
    return y.numpy(), dx.numpy(), dw.numpy()


def found_offsets(site: Site, x, w, dy, dx, dw) -> tuple[list[int], list[int]]:
    """Interleave offsets for which the artifact's VALID convolutions give TF's gradients."""
    good_in, good_wt = [], []
    for offset in range(site.kernel + 1):
        if offset + site.stride * (site.out_size - 1) >= site.in_size:
            continue
        a, b = ref.grad_in_operands(dy, w, site.stride, site.in_size, offset)
        if np.allclose(ref.conv_valid(a, b), dx, atol=1e-4):
            good_in.append(offset)
        a, b = ref.grad_wt_operands(x, dy, site.kernel, site.stride, offset)
        if np.allclose(np.transpose(ref.conv_valid(a, b), (1, 2, 0, 3)), dw, atol=1e-4):
            good_wt.append(offset)
    return good_in, good_wt


@pytest.mark.parametrize(("kernel", "stride", "size"), CONV_GEOMETRIES)
def test_artifact_layouts_reproduce_native_gradients(kernel, stride, size):
    site = make_site(kernel, stride, size)
    layer = nn.SiteLayer(site, 0, seed=(1, 2))
    rng = np.random.default_rng(kernel * 100 + size)
    x = rng.standard_normal((2, size, size, site.cin))
    dy = rng.standard_normal((2, site.out_size, site.out_size, site.cout))
    y, dx, dw = native(layer, x, dy)
    w = layer.kernel.numpy().astype(np.float64)
    np.testing.assert_allclose(y, ref.conv_same(x, w, stride), atol=1e-4)
    good_in, good_wt = found_offsets(site, x, w, dy, dx, dw)
    assert good_in == [site.interleave_offset]
    assert good_wt == [site.interleave_offset]


def _plan(site, pass_, operand, positions, n, values=None, bits=None, sources=None, replica=0,
          kind="explicit"):
    """A plan for listed positions of the operand (per replica batch `n`) with a per-element
    rule: explicit values, bits to flip, or source positions to copy from."""
    shape = site.operand_shape(pass_, operand, n)
    flat = np.ravel_multi_index(np.asarray(positions, np.int64).T, shape)
    k = len(flat)
    ints = {"bitflip": bits, "copy": None if sources is None else np.ravel_multi_index(
        np.asarray(sources, np.int64).T, shape)}.get(kind)
    return FaultPlan.of(
        pass_, layer=0, operand=OPERANDS.index(operand), replica=replica,
        rule=rules.index_of(kind), indices=flat, span=NO_RUN,
        floats=np.zeros(k) if values is None else values,
        ints=np.zeros(k, np.int64) if ints is None else ints)


def _expected(site, pass_, operand, x_r, w, dy_r, y_r, dx_r, dw_r, position, value):
    """The replica's (output, dX, dW share) after the fault, from the NumPy model."""
    s, size, o = site.stride, site.in_size, site.interleave_offset
    y_r, dx_r, dw_r = y_r.copy(), dx_r.copy(), dw_r.copy()
    pos = tuple(position)
    if pass_ == FORWARD:
        if operand == "output":
            y_r[pos] = value
        else:
            xx, ww = x_r.copy(), w.copy()
            (xx if operand == "input" else ww)[pos] = value
            y_r = ref.conv_same(xx, ww, s)
        return y_r, dx_r, dw_r, None
    if pass_ == GRAD_IN:
        a, b = ref.grad_in_operands(dy_r, w, s, size, o)
        golden = {"input": a, "weight": b, "output": dx_r}[operand][pos]
        if operand == "output":
            dx_r[pos] = value
        else:
            (a if operand == "input" else b)[pos] = value
            dx_r = ref.conv_valid(a, b)
        return y_r, dx_r, dw_r, golden
    a, b = ref.grad_wt_operands(x_r, dy_r, site.kernel, s, o)
    artifact_dw = np.transpose(dw_r, (2, 0, 1, 3))
    golden = {"input": a, "weight": b, "output": artifact_dw}[operand][pos]
    if operand == "output":
        artifact_dw[pos] = value
    else:
        (a if operand == "input" else b)[pos] = value
        artifact_dw = ref.conv_valid(a, b)
    return y_r, dx_r, np.transpose(artifact_dw, (1, 2, 0, 3)), golden


CASES = list(itertools.product(
    [(3, 2, 8), (1, 2, 8), (3, 1, 6), (7, 2, 16)], [FORWARD, GRAD_IN, GRAD_WT],
    ["input", "weight", "output"], [1, 2]))


@pytest.mark.parametrize(("geometry", "pass_", "operand", "groups"), CASES)
def test_fault_lands_where_the_artifact_puts_it(geometry, pass_, operand, groups):
    site = make_site(*geometry)
    layer = nn.SiteLayer(site, 0, seed=(3, 4))
    rng = np.random.default_rng(sum(geometry) + groups)
    n = 2
    x = rng.standard_normal((groups * n, site.in_size, site.in_size, site.cin)).astype(np.float32)
    dy = rng.standard_normal((groups * n, site.out_size, site.out_size, site.cout)).astype(
        np.float32)
    y0, dx0, dw0 = native(layer, x, dy, groups=groups)
    replica = groups - 1
    shape = site.operand_shape(pass_, operand, n)
    position = [int(rng.integers(0, d)) for d in shape]
    value = 7.5
    plan = _plan(site, pass_, operand, [position], n, values=[value], replica=replica)
    y1, dx1, dw1 = native(layer, x, dy, plan=plan, groups=groups)

    rows = slice(replica * n, (replica + 1) * n)
    w = layer.kernel.numpy().astype(np.float64)
    x_r, dy_r = x[rows].astype(np.float64), dy[rows].astype(np.float64)
    # this replica's share of dW, computed from the NumPy model
    a, b = ref.grad_wt_operands(x_r, dy_r, site.kernel, site.stride, site.interleave_offset)
    dw_r = np.transpose(ref.conv_valid(a, b), (1, 2, 0, 3))
    y_r, dx_r, dw_r_new, golden = _expected(site, pass_, operand, x_r, w, dy_r, y0[rows],
                                            dx0[rows], dw_r, position, value)
    others = [i for i in range(groups * n) if not rows.start <= i < rows.stop]
    np.testing.assert_array_equal(y1[others], y0[others])  # other replicas untouched
    np.testing.assert_allclose(y1[rows], y_r, rtol=1e-4, atol=1e-3)
    if pass_ != FORWARD:  # a forward fault does not change this layer's own backward pass
        np.testing.assert_array_equal(dx1[others], dx0[others])
        np.testing.assert_allclose(dx1[rows], dx_r, rtol=1e-4, atol=1e-3)
        np.testing.assert_allclose(dw1, dw0 - dw_r + dw_r_new, rtol=1e-4, atol=1e-3)
    else:
        np.testing.assert_array_equal(dx1, dx0)
        np.testing.assert_array_equal(dw1, dw0)
    report_golden = plan.report["golden"].numpy()[0]
    if golden is not None:
        assert report_golden == pytest.approx(golden, rel=1e-5, abs=1e-6)
    assert plan.report["injected"].numpy()[0] == value


def test_fault_with_the_golden_value_changes_nothing():
    """Replacing an operand element by its own value is exactly the fault-free step."""
    site = make_site(3, 2, 8)
    layer = nn.SiteLayer(site, 0, seed=(5, 6))
    rng = np.random.default_rng(7)
    x = rng.standard_normal((4, 8, 8, 3)).astype(np.float32)
    dy = rng.standard_normal((4, 4, 4, 4)).astype(np.float32)
    _y0, dx0, dw0 = native(layer, x, dy, groups=2)
    probe = _plan(site, GRAD_IN, "input", [[1, 4, 6, 2]], 2, values=[0.0], replica=1)
    native(layer, x, dy, plan=probe, groups=2)
    same = _plan(site, GRAD_IN, "input", [[1, 4, 6, 2]], 2,
                 values=[float(probe.report["golden"].numpy()[0])], replica=1)
    _y1, dx1, dw1 = native(layer, x, dy, plan=same, groups=2)
    np.testing.assert_array_equal(dx1, dx0)
    np.testing.assert_array_equal(dw1, dw0)


def _flip(value: float, bit: int) -> float:
    raw = np.array([value], np.float32).view(np.uint32) ^ np.uint32(1 << bit)
    return float(raw.view(np.float32)[0])


def test_bit_flip_and_copy_are_resolved_in_graph():
    site = make_site(3, 1, 6)
    layer = nn.SiteLayer(site, 0, seed=(7, 8))
    rng = np.random.default_rng(9)
    x = rng.standard_normal((2, 6, 6, 3)).astype(np.float32)
    dy = np.ones((2, 6, 6, 4), np.float32)
    y0, _, _ = native(layer, x, dy)
    positions = [[0, 1, 2, 3], [1, 5, 5, 0]]
    flip = _plan(site, FORWARD, "output", positions, 2, bits=[30, 31], kind="bitflip")
    y1, _, _ = native(layer, x, dy, plan=flip)
    assert y1[0, 1, 2, 3] == _flip(y0[0, 1, 2, 3], 30)
    assert y1[1, 5, 5, 0] == -y0[1, 5, 5, 0]
    copy = _plan(site, FORWARD, "output", positions, 2, sources=[[1, 0, 0, 0], [0, 2, 2, 2]],
                 kind="copy")
    y2, _, _ = native(layer, x, dy, plan=copy)
    assert y2[0, 1, 2, 3] == y0[1, 0, 0, 0]
    assert y2[1, 5, 5, 0] == y0[0, 2, 2, 2]
    np.testing.assert_array_equal(copy.report["golden"].numpy(),
                                  [y0[0, 1, 2, 3], y0[1, 5, 5, 0]])


def test_bit_flip_of_one_gives_known_values():
    assert _flip(1.0, 30) == float("inf")
    assert _flip(1.0, 31) == -1.0
    assert _flip(1.0, 23) == 0.5
    assert _flip(0.0, 30) == 2.0


@pytest.mark.parametrize(("pass_", "operand"), list(itertools.product(
    [FORWARD, GRAD_IN, GRAD_WT], ["input", "weight", "output"])))
def test_dense_site_faults(pass_, operand):
    site = Site("fc", "dense", 1, 1, 5, 3, 1, bias=True, in_artifact_list=False)
    layer = nn.SiteLayer(site, 0, seed=(1, 1))
    rng = np.random.default_rng(3)
    x = rng.standard_normal((4, 5)).astype(np.float32)
    dy = rng.standard_normal((4, 3)).astype(np.float32)
    _y0, dx0, dw0 = native(layer, x, dy, groups=2)
    w = layer.kernel.numpy()
    position = [1, 1]
    plan = _plan(site, pass_, operand, [position], 2, values=[4.0], replica=1)
    y1, dx1, dw1 = native(layer, x, dy, plan=plan, groups=2)
    x_r, dy_r = x[2:].astype(np.float64), dy[2:].astype(np.float64)
    if pass_ == FORWARD:
        a, b = x_r.copy(), w.astype(np.float64).copy()
        out = a @ b
        if operand == "output":
            out[1, 1] = 4.0
        else:
            (a if operand == "input" else b)[1, 1] = 4.0
            out = a @ b
        np.testing.assert_allclose(y1[2:] - layer.bias.numpy(), out, rtol=1e-5, atol=1e-5)
    elif pass_ == GRAD_IN:
        a, b = dy_r.copy(), w.T.astype(np.float64).copy()
        out = a @ b
        if operand == "output":
            out[1, 1] = 4.0
        else:
            (a if operand == "input" else b)[1, 1] = 4.0
            out = a @ b
        np.testing.assert_allclose(dx1[2:], out, rtol=1e-5, atol=1e-5)
        np.testing.assert_array_equal(dx1[:2], dx0[:2])
    else:
        a, b = x_r.T.copy(), dy_r.copy()
        share = a @ b
        if operand == "output":
            new = share.copy()
            new[1, 1] = 4.0
        else:
            (a if operand == "input" else b)[1, 1] = 4.0
            new = a @ b
        np.testing.assert_allclose(dw1, dw0 - share + new, rtol=1e-5, atol=1e-5)
