"""Property-based tests: both trace parsers are total.

Whatever the bytes (arbitrary bytes, arbitrary Unicode text, arbitrary JSON, valid traces with
random damage), a parser returns a Trace: either complete, and then its row goes into the
results table and through classification, or incomplete with its reasons (the documented
refusal: the Incomplete row). Never an exception. Examples are derandomised (the same in every
run, so CI is stable) and few enough to take a few seconds.
"""

from __future__ import annotations

import json
import math
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analysis import synthetic as syn
from analysis.errors import InputError
from analysis.golden import load_golden_set
from analysis.outcomes import classify_rows
from analysis.parse_json import parse_json
from analysis.parse_text import parse_text
from analysis.rows import summary_row
from analysis.table import rows_to_table
from analysis.trace import MAX_PROBLEMS, Trace

SETTINGS = settings(
    max_examples=120,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

SMALL = {"epochs": 4, "steps_per_epoch": 5}
GOLDEN = syn.golden_record("golden", config=SMALL)
GOLDEN_SET = load_golden_set([parse_json("golden.json", syn.json_text(GOLDEN).encode())])
VALID = [
    syn.injection_record("ok", GOLDEN, 1, 2),
    syn.injection_record("nan", GOLDEN, 1, 2, nonfinite_at=(2, 3), stage="bkwd_inject"),
    syn.injection_record("test", GOLDEN, 2, 0, nonfinite_test_at=2),
    syn.injection_record("range", GOLDEN, 3, 4, value_range=(64, 127), rejoined_at=3),
]
VALID_JSON = [json.loads(syn.json_text(r)) for r in VALID]
VALID_TEXT = [syn.text_trace(r) for r in VALID]


def check(trace: Trace) -> None:
    """The property: a complete run reaches the table and a class; else its reasons."""
    assert isinstance(trace, Trace)
    if trace.problems:
        assert 1 <= len(trace.problems) <= MAX_PROBLEMS <= trace.n_problems or (
            len(trace.problems) == trace.n_problems
        )
        for problem in trace.problems:
            assert problem.startswith(trace.path) and "\n" not in problem and len(problem) < 2000
    try:
        reference = GOLDEN_SET.reference_for(trace)
    except InputError:  # a run of another campaign: refused as a whole, in one line
        return
    row = summary_row(trace, reference)
    if trace.kind == "injection" or not trace.complete:
        (label,) = classify_rows([row])
        row["outcome"] = str(label)
        assert (label == "Incomplete") == (not trace.complete)
    rows_to_table([row])  # every value fits its column


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
    | st.sampled_from(["NaN", "Infinity", "-Infinity", "fi-trace/1", "injection", "golden"]),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5)
    ),
    max_leaves=30,
)


@SETTINGS
@given(st.binary(max_size=2000))
def test_any_bytes(data: bytes) -> None:
    check(parse_json("t.json", data))
    check(parse_text("t.txt", data))


@SETTINGS
@given(st.text(max_size=2000))
def test_any_text(text: str) -> None:
    check(parse_json("t.json", text.encode("utf-8", "surrogatepass")))
    check(parse_text("t.txt", text.encode("utf-8", "surrogatepass")))


@SETTINGS
@given(json_values)
def test_any_json(value: Any) -> None:
    check(parse_json("t.json", json.dumps(value).encode()))
    if isinstance(value, dict):  # a record that at least claims to be one
        check(parse_json("t.json", json.dumps({**value, "format": "fi-trace/1"}).encode()))


def _mutate(data: st.DataObject, node: Any) -> Any:
    """Walk into ``node`` and replace, remove or retype one thing on the way."""
    if isinstance(node, dict) and node and data.draw(st.booleans()):
        key = data.draw(st.sampled_from(sorted(node)))
        action = data.draw(st.sampled_from(["descend", "delete", "replace"]))
        if action == "delete":
            return {k: v for k, v in node.items() if k != key}
        new = _mutate(data, node[key]) if action == "descend" else data.draw(json_values)
        return {**node, key: new}
    if isinstance(node, list) and node and data.draw(st.booleans()):
        i = data.draw(st.integers(0, len(node) - 1))
        action = data.draw(st.sampled_from(["descend", "delete", "replace", "duplicate"]))
        if action == "delete":
            return node[:i] + node[i + 1 :]
        if action == "duplicate":
            return node[: i + 1] + node[i:]
        new = _mutate(data, node[i]) if action == "descend" else data.draw(json_values)
        return [*node[:i], new, *node[i + 1 :]]
    return data.draw(
        json_values
        | st.integers(min_value=-(2**64), max_value=2**64)
        | st.sampled_from([-1, 0, 10**9, 2**31, 2**63, 1.5, math.pi, "NaN", "", "\n\x00"])
    )


def _numbers(node: Any, path: tuple = ()) -> list[tuple]:
    """Paths to the numbers of a record (epochs, steps, losses, accuracies, indices, ...)."""
    if isinstance(node, dict):
        return [p for k, v in node.items() for p in _numbers(v, (*path, k))]
    if isinstance(node, list):
        return [p for i, v in enumerate(node) for p in _numbers(v, (*path, i))]
    is_number = isinstance(node, (int, float)) and not isinstance(node, bool)
    return [path] if is_number or node in ("NaN", "Infinity", "-Infinity") else []


def _set(node: Any, path: tuple, value: Any) -> None:
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value


@SETTINGS
@given(st.data())
def test_damaged_json_records(data: st.DataObject) -> None:
    record = data.draw(st.sampled_from(VALID_JSON))
    if data.draw(st.booleans()):  # structural damage
        for _ in range(data.draw(st.integers(1, 3))):
            record = _mutate(data, record)
    else:  # plausible values in the wrong place: often still a valid record
        record = json.loads(json.dumps(record))
        for path in data.draw(st.lists(st.sampled_from(_numbers(record)), min_size=1, max_size=2)):
            value = st.integers(0, 30) | st.floats(0, 1) | st.sampled_from(["NaN", "Infinity"])
            _set(record, path, data.draw(value))
    text = json.dumps(record)
    if data.draw(st.booleans()):
        text = text[: data.draw(st.integers(0, len(text)))]  # cut off
    check(parse_json("t.json", text.encode()))


_TEXT_NOISE = st.sampled_from(
    [
        "Epoch: 1/4, step: 2/5, loss: nan, accuracy: 0.5",
        "End of epoch: 3/4, train loss: 0.1, train accuracy: 2.0, valid loss: inf, valid "
        "accuracy: 0.5",
        "Encounter NaN! Terminate training!",
        "Inject to epoch: 99999999999",
        "Inject worker: 7",
        "Shape for target layer is (5,)",
        "Position is (1, 2, 3, 4), Golden data is 1e400, inject data is -inf",
        "Range is (0, 0, 0, 0) to (9, 9, 9, 9), 3 elements, Golden data max abs is nan, inject "
        "data max abs is 1",
        "Epoch: \u0661/4, step: 1_0/5, loss: 1, accuracy: 1",
    ]
)


@SETTINGS
@given(st.data())
def test_damaged_text_traces(data: st.DataObject) -> None:
    lines = data.draw(st.sampled_from(VALID_TEXT)).split("\n")
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(lines) - 1))
        action = data.draw(st.sampled_from(["delete", "duplicate", "noise", "text", "edit"]))
        if action == "delete":
            del lines[i]
        elif action == "duplicate":
            lines.insert(i, lines[i])
        elif action == "noise":
            lines.insert(i, data.draw(_TEXT_NOISE))
        elif action == "text":
            lines[i] = data.draw(st.text(max_size=80))
        else:  # change one character of the line
            line = lines[i] or " "
            j = data.draw(st.integers(0, len(line) - 1))
            lines[i] = line[:j] + data.draw(st.characters()) + line[j + 1 :]
        if not lines:
            lines = [""]
    text = "\n".join(lines)
    if data.draw(st.booleans()):
        text = text[: data.draw(st.integers(0, len(text)))]
    check(parse_text("t.txt", text.encode("utf-8", "surrogatepass")))


def test_valid_examples_are_complete() -> None:
    """The seeds of the damage above are valid traces in both formats (so the properties
    start from real traces, not from garbage)."""
    for record, text in zip(VALID_JSON, VALID_TEXT, strict=True):
        assert parse_json("v.json", json.dumps(record).encode()).problems == []
        assert parse_text("v.txt", text.encode()).problems == []
