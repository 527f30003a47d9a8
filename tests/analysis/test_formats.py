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
    """The writer's tests and the reader's workers validate with the standard library alone."""
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
    """fi_formats validates with its own validator on a copy of the schema whose references are
    inlined; jsonschema on the file as written must give the same verdict."""
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


def _patterns(node):
    """Every `pattern` of a schema (keys named `pattern` whose value is a text)."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "pattern" and isinstance(value, str):
                yield value
            else:
                yield from _patterns(value)
    elif isinstance(node, list):
        for item in node:
            yield from _patterns(item)


_SAMPLES = [
    "w", "resnet18_small", "initial", "0", "12", "NaN", "Infinity", "a.b_c", "fi_core.x",
    "results/default", "0" * 64, "md5:" + "0" * 32, "https://example.org/x.tar.gz", "a-b",
]  # fmt: skip


def test_no_pattern_of_any_schema_accepts_a_trailing_newline() -> None:
    """Python's `$` (what jsonschema and fi_formats search with) also matches before a final
    newline, so `^w$` accepted "w\\n": every pattern of the trace and the configuration
    schemas accepts some sample, and none accepts that sample with a newline after it."""
    import re

    import yaml

    config = yaml.safe_load((ROOT / "workflow" / "schemas" / "config.schema.yaml").read_text())
    patterns = [*_patterns(fi_formats.load_trace_schema()), *_patterns(config)]
    assert len(patterns) >= 20
    for pattern in patterns:
        good = [s for s in _SAMPLES if re.search(pattern, s)]
        assert good, pattern  # the check below is not empty for this pattern
        assert not [s for s in good if re.search(pattern, s + "\n")], pattern


def test_a_name_with_a_trailing_newline_is_refused_by_both_validators() -> None:
    """The configuration checker the workflow runs (fi_pipeline.schema, jsonschema) and the
    trace validator (fi_formats: its schema validator and its column check) refuse "w\\n"."""
    import copy

    import yaml

    sys.path.insert(0, str(ROOT / "workflow" / "lib"))
    try:
        from fi_pipeline import ConfigError, schema
    finally:
        sys.path.remove(str(ROOT / "workflow" / "lib"))
    name = yaml.safe_load((ROOT / "workflow" / "schemas" / "config.schema.yaml").read_text())[
        "$defs"]["name"]["pattern"]
    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    schema.validate(copy.deepcopy(config))
    (workload,) = config["workloads"]
    config["workloads"]["w\n"] = config["workloads"].pop(workload)
    for campaign in config["campaigns"].values():
        campaign["workload"] = "w\n"
    try:
        schema.validate(config)
        refusal = ""
    except ConfigError as error:
        refusal = str(error)
    assert refusal == f"config: workloads: key 'w\\n' does not match {name}", refusal
    for field, value in (("workload", "w\n"), ("id", "i\n")):
        record = json.loads(json.dumps(_VALID))
        record[field] = value
        (problem,) = fi_formats.trace_problems(record)
        assert problem.startswith(f"{field}: must match pattern"), problem
    record = json.loads(json.dumps(_VALID))
    record["steps"][0]["loss"] = "NaN\n"  # a column: checked by fi_formats' own column plan
    assert fi_formats.check_trace(record)[0], record["steps"][0]


def test_non_finite_floats_have_one_encoding_for_writer_and_reader():
    from analysis import synthetic

    values = [float("nan"), float("inf"), float("-inf"), 1.5]
    assert [fi_formats.encode_nonfinite(v) for v in values] == [*fi_formats.NONFINITE, None]
    assert synthetic._jsonable(values) == [*fi_formats.NONFINITE, 1.5]
