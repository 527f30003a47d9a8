"""The mitigation key of a campaign: the jobs it plans (dry runs of config/mitigation.yaml) and
the configurations it refuses."""

from __future__ import annotations

import re

import yaml

from .pipeline_helpers import REPO, run_snakemake, write_config
from .test_pipeline_config import DEFAULT, dry_run, job_counts

MITIGATION = REPO / "config" / "mitigation.yaml"


def test_every_csv_is_replayed_once_per_preset_and_the_golden_runs_observed(tmp_path):
    out = dry_run(tmp_path, DEFAULT, MITIGATION)
    counts = job_counts(out)
    campaign = yaml.safe_load(MITIGATION.read_text())["campaigns"]["mitigation"]
    presets, batches = campaign["mitigation"], -(-campaign["n"] // 10)
    assert presets[0] == "none" and len(presets) >= 3
    assert counts["inject_mitigation"] == len(presets) * batches
    assert counts["observe"] == len(presets) * 3  # every golden seed, every preset
    assert (counts["mitigation_collect"], counts["mitigation_table"]) == (1, 1)
    assert (counts["collect"], counts["figures"]) == (1, 1)  # the runs without mitigation
    assert "inject" not in counts
    assert re.search(r"--out-dir results/mitigation/traces/none +--strategy", out)  # no option
    assert ("--out-dir results/mitigation/traces/paper --mitigation paper --observed "
            "results/observe/resnet18_small/paper/seed_123.json") in out
    assert ("fi_core observe --golden results/golden/resnet18_small/seed_124 --mitigation guard "
            "--out-dir results/observe/resnet18_small/guard") in out
    assert "analysis collect results/mitigation/traces/none/inj_00000.json" in out
    assert "--out results/mitigation/mitigation.csv --markdown results/mitigation/mitigation.md" \
        in out
    assert "--observe results/observe/resnet18_small/none/seed_123.json" in out


def test_a_mitigation_list_without_none_or_with_an_unknown_preset_is_refused(tmp_path):
    for presets, message in ((["paper", "guard"], "campaigns.c.mitigation: must include none"),
                             (["none", "magic"], "campaigns.c.mitigation: unknown preset 'magic'")):
        config = write_config(tmp_path / "config.yaml", {"run": ["c"], "campaigns": {"c": {
            "workload": "resnet18_small", "n": 10, "mitigation": presets}}})
        result = run_snakemake(tmp_path, "-n", "--configfile", str(config), timeout=300)
        assert result.returncode != 0
        assert message in result.stdout + result.stderr
