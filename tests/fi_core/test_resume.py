"""Resumable inject jobs (`--partial-dir`): a killed job, rerun, trains only the CSVs without a
complete, verified trace pair, and its traces are those of an uninterrupted run."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fi_core.replay import runs
from fi_core.spec import injection
from fi_core.store import resume

N = 10


def write_csvs(folder: Path) -> list[Path]:
    """Ten forward faults in the last epoch of the micro golden run (10 steps each)."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for index in range(N):
        rows = {
            "model": ["resnet18"], "stage": ["fwrd_inject"], "fmodel": ["RD"],
            "target_worker": [str(index % 4)], "target_layer": ["basicblock_2_basic_0_conv2"],
            "target_epoch": ["2"], "target_step": [str(index)], "inj_pos": ["5/1/2/7"],
            "inj_values": [f"{index + 2}.5"], "learning_rate": ["0.001"], "seed": ["123"],
            "workload": ["resnet18_small"], "epochs": ["3"],
        }
        path = folder / f"inj_{index:05d}.csv"
        injection.write(path, rows)
        paths.append(path)
    return paths


def inject_cmd(csvs: list[Path], golden: Path, out: Path, partial: Path, *extra: str) -> list:
    files = [arg for csv in csvs for arg in ("--file", str(csv))]
    return [sys.executable, "-m", "fi_core", "inject", *files, "--golden", str(golden),
            "--out-dir", str(out), "--partial-dir", str(partial), *extra]


@pytest.fixture(scope="module")
def uninterrupted(micro_golden, tmp_path_factory) -> dict:
    """The ten CSVs replayed in one go, without --partial-dir: the reference."""
    base = tmp_path_factory.mktemp("resume")
    csvs = write_csvs(base / "csv")
    runs.inject(csvs, micro_golden, base / "reference")
    return {"base": base, "csvs": csvs, "reference": base / "reference"}


def same_as_reference(out: Path, reference: Path) -> None:
    for csv_index in range(N):
        label = f"inj_{csv_index:05d}"
        assert (out / f"{label}.txt").read_bytes() == (reference / f"{label}.txt").read_bytes()
        mine, theirs = (json.loads((d / f"{label}.json").read_text()) for d in (out, reference))
        mine.pop("wall_time_s")
        theirs.pop("wall_time_s")
        assert mine == theirs, label


def test_a_killed_job_rerun_trains_only_what_did_not_finish(micro_golden, uninterrupted):
    base, csvs = uninterrupted["base"], uninterrupted["csvs"]
    out, partial = base / "killed" / "out", base / "killed" / "partial"
    first = subprocess.Popen(inject_cmd(csvs, micro_golden, out, partial),
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 600
    while len(list(partial.glob("inj_*.json"))) < 4:
        assert first.poll() is None, "the job ended before it was killed"
        assert time.monotonic() < deadline
        time.sleep(0.02)
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=60)
    assert not out.exists()  # the pairs only move to --out-dir when every CSV has one
    finished = sorted(p.stem for p in partial.glob("inj_*.json"))
    assert len(finished) >= 4
    kept_bytes = {name: (partial / f"{name}.txt").read_bytes() for name in finished}
    kept_stat = {name: os.stat(partial / f"{name}.json").st_ino for name in finished}

    second = subprocess.run(inject_cmd(csvs, micro_golden, out, partial), capture_output=True,
                            text=True, timeout=600)
    assert second.returncode == 0, second.stderr
    assert second.stdout == (f"kept {len(finished)} finished runs of an earlier attempt "
                             f"({partial}); training {N - len(finished)}\n")
    trained = [line for line in second.stderr.splitlines() if " done (" in line]
    assert len(trained) == N - len(finished)
    assert not any(f"[{name}]" in line for name in finished for line in trained)
    # The kept pairs were moved, not rewritten; the partial folder is gone.
    for name in finished:
        assert (out / f"{name}.txt").read_bytes() == kept_bytes[name]
        assert os.stat(out / f"{name}.json").st_ino == kept_stat[name]
    assert not partial.exists()
    assert sorted(p.name for p in out.iterdir()) == sorted(
        f"inj_{i:05d}{ext}" for i in range(N) for ext in (".json", ".txt"))
    same_as_reference(out, uninterrupted["reference"])


def _staged(uninterrupted: dict, micro_golden: Path, where: Path, **options) -> Path:
    """A partial folder as an earlier attempt with these options left it: every pair done."""
    hits = injection.parse_all(uninterrupted["csvs"])
    partial = where / "partial"
    shutil.copytree(uninterrupted["reference"], partial)
    stamp = resume.fingerprint(hits, micro_golden, {"early_exit": "injection-epoch", **options})
    (partial / resume.ATTEMPT).write_text(json.dumps(stamp))
    return partial


def test_only_complete_pairs_of_the_same_attempt_are_kept(micro_golden, uninterrupted,
                                                          tmp_path):
    hits = injection.parse_all(uninterrupted["csvs"])
    options = {"early_exit": "injection-epoch"}
    partial = _staged(uninterrupted, micro_golden, tmp_path)
    (partial / "inj_00001.json").write_text('{"kind": "injection", "id": "inj_0')  # truncated
    (partial / "inj_00002.txt").unlink()  # a half pair
    record = json.loads((partial / "inj_00003.json").read_text())
    record["csv"]["inj_values"] = "99.0"  # another CSV's run
    (partial / "inj_00003.json").write_text(json.dumps(record))
    (partial / ".inj_00004.json.abc.tmp").write_text("left by a kill")
    (partial / "notes.md").write_text("the user's")

    runs_ = resume.open_partial(partial, hits, print_note=False, golden_dir=micro_golden,
                                options=options)
    assert [hit.label for hit in runs_.todo] == ["inj_00001", "inj_00002", "inj_00003"]
    assert len(runs_.kept) == N - 3
    assert not (partial / "inj_00001.json").exists()  # retrained, so removed first
    assert not (partial / "inj_00002.json").exists()
    assert not (partial / ".inj_00004.json.abc.tmp").exists()
    assert (partial / "notes.md").exists()  # not this job's: left alone
    assert (partial / "inj_00004.json").exists()


def test_other_options_or_another_golden_run_keep_nothing(micro_golden, uninterrupted,
                                                         tmp_path):
    hits = injection.parse_all(uninterrupted["csvs"])
    partial = _staged(uninterrupted, micro_golden, tmp_path)
    runs_ = resume.open_partial(partial, hits, print_note=False, golden_dir=micro_golden,
                                options={"early_exit": "off"})
    assert runs_.kept == () and len(runs_.todo) == N
    assert sorted(p.name for p in partial.iterdir()) == [resume.ATTEMPT]
    assert json.loads((partial / resume.ATTEMPT).read_text())["options"] == {
        "early_exit": "off"}

    other = tmp_path / "other_golden"
    shutil.copytree(micro_golden, other)
    record = json.loads((other / "trace.json").read_text())
    last = sorted(key for key in record["checkpoints"] if key != "initial")[-1]
    record["checkpoints"][last] = "0" * 64  # another golden run's checkpoint
    (other / "trace.json").write_text(json.dumps(record))
    partial = _staged(uninterrupted, micro_golden, tmp_path / "again")
    assert resume.fingerprint(hits, other, {"early_exit": "injection-epoch"}) != json.loads(
        (partial / resume.ATTEMPT).read_text())


def test_a_partial_dir_that_cannot_hold_the_runs_is_refused(micro_golden, uninterrupted,
                                                            tmp_path):
    csvs = uninterrupted["csvs"][:1]
    for partial, reason in ((tmp_path / "out", "is the --out-dir itself"),
                            (tmp_path / "out" / "p", "lies inside --out-dir or holds it"),
                            (micro_golden / "p", "is inside the golden run")):
        result = subprocess.run(inject_cmd(csvs, micro_golden, tmp_path / "out", partial),
                                capture_output=True, text=True, timeout=120)
        assert result.returncode == 2
        assert result.stderr.startswith(f"{partial}: --")
        assert reason in result.stderr and len(result.stderr.splitlines()) == 1
    assert not (tmp_path / "out").exists()
