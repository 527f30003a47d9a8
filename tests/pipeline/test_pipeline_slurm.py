"""A micro campaign through a real SLURM cluster: workflow/cluster/local-slurm starts a
single-node cluster (installing Debian's packages when missing), Snakemake submits every
golden, generate, inject and analysis job with snakemake-executor-plugin-slurm
(profiles/slurm-local), and sacct shows each job's CPUs, memory and time limit. One running
inject job is cancelled with scancel: Snakemake reports it failed, and the rerun resubmits only
that job, which trains only its unfinished CSV. The traces equal those of the same job run
locally. The cluster is stopped whether the tests pass or fail.

A machine that cannot run SLURM (not root, no packages) fails here with the script's reason;
deselect these tests with `-m "not slurm"`."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from .pipeline_helpers import REPO, SNAKEMAKE, require_engine, subprocess_env, write_config

pytestmark = [pytest.mark.slurm, pytest.mark.slow]

SCRIPT = REPO / "workflow" / "cluster" / "local-slurm"
PROFILE = REPO / "profiles" / "slurm-local"
CAMPAIGN = "slurmmicro"
N = 4
VICTIM_JOB = "inj_00002..inj_00003"  # two workers: inj_00000..inj_00001 and this one
OTHER_JOB = "inj_00000..inj_00001"
FINISHED = "inj_00002"  # the victim's first CSV: finished before the cancel, kept
THREADS, MEM_MB, RUNTIME = 1, 1500, 5  # inject.resources; golden gets RUNTIME * 2
TARGET = f"results/{CAMPAIGN}/results.parquet"
OTHER_TRACES = f"results/{CAMPAIGN}/traces/{OTHER_JOB}"


def cluster_env(state: Path) -> dict[str, str]:
    env = subprocess_env()
    env["LOCAL_SLURM_DIR"] = str(state)
    env["SLURM_CONF"] = str(state / "etc" / "slurm.conf")
    return env


def local_slurm(state: Path, command: str, timeout: float = 900):
    return subprocess.run([sys.executable, str(SCRIPT), command], capture_output=True,
                          text=True, env=cluster_env(state), timeout=timeout)


@pytest.fixture(scope="session")
def cluster(tmp_path_factory):
    """The local cluster, up for the session and stopped at its end, whatever happened."""
    state = tmp_path_factory.mktemp("slurm")
    try:
        started = local_slurm(state, "up")
        if started.returncode != 0:
            pytest.fail(f"no SLURM cluster on this machine: workflow/cluster/local-slurm up "
                        f"exited {started.returncode}: {started.stderr.strip()[-2000:]} "
                        '(deselect these tests with -m "not slurm")', pytrace=False)
        yield state
    finally:
        stopped = local_slurm(state, "down")
        assert stopped.returncode == 0, stopped.stderr
        assert local_slurm(state, "status").returncode == 1  # nothing of it runs any more


def micro_config(path: Path) -> Path:
    resources = {"threads": THREADS, "mem_mb": MEM_MB, "runtime": RUNTIME}
    return write_config(path, {
        "run": [CAMPAIGN],
        "workloads": {"micro": {"preset": "resnet18_small", "set": {"epochs": 2}}},
        "golden": {"runs": 1, "resources": {**resources, "runtime": 2 * RUNTIME}},
        "campaigns": {CAMPAIGN: {"workload": "micro", "n": N, "seed": 11}},
        "inject": {"workers": 2, "resources": resources},
        "analysis": {"rates": {"stage": ["stage"]},
                     "resources": {"threads": 1, "mem_mb": 2000, "runtime": 10}},
    })


def snakemake_cmd(workdir: Path, config: Path, *args: str) -> list[str]:
    return [SNAKEMAKE, "--snakefile", str(REPO / "Snakefile"), "--directory", str(workdir),
            "--configfile", str(config), *args]


def slurm_cmd(workdir: Path, config: Path) -> list[str]:
    return snakemake_cmd(workdir, config, "--profile", str(PROFILE), TARGET)


def jobs_of(output: str, rule: str) -> list[str]:
    """The wildcards of each job of `rule` that a Snakemake run started."""
    pattern = rf"\b(?:local)?rule {rule}:\n(?:[^\n]*\n)*?\s*wildcards: ([^\n]*)"
    return re.findall(pattern, output)


def sacct(state: Path) -> pd.DataFrame:
    """Every job the cluster ran: id, the rule (from the plugin's comment), state, requests."""
    fields = ["JobIDRaw", "Comment", "State", "ReqCPUS", "ReqMem", "Timelimit"]
    result = subprocess.run(
        ["sacct", "-X", "--parsable2", "--noheader", "--starttime", "now-1days",
         f"--format={','.join(fields)}"],
        capture_output=True, text=True, env=cluster_env(state), timeout=60, check=True)
    rows = [line.split("|") for line in result.stdout.splitlines() if line.strip()]
    table = pd.DataFrame(rows, columns=fields)
    table["rule"] = table["Comment"].str.extract(r"^rule_([a-z_]+?)(?:_wildcards_|$)")[0]
    return table


def cancel_when_half_done(first: subprocess.Popen, workdir: Path, state: Path) -> str:
    """scancel the victim's SLURM job once it has finished its first CSV (while it trains its
    second): its job id is the name of its SLURM log."""
    logs = workdir / ".snakemake" / "slurm_logs" / "rule_inject" / f"{CAMPAIGN}_{VICTIM_JOB}"
    partial = workdir / "results" / CAMPAIGN / "partial" / "traces" / VICTIM_JOB
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        assert first.poll() is None, "the first run ended before the victim could be cancelled"
        if (partial / f"{FINISHED}.json").exists() and list(logs.glob("*.log")):
            assert not (partial / "inj_00003.json").exists(), "the victim finished"
            jobid = next(logs.glob("*.log")).stem
            subprocess.run(["scancel", jobid], env=cluster_env(state), check=True, timeout=60)
            return jobid
        time.sleep(0.2)
    raise AssertionError("the victim never finished its first CSV")


@pytest.fixture(scope="module")
def slurm_campaign(cluster, tmp_path_factory):
    """The micro campaign through SLURM with one inject job cancelled, then its rerun."""
    require_engine()
    workdir = tmp_path_factory.mktemp("slurm_campaign")
    config = micro_config(workdir / "micro.yaml")
    env = cluster_env(cluster)
    first_log = workdir.parent / f"{workdir.name}-first-run.log"
    with open(first_log, "w") as log:
        first = subprocess.Popen(slurm_cmd(workdir, config), stdout=log,
                                 stderr=subprocess.STDOUT, env=env, cwd=workdir)
    try:
        cancelled = cancel_when_half_done(first, workdir, cluster)
        try:
            first.wait(timeout=400)  # the other job's last CSV, then a status check
        except subprocess.TimeoutExpired:
            raise AssertionError("Snakemake never saw that the cancelled job ended") from None
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    kept = workdir / "results" / CAMPAIGN / "partial" / "traces" / VICTIM_JOB / f"{FINISHED}.txt"
    kept_inode = kept.stat().st_ino
    # The spared job once more without SLURM, from the same golden run and CSVs, next to the
    # rerun (which needs one of the two cores).
    local_dir = tmp_path_factory.mktemp("local_job")
    for part in ("results/golden", f"results/{CAMPAIGN}/csv"):
        shutil.copytree(workdir / part, local_dir / part)
    local = subprocess.Popen(snakemake_cmd(local_dir, config, "--cores", "1", OTHER_TRACES),
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                             env=subprocess_env(), cwd=local_dir)
    try:
        second = subprocess.run(slurm_cmd(workdir, config), capture_output=True, text=True,
                                env=env, cwd=workdir, timeout=900)
        local_output = local.communicate(timeout=900)[0]
    finally:
        if local.poll() is None:
            local.kill()
            local.wait()
    return {"workdir": workdir, "config": config, "first": first_log.read_text(),
            "first_code": first.returncode, "second": second, "cancelled": cancelled,
            "kept_inode": kept_inode, "sacct": sacct(cluster), "local_dir": local_dir,
            "local": (local.returncode, local_output)}


def test_a_cancelled_job_is_reported_failed(slurm_campaign):
    first = slurm_campaign["first"]
    assert slurm_campaign["first_code"] != 0, first[-4000:]
    cancelled = slurm_campaign["cancelled"]
    assert re.search(rf"SLURM-job '{cancelled}' failed, SLURM status is: 'CANCELLED", first), \
        first[-4000:]
    assert "Error in rule inject" in first and f"job={VICTIM_JOB}" in first
    table = slurm_campaign["sacct"]
    assert table.loc[table["JobIDRaw"] == cancelled, "State"].str.startswith("CANCELLED").all()


def test_the_rerun_resubmits_only_the_cancelled_job(slurm_campaign):
    second = slurm_campaign["second"]
    output = second.stdout + second.stderr
    assert second.returncode == 0, output[-6000:]
    assert jobs_of(output, "inject") == [f"campaign={CAMPAIGN}, job={VICTIM_JOB}"]
    assert not jobs_of(output, "golden") and not jobs_of(output, "generate")
    workdir = slurm_campaign["workdir"]
    log = (workdir / "logs" / "inject" / CAMPAIGN / f"{VICTIM_JOB}.log").read_text()
    assert "kept 1 finished runs of an earlier attempt" in log and "training 1\n" in log
    trace = workdir / "results" / CAMPAIGN / "traces" / VICTIM_JOB / f"{FINISHED}.txt"
    assert trace.stat().st_ino == slurm_campaign["kept_inode"], "the finished CSV was retrained"
    table = pd.read_parquet(workdir / TARGET)
    assert sorted(table["id"]) == [f"inj_{i:05d}" for i in range(N)]
    assert table["complete"].all() and table["outcome"].notna().all()


def test_every_job_but_the_local_rules_went_through_sbatch_with_its_resources(slurm_campaign):
    table = slurm_campaign["sacct"]
    ours = table[table["rule"].notna()]
    # golden, generate, 2 inject jobs and collect, and the cancelled job's second submission.
    assert sorted(ours["rule"]) == sorted(["golden", "generate", "inject", "inject", "inject",
                                           "collect"])
    assert not set(ours["rule"]) & {"all", "trace_list", "download", "round_list"}
    limits = {"golden": (THREADS, MEM_MB, 2 * RUNTIME), "inject": (THREADS, MEM_MB, 2 * RUNTIME),
              "collect": (1, 2000, 10), "generate": (1, 2000, 10)}
    for row in ours.itertuples():
        threads, mem_mb, minutes = limits[row.rule]
        assert (int(row.ReqCPUS), row.ReqMem, row.Timelimit) == (
            threads, f"{mem_mb}M", f"00:{minutes:02d}:00"), row
    done = ours[ours["JobIDRaw"] != slurm_campaign["cancelled"]]
    assert (done["State"] == "COMPLETED").all(), done


def test_traces_equal_those_of_the_same_job_run_locally(slurm_campaign):
    """The job the cancel spared, run again without SLURM from the same golden run and CSVs:
    byte-identical traces."""
    code, output = slurm_campaign["local"]
    assert code == 0, output[-4000:]
    assert jobs_of(output, "inject") == [f"campaign={CAMPAIGN}, job={OTHER_JOB}"]
    via_slurm = {p.name: p.read_bytes()
                 for p in (slurm_campaign["workdir"] / OTHER_TRACES).glob("*.txt")}
    assert len(via_slurm) == 2
    local = slurm_campaign["local_dir"] / OTHER_TRACES
    assert {p.name: p.read_bytes() for p in local.glob("*.txt")} == via_slurm


def _copy_inputs(source: Path, into: Path) -> Path:
    """A new folder holding a campaign's golden run and CSVs: a job of it can run again."""
    for part in ("results/golden", f"results/{CAMPAIGN}/csv"):
        shutil.copytree(source / part, into / part)
    return into


def _squeue(state: Path) -> list[tuple[str, str]]:
    """(state, reason) of every job in the queue."""
    result = subprocess.run(["squeue", "-h", "-o", "%T|%r"], capture_output=True, text=True,
                            env=cluster_env(state), timeout=60, check=True)
    return [tuple(line.split("|", 1)) for line in result.stdout.splitlines() if line]


def _node(state: Path) -> str:
    result = subprocess.run(["sinfo", "-h", "-N", "-o", "%N"], capture_output=True, text=True,
                            env=cluster_env(state), timeout=60, check=True)
    return result.stdout.split()[0]


def test_a_drained_node_delays_a_job_and_loses_nothing(slurm_campaign, cluster,
                                                       tmp_path_factory):
    """The node drained before a job is submitted: the job waits in the queue; resumed, it
    runs and gives the same traces as before."""
    workdir = _copy_inputs(slurm_campaign["workdir"], tmp_path_factory.mktemp("drained"))
    env, node = cluster_env(cluster), _node(cluster)
    update = ["scontrol", "update", f"nodename={node}"]
    subprocess.run([*update, "state=drain", "reason=fi-test"], env=env, check=True, timeout=60)
    run = subprocess.Popen(snakemake_cmd(workdir, slurm_campaign["config"], "--profile",
                                         str(PROFILE), OTHER_TRACES),
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                           cwd=workdir)
    try:
        deadline, waited = time.monotonic() + 300, []
        while not waited:  # the golden run is copied: the inject job is the first one
            assert run.poll() is None and time.monotonic() < deadline, "never queued"
            waited = [job for job in _squeue(cluster) if job[0] == "PENDING"]
            time.sleep(0.5)
        time.sleep(3)
        assert [job[0] for job in _squeue(cluster)] == ["PENDING"]  # still waiting
    finally:
        subprocess.run([*update, "state=resume"], env=env, check=True, timeout=60)
    output = run.communicate(timeout=600)[0]
    assert run.returncode == 0, output[-4000:]
    reason = waited[0][1]  # Slurm 22.05: "ReqNodeNotAvail, UnavailableNodes:<node>"
    assert "ReqNodeNotAvail" in reason or "DRAINED" in reason, waited
    before = slurm_campaign["workdir"] / OTHER_TRACES
    again = workdir / OTHER_TRACES
    assert {p.name: p.read_bytes() for p in again.glob("*.txt")} == {
        p.name: p.read_bytes() for p in before.glob("*.txt")}


def test_a_job_over_its_memory_is_killed_and_reported(slurm_campaign, cluster,
                                                      tmp_path_factory):
    """An inject job given 100 MB (TensorFlow alone needs several times that): SLURM kills it
    and Snakemake reports the job failed with SLURM's reason."""
    workdir = _copy_inputs(slurm_campaign["workdir"], tmp_path_factory.mktemp("small_memory"))
    result = subprocess.run(
        snakemake_cmd(workdir, slurm_campaign["config"], "--profile", str(PROFILE),
                      "--set-resources", "inject:mem_mb=100", "--retries", "0", OTHER_TRACES),
        capture_output=True, text=True, env=cluster_env(cluster), cwd=workdir, timeout=600)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output[-4000:]
    # The plugin reports the job's state (from squeue: FAILED); SLURM's reason is in the job's
    # SLURM log, which Snakemake's error names.
    failed = re.search(r"SLURM-job '(\d+)' failed, SLURM status is: '([A-Z_]+)'", output)
    assert failed and failed[2] in ("FAILED", "OUT_OF_MEMORY"), output[-4000:]
    assert "Error in rule inject" in output
    log = (workdir / ".snakemake" / "slurm_logs" / "rule_inject" / f"{CAMPAIGN}_{OTHER_JOB}"
           / f"{failed[1]}.log").read_text()
    assert re.search(r"StepId=\d+\.batch exceeded memory limit \(\d+ > 104857600\), being "
                     r"killed", log), log[-2000:]
    assert not (workdir / OTHER_TRACES).exists()


def test_down_stops_every_daemon_it_started(cluster):
    """Last: stops the session's cluster (the finalizer then finds nothing to stop)."""
    status = local_slurm(cluster, "status")
    assert status.returncode == 0, status.stdout
    daemons = json.loads((cluster / "daemons.json").read_text())
    assert sorted(daemons) == ["mariadbd", "munged", "slurmctld", "slurmd", "slurmdbd"]
    assert local_slurm(cluster, "down").returncode == 0
    for name, entry in daemons.items():
        assert start_time(entry["pid"]) != entry["start"], f"{name} still runs"
    assert local_slurm(cluster, "status").returncode == 1


def start_time(pid: int) -> str | None:
    """A running process's start time (None once it is gone or a zombie)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return None if fields[0] == "Z" else fields[19]
