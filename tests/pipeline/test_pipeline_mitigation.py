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
    workers = yaml.safe_load(DEFAULT.read_text())["inject"]["workers"]
    presets = campaign["mitigation"]
    assert presets[0] == "none" and len(presets) >= 3
    assert counts["inject"] == workers  # the runs without mitigation: the campaign's own jobs
    assert counts["inject_mitigated"] == (len(presets) - 1) * workers
    assert counts["observe"] == len(presets) * 3  # every golden seed, every preset
    assert (counts["mitigation_collect"], counts["mitigation_table"]) == (1, 1)
    assert (counts["collect"], counts["figures"]) == (1, 1)  # the runs without mitigation
    plain = [line for line in out.splitlines() if "fi_core inject" in line
             and "--out-dir results/mitigation/traces/" in line]
    assert len(plain) == workers and not any("--mitigation" in line for line in plain)
    first = f"inj_00000..inj_{campaign['n'] // workers - 1:05d}"
    assert re.search(
        rf"--out-dir results/mitigation/mitigated/paper/{re.escape(first)} .*"
        r"--mitigation paper --observed results/observe/resnet18_small/paper/seed_123\.json",
        out)
    assert ("fi_core observe --golden results/golden/resnet18_small/seed_124 --mitigation guard "
            "--out-dir results/observe/resnet18_small/guard") in out
    assert "--out results/mitigation/mitigation.csv --markdown results/mitigation/mitigation.md" \
        in out
    assert "--observe results/observe/resnet18_small/none/seed_123.json" in out


def refusal(tmp_path, campaign):
    config = write_config(tmp_path / "config.yaml", {"run": ["c"], "campaigns": {"c": {
        "workload": "resnet18_small", **campaign}}})
    result = run_snakemake(tmp_path, "-n", "--configfile", str(config), timeout=300)
    assert result.returncode == 2
    return result.stdout + result.stderr


def test_a_mitigation_list_without_none_or_with_an_unknown_preset_is_refused(tmp_path):
    assert "config: campaigns.c.mitigation: must include none" in refusal(
        tmp_path, {"n": 10, "mitigation": ["paper", "guard"]})
    assert "config: campaigns.c.mitigation[1]: unknown mitigation preset 'magic'" in refusal(
        tmp_path, {"n": 10, "mitigation": ["none", "magic"]})


def test_a_sequential_campaign_with_mitigation_is_refused(tmp_path):
    target = {"half_width": 0.2, "by": ["stage"]}
    assert "config: campaigns.c.mitigation: not for a sequential campaign" in refusal(
        tmp_path, {"target": target, "mitigation": ["none", "paper"]})
