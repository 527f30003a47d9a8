"""The mitigation comparison on synthetic traces: pairs by CSV, coverage with its Wilson interval,
McNemar's exact test, the false-positive bound and the overhead, each checked against values
computed here from their definitions (not with the package's statistics); text traces with
rollback lines; what is refused."""

from __future__ import annotations

import io
import math
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from analysis import synthetic as syn
from analysis.cli import main
from analysis.collect import collect
from analysis.parse_text import parse_text

Z95 = 1.959963984540054


def wilson(k: int, n: int) -> tuple[float, float]:
    center = (k + Z95**2 / 2) / (n + Z95**2)
    half = Z95 * math.sqrt(k * (n - k) / n + Z95**2 / 4) / (n + Z95**2)
    return (0.0 if k == 0 else center - half), (1.0 if k == n else center + half)


def mcnemar(b: int, c: int) -> float:
    n = b + c
    tail = sum(math.comb(n, i) for i in range(min(b, c) + 1)) / 2**n
    return min(1.0, 2 * tail)


def upper(k: int, n: int, confidence: float = 0.95) -> float:
    """p with P[Binomial(n, p) <= k] = 1 - confidence, by bisection."""

    def cdf(p: float) -> float:
        return sum(math.comb(n, i) * p**i * (1 - p) ** (n - i) for i in range(k + 1))

    lo, hi = 0.0, 1.0
    for _ in range(100):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if cdf(mid) > 1 - confidence else (lo, mid)
    return hi


def mitigated(
    record: dict[str, Any], preset: str, detected_at: tuple[int, int] | None, rollbacks: int = 0
) -> dict[str, Any]:
    detections = []
    if detected_at is not None:
        detections.append(
            {
                "event": 0,
                "epoch": detected_at[0],
                "step": detected_at[1],
                "at": "step",
                "detector": "adam_m_bound",
                "value": 1e17,
                "threshold": 20.0,
                "action": "rollback" if rollbacks else "none",
                "resume": None,
                "steps_reexecuted": 3 if rollbacks else 0,
            }
        )
    record["mitigation"] = {
        "preset": preset,
        "mode": "active",
        "detections": detections,
        "totals": {"steps_trained": 100},
    }
    return record


def observe_record(run_id: str, preset: str, flagged: int, seconds: float) -> dict[str, Any]:
    record = syn.golden_record(run_id)
    record["mitigation"] = {
        "preset": preset,
        "mode": "observe",
        "states": {},
        "detections": [
            {
                "event": i,
                "epoch": 3,
                "step": i,
                "at": "step",
                "detector": "loss_spike",
                "value": 9.0,
                "threshold": 3.0,
                "action": "none",
            }
            for i in range(flagged)
        ],
        "totals": {"steps_trained": 240, "step_seconds": seconds, "timed_steps": 200},
    }
    return record


@pytest.fixture
def table(campaign, tmp_path) -> tuple[Path, Path]:
    """12 CSVs: without mitigation 4 Masked, 5 INF/NaN, 3 degraded. With `paper`: 4 INF/NaN and
    2 degraded recovered, one Masked run made degraded; with `skip`: nothing recovered."""
    outcomes = ["masked"] * 4 + ["nan"] * 5 + ["degraded"] * 3
    paper = ["masked"] * 3 + ["degraded"] + ["masked"] * 4 + ["nan"] + ["masked"] * 2 + ["degraded"]
    skip = outcomes

    def run(name: str, kind: str) -> dict[str, Any]:
        extra: dict[str, Any] = {}
        if kind == "nan":
            extra["nonfinite_at"] = (6, 2)
        elif kind == "degraded":
            extra["train"] = {e: 0.35 for e in range(5, 20)}
            extra["test"] = {e: 0.3 for e in range(5, 20)}
        return syn.injection_record(name, campaign.golden, 5, 3, **extra)

    # As the pipeline lays them out: the runs without mitigation in the campaign's job folders,
    # each other preset's in mitigated/<preset>/<job>/.
    job = "inj_00..inj_11"
    folders = {"none": campaign.traces / job,
               **{p: campaign.root / "mitigated" / p / job for p in ("paper", "skip")}}
    for preset, kinds in (("none", outcomes), ("paper", paper), ("skip", skip)):
        folder = folders[preset]
        folder.mkdir(parents=True)
        for i, kind in enumerate(kinds):
            record = run(f"inj_{i:02d}", kind)
            if preset != "none":
                record = mitigated(record, preset, (5, 3 + i % 2), rollbacks=preset == "paper")
            syn.write_json(folder / f"inj_{i:02d}.json", record)
    observe = campaign.root / "observe"
    observe.mkdir()
    for preset, flagged, seconds in (("none", 0, 8.0), ("paper", 0, 8.2), ("skip", 2, 8.4)):
        for seed in (1, 2):
            syn.write_json(
                observe / f"{preset}_{seed}.json",
                observe_record(f"seed_{seed}", preset, flagged, seconds),
            )
    out = tmp_path / "mitigation.parquet"
    collect(
        [str(folders[p]) for p in ("none", "paper", "skip")],
        [str(campaign.golden_path)],
        str(out),
        log=io.StringIO(),
    )
    return out, observe


def test_the_table_against_values_computed_from_their_definitions(table, tmp_path):
    parquet, observe = table
    out = tmp_path / "m.csv"
    assert (
        main(
            [
                "mitigation",
                "--table",
                str(parquet),
                "--observe",
                str(observe),
                "--out",
                str(out),
                "--markdown",
                str(tmp_path / "m.md"),
                "--figure",
                str(tmp_path / "m.png"),
            ]
        )
        == 0
    )
    rows = pd.read_csv(out).set_index("mitigation")
    assert list(rows.index) == ["paper", "skip"]
    paper = rows.loc["paper"]
    outcomes = pd.read_parquet(parquet).groupby("mitigation")["outcome"].value_counts()
    assert outcomes["none"]["Masked"] == 4  # the synthetic outcomes are what the fixture says
    assert (paper["n"], paper["unexpected_without"], paper["recovered"]) == (12, 8, 6)
    assert paper["coverage"] == pytest.approx(6 / 8)
    assert (paper["coverage_low"], paper["coverage_high"]) == pytest.approx(wilson(6, 8))
    assert (paper["new_unexpected"], paper["missed"]) == (1, 2)
    assert paper["mcnemar_p"] == pytest.approx(mcnemar(6, 1))
    assert (paper["unexpected_nonfinite"], paper["recovered_nonfinite"]) == (5, 4)
    assert paper["coverage_low_nonfinite"] == pytest.approx(wilson(4, 5)[0])
    assert (paper["unexpected_degradation"], paper["recovered_degradation"]) == (3, 2)
    assert (paper["detections"], paper["detected_runs"], paper["rollbacks"]) == (12, 12, 12)
    assert paper["median_latency_steps"] == 0.5  # detections at the injection step or one after
    assert paper["steps_reexecuted"] == 36
    assert (paper["false_positive_steps"], paper["golden_steps"]) == (0, 480)
    assert paper["fp_rate_high"] == pytest.approx(1 - 0.05 ** (1 / 480))
    assert paper["overhead_ratio"] == pytest.approx(8.2 / 8.0)
    skip = rows.loc["skip"]
    assert (skip["recovered"], skip["new_unexpected"], skip["mcnemar_p"]) == (0, 0, 1.0)
    assert skip["false_positive_steps"] == 4
    assert skip["fp_rate_high"] == pytest.approx(upper(4, 480), rel=1e-6)
    markdown = (tmp_path / "m.md").read_text()
    assert "| paper | 12 | 6/8: 75.00 % (" in markdown
    assert "## Runs `paper` did not bring back to Masked (first 3)" in markdown
    assert (tmp_path / "m.png").stat().st_size > 1000 and (tmp_path / "m.pdf").is_file()


def test_bad_input_is_refused_in_one_line_and_writes_nothing(table, tmp_path, capsys):
    parquet, observe = table
    out = tmp_path / "m.csv"
    golden = syn.golden_record("plain")
    plain = tmp_path / "plain.json"
    syn.write_json(plain, golden)
    cases = [
        (["--observe", str(plain)], f"{plain}: mitigation: not an observe run"),
        (
            ["--observe", str(observe), "--baseline", "guard"],
            "table: mitigation: no runs without mitigation ('guard')",
        ),
        (["--observe", str(observe), "--figure", str(tmp_path / "m.svg")], "--figure"),
    ]
    for extra, message in cases:
        assert main(["mitigation", "--table", str(parquet), "--out", str(out), *extra]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and message in err[0], err
        assert not out.exists()


def test_text_rollback_lines_give_the_committed_history(campaign, tmp_path):
    """A text trace logs the rolled-back steps, then the re-executed ones: read back, its
    curves are the committed history; several lines after one step are one event."""
    record = syn.injection_record("inj_t", campaign.golden, 5, 3)
    clean = syn.text_trace(record).splitlines()
    first = clean.index(next(line for line in clean if line.startswith("Epoch: 5/20, step: 0/")))
    four = clean.index(next(line for line in clean if line.startswith("Epoch: 5/20, step: 4/")))
    faulty = [
        line.replace("loss: ", "loss: 9")
        if line.startswith(("Epoch: 5/20, step: 3/", "Epoch: 5/20, step: 4/"))
        else line
        for line in clean[: four + 1]
    ]
    log = [
        "Mitigation: epoch 5, step 4, detector adam_m_bound, value 1e+17, threshold 20.0, "
        "action rollback, resume at epoch 5 step 0",
        "Mitigation: epoch 5, step 4, detector grad_norm, value inf, threshold 250.0, "
        "action rollback, resume at epoch 5 step 0",
    ]
    again = [line for line in clean[first : four + 1] if line.startswith("Epoch: ")]
    text = [
        *faulty[:3],
        "Mitigation preset: guard, mode active",
        *faulty[3:],
        *log,
        *again,
        *clean[four + 1 :],
    ]
    path = tmp_path / "inj_t.txt"
    path.write_text("\n".join(text) + "\n")
    trace = parse_text(str(path))
    assert trace.complete, trace.problems
    plain = tmp_path / "plain.txt"
    plain.write_text("\n".join(clean) + "\n")
    assert trace.curves.step_loss.tolist() == parse_text(str(plain)).curves.step_loss.tolist()
    assert trace.mitigation == "guard" and trace.detections.mode == "active"
    found = trace.detections
    assert (found.count, found.rollbacks, found.steps_reexecuted) == (2, 1, 5)
    assert found.first_after_injection == (5, 4)
    cut = tmp_path / "cut.txt"
    cut.write_text("\n".join([*faulty, *log[:1]]) + "\n")
    assert "truncated" in parse_text(str(cut)).problems[0]
    bad = tmp_path / "bad.txt"
    bad.write_text(
        "\n".join(
            [*faulty, "Mitigation: epoch 5, step x, detector ;rm", *again, *clean[four + 1 :]]
        )
        + "\n"
    )
    assert "malformed mitigation line" in parse_text(str(bad)).problems[0]


def test_status_counts_every_csv_once_per_preset(campaign, table):
    """`fi-analysis status` of a mitigation campaign (traces/<job>/ and
    mitigated/<preset>/<job>/): planned runs are the CSVs times the presets, the provisional
    rates are per preset, and a finished job's benchmark covers its preset's runs only."""
    from analysis.campaign_status import campaign_status

    (campaign.root / "csv").mkdir()
    for i in range(12):
        (campaign.root / "csv" / f"inj_{i:02d}.csv").write_text("model,resnet18\n")
    bench = campaign.root.parent / "benchmarks" / "inject" / campaign.root.name
    (bench / "paper").mkdir(parents=True)
    header = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"
    (bench / "paper" / "inj_00..inj_05.tsv").write_text(
        header + "60.0\t0:01:00\t1\t1\t1\t1\t0\t0\t9\t55\n")
    status = campaign_status(str(campaign.root), golden=[str(campaign.golden_path)])
    assert (status.planned, status.done, status.remaining) == (36, 36, 0)
    assert (status.finished_jobs, status.jobs_s) == (1, 60.0)
    assert status.per_run_s == 60.0 / 6  # inj_00..inj_05 of paper, not of none or skip
    assert status.by == ["mitigation", "stage"]
    groups = set(status.rates["group"])
    assert {"none, fwrd_inject", "paper, fwrd_inject", "skip, fwrd_inject"} <= groups


def _guard_campaign(campaign) -> tuple[Path, Path]:
    """4 CSVs run without mitigation (traces/<job>/) and with `guard`
    (mitigated/guard/<job>/): the guard run of inj_02 was cut off mid-write."""
    job = "inj_00..inj_03"
    plain, guarded = campaign.traces / job, campaign.root / "mitigated" / "guard" / job
    for folder in (plain, guarded):
        folder.mkdir(parents=True)
    for i in range(4):
        record = syn.injection_record(f"inj_{i:02d}", campaign.golden, 5, 3,
                                      **({"nonfinite_at": (6, 2)} if i % 2 else {}))
        syn.write_json(plain / f"inj_{i:02d}.json", record)
        syn.write_json(guarded / f"inj_{i:02d}.json", mitigated(record, "guard", (5, 3)))
    damaged = guarded / "inj_02.json"
    damaged.write_text(damaged.read_text()[:200])
    return plain, guarded


def _collect(capsys, campaign, tmp_path: Path, *folders: Path) -> tuple[int, str]:
    out = tmp_path / "table.parquet"
    code = main(["collect", *map(str, folders), "--golden", str(campaign.golden_path),
                 "--out", str(out), "--jobs", "1"])
    return code, capsys.readouterr().err


def test_a_damaged_mitigated_trace_counts_for_its_folder_preset(campaign, tmp_path, capsys):
    """A truncated trace names no preset: it is the preset of the folder it lies in (it was
    collected as `none` before, so guard's table lost it and `none` held inj_02 twice)."""
    plain, guarded = _guard_campaign(campaign)
    code, err = _collect(capsys, campaign, tmp_path, plain, guarded)
    assert code == 0, err
    table = pd.read_parquet(tmp_path / "table.parquet").set_index(["mitigation", "id"])
    assert len(table) == 8 and not table.loc[("guard", "inj_02"), "complete"]
    assert table.loc["none", "complete"].all()
    out = tmp_path / "m.csv"
    argv = ["mitigation", "--table", str(tmp_path / "table.parquet"), "--out", str(out)]
    assert main(argv) == 0, capsys.readouterr().err
    guard = pd.read_csv(out).set_index("mitigation").loc["guard"]
    assert (guard["n"], guard["incomplete_pairs"]) == (3, 1)


def test_a_csv_twice_in_one_preset_is_refused_even_when_damaged(campaign, tmp_path, capsys):
    """A damaged copy of inj_01 in a second job folder of `none`: the CSV appears twice in
    one preset, refused as a complete copy is (its workload is not known: it was missed)."""
    plain, guarded = _guard_campaign(campaign)
    other = campaign.traces / "inj_01..inj_01"
    other.mkdir()
    (other / "inj_01.json").write_text((plain / "inj_01.json").read_text()[:150])
    code, err = _collect(capsys, campaign, tmp_path, plain, other, guarded)
    assert code == 0, err
    out = tmp_path / "m.csv"
    argv = ["mitigation", "--table", str(tmp_path / "table.parquet"), "--out", str(out)]
    assert main(argv) == 2
    assert capsys.readouterr().err == "table: id: 'inj_01' appears twice with mitigation 'none'\n"
    assert not out.exists()


def test_a_trace_of_another_preset_in_a_preset_folder_is_refused(campaign, tmp_path, capsys):
    """A complete run recorded with `guard` in mitigated/paper/, or one without mitigation
    there, is misfiled: collect refuses it in one line and writes nothing."""
    plain, guarded = _guard_campaign(campaign)
    paper = campaign.root / "mitigated" / "paper" / "inj_00..inj_03"
    paper.mkdir(parents=True)
    (paper / "inj_00.json").write_text((guarded / "inj_00.json").read_text())
    code, err = _collect(capsys, campaign, tmp_path, plain, paper)
    assert (code, err) == (2, f"{paper / 'inj_00.json'}: mitigation.preset: 'guard', but the "
                              "trace is in the folder of preset 'paper' (mitigated/paper/)\n")
    (paper / "inj_00.json").write_text((plain / "inj_00.json").read_text())
    code, err = _collect(capsys, campaign, tmp_path, plain, paper)
    assert (code, err) == (2, f"{paper / 'inj_00.json'}: mitigation: none recorded, but the "
                              "trace is in the folder of preset 'paper' (mitigated/paper/)\n")
    assert not (tmp_path / "table.parquet").exists()
