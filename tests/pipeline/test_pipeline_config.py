"""Configuration validation, the campaign DAG (dry runs), lint and formatting of the workflow.

Every Snakemake run here works in a temporary directory, so the checkout stays untouched.
"""

from __future__ import annotations

import re
import subprocess

import pytest
import yaml

from .pipeline_helpers import BIN, REPO, run_snakemake, subprocess_env, write_config

DEFAULT = REPO / "config" / "config.yaml"
PAPER = REPO / "config" / "paper.yaml"
WORKLOADS = REPO / "config" / "workloads.yaml"


def job_counts(output: str) -> dict[str, int]:
    """The 'Job stats' table of a dry run as {rule: count}."""
    counts: dict[str, int] = {}
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("Job stats:"))
    for line in lines[start + 3 :]:
        match = re.match(r"^(\S+)\s+(\d+)$", line.strip())
        if not match:
            break
        counts[match.group(1)] = int(match.group(2))
    return counts


def dry_run(tmp_path, *configfiles, extra=()):
    args = ["-n", "-p", *extra]
    cmd_files = [str(c) for c in configfiles]
    result = run_snakemake(tmp_path, *args, "--configfile", *cmd_files, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout + result.stderr


def minimal(tmp_path, **campaign):
    campaign.setdefault("workload", "resnet18_small")
    return write_config(tmp_path / "config.yaml", {"campaigns": {"default": campaign}})


def test_default_campaign_dag(tmp_path):
    out = dry_run(tmp_path, DEFAULT)
    counts = job_counts(out)
    config = yaml.safe_load(DEFAULT.read_text())
    n, batch = config["campaigns"]["default"]["n"], config["inject"]["batch"]
    assert n >= 40
    assert counts["golden"] == 3
    assert counts["generate"] == 1
    assert counts["inject"] == -(-n // batch)
    assert counts["rates"] == len(config["analysis"]["rates"])
    for rule in ("collect", "summary", "figures"):
        assert counts[rule] == 1
    assert "download" not in counts  # digits is embedded
    # Seeds: the preset's 123 gives the checkpoints; 124 and 125 the band.
    for seed in (123, 124, 125):
        assert f"--set seed={seed} --out results/golden/resnet18_small/seed_{seed}" in out
    assert "--golden results/golden/resnet18_small/seed_123 " in out
    assert "--stages fwrd_inject,bkwd_inject" in out
    assert "--fmodels" not in out  # all 18
    assert "--strategy emulated" in out
    # A batch of ten CSVs per inject process.
    last = f"inj_{n // batch - 1:04d}"
    files = re.findall(rf"--file results/default/csv/{last}\d\.csv", out)
    assert len(files) == batch


def test_defaults_come_from_the_schema(tmp_path):
    out = dry_run(tmp_path, minimal(tmp_path, n=3))
    counts = job_counts(out)
    assert counts["golden"] == 3
    assert counts["inject"] == 1  # 3 rounded up to one batch of 10
    assert "--n 10 --seed 0" in out
    assert "--min-epoch 1 --prefix inj_" in out
    assert "--method wilson --confidence 0.95" in out


def test_generate_options_are_passed(tmp_path):
    config = minimal(
        tmp_path,
        n=4,
        seed=7,
        stages=["bkwd_inject"],
        fmodels=["RD", "ZERO"],
        layers=["conv1_grad_in", "basicblock_1_basic_0_conv1_grad_in"],
        value_range=[1.0e16, 1.0e18],
        backward_ops=["grad_in", "grad_wt"],
        all_sites=True,
        min_epoch=2,
        prefix="exp_",
    )
    data = yaml.safe_load(config.read_text())
    data["inject"] = {"batch": 1}
    data["workloads"] = {"resnet18_small": {"set": {"epochs": 3, "width": 0.125}}}
    write_config(config, data)
    out = dry_run(tmp_path, config)
    assert job_counts(out)["inject"] == 4
    assert (
        "--workload resnet18_small --set epochs=3 --set width=0.125 --n 4 --seed 7 "
        "--stages bkwd_inject --min-epoch 2 --prefix exp_ --fmodels RD,ZERO "
        "--layers conv1_grad_in,basicblock_1_basic_0_conv1_grad_in "
        "--backward-ops grad_in,grad_wt --all-sites "
        "--value-range 1e+16,1e+18 --out results/default/csv"
    ) in out
    assert "--file results/default/csv/exp_00003.csv --golden" in out
    assert "--set epochs=3 --set width=0.125 --set seed=124" in out


def test_margin_gives_n_from_the_sample_size_function(tmp_path):
    from analysis import stats

    expected = stats.sample_size(0.1, 0.95, population=None, p=0.5)
    out = dry_run(tmp_path, minimal(tmp_path, margin=0.1, confidence=0.95))
    assert job_counts(out)["inject"] == -(-expected // 10)
    assert f"--n {10 * -(-expected // 10)} " in out


@pytest.mark.parametrize(
    ("campaign", "message"),
    [
        ({"n": 5, "fmodels": ["NO PE;"]}, "NO PE;"),  # names are checked by the engine
        ({"n": 5, "prefix": "run1"}, "prefix"),
        ({"n": 5, "margin": 0.1}, "is valid under each of"),
        ({"n": 0}, "minimum"),
        ({"n": 5, "stages": ["sideways"]}, "sideways"),
        ({"n": 5, "colour": "blue"}, "colour"),
        ({"n": 5, "workload": "nowhere"}, "'nowhere' is not defined under workloads"),
        ({"csv_dir": "nowhere"}, "'nowhere' is not a folder of CSVs"),
    ],
)
def test_invalid_configs_are_rejected(tmp_path, campaign, message):
    config = minimal(tmp_path, **campaign)
    result = run_snakemake(tmp_path, "-n", "--configfile", str(config), timeout=300)
    assert result.returncode != 0
    assert message in result.stdout + result.stderr


def test_reserved_campaign_names_are_rejected(tmp_path):
    config = write_config(
        tmp_path / "config.yaml",
        {"run": ["golden"], "campaigns": {"golden": {"workload": "resnet18_small", "n": 2}}},
    )
    result = run_snakemake(tmp_path, "-n", "--configfile", str(config), timeout=300)
    assert result.returncode != 0


def test_paper_config_downloads_cifar10_and_replays_the_artifact(tmp_path):
    (tmp_path / "injections").symlink_to(REPO / "injections")
    data = yaml.safe_load(PAPER.read_text())
    data["run"] = ["paper", "artifact_resnet18"]
    paper = write_config(tmp_path / "paper.yaml", data)
    out = dry_run(tmp_path, DEFAULT, paper)
    counts = job_counts(out)
    assert counts["download"] == 1
    assert counts["golden"] == 3
    assert counts["replay"] == 3  # the artifact's three resnet18 CSVs, one per job
    from analysis import stats

    n = stats.sample_size(0.02, 0.95)
    assert counts["inject"] == -(-n // 10)
    assert "--workload resnet18 --set seed=123 --out results/golden/resnet18/seed_123" in out
    assert "--data-dir resources/datasets/cifar10" in out
    assert "--file injections/artifact/resnet18/inj_masked.csv" in out


def test_paper_config_has_a_campaign_and_a_replay_per_workload(tmp_path):
    (tmp_path / "injections").symlink_to(REPO / "injections")
    counts = job_counts(dry_run(tmp_path, DEFAULT, PAPER))
    assert counts["golden"] == 6 * 3  # resnet18 (3 variants), effnet, densenet, nfnet
    assert counts["replay"] == 11  # every artifact CSV
    assert counts["generate"] == 6
    assert counts["collect"] == 6 + 5 + 1  # per campaign, per replay, the study


def test_workloads_config_compares_every_small_preset(tmp_path):
    out = dry_run(tmp_path, DEFAULT, WORKLOADS)
    counts = job_counts(out)
    assert (counts["golden"], counts["generate"], counts["inject"]) == (8, 4, 8)
    assert (counts["collect"], counts["figures"]) == (1, 1)  # one table for the four
    for preset in ("resnet18_small", "effnet_small", "densenet_small", "nfnet_small"):
        assert f"results/golden/{preset}/seed_" in out
    assert "rates/workload_stage.csv" in out


def test_an_unknown_preset_is_refused_in_one_line(tmp_path):
    config = write_config(tmp_path / "config.yaml", {
        "workloads": {"mine": {"preset": "resnet99"}},
        "campaigns": {"default": {"workload": "mine", "n": 2}}})
    result = run_snakemake(tmp_path, "-n", "--configfile", str(config), timeout=300)
    assert result.returncode != 0
    assert "workloads.mine.preset: unknown fi_core workload 'resnet99'" in (
        result.stdout + result.stderr)


def test_batch_of_one_gives_one_job_per_csv(tmp_path):
    config = minimal(tmp_path, n=7)
    data = yaml.safe_load(config.read_text())
    data["inject"] = {"batch": 1}
    write_config(config, data)
    out = dry_run(tmp_path, config)
    assert job_counts(out)["inject"] == 7


def test_profiles_are_valid_yaml_and_name_their_executor():
    executors = {
        "slurm": "slurm",
        "kubernetes": "kubernetes",
        "googlebatch": "googlebatch",
        "tpu-vm": "local",
        "gpu": "local",
    }
    for name, executor in executors.items():
        profile = yaml.safe_load((REPO / "profiles" / name / "config.yaml").read_text())
        assert profile["executor"] == executor
        assert profile["keep-going"] is True
        assert set(profile["set-resources"]) <= {"golden", "inject", "replay"}
    tpu = yaml.safe_load((REPO / "profiles" / "tpu-vm" / "config.yaml").read_text())
    assert tpu["resources"]["tpu"] == 1
    assert tpu["set-resources"]["inject"]["tpu"] == 1


def test_tpu_profile_runs_one_accelerator_job_at_a_time(tmp_path):
    """With the TPU profile the dry run still plans the same jobs, each inject job holding tpu=1."""
    out = dry_run(tmp_path, DEFAULT, extra=["--profile", str(REPO / "profiles" / "tpu-vm")])
    assert job_counts(out)["inject"] >= 1
    assert re.search(r"rule inject:.*?resources:[^\n]*tpu=1", out, re.S)
    # engine.strategy auto: jobs that hold the TPU run the replicas with TPUStrategy.
    assert "--strategy tpu" in out
    assert "--strategy emulated" not in out


def test_lint_reports_nothing(tmp_path):
    result = run_snakemake(tmp_path, "--lint", "--configfile", str(DEFAULT), timeout=300)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "Congratulations, your workflow is in a good condition!" in output
    assert "Lints for" not in output


def test_snakefmt_check_passes():
    result = subprocess.run(
        [str(BIN / "snakefmt"), "--check", "."],
        cwd=REPO,
        capture_output=True,
        text=True,
        env=subprocess_env(),
        timeout=300,
    )
    assert result.returncode == 0, result.stderr


def test_ruff_is_clean_on_the_pipeline_python():
    result = subprocess.run(
        [str(BIN / "ruff"), "check", "workflow/scripts", "tests/pipeline", "run.py"],
        cwd=REPO,
        capture_output=True,
        text=True,
        env=subprocess_env(),
        timeout=300,
    )
    assert result.returncode == 0, result.stdout
