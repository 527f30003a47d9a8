"""Plugins are code, named by the user only: one that exits or raises at import is one line
naming it (exit 2), one that prints keeps stdout's JSON intact, and no data file can make a
command import a module."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from fi_core.spec import injection
from tests.fi_core.hostile import one_line, run_cli
from tests.fi_core.test_resume import write_csvs

MARKER_MODULE = "plants_a_marker"


@pytest.fixture
def plugin_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "plugins"
    folder.mkdir()
    (folder / "exits_plugin.py").write_text("import sys\nsys.exit(0)\n")
    (folder / "raises_plugin.py").write_text("raise RuntimeError('no GPU here')\n")
    (folder / "prints_plugin.py").write_text("print('hello from a plugin')\n")
    # Importing this module leaves a file: the proof that something imported it.
    (folder / f"{MARKER_MODULE}.py").write_text(
        "import pathlib\n"
        f"pathlib.Path({str(tmp_path / 'imported')!r}).write_text('yes')\n")
    return folder


def _env(plugin_dir: Path) -> dict[str, str]:
    repo = Path(__file__).resolve().parents[2]
    return {"PYTHONPATH": f"{plugin_dir}:{repo}"}


@pytest.mark.parametrize(("plugin", "reason"), [
    ("exits_plugin", "cannot load the plugin: it exits at import (SystemExit: 0)"),
    ("raises_plugin", "cannot load the plugin: RuntimeError: no GPU here"),
])
def test_a_plugin_that_exits_or_raises_at_import_is_one_line(plugin_dir, plugin, reason):
    result = run_cli("describe", "--plugin", plugin, env=_env(plugin_dir), text=True)
    assert result.returncode == 2
    assert result.stdout == ""
    assert one_line(result.stderr) == f"--plugin: {plugin}: {reason}"


def test_what_a_plugin_prints_at_import_goes_to_stderr(plugin_dir):
    result = run_cli("describe", "--plugin", "prints_plugin", env=_env(plugin_dir), text=True)
    assert result.returncode == 0, result.stderr
    assert "fault_models" in json.loads(result.stdout)
    assert result.stderr == "hello from a plugin\n"
    request = json.dumps({"plugins": ["prints_plugin"]})
    checked = run_cli("check-config", env=_env(plugin_dir), text=True, input=request)
    assert checked.returncode == 0, checked.stderr
    json.loads(checked.stdout)  # still one JSON document
    assert "hello from a plugin" in checked.stderr


def test_no_data_file_can_name_a_module_to_import(plugin_dir, micro_golden, tmp_path):
    csv = write_csvs(tmp_path / "csv")[0]
    rows = injection.read_rows(csv)
    tampered = {
        "plugin key": {**rows, "plugin": [MARKER_MODULE]},
        "fmodel": {**rows, "fmodel": [MARKER_MODULE]},
        "workload": {**rows, "workload": [MARKER_MODULE]},
        "value key": {**{k: v for k, v in rows.items() if k != "inj_values"},
                      f"inj_{MARKER_MODULE}": ["1"]},
    }
    paths = []
    for index, changed in enumerate(tampered.values()):
        paths.append(tmp_path / f"bad_{index}.csv")
        injection.write(paths[-1], changed)
    result = run_cli("validate", *map(str, paths), env=_env(plugin_dir), text=True)
    assert result.returncode == 2
    assert len(result.stderr.splitlines()) == len(paths)

    golden = tmp_path / "golden"
    shutil.copytree(micro_golden, golden)
    workload = json.loads((golden / "workload.json").read_text())
    workload["plugins"] = [MARKER_MODULE]
    workload["workload"] = MARKER_MODULE
    (golden / "workload.json").write_text(json.dumps(workload))
    result = run_cli("inject", "--file", str(csv), "--golden", str(golden), "--out-dir",
                     str(tmp_path / "out"), env=_env(plugin_dir), text=True)
    assert result.returncode == 2
    assert one_line(result.stderr).startswith(str(golden / "workload.json"))
    assert not (tmp_path / "imported").exists()
    assert not (tmp_path / "out").exists()

    # The same module named by the user is imported: the marker proves the check can fail.
    result = run_cli("describe", "--plugin", MARKER_MODULE, env=_env(plugin_dir), text=True)
    assert result.returncode == 0 and (tmp_path / "imported").read_text() == "yes"
