"""The text trace's writer and parser agree: every line the writer can produce parses back to
the values it was written from (losses and accuracies to their five printed decimals, the
values at the injection sites exactly), and a whole trace written line by line parses back to
its events. Standard library and hypothesis only."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fi_formats import trace_text as tt

PROPERTY = settings(max_examples=200, deadline=None, derandomize=True, database=None)

counts = st.integers(1, 10_000)
floats = st.floats(allow_nan=True, allow_infinity=True, width=64)
finite = st.floats(-1e6, 1e6, allow_nan=False)
names = st.from_regex(r"[A-Za-z][A-Za-z0-9_.-]{0,63}", fullmatch=True)
index = st.lists(st.integers(0, 10**6), min_size=1, max_size=tt.MAX_RANK).map(tuple)


def _printed(x: float) -> float:
    """What a five-decimal line gives back."""
    return float(f"{x:.5f}")


def _same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == b


@st.composite
def positions(draw: st.DrawFn) -> tuple[int, int, int, int]:
    total = draw(counts)
    return draw(st.integers(0, total - 1)), total, 0, 0


@PROPERTY
@given(st.data(), counts, counts, finite, finite)
def test_a_step_line_round_trips(data, epochs, steps, loss, accuracy):
    epoch, step = data.draw(st.integers(0, epochs - 1)), data.draw(st.integers(0, steps - 1))
    line = tt.step_line(epoch, epochs, step, steps, loss, accuracy)
    assert tt.parse_line(line) == ("step", (epoch, epochs, step, steps, _printed(loss),
                                            _printed(accuracy)))
    m = tt.STEP.match(line)  # the reader's fast path gives the same values
    assert m is not None and tt.step_values(m) == tt.parse_line(line)[1]


@PROPERTY
@given(st.data(), counts, st.tuples(floats, floats, floats, floats))
def test_an_epoch_line_round_trips(data, epochs, metrics):
    epoch = data.draw(st.integers(0, epochs - 1))
    kind, values = tt.parse_line(tt.epoch_line(epoch, epochs, *metrics))
    assert kind == "epoch" and values[:2] == (epoch, epochs)
    assert all(_same(got, _printed(x)) for got, x in zip(values[2:], metrics, strict=True))


@PROPERTY
@given(index, floats, floats)
def test_a_position_line_round_trips_exactly(position, golden, injected):
    shown = repr(injected)
    kind, (got, golden_back, injected_back, text) = tt.parse_line(
        tt.position_line(position, golden, shown))
    assert kind == "position" and tuple(got) == position and text == shown
    assert _same(golden_back, golden) and _same(injected_back, injected)


@PROPERTY
@given(index, index, st.integers(1, tt.MAX_RANGE_COUNT), floats, floats)
def test_a_range_line_round_trips_exactly(first, last, count, golden, injected):
    kind, (a, b, n, g, i) = tt.parse_line(tt.range_line(first, last, count, golden, injected))
    assert (kind, tuple(a), tuple(b), n) == ("range", first, last, count)
    assert _same(g, golden) and _same(i, injected)


@PROPERTY
@given(st.integers(0, tt.MAX_EPOCHS), st.integers(0, tt.MAX_STEPS),
       st.integers(0, tt.MAX_REPLICAS), names, index)
def test_the_injection_header_round_trips(epoch, step, replica, layer, shape):
    lines = [*tt.inject_header_lines(epoch, step), *tt.site_lines(replica, layer, shape)]
    assert tt.parse_lines(lines) == [("inject_epoch", (epoch,)), ("inject_step", (step,)),
                                     ("worker", (replica,)), ("layer", (layer,)),
                                     ("shape", (list(shape),))]


@PROPERTY
@given(st.integers(0, tt.MAX_EPOCHS), st.none() | st.integers(0, tt.MAX_STEPS), names, floats,
       floats, st.sampled_from(tt.DETECTION_ACTIONS),
       st.none() | st.tuples(st.integers(0, tt.MAX_EPOCHS), st.integers(0, tt.MAX_STEPS)))
def test_a_detection_line_round_trips(epoch, step, detector, value, threshold, action, resume):
    kind, got = tt.parse_line(tt.detection_line(epoch, step, detector, value, threshold, action,
                                                resume))
    assert kind == "detection"
    assert (got[0], got[1], got[2], got[5], got[6]) == (epoch, step, detector, action, resume)
    assert _same(got[3], value) and _same(got[4], threshold)


@PROPERTY
@given(names, st.sampled_from(tt.MODES), st.from_regex(r"[!-~][ -~]{0,80}[!-~]", fullmatch=True))
def test_the_header_lines_round_trip(preset, mode, path):
    assert tt.parse_lines([tt.preset_line(preset, mode), tt.load_line(path), tt.NAN_STOP]) == [
        ("preset", (preset, mode)), ("load", (path,)), ("nan_stop", ())]


@PROPERTY
@given(st.integers(1, 4), st.integers(1, 6), st.lists(finite, min_size=2, max_size=2))
def test_a_whole_trace_round_trips(epochs, steps, metric):
    """A run written the way the engine writes one (header, block, steps, epoch ends, a
    detection) parses back to its events in order, CRLF line ends included."""
    written: list[tuple[str, tuple]] = []
    lines = [*tt.inject_header_lines(0, 0), *tt.site_lines(0, "conv1", (2, 3))]
    written += [("inject_epoch", (0,)), ("inject_step", (0,)), ("worker", (0,)),
                ("layer", ("conv1",)), ("shape", ([2, 3],))]
    lines.append(tt.position_line((1, 2), 0.5, "1e+30"))
    written.append(("position", ([1, 2], 0.5, 1e30, "1e+30")))
    for e in range(epochs):
        for s in range(steps):
            lines.append(tt.step_line(e, epochs, s, steps, *metric))
            written.append(("step", (e, epochs, s, steps, *map(_printed, metric))))
        lines.append(tt.detection_line(e, None, "loss_spike", 2.0, 1.0, "none"))
        written.append(("detection", (e, None, "loss_spike", 2.0, 1.0, "none", None)))
        lines.append(tt.epoch_line(e, epochs, *metric, *metric))
        written.append(("epoch", (e, epochs, *map(_printed, [*metric, *metric]))))
    text = "\r\n".join(lines) + "\r\n"
    assert tt.parse_lines(text.split("\n")) == written


@pytest.mark.parametrize(("line", "reason"), [
    ("Epoch: 3/3, step: 0/5, loss: 1.0, accuracy: 0.5", "epoch 3 of 0..2"),
    ("Epoch: 0/3, step: 5/5, loss: 1.0, accuracy: 0.5", "step 5 of 0..4"),
    ("Epoch: 0/3, step: 1/5, loss: 1_0, accuracy: 0.5", "malformed step line"),
    ("Epoch: \u0660/3, step: 1/5, loss: 1.0, accuracy: 0.5", "malformed step line"),
    ("Inject worker: 1000001", "worker: 1000001 is larger than 1000000"),
    ("Inject to step: x", "step: not a whole number"),
    ("Shape for target layer is (1, 2, 3, 4, 5, 6, 7, 8, 9)",
     "more than 8 dimensions: (1, 2, 3, 4, 5, 6, 7, 8, 9)"),
    ("Mitigation: epoch 0, step 1, detector d, value 1, threshold 1, action explode",
     "malformed mitigation line"),
    ("Mitigation preset: p, mode loud", "malformed mitigation preset line"),
    ("Hello", "unrecognised line"),
])
def test_a_line_not_in_the_format_is_refused_with_its_reason(line, reason):
    with pytest.raises(tt.LineError) as error:
        tt.parse_line(line)
    assert str(error.value) == reason
