"""The pipeline's plugin hook: `plugins` in the config reaches every fi_core command as a quoted
`--plugin`, fault-model names are left to the engine (no list of 18 in the schema), and a
plugin entry that is not a module name is refused by a dry run."""

from __future__ import annotations

import re

from .pipeline_helpers import run_snakemake, write_config


def config(tmp_path, plugins, fmodels):
    return write_config(tmp_path / "config.yaml", {
        "plugins": plugins,
        "campaigns": {"default": {"workload": "resnet18_small", "n": 2, "fmodels": fmodels}},
    })


def test_plugins_reach_every_fi_core_command(tmp_path):
    path = config(tmp_path, ["my_faults", "lab.more_faults"], ["RD", "STUCK_SIGN_GLB"])
    result = run_snakemake(tmp_path, "-n", "-p", "--configfile", str(path), timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    commands = [line for line in result.stdout.splitlines() if "python -m fi_core" in line]
    assert {re.search(r"fi_core (\w+)", c).group(1) for c in commands} == {
        "golden", "generate", "inject"}
    for command in commands:
        assert re.search(r"fi_core \w+ --plugin my_faults --plugin lab.more_faults ", command)
    assert any("--fmodels RD,STUCK_SIGN_GLB" in c for c in commands)


def test_a_plugin_that_is_not_a_module_name_is_refused(tmp_path):
    path = config(tmp_path, ["x; touch pwned"], None)
    result = run_snakemake(tmp_path, "-n", "--configfile", str(path), timeout=300)
    assert result.returncode != 0
    assert "x; touch pwned" in result.stdout + result.stderr
    assert not (tmp_path / "pwned").exists()
