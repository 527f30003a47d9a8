"""collect: the results and curves tables, streaming, atomic outputs and bad campaigns."""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from analysis import synthetic as syn
from analysis.collect import collect
from analysis.columns import CURVE_COLUMNS, RESULT_NAMES
from analysis.errors import InputError
from analysis.outcomes import Thresholds, classify_frame
from analysis.table import read_results, table_metadata


def make(campaign) -> None:
    campaign.inject("inj_000", nonfinite_at=(5, 3), injected=[3e30])
    campaign.inject("inj_001", train={-1: 0.5}, fmodel="ZERO", injected=[0.0])
    campaign.inject("inj_002", epoch=7, step=1, stage="bkwd_inject", fmt="txt")
    campaign.inject("inj_003", epoch=2, step=0)
    syn.write_text(
        campaign.traces / "inj_003.txt",  # same run in both formats
        syn.injection_record("inj_003", campaign.golden, 2, 0),
    )
    cut = campaign.inject("inj_004")
    cut.write_text(cut.read_text()[:1000])


def test_results_and_curves(campaign, tmp_path: Path) -> None:
    make(campaign)
    out, curves = tmp_path / "results.parquet", tmp_path / "curves.parquet"
    log = io.StringIO()
    summary = collect(
        [str(campaign.traces)], [str(campaign.golden_path)], str(out), str(curves), log=log
    )
    assert summary.n_rows == 5
    assert "1 run(s) found as both .json and .txt" in log.getvalue()
    assert f"incomplete: {campaign.traces / 'inj_004.json'}:1: invalid JSON" in log.getvalue()
    df = read_results(str(out))
    assert list(df.columns) == RESULT_NAMES
    by_id = df.set_index("id")
    assert by_id.loc["inj_000", "outcome"] == "Immediate INFs/NaNs"
    assert by_id.loc["inj_000", "first_nonfinite_epoch"] == 5
    assert by_id.loc["inj_000", "max_abs_injected"] == 3e30
    assert by_id.loc["inj_001", "outcome"] == "SlowDegrade"
    assert by_id.loc["inj_001", "final_train_accuracy"] == 0.5
    assert by_id.loc["inj_001", "golden_id"] == "golden_a"
    assert by_id.loc["inj_002", "format"] == "text"
    assert by_id.loc["inj_002", "stage"] == "bkwd_inject"
    assert by_id.loc["inj_003", "format"] == "json"
    assert by_id.loc["inj_004", "outcome"] == "Incomplete"
    assert "invalid JSON" in by_id.loc["inj_004", "problem"]
    # Re-classification from the table gives the stored outcomes.
    assert list(classify_frame(df, Thresholds())) == list(df["outcome"])
    assert table_metadata(str(out))["thresholds"]["tol_min"] == 0.02

    c = pq.read_table(curves).to_pandas()
    assert list(c.columns) == [name for name, _, _ in CURVE_COLUMNS]
    golden = c[c["run_kind"] == "golden"]
    assert len(golden) == 20 * 12 * 2 + 20 * 4
    run = c[c["id"] == "inj_001"]
    assert len(run) == (20 - 5) * 12 * 2 + (20 - 5) * 4
    last = run[(run["metric"] == "train_accuracy") & (run["epoch"] == 19)]
    assert last["value"].tolist() == [0.5] and last["global_step"].tolist() == [20 * 12 - 1]
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_file()) == [
        "curves.parquet",
        "golden_a.json",
        "results.parquet",
    ]


def test_parallel_output_is_identical(campaign, tmp_path: Path) -> None:
    for i in range(300):
        campaign.inject(
            f"inj_{i:04d}",
            epoch=1 + i % 18,
            step=i % 12,
            **({"nonfinite_at": (1 + i % 18, i % 12)} if i % 7 == 0 else {}),
        )
    outs = []
    for jobs in (1, 2):
        out = tmp_path / f"r{jobs}.parquet"
        collect(
            [str(campaign.traces)],
            [str(campaign.golden_path)],
            str(out),
            str(tmp_path / f"c{jobs}.parquet"),
            jobs=jobs,
            log=io.StringIO(),
        )
        outs.append(out.read_bytes())
    assert outs[0] == outs[1]
    assert (tmp_path / "c1.parquet").read_bytes() == (tmp_path / "c2.parquet").read_bytes()


def test_refusal_leaves_no_output(campaign, tmp_path: Path) -> None:
    make(campaign)
    campaign.inject("inj_zz", golden=syn.golden_record("another_campaign"))
    out = tmp_path / "results.parquet"
    with pytest.raises(InputError, match="refusing to mix"):
        collect(
            [str(campaign.traces)],
            [str(campaign.golden_path)],
            str(out),
            str(tmp_path / "curves.parquet"),
            log=io.StringIO(),
        )
    assert not out.exists() and not (tmp_path / "curves.parquet").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_empty_campaign(campaign, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="empty campaign"):
        collect(
            [str(campaign.traces)],
            [str(campaign.golden_path)],
            str(tmp_path / "r.parquet"),
            log=io.StringIO(),
        )
    with pytest.raises(InputError, match="no such file"):
        collect(
            [str(tmp_path / "nope")],
            [str(campaign.golden_path)],
            str(tmp_path / "r.parquet"),
            log=io.StringIO(),
        )


def test_golden_runs_among_traces_are_skipped(campaign, tmp_path: Path) -> None:
    campaign.inject("inj_1")
    syn.write_json(campaign.traces / "golden_copy.json", syn.golden_record("golden_copy"))
    log = io.StringIO()
    summary = collect(
        [str(campaign.traces), str(campaign.golden_path)],
        [str(campaign.golden_path)],
        str(tmp_path / "r.parquet"),
        log=log,
    )
    assert summary.n_rows == 1
    assert "golden_copy.json: skipped: a fault-free (golden) run" in log.getvalue()


def test_parallel_error_and_worker_fallback(campaign, tmp_path: Path) -> None:
    """A campaign-level error in a worker stops collect (no output); workers that cannot
    start (main script read from stdin) fall back to reading in-process instead of hanging."""
    import subprocess
    import sys

    for i in range(300):
        campaign.inject(f"inj_{i:04d}", epoch=2, step=1)
    foreign = campaign.inject("inj_0150", golden=syn.golden_record("another_campaign"))
    out = tmp_path / "r.parquet"
    with pytest.raises(InputError, match="refusing to mix") as err:
        collect(
            [str(campaign.traces)], [str(campaign.golden_path)], str(out), jobs=2, log=io.StringIO()
        )
    assert str(err.value).startswith(str(foreign))
    assert not out.exists()

    foreign.unlink()
    script = (
        "import io, sys\nfrom analysis.collect import classify\n"
        f"log = io.StringIO()\nn = sum(1 for _ in classify([{str(campaign.traces)!r}], "
        f"[{str(campaign.golden_path)!r}], jobs=2, log=log))\n"
        "print(n, 'worker processes failed' in log.getvalue())\n"
    )
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.run(
        [sys.executable, "-"], input=script, cwd=root, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.split() == ["299", "True"]


def test_agreed_additions_reach_the_table(campaign, tmp_path: Path) -> None:
    campaign.inject("inj_range", value_range=(64, 1087))
    campaign.inject("inj_range_txt", value_range=(64, 1087), fmt="txt")
    campaign.inject("inj_rejoin", rejoined_at=9, mitigation="abft")
    campaign.inject("inj_test_nan", epoch=5, step=3, nonfinite_test_at=8)
    campaign.inject("inj_train_nan", epoch=5, step=3, nonfinite_at=(5, 3))
    out = tmp_path / "results.parquet"
    collect([str(campaign.traces)], [str(campaign.golden_path)], str(out), log=io.StringIO())
    df = read_results(str(out)).set_index("id")
    r = df.loc["inj_range"]
    assert (r["n_positions"], r["n_elements"], r["range_first"], r["range_last"]) == (
        0,
        1024,
        64,
        1087,
    )
    assert r["value_kind"] == "copy" and r["max_abs_injected"] == 2.5e24  # from the summary
    assert r["injected_min"] == 2.5e24 and r["golden_mean"] == 1.0
    t = df.loc["inj_range_txt"]  # the text trace's Range line: max abs only
    assert (t["n_elements"], t["range_first"], t["range_last"]) == (1024, 64, 1087)
    assert t["max_abs_injected"] == 2.5e24 and pd.isna(t["injected_min"])
    j = df.loc["inj_rejoin"]
    assert (j["outcome"], j["outcome_reason"], j["rejoined_epoch"]) == (
        "Masked",
        "rejoined the golden state at epoch 9",
        9,
    )
    assert j["mitigation"] == "abft" and df.loc["inj_range", "mitigation"] == "none"
    assert df.loc["inj_range", "outcome_reason"] == ""
    n = df.loc["inj_test_nan"]
    assert (n["outcome"], n["nonfinite_metric"], n["first_nonfinite_step"]) == (
        "Late INFs/NaNs",
        "test_loss",
        11,
    )
    assert n["nonfinite_delay_steps"] == 8 * 12 + 11 - (5 * 12 + 3)
    assert df.loc["inj_train_nan", "nonfinite_metric"] == "train_loss"
    assert pd.isna(df.loc["inj_range", "nonfinite_metric"])


def test_one_stderr_line_per_bad_file(campaign, tmp_path: Path) -> None:
    """A binary file, a file of log lines and a damaged record: one line each, whatever their
    number of bad lines; a trace's problems are kept in the table (the first few)."""
    campaign.inject("inj_ok")
    (campaign.traces / "binary.txt").write_bytes(bytes(range(256)) * 1000)
    (campaign.traces / "log.txt").write_text("".join(f"noise {i}\n" for i in range(5000)))
    (campaign.traces / "cut.json").write_text('{"format": "fi-trace/1", "kind": "injection"')
    log = io.StringIO()
    out = tmp_path / "r.parquet"
    summary = collect([str(campaign.traces)], [str(campaign.golden_path)], str(out), log=log)
    lines = log.getvalue().splitlines()
    assert summary.n_rows == 4 and len(lines) == 3, lines
    assert lines[0].startswith(f"incomplete: {campaign.traces / 'binary.txt'}: NUL byte")
    assert lines[2].startswith(f"incomplete: {campaign.traces / 'log.txt'}:100: not a trace?")
    assert lines[2].endswith("(and 100 more problem(s))")
    df = read_results(str(out)).set_index("id")
    assert df.loc["log", "problem"].count(" | ") == 5  # five kept, then "... and 96 more"


def test_an_error_is_the_only_line_printed(campaign, tmp_path: Path) -> None:
    """`fi-analysis collect` holds its notes and incomplete-trace lines until it succeeds: on
    an error (here a run of another campaign, read after a note and a damaged trace) the
    error's one line is all of stderr; on success every held line comes, then the summary."""
    import subprocess
    import sys

    make(campaign)  # a run in both formats (a note) and a cut trace (an incomplete line)
    foreign = campaign.inject("inj_zz", golden=syn.golden_record("another_campaign"))
    out = tmp_path / "results.parquet"
    argv = [sys.executable, "-m", "analysis", "collect", str(campaign.traces), "--golden",
            str(campaign.golden_path), "--out", str(out), "--jobs", "1"]
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.run(argv, cwd=root, capture_output=True, text=True, timeout=120)
    assert (proc.returncode, proc.stdout) == (2, "")
    assert proc.stderr.count("\n") == 1, proc.stderr
    assert proc.stderr.startswith(f"{foreign}: golden_checkpoint.sha256: "), proc.stderr
    assert not out.exists()
    foreign.unlink()
    proc = subprocess.run(argv, cwd=root, capture_output=True, text=True, timeout=120)
    lines = proc.stderr.splitlines()
    assert proc.returncode == 0 and len(lines) == 3, proc.stderr
    assert lines[0] == "note: 1 run(s) found as both .json and .txt: read from the JSON"
    assert lines[1].startswith(f"incomplete: {campaign.traces / 'inj_004.json'}:1: invalid JSON")
    assert lines[2].startswith(f"{out}: 5 experiments (")
