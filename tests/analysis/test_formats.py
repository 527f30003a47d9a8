"""fi_formats: the trace record's one declaration, and its validator."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path

import jsonschema
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fi_formats
from analysis import synthetic as syn

ROOT = Path(__file__).resolve().parents[2]


def test_schema_is_a_draft7_schema_shipped_with_the_package() -> None:
    schema = fi_formats.load_trace_schema()
    jsonschema.Draft7Validator.check_schema(schema)
    assert schema["properties"]["format"]["const"] == fi_formats.TRACE_FORMAT == "fi-trace/1"
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "fi_formats*" in project["tool"]["setuptools"]["packages"]["find"]["include"]
    assert fi_formats.TRACE_SCHEMA_FILE.endswith(".schema.json")
    assert project["tool"]["setuptools"]["package-data"]["fi_formats"] == ["*.schema.json"]


def test_validator_needs_no_heavy_imports() -> None:
    """The writer's tests and the reader's workers validate with fastjsonschema alone."""
    probe = (
        "import json, sys, fi_formats\n"
        "print(fi_formats.trace_problems({'format': 'fi-trace/1'}))\n"
        "print(sorted(m for m in ('numpy', 'pandas', 'analysis', 'fi_core', 'tensorflow') "
        "if m in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.splitlines()
    assert out == ["['kind: missing']", "[]"]


def test_problems_name_the_field_in_one_line() -> None:
    golden = syn.golden_record("g")
    record = json.loads(syn.json_text(syn.injection_record("i", golden, 5, 3)))
    assert fi_formats.trace_problems(record) == []
    record["steps"][3]["accuracy"] = 1.5
    assert fi_formats.trace_problems(record) == [
        "steps[3].accuracy: must be smaller than or equal to 1"
    ]
    del record["steps"][3]["loss"]
    assert fi_formats.trace_problems(record) == ["steps[3].loss: missing"]
    record = json.loads(syn.json_text(syn.injection_record("i", golden, 5, 3)))
    record["injection"]["layer"] = "x" * 10_000
    (problem,) = fi_formats.trace_problems(record)
    assert problem.startswith("injection.layer: must be") and len(problem) < 300
    assert fi_formats.trace_problems("text") == ["record: not a JSON object"]
    assert fi_formats.trace_problems({"format": "fi-trace/9\n"}) == [
        "format: not an fi-trace/1 record (format is 'fi-trace/9\\n')"
    ]


_VALID = json.loads(
    syn.json_text(
        syn.injection_record(
            "i", syn.golden_record("g", config={"epochs": 3, "steps_per_epoch": 2}), 1, 1
        )
    )
)
_ANY = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.floats(allow_nan=False)
    | st.text(max_size=8) | st.sampled_from(["NaN", "-Infinity", "fwrd_inject", "golden"]),
    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=6), c, max_size=3),
    max_leaves=10,
)  # fmt: skip


def _paths(node, path=()):
    yield path
    items = (
        node.items()
        if isinstance(node, dict)
        else enumerate(node)
        if isinstance(node, list)
        else ()
    )
    for key, value in items:
        yield from _paths(value, (*path, key))


@settings(max_examples=150, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow])  # fmt: skip
@given(st.data())
def test_fast_validator_agrees_with_the_reference_one(data) -> None:
    """fi_formats validates with fastjsonschema on a copy of the schema whose references are
    inlined (3x faster); jsonschema on the file as written must give the same verdict."""
    record = json.loads(json.dumps(_VALID))
    path = data.draw(st.sampled_from(list(_paths(record))[1:]))
    parent = record
    for key in path[:-1]:
        parent = parent[key]
    if data.draw(st.booleans()) and isinstance(parent, dict):
        del parent[path[-1]]
    else:
        parent[path[-1]] = data.draw(_ANY)
    reference = jsonschema.Draft7Validator(fi_formats.load_trace_schema())
    is_valid = record.get("format") == "fi-trace/1" and reference.is_valid(record)
    assert (fi_formats.trace_problems(record) == []) == is_valid, (path, record)
