"""The `_GLB` fault models draw their runs as the artifact does (ISCA_AE_Extend
`models/inject_utils.py`, `choose_inj_pos`/`random_positions`), checked on large samples with
fixed seeds against the rule written out independently here; a generated campaign stores each
run as two numbers and hits about a quarter of the operand on average. No TensorFlow."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest
from scipy import stats

from fi_core import faults
from fi_core.spec import campaign, injection, workloads

SAMPLES = 20_000


def artifact_rule(size: int, group: int, rng: np.random.RandomState) -> tuple[int, int] | None:
    """The artifact's draw, restated: the number of groups is the float size / group; numpy's
    legacy randint truncates it; a start on the last whole group makes the end draw fail."""
    total = size / group
    start = rng.randint(total)
    try:
        end = rng.randint(start + 1, total)
    except ValueError:  # numpy: low >= high; that artifact run never happened
        return None
    return start * group, end * group - 1


def artifact_sample(size: int, group: int, count: int, seed: int) -> np.ndarray:
    rng = np.random.RandomState(seed)
    out = []
    while len(out) < count:
        run = artifact_rule(size, group, rng)
        if run is not None:
            out.append(run)
    return np.array(out)


def our_sample(model: str, shape: tuple[int, ...], count: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    pattern = faults.get(model).pattern
    runs = [pattern(shape, rng) for _ in range(count)]
    assert all(run.is_run for run in runs)
    return np.array([(run.first, run.last) for run in runs])


def exact_pmf_of_length(groups: int) -> np.ndarray:
    """P(run = m groups), m = 1..G-1: start uniform over 0..G-2, end over start+1..G-1."""
    harmonic = np.concatenate([[0.0], np.cumsum(1.0 / np.arange(1, groups))])  # H_0..H_{G-1}
    m = np.arange(1, groups)
    return (harmonic[groups - 1] - harmonic[m - 1]) / (groups - 1)


@pytest.mark.parametrize(("model", "shape", "group"), [
    ("RD_GLB", (16, 4, 4, 64), 16),  # the issue's example: 1,024 groups
    ("N64_INPUT_GLB", (18, 8, 8, 16), 64),  # 288 groups
    ("N64_WT_GLB", (3, 3, 60, 7), 64),  # 3,780 elements: 59 groups and a partial tail
])
def test_run_lengths_and_starts_follow_the_artifact(model, shape, group):
    size = math.prod(shape)
    groups = size // group
    ours = our_sample(model, shape, SAMPLES, seed=1)
    theirs = artifact_sample(size, group, SAMPLES, seed=2)
    for runs in (ours, theirs):
        assert np.all(runs[:, 0] % group == 0) and np.all((runs[:, 1] + 1) % group == 0)
        assert runs[:, 1].max() < (groups - 1) * group  # never the last whole group
    lengths = (ours[:, 1] - ours[:, 0] + 1) // group
    # Same distribution as the artifact's procedure (two-sample tests on starts and lengths).
    assert stats.ks_2samp(ours[:, 0], theirs[:, 0]).pvalue > 1e-3
    assert stats.ks_2samp(lengths, (theirs[:, 1] - theirs[:, 0] + 1) // group).pvalue > 1e-3
    # And the exact distribution of the length, in 20 bins of equal probability.
    pmf = exact_pmf_of_length(groups)
    edges = np.searchsorted(np.cumsum(pmf), np.linspace(0, 1, 21)[1:-1])
    expected = np.add.reduceat(pmf, np.r_[0, edges + 1]) * SAMPLES
    observed = np.add.reduceat(np.bincount(lengths - 1, minlength=groups - 1),
                               np.r_[0, edges + 1])
    assert stats.chisquare(observed, expected).pvalue > 1e-3
    # A quarter of the operand on average: E[length] = (G + 2) / 4 groups.
    mean = lengths.mean() * group / size
    assert mean == pytest.approx((groups + 2) / 4 * group / size, abs=0.01)
    assert 0.22 < mean < 0.27


def test_the_median_run_of_the_issue_example():
    """On a 16x4x4x64 operand the median run is about 3,050 elements (18.7 % of it: the median
    of the exact distribution above), not the 1,500 issue 7 quotes; the mean is a quarter."""
    pmf = exact_pmf_of_length(1024)
    median_groups = 1 + int(np.searchsorted(np.cumsum(pmf), 0.5))
    assert 185 <= median_groups <= 195
    runs = our_sample("RD_GLB", (16, 4, 4, 64), SAMPLES, seed=3)
    assert np.median(runs[:, 1] - runs[:, 0] + 1) == pytest.approx(median_groups * 16, rel=0.05)


def test_operands_too_small_for_the_artifact_are_hit_whole():
    rng = np.random.default_rng(0)
    for shape in [(10, 10), (1, 100)]:  # fewer than two groups of 64
        run = faults.get("N64_WT_GLB").pattern(shape, rng)
        assert (run.first, run.last) == (0, 99)
    assert faults.get("N64_WT").pattern((5, 5), rng).count == 25


def test_a_generated_glb_campaign_is_short_and_hits_a_quarter(tmp_path):
    """400 CSVs of the four _GLB models: each stores its run as inj_range plus one seed, and
    the runs cover a quarter of their operands on average."""
    config = workloads.resolve("resnet18_small", {"epochs": "2"})
    spec = campaign.CampaignSpec(
        "resnet18_small", config, {"epochs": "2"},
        fmodels=("RD_GLB", "RD_CORRECT_GLB", "N64_INPUT_GLB", "N64_WT_GLB"))
    paths = campaign.generate(spec, 400, seed=4, out=tmp_path)
    ratios = []
    for path in paths:
        hit = injection.parse(path)
        rows = injection.read_rows(path)
        assert len(rows["inj_range"]) == 2 and "inj_pos" not in rows
        assert sum(len(v) for v in rows.values()) < 20  # a few lines however long the run
        assert hit.value_kind == ("random_finite" if hit.fmodel == "RD_GLB" else "copy_random")
        ratios.append(hit.count / math.prod(hit.shape))
    assert 0.21 < np.mean(ratios) < 0.29


def run_cli(*args: str, env=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "fi_core", *args], capture_output=True,
                          text=True, timeout=120, env=env)


@pytest.mark.parametrize(("args", "line"), [
    (["--n", "0"], "--n: n: 0 is not in [1, 10000000]"),
    (["--n", "10000001"], "--n: n: 10000001 is not in [1, 10000000]"),
    (["--n", "3", "--prefix", "../x"], "--prefix: prefix: '../x' does not match"),
    (["--n", "3", "--prefix", "a/b"], "--prefix: prefix: 'a/b' does not match"),
    (["--n", "3", "--prefix", "a b;c"], "--prefix: prefix: 'a b;c' does not match"),
    (["--n", "3", "--seed", "-1"], "--seed: seed: -1 is not in [0, 2**63)"),
])
def test_generate_refuses_sizes_seeds_and_prefixes_that_leave_out(tmp_path, args, line):
    out = tmp_path / "csv"
    full = ["generate", "--seed", "1", "--out", str(out), *args]
    if "--seed" in args:
        full = ["generate", "--out", str(out), *args]
    result = run_cli(*full)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(line), lines
    assert not out.exists() and not (tmp_path / "x").exists()


def test_generate_refuses_an_out_that_is_a_file(tmp_path):
    out = tmp_path / "taken"
    out.write_text("keep me")
    result = run_cli("generate", "--n", "2", "--seed", "1", "--out", str(out))
    assert result.returncode == 2
    assert result.stderr.strip() == f"{out}: --out: exists and is not a folder"
    assert out.read_text() == "keep me"
