"""The campaign DAG as Snakemake plans it (dry runs), refusals as `snakemake -n` prints them,
profiles, lint and formatting of the workflow.

Every Snakemake run here works in a temporary directory, so the checkout stays untouched. The
configuration checks themselves are tested in-process in test_config_check.py.
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
SEQUENTIAL = REPO / "config" / "sequential.yaml"
BANNER = "Using workflow specific profile"


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


def inject_commands(output: str) -> list[str]:
    """The printed `fi-core inject` commands of a dry run."""
    return [line for line in output.splitlines() if " -m fi_core inject " in line]


def dry_run(tmp_path, *configfiles, extra=()):
    args = ["-n", "-p", *extra]
    cmd_files = [str(c) for c in configfiles]
    result = run_snakemake(tmp_path, *args, "--configfile", *cmd_files, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout + result.stderr


def refused(tmp_path, config):
    """A dry run of a bad configuration: exit 2 and its own output (beyond the banner)."""
    result = run_snakemake(tmp_path, "-n", "--configfile", str(config), timeout=300)
    lines = [line for line in (result.stdout + result.stderr).splitlines()
             if line.strip() and not line.startswith(BANNER)]
    assert result.returncode == 2, result.stdout[-2000:] + result.stderr[-2000:]
    return lines


def minimal(tmp_path, inject=None, **campaign):
    campaign.setdefault("workload", "resnet18_small")
    data = {"campaigns": {"default": campaign}}
    if inject:
        data["inject"] = inject
    return write_config(tmp_path / "config.yaml", data)


def test_default_campaign_dag(tmp_path):
    out = dry_run(tmp_path, DEFAULT)
    counts = job_counts(out)
    config = yaml.safe_load(DEFAULT.read_text())
    n, workers = config["campaigns"]["default"]["n"], config["inject"]["workers"]
    assert n >= 40 and workers == 2
    assert counts["golden"] == 3
    assert counts["generate"] == 1
    assert counts["inject"] == workers
    assert counts["rates"] == len(config["analysis"]["rates"])
    for rule in ("collect", "summary", "figures"):
        assert counts[rule] == 1
    assert "download" not in counts  # digits is embedded
    # Seeds: the preset's 123 gives the checkpoints; 124 and 125 the band.
    for seed in (123, 124, 125):
        assert f"--set seed={seed} --out results/golden/resnet18_small/seed_{seed}" in out
    assert "--golden results/golden/resnet18_small/seed_123 " in out
    assert "--stages fwrd_inject,bkwd_inject" in out
    assert "--fmodels" not in out  # all of them
    assert "--strategy emulated" in out
    # Two workers of n/2 consecutive ids, each writing into its own traces folder.
    half = n // 2
    last = [c for c in inject_commands(out)
            if f"--out-dir results/default/traces/inj_{half:05d}..inj_{n - 1:05d} " in c]
    assert len(last) == 1
    assert re.findall(r"--file results/default/csv/(inj_\d+)\.csv", last[0]) == [
        f"inj_{i:05d}" for i in range(half, n)]


def test_defaults_come_from_the_schema(tmp_path):
    out = dry_run(tmp_path, minimal(tmp_path, n=3))
    counts = job_counts(out)
    assert counts["golden"] == 3
    assert counts["inject"] == 1  # 3 CSVs: one job
    assert "--n 3 --seed 0" in out
    assert "--min-epoch 1 --prefix inj_" in out
    assert "--method wilson --confidence 0.95" in out
    assert "--out-dir results/default/traces/inj_00000..inj_00002 " in out


def test_generate_options_are_passed(tmp_path):
    config = minimal(
        tmp_path,
        inject={"batch": 1},
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
    assert f"--n {expected} " in out  # no rounding up: any batch size works


@pytest.mark.parametrize(
    ("batch", "workers", "n", "sizes"),
    [(7, None, 20, [7, 7, 6]), (1, None, 3, [1, 1, 1]), (10, 2, 25, [13, 12]),
     (10, 4, 3, [1, 1, 1])],
)
def test_any_batch_and_workers(tmp_path, batch, workers, n, sizes):
    """Jobs are runs of consecutive ids of any size; `workers` splits a campaign evenly."""
    config = minimal(tmp_path, inject={"batch": batch, "workers": workers}, n=n)
    out = dry_run(tmp_path, config)
    commands = inject_commands(out)
    assert len(commands) == job_counts(out)["inject"] == len(sizes)
    files = [re.findall(r"--file results/default/csv/(inj_\d+)\.csv", c) for c in commands]
    assert sorted(len(f) for f in files) == sorted(sizes)
    for group in files:
        assert f"--out-dir results/default/traces/{group[0]}..{group[-1]} " in "".join(
            c for c in commands if group[0] in c)
    ids = sorted(i for group in files for i in group)
    assert ids == [f"inj_{i:05d}" for i in range(n)]  # the same ids whatever the split


def test_bad_configs_are_one_line_in_a_dry_run(tmp_path):
    """What the schema, the engine and the analysis refuse, as `snakemake -n` shows it."""
    cases = [
        ({"campaigns": {"default": {"workload": "resnet18_small", "n": 0}}},
         "config: campaigns.default.n: 0: must be at least 1"),
        ({"campaigns": {"default": {"workload": "resnet18_small", "n": 5, "seed": 1.9}}},
         "config: campaigns.default.seed: expected an integer, got 1.9"),
        ({"workloads": {"resnet18_small": {"set": {"image_size": 100000}}},
          "campaigns": {"default": {"workload": "resnet18_small", "n": 5}}},
         "config: workloads.resnet18_small.set.image_size: 100000 is outside [4, 1024]"),
        ({"campaigns": {"default": {"workload": "resnet18_small", "n": 5,
                                    "layers": ["conv1", "conv99"]}}},
         "config: campaigns.default.layers[1]: 'conv99' is not a fwrd_inject or bkwd_inject"),
        ({"analysis": {"rates": {"x": ["stage", "colour"]}},
          "campaigns": {"default": {"workload": "resnet18_small", "n": 5}}},
         "config: analysis.rates.x[1]: no column 'colour' in the results table"),
        ({"campaigns": {"default": {"workload": "resnet18_small", "margin": 0.0001}}},
         "config: campaigns.default.margin: 0.0001 is below the smallest margin, 0.001"),
    ]
    for i, (data, line) in enumerate(cases):
        lines = refused(tmp_path, write_config(tmp_path / f"bad{i}.yaml", data))
        assert len(lines) == 1, lines
        assert lines[0].startswith(line), lines


def test_reserved_campaign_names_are_rejected(tmp_path):
    config = write_config(
        tmp_path / "config.yaml",
        {"run": ["golden"], "campaigns": {"golden": {"workload": "resnet18_small", "n": 2}}},
    )
    assert refused(tmp_path, config) == ["config: campaigns: 'golden' is a reserved name"]


def test_paper_config_downloads_cifar10_and_replays_the_artifact(tmp_path):
    (tmp_path / "injections").symlink_to(REPO / "injections")
    data = yaml.safe_load(PAPER.read_text())
    data["run"] = ["paper", "artifact_resnet18"]
    paper = write_config(tmp_path / "paper.yaml", data)
    out = dry_run(tmp_path, DEFAULT, paper)
    counts = job_counts(out)
    assert counts["download"] == 1
    assert counts["golden"] == 3
    from analysis import stats

    n = stats.sample_size(0.02, 0.95)
    assert counts["inject"] == -(-n // 10) + 1  # the campaign, and the artifact's three CSVs
    assert "--workload resnet18 --set seed=123 --out results/golden/resnet18/seed_123" in out
    assert "--data-dir resources/datasets/cifar10" in out
    replay = [c for c in inject_commands(out) if "injections/artifact" in c]
    assert len(replay) == 1
    assert ("--file injections/artifact/resnet18/inj_immediate_infs_nans.csv "
            "--file injections/artifact/resnet18/inj_masked.csv "
            "--file injections/artifact/resnet18/inj_slow_degrade.csv") in replay[0]
    assert "traces/inj_immediate_infs_nans..inj_slow_degrade " in replay[0]


def test_paper_config_has_a_campaign_and_a_replay_per_workload(tmp_path):
    (tmp_path / "injections").symlink_to(REPO / "injections")
    counts = job_counts(dry_run(tmp_path, DEFAULT, PAPER))
    assert counts["golden"] == 6 * 3  # resnet18 (3 variants), effnet, densenet, nfnet
    assert counts["inject"] == 6 * 241 + 5  # 2401 CSVs per campaign; a job per replay folder
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


def test_sequential_campaign_plans_its_first_round(tmp_path):
    """A target instead of n: one generate per stratum, round 1 at the first look's size,
    then the checkpoint that decides the next round."""
    config = minimal(tmp_path, seed=3, inject={"batch": 5},
                     target={"half_width": 0.2, "looks": 3, "by": ["stage"]})
    out = dry_run(tmp_path, config)
    counts = job_counts(out)
    assert counts["generate_stratum"] == 2 and counts["decide"] == 1
    assert "generate" not in counts
    sizes = re.findall(r"--n (\d+) --seed \d+ --stages (\w+) .*--prefix (inj_s0\d_) "
                       r"--out results/default/strata/(s0\d)/look_1", out)
    assert sorted((s[1], s[2], s[3]) for s in sizes) == [
        ("bkwd_inject", "inj_s01_", "s01"), ("fwrd_inject", "inj_s00_", "s00")]
    first = int(sizes[0][0])
    assert counts["inject"] == -(-2 * first // 5)  # jobs of 5 consecutive ids, across strata
    assert "results/default/rounds/round_1.json" in out


def test_sequential_config_draws_every_fault_model_apart_in_two_workers(tmp_path):
    out = dry_run(tmp_path, DEFAULT, SEQUENTIAL)
    counts = job_counts(out)
    assert (counts["generate_stratum"], counts["inject"], counts["decide"]) == (18, 2, 1)
    assert counts["golden"] == 2 and counts["sequential_report"] == 1
    assert "--stages fwrd_inject,bkwd_inject --min-epoch 1 --prefix inj_s00_ --fmodels INPUT " \
        in out


def test_profiles_are_valid_yaml_and_name_their_executor():
    executors = {
        "slurm": "slurm",
        "slurm-local": "slurm",
        "kubernetes": "kubernetes",
        "googlebatch": "googlebatch",
        "tpu-vm": "local",
        "gpu": "local",
    }
    for name, executor in executors.items():
        profile = yaml.safe_load((REPO / "profiles" / name / "config.yaml").read_text())
        assert profile["executor"] == executor
        assert profile["keep-going"] is True
        assert set(profile.get("set-resources", {})) <= {"golden", "inject"}
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
    paths = ["workflow/scripts", "workflow/lib", "tests/pipeline", "run.py",
             "fi_core/commands/check.py",
             "analysis/config_check.py", "analysis/sequential.py"]
    result = subprocess.run(
        [str(BIN / "ruff"), "check", *paths],
        cwd=REPO,
        capture_output=True,
        text=True,
        env=subprocess_env(),
        timeout=300,
    )
    assert result.returncode == 0, result.stdout
