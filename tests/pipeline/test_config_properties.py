"""Property-based tests (hypothesis) of the configuration check: any YAML-able value at any key
of a valid configuration, any renamed key, any whole document. The property: the configuration
is accepted (a plan), or refused with one line `config: <json path>: <reason>` that names the
changed key (or a key above or below it); never another exception.

The check runs in-process (fi_pipeline.load with the engine's and the analysis's own check
functions), as the Snakefile runs it, so hundreds of examples take seconds; a few real
`snakemake -n` runs are in test_pipeline_config.py and test_pipeline_hostile.py.
"""

from __future__ import annotations

import copy
import re

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .pipeline_helpers import DEFAULT_CONFIG, fi_pipeline, load_plan
from .test_config_check import merged

BASE = yaml.safe_load(DEFAULT_CONFIG.read_text())
SEQUENTIAL = merged(BASE, {"campaigns": {"seq": {
    "workload": "resnet18_small", "seed": 1, "fmodels": ["RD", "ZERO"],
    "target": {"half_width": 0.25, "looks": 2, "by": ["stage", "fmodel"]}}}})
CROSS_KEYS = {"inject.batch", "inject.workers"}  # job limits: whatever made campaigns big
REFERENCES = re.compile(r"run\[\d+\]|studies\.[\w-]+\.campaigns\[\d+\]|"
                        r"campaigns\.[\w-]+\.workload")
"""Keys that name another section's entry: renaming or removing that entry refuses them."""

SETTINGS = settings(max_examples=150, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

scalars = st.one_of(
    st.none(), st.booleans(),
    st.integers(), st.integers(min_value=-3, max_value=200),
    st.floats(allow_nan=True, allow_infinity=True), st.floats(min_value=0, max_value=1),
    st.text(max_size=30),
    st.sampled_from(["inj_", "conv1", "RD", "stage", "fwrd_inject", "resnet18_small", "$(id)",
                     "a b", "`touch X`", "x;y", "'", '"', "../x", "-rf", "\n", "\x00", "é"]),
)
values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.one_of(st.text(max_size=12), st.integers()), children, max_size=4)),
    max_leaves=12,
)


def paths(node, prefix=()):
    """Every key path of a configuration (mappings and list items)."""
    yield prefix
    if isinstance(node, dict):
        for key, child in node.items():
            yield from paths(child, (*prefix, key))
    elif isinstance(node, list):
        for i, child in enumerate(node):
            yield from paths(child, (*prefix, i))


def dotted(path) -> str:
    return fi_pipeline.errors.json_path(list(path))


def set_at(config, path, value):
    node = config
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value


def related(named: str, changed: str) -> bool:
    """The refusal names the changed key, a key above it, a key below it, or a reference to
    an entry of the section that changed."""
    if named in CROSS_KEYS or changed == "(top level)" or named == "(top level)":
        return True
    if REFERENCES.fullmatch(named) and changed.split(".")[0].split("[")[0] in (
            "run", "studies", "campaigns", "workloads"):
        return True
    return (named == changed or changed.startswith(named + ".") or
            changed.startswith(named + "[") or named.startswith(changed + ".") or
            named.startswith(changed + "["))


def check(config, changed: str) -> None:
    try:
        load_plan(config)
    except fi_pipeline.ConfigError as error:
        line = str(error)
        assert "\n" not in line and len(line) <= 300, line
        assert line.startswith(f"config: {error.where}: "), line
        assert error.where != "(workflow)", line
        assert related(error.where, changed), (line, changed)


@SETTINGS
@given(st.sampled_from([BASE, SEQUENTIAL]), st.data(), values)
def test_any_value_at_any_key(base, data, value):
    config = copy.deepcopy(base)
    path = data.draw(st.sampled_from([p for p in paths(config) if p]))
    set_at(config, path, value)
    check(config, dotted(path))


@SETTINGS
@given(st.sampled_from([BASE, SEQUENTIAL]), st.data(), st.text(max_size=20), values)
def test_any_new_or_renamed_key(base, data, key, value):
    config = copy.deepcopy(base)
    mappings = [p for p in paths(config) if isinstance(_at(config, p), dict)]
    path = data.draw(st.sampled_from(mappings))
    node = _at(config, path)
    if node and data.draw(st.booleans()):  # rename an existing key
        old = data.draw(st.sampled_from(sorted(node)))
        node[key] = node.pop(old)
    else:
        node[key] = value
    check(config, dotted(path))


def _at(config, path):
    node = config
    for key in path:
        node = node[key]
    return node


@SETTINGS
@given(values)
def test_any_document(document):
    check(document, "(top level)")


@settings(max_examples=60, deadline=None)
@given(st.integers(min_value=1, max_value=200), st.integers(min_value=1, max_value=50),
       st.one_of(st.none(), st.integers(min_value=1, max_value=9)))
def test_jobs_cover_the_ids_once_whatever_the_split(n, batch, workers):
    config = merged(BASE, {"campaigns": {"default": {"n": n}},
                           "inject": {"batch": batch, "workers": workers}})
    plan = load_plan(config)
    cut = plan.campaigns["default"].jobs
    ids = [i for job in cut for i in job.ids]
    assert ids == [f"inj_{i:05d}" for i in range(n)]
    assert len({job.label for job in cut}) == len(cut)
