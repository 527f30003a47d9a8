"""One table of outcome rules drives everything: a rule plugin in one file (a temporary
module) classifies, adds its threshold as an option of the commands, as a key check-config and
the pipeline schema accept, its feature as a column (computed from the golden run's per-step
curves) and its label as a column of the rates; the built-ins are documented and in the
pipeline schema exactly as the table declares them."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from analysis import plugins
from analysis.cli import main
from analysis.config_check import check_request
from analysis.errors import InputError
from analysis.outcomes import LATE, MASKED, SHARP_DEGRADE, SLOW_DEGRADE, Thresholds, outcomes
from analysis.rules import registry

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "analysis.md").read_text()
SCHEMA = yaml.safe_load((ROOT / "workflow" / "schemas" / "config.schema.yaml").read_text())
SPIKE = "LossSpike"
PLUGIN = ROOT / "tests" / "plugins" / "open_engine" / "loss_spike_rule.py"
"""The rule in one file (also the example of docs/extending.md and of the pipeline's test): a
run whose training loss rose to --loss-spike-factor x the golden run's."""


@pytest.fixture
def plugin(tmp_path, monkeypatch) -> str:
    """The plugin's module name, importable (sys.path and PYTHONPATH); the rule table, the
    plugins loaded and sys.modules are put back after the test."""
    folder = tmp_path / "plugin_src"
    folder.mkdir()
    shutil.copy(PLUGIN, folder / "loss_spike_rule.py")
    monkeypatch.syspath_prepend(str(folder))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(folder), str(ROOT)]))
    table, loaded = registry.snapshot(), plugins.loaded()
    yield "loss_spike_rule"
    registry.restore(table)
    plugins._LOADED[:] = loaded
    sys.modules.pop("loss_spike_rule", None)


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_a_plugin_rule_classifies_with_its_threshold(capsys, campaign, plugin) -> None:
    spike = campaign.inject("inj_spike", epoch=5, step=3, train={6: 0.1})  # recovers: Masked
    calm = campaign.inject("inj_calm", epoch=5, step=3)
    golden = str(campaign.golden_path)
    code, out, _ = run(capsys, "classify", str(spike), str(calm), "--golden", golden)
    assert code == 0 and out == f"{spike}\t{MASKED}\n{calm}\t{MASKED}\n"
    assert SPIKE not in outcomes() and registry.computed_features() == ()

    code, out, _ = run(capsys, "classify", str(spike), str(calm), "--golden", golden,
                       "--plugin", plugin)
    assert code == 0 and out == f"{spike}\t{SPIKE}\n{calm}\t{MASKED}\n"
    # Its place in reports, between SharpDegrade and SlowDegrade; its own threshold.
    labels = outcomes()
    assert labels.index(SHARP_DEGRADE) + 1 == labels.index(SPIKE) == labels.index(SLOW_DEGRADE) - 1
    code, out, _ = run(capsys, "classify", str(spike), "--golden", golden, "--plugin", plugin,
                       "--loss-spike-factor", "1000")
    assert code == 0 and out == f"{spike}\t{MASKED}\n"
    assert Thresholds(loss_spike_factor=3.0).loss_spike_factor == 3.0


def test_the_plugins_threshold_is_an_option_refused_in_one_line(capsys, plugin) -> None:
    with pytest.raises(SystemExit):
        main(["collect", "--plugin", plugin, "--help"])
    out, _ = capsys.readouterr()
    assert "--loss-spike-factor" in out and "--plugin MODULE" in out
    for value, reason in (("0.5", "must be in [1, 1000000], got 0.5"),
                          ("inf", "expected a finite number, got inf")):
        code, out, err = run(capsys, "classify", "x", "--golden", "y", "--plugin", plugin,
                             "--loss-spike-factor", value)
        assert (code, out, err) == (2, "", f"--loss-spike-factor: {reason}\n")


def test_a_plugin_that_cannot_load_is_one_line(capsys, tmp_path, plugin) -> None:
    (tmp_path / "plugin_src" / "broken_rule.py").write_text("raise RuntimeError('no\\nway')\n")
    code, out, err = run(capsys, "classify", "x", "--golden", "y", "--plugin", "broken_rule")
    assert (code, out) == (2, "")
    assert err == "--plugin: broken_rule: cannot load the plugin: RuntimeError: no; way\n"
    code, _, err = run(capsys, "rates", "--plugin", "../etc/x", "--table", "t", "--by", "stage",
                       "--out", "o")
    assert code == 2 and err.startswith("--plugin: plugin: '../etc/x' is not a module name")
    sys.modules.pop("broken_rule", None)


def test_check_config_knows_the_plugins_thresholds(plugin) -> None:
    good = {"analysis": {"plugins": [plugin], "thresholds": {"loss_spike_factor": 3}}}
    assert check_request(good)["format"] == "fi-analysis-check/1"
    bad = {"analysis": {"plugins": [plugin], "thresholds": {"loss_spike_factor": 0.5}}}
    with pytest.raises(InputError) as caught:
        check_request(bad)
    assert str(caught.value) == ("config: analysis.thresholds.loss_spike_factor: must be in "
                                 "[1, 1000000], got 0.5")
    # Through the command line: one line, exit 2; without the plugin the key is unknown.
    for request, line in (
        (bad, str(caught.value)),
        ({"analysis": {"thresholds": {"loss_spike_factor": 3}}},
         "config: analysis.thresholds.loss_spike_factor: not a threshold"),
        ({"analysis": {"plugins": ["no_such_rule_module"]}},
         "config: analysis.plugins[0]: cannot load the plugin: ModuleNotFoundError: No module "
         "named 'no_such_rule_module'"),
    ):
        result = subprocess.run([sys.executable, "-m", "analysis", "check-config"],
                                input=json.dumps(request), capture_output=True, text=True,
                                timeout=120, cwd=ROOT)
        assert (result.returncode, result.stdout, result.stderr) == (2, "", line + "\n")


def test_the_pipeline_schema_takes_a_plugins_threshold_only_with_plugins(plugin) -> None:
    sys.path.insert(0, str(ROOT / "workflow" / "lib"))
    try:
        from fi_pipeline import ConfigError
        from fi_pipeline.schema import validate
    finally:
        sys.path.remove(str(ROOT / "workflow" / "lib"))
    base = {"campaigns": {"c": {"workload": "w", "n": 1}}, "workloads": {"w": {}}}
    with_plugin = {**base, "analysis": {"plugins": [plugin],
                                        "thresholds": {"loss_spike_factor": 3.0}}}
    assert validate(with_plugin)["analysis"]["thresholds"]["loss_spike_factor"] == 3.0
    with pytest.raises(ConfigError) as caught:
        validate({**base, "analysis": {"thresholds": {"loss_spike_factor": 3.0}}})
    assert str(caught.value) == "config: analysis.thresholds.loss_spike_factor: unknown key"


def test_a_campaign_through_collect_rates_and_reclassify(capsys, campaign, plugin) -> None:
    """The plugin's feature is a column; the rates have its label; another threshold is a
    re-classification of the table, the traces gone."""
    for i in range(3):
        campaign.inject(f"inj_s{i}", epoch=5, step=3, train={6: 0.1})
    campaign.inject("inj_calm", epoch=5, step=3)
    campaign.inject("inj_late", epoch=5, step=3, nonfinite_at=(7, 2))
    table, rates = campaign.root / "results.parquet", campaign.root / "rates.csv"
    args = ["--plugin", plugin]
    code, _, err = run(capsys, "collect", str(campaign.traces), "--golden",
                       str(campaign.golden_path), "--out", str(table), "--jobs", "1", *args)
    assert code == 0, err
    df = pd.read_parquet(table)
    assert (df["peak_loss_ratio"] > 1.5).sum() == 3 and df["outcome"].tolist().count(SPIKE) == 3
    code, _, err = run(capsys, "rates", "--table", str(table), "--by", "stage", "--out",
                       str(rates), *args)
    assert code == 0, err
    got = pd.read_csv(rates).set_index("outcome")["k"]
    assert got[SPIKE] == 3 and got[MASKED] == 1 and got[LATE] == 1
    for path in campaign.traces.iterdir():
        path.unlink()
    again = campaign.root / "again.parquet"
    code, _, err = run(capsys, "reclassify", "--table", str(table), "--out", str(again),
                       "--loss-spike-factor", "100", *args)
    assert code == 0 and err == f"{again}: 5 experiments (Late INFs/NaNs: 1, Masked: 4)\n"
    from analysis.table import table_metadata

    assert table_metadata(str(again))["thresholds"]["loss_spike_factor"] == 100.0
    assert pd.read_parquet(again).drop(columns="outcome").equals(df.drop(columns="outcome"))


def test_worker_processes_load_the_plugins(capsys, campaign, plugin) -> None:
    """collect with workers (spawned: they inherit no import) classifies with the rule."""
    for i in range(130):  # two chunks of files: the pool is used
        campaign.inject(f"inj_{i:03d}", epoch=5, step=3, train={6: 0.1} if i % 2 else None)
    table = campaign.root / "results.parquet"
    code, _, err = run(capsys, "collect", str(campaign.traces), "--golden",
                       str(campaign.golden_path), "--out", str(table), "--jobs", "2",
                       "--plugin", plugin)
    assert code == 0 and "worker processes failed" not in err, err
    assert pd.read_parquet(table)["outcome"].value_counts().to_dict() == {SPIKE: 65, MASKED: 65}


def test_every_builtin_threshold_is_documented_as_declared() -> None:
    for t in registry.thresholds():
        default = t.default_text or t.default
        row = f"| `{t.option} {t.metavar or 'X'}` | {default} | {t.meaning} |"
        assert row in DOC, row
    for rule in registry.rules():
        assert f"`{rule.label}`" in DOC, rule.label


def test_the_pipeline_schema_lists_the_builtin_thresholds_as_declared() -> None:
    entries = SCHEMA["properties"]["analysis"]["properties"]["thresholds"]["properties"]
    assert list(entries) == [t.name for t in registry.thresholds()]
    assert entries == {t.name: t.config_schema() for t in registry.thresholds()}
    then = SCHEMA["properties"]["analysis"]["then"]["properties"]["thresholds"]
    assert then["properties"] is entries or then["properties"] == entries


def test_thresholds_are_a_mapping_in_option_order() -> None:
    t = Thresholds(tol_min=0.05)
    assert list(t) == ["short_term_steps", "tol_min", "chance_margin", "immediate_backward_steps"]
    assert dict(t) == {"short_term_steps": None, "tol_min": 0.05, "chance_margin": 0.05,
                       "immediate_backward_steps": 1}
    assert t == Thresholds(tol_min=0.05) and hash(t) == hash(Thresholds(tol_min=0.05))
    with pytest.raises(TypeError):
        Thresholds(colour=1)
    import pickle

    assert pickle.loads(pickle.dumps(t)) == t
