"""End to end: a micro campaign (a few injections, a few epochs, split over two worker jobs) and a
micro sequential campaign through the real workflow in a temporary folder, with one injection
job killed mid-run (SIGKILL): the rerun runs only that job, and the final table holds every
experiment. The sequential campaign runs its rounds in the same invocation, stops each stratum
at its target or its last look, and reports intervals at the schedule's level. Then the
report, the idempotence of a finished campaign, and byte-identical CSVs from the same
configuration."""

from __future__ import annotations

import contextlib
import filecmp
import json
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pandas as pd
import psutil
import pytest

from .pipeline_helpers import (
    REPO,
    SNAKEMAKE,
    require_engine,
    subprocess_env,
    write_config,
)

pytestmark = pytest.mark.slow

CAMPAIGN = "micro"
SEQ = "seqmicro"
N = 4
VICTIM = "inj_00003"
VICTIM_JOB = "inj_00002..inj_00003"  # two workers: inj_00000..inj_00001 and this one
FINISHED = "inj_00002"  # the victim job's first CSV: finished before the kill, kept
HALF_WIDTH = 0.4  # looks at 4 and 7 injections per stratum (fi-analysis check-config)


def micro_config(path: Path) -> Path:
    return write_config(
        path,
        {
            "run": [CAMPAIGN, SEQ],
            "workloads": {"micro": {"preset": "resnet18_small", "set": {"epochs": 2}}},
            "golden": {"runs": 2, "resources": {"threads": 1, "mem_mb": 2000, "runtime": 10}},
            "campaigns": {
                CAMPAIGN: {"workload": "micro", "n": N, "seed": 11},
                SEQ: {"workload": "micro", "seed": 5, "prefix": "seq_",
                      "target": {"half_width": HALF_WIDTH, "looks": 2, "by": ["stage"]}},
            },
            "inject": {"workers": 2,
                       "resources": {"threads": 1, "mem_mb": 2000, "runtime": 10}},
            "analysis": {
                "rates": {"stage": ["stage"], "fmodel": ["fmodel"]},
                "resources": {"threads": 1},
            },
        },
    )


def snakemake_cmd(workdir: Path, config: Path, *args: str) -> list[str]:
    return [
        SNAKEMAKE,
        "--snakefile",
        str(REPO / "Snakefile"),
        "--directory",
        str(workdir),
        "--configfile",
        str(config),
        *args,
    ]


def run(workdir: Path, config: Path, *args: str, timeout: float = 900):
    return subprocess.run(
        snakemake_cmd(workdir, config, *args),
        capture_output=True,
        text=True,
        env=subprocess_env(),
        cwd=workdir,
        timeout=timeout,
    )


def injection_process(workdir: Path, csv_name: str):
    """The running `python -m fi_core inject ... <csv_name>` process of this campaign, if any."""
    for proc in psutil.process_iter(["pid", "cmdline", "cwd"]):
        cmd = proc.info["cmdline"] or []
        if (
            cmd
            and Path(cmd[0]).name.startswith("python")
            and "fi_core" in cmd
            and "inject" in cmd
            and any(arg.endswith(csv_name) for arg in cmd)
            and proc.info["cwd"] == str(workdir.resolve())
        ):
            return proc
    return None


def inject_jobs(output: str, campaign: str = CAMPAIGN) -> list[str]:
    """The inject jobs of a campaign that a Snakemake run started."""
    pattern = rf"rule inject:\n(?:[^\n]*\n)*?\s*wildcards: campaign={campaign}, job=(\S+)"
    return re.findall(pattern, output)


def trace_mtimes(workdir: Path) -> dict[str, int]:
    """Every trace of the campaign (`<job>/<id>.<ext>`) and when it was written."""
    traces = workdir / "results" / CAMPAIGN / "traces"
    return {f"{p.parent.name}/{p.name}": p.stat().st_mtime_ns
            for p in sorted(traces.glob("*/*")) if not p.name.startswith(".")}


@pytest.fixture(scope="module")
def campaign(tmp_path_factory):
    """Run the micro campaign, killing one injection, then rerun: the state after both runs."""
    require_engine()
    workdir = tmp_path_factory.mktemp("campaign")
    config = micro_config(workdir / "micro.yaml")

    started = time.monotonic()
    first_log = workdir.parent / f"{workdir.name}-first-run.log"
    with open(first_log, "w") as log:
        first = subprocess.Popen(
            snakemake_cmd(workdir, config, "--cores", "2", "--keep-going"),
            stdout=log,
            stderr=subprocess.STDOUT,
            env=subprocess_env(),
            cwd=workdir,
        )
    partial = workdir / "results" / CAMPAIGN / "partial" / "traces" / VICTIM_JOB
    killed, kept = False, {}
    deadline = time.monotonic() + 600
    try:
        while first.poll() is None and time.monotonic() < deadline and not killed:
            proc = injection_process(workdir, f"/{CAMPAIGN}/csv/{VICTIM}.csv")
            if proc is not None and (partial / f"{FINISHED}.json").exists():
                proc.send_signal(signal.SIGKILL)  # while it trains the job's second CSV
                killed = True
                assert not (partial / f"{VICTIM}.json").exists(), "the victim finished"
                kept = {name: (partial / name).stat().st_ino
                        for name in (f"{FINISHED}.json", f"{FINISHED}.txt")}
            else:
                time.sleep(0.02)
        first.wait(timeout=900)
    finally:
        if first.poll() is None:
            first.kill()
    out_first = first_log.read_text()
    assert killed, f"never saw the injection process of {VICTIM}:\n{out_first[-5000:]}"
    assert first.returncode != 0, "the first run should fail: one injection was killed"
    mtimes_after_kill = trace_mtimes(workdir)
    table_after_kill = (workdir / "results" / CAMPAIGN / "results.parquet").exists()

    second = run(workdir, config, "--cores", "2")
    elapsed = time.monotonic() - started
    return {
        "workdir": workdir,
        "config": config,
        "first": out_first,
        "second": second,
        "mtimes_after_kill": mtimes_after_kill,
        "kept": kept,
        "table_after_kill": table_after_kill,
        "elapsed": elapsed,
    }


def test_killed_injection_fails_and_leaves_no_trace(campaign):
    first = campaign["first"]
    assert "Error in rule inject" in first
    assert f"job={VICTIM_JOB}" in first
    after = campaign["mtimes_after_kill"]
    # The killed job's folder is gone whole; the other job's traces are all there.
    assert not any(name.startswith(f"{VICTIM_JOB}/") for name in after)
    assert sorted(after) == [f"inj_00000..inj_00001/inj_0000{i}.{ext}"
                             for i in (0, 1) for ext in ("json", "txt")]
    assert not campaign["table_after_kill"]


def test_rerun_runs_only_the_killed_job(campaign):
    second = campaign["second"]
    output = second.stdout + second.stderr
    assert second.returncode == 0, output[-6000:]
    assert inject_jobs(output) == [VICTIM_JOB]
    assert not re.search(r"rule (golden|generate):", output)
    after = trace_mtimes(campaign["workdir"])
    for name, mtime in campaign["mtimes_after_kill"].items():
        assert after[name] == mtime, f"{name} was rewritten by the rerun"
    assert f"{VICTIM_JOB}/{VICTIM}.json" in after and f"{VICTIM_JOB}/{VICTIM}.txt" in after
    # The run the killed job finished was kept (the same files, moved), only the victim trained.
    workdir = campaign["workdir"]
    job = workdir / "results" / CAMPAIGN / "traces" / VICTIM_JOB
    for name, inode in campaign["kept"].items():
        assert (job / name).stat().st_ino == inode, f"{name} was trained again"
    log = (workdir / "logs" / "inject" / CAMPAIGN / f"{VICTIM_JOB}.log").read_text()
    assert "kept 1 finished runs of an earlier attempt" in log and "training 1\n" in log
    assert f"[{VICTIM}] done (" in log and f"[{FINISHED}] done (" not in log
    assert not (workdir / "results" / CAMPAIGN / "partial" / "traces" / VICTIM_JOB).exists()


def test_final_table_has_every_experiment(campaign):
    results = campaign["workdir"] / "results" / CAMPAIGN
    table = pd.read_parquet(results / "results.parquet")
    assert sorted(table["id"]) == [f"inj_{i:05d}" for i in range(N)]
    assert table["complete"].all()
    assert table["outcome"].notna().all()
    assert set(table["stage"]) <= {"fwrd_inject", "bkwd_inject"}
    curves = pd.read_parquet(results / "curves.parquet")
    assert set(curves["run_kind"]) >= {"injection", "golden"}
    for name in ("stage", "fmodel"):
        rates = pd.read_csv(results / "rates" / f"{name}.csv")
        assert len(rates) >= 1
        assert (results / "rates" / f"{name}.md").read_text().strip()
    assert (results / "summary.md").read_text().strip()
    figures = list((results / "figures").glob("*.png"))
    assert figures, "no figure was drawn"


def _decisions(results: Path) -> list[dict]:
    rounds = sorted(results.glob("rounds/round_*.json"), key=lambda p: int(p.stem[6:]))
    return [json.loads(p.read_text()) for p in rounds]


def test_sequential_campaign_stops_each_stratum_at_its_target_or_last_look(campaign):
    results = campaign["workdir"] / "results" / SEQ
    final = json.loads((results / "sequential.json").read_text())
    first, last = final["looks"]  # the analysis's schedule for the target
    assert final["level"] == pytest.approx(1 - 0.05 / 2)
    decisions = _decisions(results)
    assert 1 <= len(decisions) <= 2
    table = pd.read_parquet(results / "results.parquet")
    assert table["complete"].all() and table["id"].is_unique
    for stratum in final["strata"]:
        stage = stratum["key"]["stage"]
        prefix = "seq_s00_" if stage == "fwrd_inject" else "seq_s01_"
        ids = sorted(table.loc[table["stage"] == stage, "id"])
        assert all(i.startswith(prefix) for i in ids)  # each stratum drew its own CSVs
        assert len(ids) == stratum["n"]
        reached_first = next(s for s in decisions[0]["strata"]
                             if s["key"] == stratum["key"])["reached"]
        # A stratum done after round 1 got no more injections; any other got the last look.
        assert stratum["n"] == (first if reached_first else last)
        assert stratum["reached"] == (stratum["half_width"] <= HALF_WIDTH)
        if not stratum["reached"]:
            assert stratum["n"] == last
        k, low, high = (stratum["intervals"]["Masked"][x] for x in ("k", "low", "high"))
        from analysis.stats import proportion_ci

        assert (low, high) == pytest.approx(
            proportion_ci(k, stratum["n"], "clopper-pearson", final["level"]))
    all_done_first = all(s["reached"] for s in decisions[0]["strata"])
    assert len(decisions) == (1 if all_done_first else 2)
    assert "Sequential campaign" in (results / "sequential.md").read_text()
    assert len(pd.read_csv(results / "sequential.csv")) >= 2


def test_finished_campaign_has_nothing_to_do(campaign):
    result = run(campaign["workdir"], campaign["config"], "-n")
    assert result.returncode == 0
    assert "Nothing to be done" in result.stdout + result.stderr


def test_report(campaign):
    workdir = campaign["workdir"]
    result = run(workdir, campaign["config"], "--report", "report.html")
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    html = (workdir / "report.html").read_text(errors="replace")
    assert CAMPAIGN in html and SEQ in html
    assert len(html) > 10_000


def test_same_config_gives_byte_identical_csvs(campaign, tmp_path):
    result = run(tmp_path, campaign["config"], "--cores", "1", f"results/{CAMPAIGN}/csv")
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    first = campaign["workdir"] / "results" / CAMPAIGN / "csv"
    again = tmp_path / "results" / CAMPAIGN / "csv"
    names = sorted(p.name for p in first.glob("*.csv"))
    assert names == [f"inj_{i:05d}.csv" for i in range(N)]
    assert sorted(p.name for p in again.glob("*.csv")) == names
    _, mismatch, errors = filecmp.cmpfiles(first, again, names, shallow=False)
    assert mismatch == [] and errors == []
    text = (first / "inj_00000.csv").read_text()
    assert "stage," in text and "target_layer," in text


def test_a_sequential_round_killed_with_snakemake_resumes_with_the_same_command(campaign):
    """Last: it changes the campaign's folder. One job of the sequential campaign's last round
    is removed and run again (`--forcerun` that folder); Snakemake and everything it started
    are killed (SIGKILL to the process group, as a lost machine) once the job has finished a
    CSV. The same command then removes the stale lock, trains only the job's unfinished CSVs
    and ends with the same runs."""
    workdir, config = campaign["workdir"], campaign["config"]
    results = workdir / "results" / SEQ
    lists = [set((results / "rounds" / f"round_{r}.list").read_text().split())
             for r in range(1, len(_decisions(results)) + 1)]
    newest = sorted(lists[-1] - (lists[-2] if len(lists) > 1 else set()))
    last_round = workdir / newest[-1]  # a job of the last round: nothing comes after it
    before = {p.name: p.read_bytes() for p in last_round.glob("*.txt")}
    table_before = pd.read_parquet(results / "results.parquet")
    shutil.rmtree(last_round)
    partial = results / "partial" / "traces" / last_round.name
    # Snakemake does not remake a missing folder whose results are up to date: name it.
    command = ("--cores", "2", "--forcerun", str(last_round.relative_to(workdir)))
    first = subprocess.Popen(snakemake_cmd(workdir, config, *command),
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             env=subprocess_env(), cwd=workdir, start_new_session=True)
    deadline = time.monotonic() + 600
    try:
        while not list(partial.glob("seq_*.json")):
            assert first.poll() is None and time.monotonic() < deadline, "ended unkilled"
            time.sleep(0.02)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(first.pid, signal.SIGKILL)
        first.wait(timeout=60)
    kept = sorted(p.stem for p in partial.glob("seq_*.json"))
    assert any((workdir / ".snakemake" / "locks").glob("*.lock"))  # what the kill left

    second = run(workdir, config, *command)
    output = second.stdout + second.stderr
    assert second.returncode == 0, output[-6000:]
    assert ("fi-pipeline: removed the lock left by a Snakemake run of this folder that is no "
            "longer running (killed); continuing") in output
    assert inject_jobs(output, SEQ) == [last_round.name]
    log = (workdir / "logs" / "inject" / SEQ / f"{last_round.name}.log").read_text()
    assert f"kept {len(kept)} finished runs of an earlier attempt" in log
    assert f"training {len(before) - len(kept)}\n" in log
    assert {p.name: p.read_bytes() for p in last_round.glob("*.txt")} == before
    table = pd.read_parquet(results / "results.parquet")
    columns = [c for c in table.columns if "wall" not in c]
    pd.testing.assert_frame_equal(table[columns].sort_values("id").reset_index(drop=True),
                                  table_before[columns].sort_values("id").reset_index(drop=True))
