"""The pipeline with an analysis plugin (`analysis.plugins`): check-config loads it, its
threshold is a key, and every fi-analysis job gets `--plugin` and the threshold's option."""

from __future__ import annotations

import copy
import shutil
import sys

import pytest
import yaml

from analysis import plugins
from analysis.rules import registry
from tests.analysis.test_rule_table import PLUGIN

from .pipeline_helpers import DEFAULT_CONFIG, fi_pipeline, load_plan

commands = fi_pipeline.commands
BASE = yaml.safe_load(DEFAULT_CONFIG.read_text())


@pytest.fixture
def plugin(tmp_path, monkeypatch) -> str:
    shutil.copy(PLUGIN, tmp_path / "loss_spike_rule.py")
    monkeypatch.syspath_prepend(str(tmp_path))
    table, loaded = registry.snapshot(), plugins.loaded()
    yield "loss_spike_rule"
    registry.restore(table)
    plugins._LOADED[:] = loaded
    sys.modules.pop("loss_spike_rule", None)


def test_analysis_plugins_reach_every_analysis_command(plugin) -> None:
    config = copy.deepcopy(BASE)
    config.setdefault("analysis", {}).update(
        plugins=[plugin], thresholds={"loss_spike_factor": 3.0, "tol_min": 0.05})
    plan = load_plan(config)
    assert commands.collect(plan, ["t"], ["g"], "o", None, 1) == [
        "t", "--golden", "g", "--out", "o", "--jobs", "1", "--tol-min", "0.05",
        "--loss-spike-factor", "3.0", "--plugin", plugin]
    for args in (commands.rates(plan, "stage", "t", "c", "m"), commands.summary(plan, "t", "o"),
                 commands.figures(plan, "t", "c", ["g"], "o", None),
                 commands.mitigation(plan, "t", [], "c", "m", "f")):
        assert args[-2:] == ["--plugin", plugin], args
    assert "--plugin" not in commands.engine_args(plan) + commands.plugin_args(plan)


def test_a_bad_plugin_threshold_stops_the_parse_in_one_line(plugin) -> None:
    config = copy.deepcopy(BASE)
    config.setdefault("analysis", {}).update(plugins=[plugin],
                                             thresholds={"loss_spike_factor": 0.5})
    with pytest.raises(fi_pipeline.ConfigError) as caught:
        load_plan(config)
    assert str(caught.value) == ("config: analysis.thresholds.loss_spike_factor: must be in "
                                 "[1, 1000000], got 0.5")
    config["analysis"]["plugins"] = ["no_such_rule_module"]
    with pytest.raises(fi_pipeline.ConfigError) as caught:
        load_plan(config)
    assert str(caught.value).startswith("config: analysis.plugins[0]: cannot load the plugin: ")
