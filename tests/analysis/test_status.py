"""`fi-analysis status` and the notebook API on a campaign that is still running."""

from __future__ import annotations

import io
import os
import re
import threading
import time
from pathlib import Path

import pytest

import analysis
from analysis import synthetic as syn
from analysis.campaign_status import campaign_status, duration
from analysis.cli import main
from analysis.collect import collect
from analysis.errors import InputError
from analysis.stats import proportion_ci


class Running:
    """results/golden/<workload>/seed_<s>/ and results/<campaign>/ as the pipeline lays them
    out, part way through a campaign of 60 injections."""

    def __init__(self, root: Path, n_traces: int = 25) -> None:
        self.root = root
        self.results = root / "results"
        self.campaign = self.results / "default"
        self.gdir = self.results / "golden" / "resnet18_small"
        self.goldens = []
        for k, seed in enumerate((123, 124, 125)):
            rec = syn.golden_record(
                f"seed_{seed}", final_train=0.9 + 0.005 * k, config={"seed": seed}
            )
            (self.gdir / f"seed_{seed}").mkdir(parents=True)
            syn.write_json(self.gdir / f"seed_{seed}" / "trace.json", rec)
            self.goldens.append(rec)
        (self.gdir / "seed_126").mkdir()  # a golden run still training: no trace yet
        (self.campaign / "csv").mkdir(parents=True)
        for i in range(60):
            (self.campaign / "csv" / f"inj_{i:05d}.csv").write_text("model,resnet18\n")
        self.traces = self.campaign / "traces"
        self.traces.mkdir()
        self.outcomes: dict[str, str] = {}
        for i in range(n_traces):
            if i % 5 == 0:
                kw, outcome = {"nonfinite_at": (5, 3)}, "Immediate INFs/NaNs"
            elif i % 7 == 0:
                kw, outcome = {"nonfinite_test_at": 7}, "Late INFs/NaNs"
            else:
                kw, outcome = {}, "Masked"
            rec = syn.injection_record(
                f"inj_{i:05d}",
                self.goldens[0],
                5,
                3,
                stage=("fwrd_inject", "bkwd_inject")[i % 2],
                **kw,
            )
            # As fi_core records it: relative to the folder Snakemake runs in.
            rec["golden_checkpoint"]["path"] = "results/golden/resnet18_small/seed_123/epoch_4"
            rec["wall_time_s"] = 30.0
            syn.write_json(self.traces / f"inj_{i:05d}.json", rec)
            self.outcomes[f"inj_{i:05d}"] = outcome
        bench = self.results / "benchmarks" / "inject" / "default"
        bench.mkdir(parents=True)
        header = (
            "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"
        )
        (bench / "inj_0000.tsv").write_text(header + "350.5\t0:05:50\t1\t1\t1\t1\t0\t0\t95\t330\n")
        (bench / "inj_0001.tsv").write_text(header + "320.1\t0:05:20\t1\t1\t1\t1\t0\t0\t95\t300\n")

    def damage(self) -> None:
        (self.traces / "inj_00025.json").write_text('{"format": "fi-trace/1", "kind": "inj')
        (self.traces / ".inj_00026.json.x1y2.tmp").write_text("{half")  # being written
        (self.results / "benchmarks" / "inject" / "default" / "inj_0002.tsv").write_bytes(b"\xff")


@pytest.fixture
def running(tmp_path: Path, monkeypatch) -> Running:
    monkeypatch.chdir(tmp_path)  # where Snakemake runs: the recorded paths are relative to it
    return Running(tmp_path)


def test_status_of_a_running_campaign(running: Running, capsys) -> None:
    running.damage()
    assert main(["status", "results/default"]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    lines = out.splitlines()
    assert lines[0] == "results/default: PROVISIONAL: 26 of 60 injections have a trace"
    assert " ".join(lines[1].split()) == (
        "injections 25 done, 1 failed (incomplete trace), 34 to go, 60 planned "
        "(results/default/csv)"
    )
    # The golden runs are found from the checkpoint the traces resumed from; the seed without
    # a trace (still training) is left out with a note.
    assert "golden runs 3: results/golden/resnet18_small/seed_123/trace.json" in out
    assert "note: golden run results/golden/resnet18_small/seed_126 has no trace" in out
    # Spent: two finished jobs (350.5 + 320.1 s, covering inj_00000..19) and the 5 runs of
    # the running batch (5 x 30 s); left: 34 injections at (350.5 + 320.1) / 20 s each.
    assert f"time spent  {duration(670.6 + 150)} of compute (2 finished job(s)" in out
    assert f"time left   {duration(34 * 670.6 / 20)} of compute (34 x 34s)" in out
    assert "note: 1 benchmark file(s) unreadable" in out
    assert "failed: results/default/traces/inj_00025.json:1: invalid JSON" in out
    assert "outcome rates so far (PROVISIONAL)" in out and "over-represented" in out
    # The rates and their Wilson intervals, over the 25 complete runs.
    masked = sum(o == "Masked" for o in running.outcomes.values())
    low, high = proportion_ci(masked, 25)
    row = next(line for line in lines if line.strip().startswith("Masked"))
    assert row.split()[1:4] == [
        str(masked),
        f"{100 * masked / 25:.1f}%",
        f"({100 * low:.1f}-{100 * high:.1f})",
    ]
    head = next(line for line in lines if line.split()[:2] == ["outcome", "all"])
    assert "all (n=25)" in head and "bkwd_inject (n=12)" in head and "fwrd_inject (n=13)" in head
    # A non-finite test loss is an INF/NaN outcome (Late here), never LowTestAccuracy.
    late = next(line for line in lines if line.strip().startswith("Late INFs/NaNs"))
    assert late.split()[2] == str(sum(o == "Late INFs/NaNs" for o in running.outcomes.values()))


def test_status_api_pace_and_table(running: Running) -> None:
    now = 1_800_000_000.0
    for path in running.traces.iterdir():
        os.utime(path, (now - 100, now - 100))
    status = campaign_status("results/default", now=now)
    assert (status.done, status.failed, status.planned, status.remaining) == (25, 0, 60, 35)
    # 25 runs finished within the window, which starts when the first run started (130 s ago).
    assert status.recent_runs == 25 and status.window_s == pytest.approx(130.0)
    assert status.wall_left_s == pytest.approx(35 / (25 / 130.0))
    assert dict(zip(status.table["id"], status.table["outcome"], strict=True)) == running.outcomes
    assert str(status).startswith("results/default: PROVISIONAL: 25 of 60")
    # The notebook entry points: the traces now, then the collected table, agree.
    live = analysis.load("results/default")
    collect(
        ["results/default/traces"],
        [str(running.gdir / f"seed_{s}") for s in (123, 124, 125)],
        "results/default/results.parquet",
        log=io.StringIO(),
    )
    table = analysis.load("results/default")
    assert list(table["outcome"]) == list(live["outcome"])
    rates = analysis.rates(table, "stage")
    assert set(rates["stage"]) == {"fwrd_inject", "bkwd_inject"}
    assert (rates.groupby("stage")["k"].sum() == rates.groupby("stage")["n"].first()).all()


def test_status_early_and_replay(running: Running, tmp_path: Path, capsys) -> None:
    # Before the golden runs have finished, and before the CSVs exist: counts, no rates.
    running.damage()
    for seed in (123, 124, 125):
        (running.gdir / f"seed_{seed}" / "trace.json").unlink()
    for csv in (running.campaign / "csv").iterdir():
        csv.unlink()
    (running.campaign / "csv").rmdir()
    assert main(["status", "results/default"]) == 0
    out = capsys.readouterr()[0]
    assert "26 injection(s) have a trace; the number planned is unknown" in out
    assert "no golden trace found (give --golden): outcomes are not classified yet" in out
    assert "outcome rates" not in out
    assert "25 done, 1 failed" in out  # the damaged trace is counted, and named, all the same
    assert "failed: results/default/traces/inj_00025.json:1: invalid JSON" in out
    # A replay campaign: the CSVs it replays are elsewhere; the golden run given.
    replay = tmp_path / "replayed"
    replay.mkdir()
    for i in range(30):
        (replay / f"inj_{i:05d}.csv").write_text("model,resnet18\n")
    golden = tmp_path / "golden.json"
    syn.write_json(golden, running.goldens[0])
    code = main(["status", "results/default", "--golden", str(golden), "--csv-dir", str(replay)])
    out = capsys.readouterr()[0]
    assert code == 0 and "26 of 30 injections" in out and "golden runs 1" in out


def test_status_refusals(running: Running, capsys) -> None:
    for argv, start in (
        (["status", "results/nope"], "results/nope: no such directory"),
        (["status", "results/default", "--csv-dir", "nope"], "nope: --csv-dir: no such directory"),
        (["status", "results/default", "--confidence", "1.5"], "confidence: "),
        (["status", "results/default", "--by", "stage,nope"], "--by: no column 'nope'"),
        (["status", "results/default", "--golden", "results/default/csv/inj_00001.csv"], ""),
    ):
        code, (out, err) = main(argv), capsys.readouterr()
        assert code == 2 and out == "" and err.count("\n") == 1 and err.startswith(start), err
    with pytest.raises(InputError, match="neither a results folder"):
        analysis.load("results/nope")


def _finish_campaign(running: Running, delay: float) -> threading.Thread:
    """The rest of the campaign's traces, each appearing atomically, after `delay` seconds."""

    def write() -> None:
        time.sleep(delay)
        for i in range(25, 60):
            rec = syn.injection_record(f"inj_{i:05d}", running.goldens[0], 5, 3)
            rec["golden_checkpoint"]["path"] = "results/golden/resnet18_small/seed_123/epoch_4"
            hidden = running.traces / f".inj_{i:05d}.json.tmp"
            syn.write_json(hidden, rec)
            hidden.rename(running.traces / f"inj_{i:05d}.json")

    thread = threading.Thread(target=write)
    thread.start()
    return thread


def test_status_watch_follows_the_campaign_to_its_end(running: Running, capsys) -> None:
    thread = _finish_campaign(running, 0.5)
    try:
        assert main(["status", "results/default", "--watch", "0.1"]) == 0
    finally:
        thread.join()
    out, err = capsys.readouterr()
    # Not a terminal: one plain line per change, the first at 25 of 60, the last at 60 of 60.
    lines = err.splitlines()
    assert re.fullmatch(r"\d\d:\d\d:\d\d injections 25/60: Masked \d+% \(\d+-\d+\).*", lines[0])
    assert re.fullmatch(r"\d\d:\d\d:\d\d injections 60/60: Masked \d+% \(\d+-\d+\)", lines[-1])
    assert len(lines) == len(set(lines))  # nothing repeated while nothing changed
    assert out.startswith("results/default: every planned injection has a trace (60 of 60)")


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_status_watch_draws_a_bar_on_a_terminal(running: Running) -> None:
    from analysis.watch import watch

    screen = Terminal()
    reads = []

    def read():
        reads.append(1)
        return campaign_status("results/default")

    status = watch(read, 0.05, screen, limit=2)
    assert len(reads) == 2 and status.remaining == 35
    drawn = screen.getvalue()
    assert "\r" in drawn and "injections:" in drawn and "25/60" in drawn and "Masked" in drawn


def test_status_watch_refuses_a_bad_interval(running: Running, capsys) -> None:
    """Zero, negative, non-finite and longer than a day (time.sleep overflowed on 1e10): one
    line naming --watch, before anything is read."""
    for bad, got in (("1e10", "must be in (0, 86400] seconds, got 10000000000.0"),
                     ("86400.5", "must be in (0, 86400] seconds, got 86400.5"),
                     ("0", "must be in (0, 86400] seconds, got 0.0"),
                     ("-1", "must be in (0, 86400] seconds, got -1.0"),
                     ("nan", "expected a finite number, got nan"),
                     ("inf", "expected a finite number, got inf")):
        assert main(["status", "results/default", "--watch", bad]) == 2
        assert capsys.readouterr() == ("", f"--watch: {got}\n"), bad
