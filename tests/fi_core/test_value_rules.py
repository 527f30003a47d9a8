"""Value rules in the graph, on one site layer (no training): runs of elements, rules derived
from a seed, the report's summaries, and that nothing outside the hit elements changes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from fi_core.commands import cli
from fi_core.engine import fault_ops, nn, train
from fi_core.engine.fault_ops import NO_RUN, FaultPlan, Replicas
from fi_core.faults import patterns, rules
from fi_core.faults.value_rules import explicit, uniform
from fi_core.faults.value_rules.uniform import UNIFORM
from fi_core.spec import injection
from fi_core.spec.architecture import FORWARD, GRAD_IN, OPERANDS, Site
from fi_core.spec.errors import BadInput
from tests.fi_core import reference as ref

SITE = Site("probe", "conv", 3, 1, 3, 4, 6, bias=False)
N = 2  # per-replica batch
GROUPS = 2  # replicas stacked on the batch axis


def run_site(plan=None, seed=0):
    """(forward output, dX, dW) of SITE on fixed data, with `plan` if given."""
    layer = nn.SiteLayer(SITE, 0, seed=(1, 2))
    rng = np.random.default_rng(seed)
    x = tf.constant(rng.standard_normal((GROUPS * N, 6, 6, 3)), tf.float32)
    dy = tf.constant(rng.standard_normal((GROUPS * N, 6, 6, 4)), tf.float32)
    ctx = nn.StepContext(training=True, replicas=Replicas(GROUPS), plan=plan)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = layer(x, ctx)
        loss = tf.reduce_sum(y * dy)
    dx, dw = tape.gradient(loss, [x, layer.kernel])
    return y.numpy(), dx.numpy(), dw.numpy(), layer.kernel.numpy()


def run_plan(pass_, operand, rule, first, last, floats=(0.0,), ints=(0,), replica=1):
    return FaultPlan.of(pass_, layer=0, operand=OPERANDS.index(operand), replica=replica,
                        rule=rules.index_of(rule), indices=np.zeros(0, np.int64),
                        span=(first, last), floats=list(floats), ints=list(ints))


def stats(values: np.ndarray) -> list[float]:
    return [values.min(), values.max(), values.mean(), np.abs(values).max()]


@pytest.mark.parametrize("rule", ["random_finite", "copy_random"])
def test_a_run_changes_exactly_its_elements_of_one_replica(rule):
    y0, *_ = run_site()
    first, last = 16, 16 * 5 - 1  # output (2, 6, 6, 4): 288 elements per replica
    plan = run_plan(FORWARD, "output", rule, first, last, ints=[12345])
    y1, *_ = run_site(plan)
    mine0, mine1 = y0[N:].reshape(-1), y1[N:].reshape(-1)  # replica 1
    np.testing.assert_array_equal(y1[:N], y0[:N])  # the other replica is untouched
    outside = np.r_[0:first, last + 1:mine0.size]
    np.testing.assert_array_equal(mine1[outside], mine0[outside])
    hit0, hit1 = mine0[first:last + 1], mine1[first:last + 1]
    assert np.all(np.isfinite(hit1)) and np.mean(hit1 != hit0) > 0.9  # a copy may be itself
    if rule == "copy_random":  # copied from the same replica's golden operand
        assert set(hit1.tolist()) <= set(mine0.tolist())
    else:  # random finite bit patterns: huge magnitudes, both signs
        assert np.abs(hit1).max() > 1e30 and (hit1 < 0).any() and (hit1 > 0).any()
    report = plan.report
    assert report["golden"].shape == (0,) and report["injected"].shape == (0,)
    summary = report["summary"].numpy()
    np.testing.assert_allclose(summary[:4], stats(hit0.astype(np.float64)), rtol=1e-5,
                               atol=1e-6)
    np.testing.assert_allclose(summary[4:], stats(hit1.astype(np.float64)), rtol=1e-5)


def test_seeded_values_are_a_function_of_the_seed():
    first, last = 0, 63
    a = run_site(run_plan(FORWARD, "output", "random_finite", first, last, ints=[7]))[0]
    b = run_site(run_plan(FORWARD, "output", "random_finite", first, last, ints=[7]))[0]
    c = run_site(run_plan(FORWARD, "output", "random_finite", first, last, ints=[8]))[0]
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a[N:].reshape(-1)[:64], c[N:].reshape(-1)[:64])


def test_uniform_rule_stays_in_its_range():
    y1 = run_site(run_plan(FORWARD, "output", "uniform", 0, 287, floats=[1e16, 1e18],
                           ints=[3]))[0]
    hit = y1[N:].reshape(-1)
    assert np.all((hit >= np.float32(1e16)) & (hit < np.float32(1e18)))
    assert len(set(hit.tolist())) > 250


@pytest.fixture
def constant_rule():
    """A value rule registered by the test: every hit element becomes the row's one float."""
    rule = rules.register_rule(rules.ValueRule(
        name="test_constant", key="inj_test_constant", fields=(rules.Field("float"),),
        per_element=False, draw=lambda rng, selection: ["2.0"],
        compute=lambda inputs: tf.fill(tf.shape(inputs.golden), inputs.floats[0]),
        summary="a constant"))
    yield rule
    del rules.RULES[rule.name]


def test_a_run_on_the_input_of_grad_in_matches_the_numpy_model(constant_rule):
    """A run of the `_grad_in` input operand (dY interleaved and padded, artifact layout) set to
    2.0: dX is the NumPy model's convolution of the corrupted operand, the other replica and dW
    are untouched."""
    _, dx0, dw0, w = run_site()
    first, last = 64, 64 * 3 - 1
    plan = run_plan(GRAD_IN, "input", constant_rule.name, first, last, floats=[2.0])
    _, dx1, dw1, _ = run_site(plan)
    np.testing.assert_array_equal(dx1[:N], dx0[:N])
    np.testing.assert_array_equal(dw1, dw0)  # a grad_in fault leaves dW alone
    rng = np.random.default_rng(0)  # the data of run_site
    rng.standard_normal((GROUPS * N, 6, 6, 3))
    dy = rng.standard_normal((GROUPS * N, 6, 6, 4)).astype(np.float32)[N:].astype(np.float64)
    a, b = ref.grad_in_operands(dy, w.astype(np.float64), 1, 6, SITE.interleave_offset)
    assert a.shape == SITE.operand_shape(GRAD_IN, "input", N)
    golden = a.reshape(-1)[first:last + 1].copy()
    a.reshape(-1)[first:last + 1] = 2.0
    np.testing.assert_allclose(dx1[N:], ref.conv_valid(a, b), rtol=1e-4, atol=1e-4)
    summary = plan.report["summary"].numpy()
    np.testing.assert_allclose(summary[:4], stats(golden), rtol=1e-5, atol=1e-6)
    assert summary[4:].tolist() == [2.0, 2.0, pytest.approx(2.0), 2.0]


def test_listed_positions_and_per_element_parameters_still_work():
    y0, *_ = run_site()
    shape = SITE.operand_shape(FORWARD, "output", N)
    flat = np.ravel_multi_index(np.array([[0, 1, 2, 3], [1, 5, 5, 0]]).T, shape)
    plan = FaultPlan.of(FORWARD, layer=0, operand=2, replica=0, rule=rules.index_of("bitflip"),
                        indices=flat, span=NO_RUN, floats=[0.0, 0.0], ints=[31, 31])
    y1, *_ = run_site(plan)
    assert y1[0, 1, 2, 3] == -y0[0, 1, 2, 3] and y1[1, 5, 5, 0] == -y0[1, 5, 5, 0]
    changed = np.argwhere(y1 != y0)
    assert changed.tolist() == [[0, 1, 2, 3], [1, 5, 5, 0]]
    np.testing.assert_array_equal(plan.report["injected"].numpy(),
                                  [y1[0, 1, 2, 3], y1[1, 5, 5, 0]])


ARTIFACT_CSVS = sorted((Path(__file__).resolve().parents[2] / "injections" / "artifact")
                       .glob("resnet18*/*.csv"))


@pytest.mark.parametrize("path", ARTIFACT_CSVS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_artifact_csv_writes_exactly_its_values(path):
    """The fault of each of the artifact's resnet18-family CSVs, as the engine runs it, on an
    operand of the CSV's shape: its listed elements take its values, nothing else changes."""
    hit = injection.parse(path)
    operand = np.random.default_rng(0).standard_normal(hit.shape).astype(np.float32)
    plan = FaultPlan(hit.pass_, train.fault_args(hit, hit.config))
    corrupted, mask, (golden, injected, summary) = fault_ops.corrupt(plan, tf.constant(operand))
    corrupted, mask = corrupted.numpy().reshape(-1), mask.numpy().reshape(-1)
    assert np.flatnonzero(mask).tolist() == sorted(hit.flat.tolist())
    np.testing.assert_array_equal(corrupted[hit.flat], np.float32(hit.floats))
    untouched = np.ones(operand.size, bool)
    untouched[hit.flat] = False
    np.testing.assert_array_equal(corrupted[untouched], operand.reshape(-1)[untouched])
    np.testing.assert_array_equal(golden.numpy(), operand.reshape(-1)[hit.flat])
    np.testing.assert_array_equal(injected.numpy(), np.float32(hit.floats))
    assert summary.numpy()[7] == np.abs(np.float32(hit.floats)).max()


# ---------------------------------------------------------------- any bounds the checker accepts
FP32_MAX = float(np.finfo(np.float32).max)
RUN = patterns.Selection((4096,), first=0, last=4095)
FP32 = st.floats(-FP32_MAX, FP32_MAX, width=32)  # every finite fp32, subnormals and -0 included
HUGE = (-3e38, 3e38)  # high - low overflows fp32: every element was +Infinity


def _bounds_of_the_checker(low: float, high: float) -> tuple[float, float] | None:
    """(low, high) as the strict CSV reader takes an `inj_uniform` row, or None when it refuses
    them (its only refusal of two finite fp32 values: low not below high)."""
    texts = ["3", repr(low), repr(high)]
    try:
        floats, _ = injection._rule_parameters("t.csv", UNIFORM, texts, RUN)
    except BadInput:
        assert not np.float32(low) < np.float32(high)
        return None
    return float(np.float32(floats[0])), float(np.float32(floats[1]))


def _assert_finite_within(values: np.ndarray, low: float, high: float) -> None:
    values = np.asarray(values, np.float32)
    assert np.all(np.isfinite(values)), values[~np.isfinite(values)][:5]
    assert np.all((values >= np.float32(low)) & (values < np.float32(high))), (
        values.min(), values.max())


def _uniform_in_the_graph(low: float, high: float, seed: int, size: int = 4096) -> np.ndarray:
    inputs = rules.RuleInputs(golden=tf.zeros([size]), index=tf.range(size, dtype=tf.int64),
                              floats=tf.constant([low, high], tf.float32),
                              ints=tf.constant([seed], tf.int64))
    return UNIFORM.compute(inputs).numpy()


@settings(max_examples=150, deadline=None)
@given(low=FP32, high=FP32, seed=st.integers(0, 2**63 - 1))
@example(low=HUGE[0], high=HUGE[1], seed=3)
@example(low=-FP32_MAX, high=FP32_MAX, seed=0)
@example(low=-1e-45, high=0.0, seed=1)  # subnormal bounds (TensorFlow flushes them to zero)
@example(low=1.0, high=1.0000001, seed=2)  # adjacent fp32 values: one value in range
def test_every_value_rule_is_finite_and_within_any_accepted_bounds(low, high, seed):
    """`inj_uniform` in the graph, and the generation-time draws of `--value-range` (listed
    values as `inj_values`, a run's row as `inj_uniform`), for any bounds the checker takes."""
    bounds = _bounds_of_the_checker(low, high)
    assume(bounds is not None)
    low, high = bounds
    _assert_finite_within(_uniform_in_the_graph(low, high, seed), low, high)
    rng = np.random.default_rng(seed)
    listed = patterns.listed((4096,), np.arange(4096))
    drawn = explicit.uniform(low, high).draw(rng, listed)
    floats, _ = injection._rule_parameters("t.csv", explicit.EXPLICIT, drawn, listed)
    _assert_finite_within(floats, low, high)
    row = uniform.within(low, high).draw(rng, RUN)
    assert _bounds_of_the_checker(float(row[1]), float(row[2])) == (low, high)


def test_the_usual_bounds_draw_the_same_values_as_before():
    """For a range whose width fits fp32 the rule is TensorFlow's `stateless_uniform(low,
    high)`, bit for bit (the arithmetic of campaigns generated before the fix)."""
    for (low, high), seed in (((1e16, 1e18), 3), ((-1.0, 1.0), 4), ((0.0, 1e-3), 5),
                              ((-5e37, 5e37), 6)):
        plain = tf.random.stateless_uniform([4096], rules.stateless_seed(seed, uniform.SALT),
                                            low, high, tf.float32, alg=rules.PHILOX).numpy()
        now = _uniform_in_the_graph(low, high, seed)
        np.testing.assert_array_equal(now.view(np.uint32), plain.view(np.uint32))


def test_generate_with_the_widest_value_range_injects_finite_values(tmp_path):
    """`fi-core generate --value-range=-3e38,3e38` (listed values and runs), each CSV's fault
    applied to an operand of its shape: every hit element is finite and in the range."""
    out = tmp_path / "csv"
    assert cli.main(["generate", "--n", "6", "--seed", "11", "--fmodels", "RD,RD_GLB",
                     "--value-range=-3e38,3e38", "--out", str(out)]) == 0
    kinds = set()
    for path in sorted(out.glob("*.csv")):
        hit = injection.parse(path)
        kinds.add(hit.value_kind)
        operand = np.zeros(hit.shape, np.float32)
        plan = FaultPlan(hit.pass_, train.fault_args(hit, hit.config))
        corrupted, mask, _ = fault_ops.corrupt(plan, tf.constant(operand))
        hit_values = corrupted.numpy().reshape(-1)[mask.numpy().reshape(-1)]
        assert hit_values.size == hit.count
        _assert_finite_within(hit_values, *HUGE)
    assert kinds == {"explicit", "uniform"}
