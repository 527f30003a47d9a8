"""End to end from the command line, as a new user would: a `_GLB` campaign on the small
workload replays and each trace records its run (range, count, summaries); a fault model and a
value rule added in one plugin file work through generate, validate and inject (`--plugin` and
FI_CORE_PLUGINS). One golden run and one inject process are shared by the module."""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import fi_formats
from fi_core.replay import runs
from fi_core.spec import injection, workloads

GLB = {"RD_GLB": (16, "random_finite"), "RD_CORRECT_GLB": (16, "copy_random"),
       "N64_INPUT_GLB": (64, "copy_random"), "N64_WT_GLB": (64, "copy_random")}
SETTINGS = ["--set", "epochs=1", "--min-epoch", "0", "--stages", "fwrd_inject"]  # cheap

PLUGIN = '''"""A user's value rule and fault model in one file: the sign bit stuck at 1 on a run."""
from fi_core import faults
from fi_core.faults import Field, FaultModel, ValueRule, patterns


def draw(rng, selection):
    return ["31", "1"]  # bit, value


def compute(inputs):
    import tensorflow as tf

    bit = tf.cast(inputs.ints[0], tf.int32)
    value = tf.cast(inputs.ints[1], tf.int32)
    mask = tf.bitwise.left_shift(tf.constant(1, tf.int32), bit)
    raw = tf.bitwise.bitwise_and(tf.bitcast(inputs.golden, tf.int32), tf.bitwise.invert(mask))
    return tf.bitcast(tf.bitwise.bitwise_or(raw, mask * value), tf.float32)


STUCK_AT = faults.register_rule(ValueRule(
    name="stuck_at", key="inj_stuck_at", fields=(Field("int", 0, 32), Field("int", 0, 2)),
    per_element=False, draw=draw, compute=compute, summary="one bit stuck at 0 or 1"))
faults.register(FaultModel("STUCK_SIGN_GLB", "output", patterns.global_run(16), STUCK_AT))
'''


def run_cli(*args: str, plugin_dir: Path | None = None, env_plugins: str | None = None,
            timeout: int = 900) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    if plugin_dir is not None:
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(plugin_dir), env.get("PYTHONPATH", "")) if p)
    env.pop("FI_CORE_PLUGINS", None)
    if env_plugins is not None:
        env["FI_CORE_PLUGINS"] = env_plugins
    return subprocess.run([sys.executable, "-m", "fi_core", *args], capture_output=True,
                          text=True, timeout=timeout, env=env)


@pytest.fixture(scope="module")
def campaign_run(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("glb")
    plugins = root / "plugins"
    plugins.mkdir()
    (plugins / "stuck_plugin.py").write_text(PLUGIN)
    golden = root / "golden"
    runs.golden("resnet18_small", workloads.resolve("resnet18_small", {"epochs": "1"}), golden)
    csv = root / "csv"
    for seed, name in enumerate(GLB):
        result = run_cli("generate", *SETTINGS, "--n", "1", "--seed", str(seed), "--fmodels",
                         name, "--prefix", name, "--out", str(csv))
        assert result.returncode == 0, result.stderr
    result = run_cli("generate", *SETTINGS, "--n", "1", "--seed", "7", "--fmodels",
                     "STUCK_SIGN_GLB", "--prefix", "stuck", "--out", str(csv),
                     "--plugin", "stuck_plugin", plugin_dir=plugins)
    assert result.returncode == 0, result.stderr
    paths = sorted(csv.glob("*.csv"))
    files = [arg for path in paths for arg in ("--file", str(path))]
    out = root / "traces"
    inject = run_cli("inject", *files, "--golden", str(golden), "--out-dir", str(out),
                     "--plugin", "stuck_plugin", plugin_dir=plugins)
    return {"root": root, "plugins": plugins, "csv": paths, "out": out, "inject": inject}


def traces(campaign_run, prefix: str):
    out = campaign_run["out"]
    return [(json.loads(p.read_text()), p.with_suffix(".txt").read_text().splitlines())
            for p in sorted(out.glob(f"{prefix}*.json"))]


def test_the_glb_campaign_replays_and_records_each_run(campaign_run):
    assert campaign_run["inject"].returncode == 0, campaign_run["inject"].stderr[-2000:]
    for name, (group, kind) in GLB.items():
        [(record, lines)] = traces(campaign_run, name)
        assert fi_formats.trace_problems(record) == []  # ranges as fi_formats declares them
        inj = record["injection"]
        size = math.prod(inj["shape"])
        first, last = inj["range"]["first"], inj["range"]["last"]
        assert inj["fmodel"] == name and inj["value_kind"] == kind
        assert inj["count"] == last - first + 1 and 0 <= first <= last < size
        assert first % group == 0 and inj["count"] % group == 0
        assert inj["positions"] == inj["golden_values"] == inj["injected_values"] == []
        for summary in (inj["golden_summary"], inj["injected_summary"]):
            assert set(summary) == {"min", "max", "mean", "max_abs"}
        # The text trace: one Range line instead of a line per element.
        assert not any(line.startswith("Position is") for line in lines)
        [line] = [line for line in lines if line.startswith("Range is")]
        start, end = (tuple(int(i) for i in np.unravel_index(v, inj["shape"]))
                      for v in (first, last))
        assert line == (f"Range is {start} to {end}, {inj['count']} elements, Golden data max "
                        f"abs is {inj['golden_summary']['max_abs']!r}, inject data max abs is "
                        f"{inj['injected_summary']['max_abs']!r}")
        assert lines[-1].startswith(("End of epoch: 0/1", "Encounter NaN!"))
        csv_rows = injection.read_rows(campaign_run["out"].parent / "csv" / f"{name}00000.csv")
        assert sum(len(v) for v in csv_rows.values()) < 20  # the CSV is a few short lines


def test_a_plugin_file_adds_a_fault_model_and_a_value_rule(campaign_run):
    assert campaign_run["inject"].returncode == 0, campaign_run["inject"].stderr[-2000:]
    [(record, _)] = traces(campaign_run, "stuck")
    inj = record["injection"]
    assert inj["fmodel"] == "STUCK_SIGN_GLB" and inj["value_kind"] == "stuck_at"
    assert record["csv"]["inj_stuck_at"] == "31,1" and inj["requested"] == ["31", "1"]
    golden, injected = inj["golden_summary"], inj["injected_summary"]
    assert injected["max"] <= 0.0  # every element of the run negative (or -0.0)
    assert injected["max_abs"] == golden["max_abs"]  # the sign bit does not change magnitudes
    assert golden["max"] > 0.0  # and the run held positive values before


def test_plugin_csvs_validate_only_with_the_plugin(campaign_run):
    paths = [str(p) for p in campaign_run["csv"]]
    plugin_csv = next(p for p in paths if Path(p).name.startswith("stuck"))
    result = run_cli("validate", *paths)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [f"{plugin_csv}: inj_stuck_at: unknown key"]
    result = run_cli("validate", *paths, env_plugins="stuck_plugin",
                     plugin_dir=campaign_run["plugins"])
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(("plugin", "reason"), [
    ("no_such_module", "cannot load the plugin: ModuleNotFoundError"),
    ("bad name;rm", "is not a module name"),
    ("broken_plugin", "cannot load the plugin: ValueError: fault model 'RD' is already"),
])
def test_a_bad_plugin_is_one_line_and_exit_2(campaign_run, plugin, reason):
    (campaign_run["plugins"] / "broken_plugin.py").write_text(
        "from fi_core import faults\n"
        "faults.register(faults.get('RD'))  # a name that is taken\n")
    result = run_cli("validate", str(campaign_run["csv"][0]), "--plugin", plugin,
                     plugin_dir=campaign_run["plugins"])
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and re.search(re.escape(reason), lines[0]), lines
