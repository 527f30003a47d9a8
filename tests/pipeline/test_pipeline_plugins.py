"""The pipeline's plugin hook: `plugins` in the config reaches every fi_core command as a quoted
`--plugin`, fault-model names are left to the engine (no list of 18 in the schema), and a
plugin entry that is not a module name is refused by a dry run."""

from __future__ import annotations

import re

from .pipeline_helpers import run_snakemake, write_config

# Two real plugins in the working directory (where the workflow's Python finds them): a module
# that registers a fault model, and a package module that only has to import.
STUCK_PLUGIN = """from fi_core import faults
from fi_core.faults import Field, FaultModel, ValueRule, patterns


def draw(rng, selection):
    return ["31", "1"]


def compute(inputs):
    raise NotImplementedError  # a dry run never computes a value


STUCK_AT = faults.register_rule(ValueRule(
    name="stuck_at_dry", key="inj_stuck_at_dry", fields=(Field("int", 0, 32), Field("int", 0, 2)),
    per_element=False, draw=draw, compute=compute, summary="one bit stuck at 0 or 1"))
faults.register(FaultModel("STUCK_SIGN_GLB", "output", patterns.global_run(16), STUCK_AT))
"""


def write_plugins(tmp_path):
    (tmp_path / "my_faults.py").write_text(STUCK_PLUGIN)
    (tmp_path / "lab").mkdir()
    (tmp_path / "lab" / "__init__.py").write_text("")
    (tmp_path / "lab" / "more_faults.py").write_text("LOADED = True\n")


def config(tmp_path, plugins, fmodels):
    return write_config(tmp_path / "config.yaml", {
        "plugins": plugins,
        "campaigns": {"default": {"workload": "resnet18_small", "n": 2, "fmodels": fmodels}},
    })


def test_plugins_reach_every_fi_core_command(tmp_path):
    write_plugins(tmp_path)
    path = config(tmp_path, ["my_faults", "lab.more_faults"], ["RD", "STUCK_SIGN_GLB"])
    result = run_snakemake(tmp_path, "-n", "-p", "--configfile", str(path), timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    commands = [line for line in result.stdout.splitlines() if "python -m fi_core" in line]
    assert {re.search(r"fi_core (\w+)", c).group(1) for c in commands} == {
        "golden", "generate", "inject"}
    for command in commands:
        assert re.search(r"fi_core \w+ --plugin my_faults --plugin lab.more_faults ", command)
    assert any("--fmodels RD,STUCK_SIGN_GLB" in c for c in commands)


def test_a_fault_model_without_its_plugin_is_refused(tmp_path):
    path = config(tmp_path, [], ["RD", "STUCK_SIGN_GLB"])
    result = run_snakemake(tmp_path, "-n", "--configfile", str(path), timeout=300)
    assert result.returncode != 0
    assert "STUCK_SIGN_GLB" in result.stdout + result.stderr


def test_a_plugin_that_does_not_import_is_one_line(tmp_path):
    path = config(tmp_path, ["no_such_plugin_module"], None)
    result = run_snakemake(tmp_path, "-n", "--configfile", str(path), timeout=300)
    assert result.returncode != 0
    assert "no_such_plugin_module" in result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr


def test_a_plugin_that_is_not_a_module_name_is_refused(tmp_path):
    path = config(tmp_path, ["x; touch pwned"], None)
    result = run_snakemake(tmp_path, "-n", "--configfile", str(path), timeout=300)
    assert result.returncode != 0
    assert "x; touch pwned" in result.stdout + result.stderr
    assert not (tmp_path / "pwned").exists()
