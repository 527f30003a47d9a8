"""The analysis's steps of a prediction-powered campaign on real files: horizon records read and
checked (a bad one is one line, exit 2, nothing written), the draw written and reproducible, and
the rates table and confusion matrix from a results table of the labelled runs."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis.cli import main
from analysis.prediction import units
from fi_formats import horizon


def write_record(folder: Path, ident: str, ended: str = horizon.STOPPED, stage: str = "fwrd_inject",
                 distance: float = 0.01, **changes) -> Path:
    features = dict.fromkeys(horizon.FEATURES, 0.5)
    features["weights_distance"] = distance
    features["adam_m_max_abs"] = "Infinity"
    record = {
        "format": horizon.FORMAT, "kind": "horizon", "id": ident,
        "csv": {"stage": stage, "fmodel": "RD", "target_layer": "conv1", "target_epoch": "3"},
        "horizon": 2, "epoch": 4, "ended": ended, "state": ident, "steps_trained": 20,
        "evaluations": 2, "features": None if ended != horizon.STOPPED else features,
        "wall_time_s": 1.0, **changes,
    }
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{ident}{horizon.SUFFIX}"
    path.write_text(json.dumps(record))
    return path


def campaign(folder: Path, n: int = 60) -> None:
    """n records: a tenth ended by themselves; the stopped ones' distance tells the outcome."""
    for i in range(n):
        ended = "non-finite" if i % 10 == 0 else horizon.STOPPED
        write_record(folder / f"job_{i % 2}", f"inj_{i:05d}", ended,
                     stage=("fwrd_inject", "bkwd_inject")[i % 3 == 0],
                     distance=2.0 if i % 4 == 1 else 0.001)


def test_records_are_read_with_their_features_and_exactness(tmp_path):
    campaign(tmp_path / "h", 20)
    found = units.read_units([str(tmp_path / "h" / "job_0"), str(tmp_path / "h" / "job_1")])
    assert len(found) == 20 and found["exact"].sum() == 2
    assert set(found.loc[found["exact"], "ended"]) == {"non-finite"}
    stopped = found[~found["exact"]].iloc[0]
    assert stopped["adam_m_max_abs"] == math.inf and stopped["inj_epoch"] == 3
    assert stopped["accuracy_gap"] == 0.0
    assert found.loc[found["exact"], "weights_distance"].isna().all()


@pytest.mark.parametrize("change, words", [
    ({"format": "fi-horizon/9"}, "format"),
    ({"features": {"weights_distance": "many"}}, "features.weights_distance"),
    ({"id": "inj_99999"}, "is not the file's name"),
    ({"csv": {"target_epoch": "x"}}, "csv.target_epoch"),
])
def test_a_bad_record_is_one_line_and_writes_nothing(tmp_path, capsys, change, words):
    campaign(tmp_path / "h", 10)
    write_record(tmp_path / "h" / "job_0", "inj_00004", **change)
    out = tmp_path / "selection.csv"
    code = main(["prediction-select", str(tmp_path / "h" / "job_0"), "--fraction", "0.5",
                 "--seed", "1", "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and len(err.splitlines()) == 1 and words in err, err
    assert "inj_00004" in err and not out.exists()


def test_the_draw_is_written_and_reproducible(tmp_path, capsys):
    campaign(tmp_path / "h")
    folders = [str(tmp_path / "h" / "job_0"), str(tmp_path / "h" / "job_1")]
    for name in ("a.csv", "b.csv"):
        assert main(["prediction-select", *folders, "--fraction", "0.5",
                     "--far-fraction", "0.9", "--seed", "4", "--out", str(tmp_path / name)]) == 0
    assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes()
    drawn = pd.read_csv(tmp_path / "a.csv")
    assert drawn.loc[drawn["exact"], "labelled"].all()
    # the runs whose weights moved as far as their own size are the far ones
    found = units.read_units(folders).set_index("id")
    far = (found["weights_distance"] > 1.0).reindex(drawn["id"])
    assert drawn["far"].tolist() == far.tolist() and drawn["far"].sum() == 15
    assert set(drawn.loc[drawn["far"], "probability"]) == {0.9}
    assert set(drawn.loc[~drawn["exact"] & ~drawn["far"], "probability"]) == {0.5}
    assert 0 < drawn.loc[~drawn["exact"], "labelled"].sum() < (~drawn["exact"]).sum()


def test_rates_and_confusion_from_the_labelled_runs(tmp_path, capsys):
    campaign(tmp_path / "h", 200)
    folders = [str(tmp_path / "h" / "job_0"), str(tmp_path / "h" / "job_1")]
    selection = tmp_path / "selection.csv"
    # far runs sampled like the others: the predictor has something to predict
    assert main(["prediction-select", *folders, "--fraction", "0.6", "--far-fraction", "0.6",
                 "--seed", "2", "--out", str(selection)]) == 0
    drawn = pd.read_csv(selection)
    found = units.read_units(folders).set_index("id")
    labelled = drawn.loc[drawn["labelled"], "id"]
    outcome = ["Immediate INFs/NaNs" if found.loc[i, "exact"] else
               "SlowDegrade" if found.loc[i, "weights_distance"] > 0.5 else "Masked"
               for i in labelled]
    table = tmp_path / "results.parquet"
    pd.DataFrame({"id": labelled, "outcome": outcome}).to_parquet(table)
    out = tmp_path / "prediction"
    assert main(["prediction-rates", *folders, "--selection", str(selection), "--table",
                 str(table), "--by", "stage", "--folds", "2", "--out-dir", str(out)]) == 0
    rates = pd.read_csv(out / "rates.csv")
    overall = rates[rates["by"] == "all"].set_index("outcome")
    # the truth of this campaign: 20 exact, 50 with a large distance, 130 Masked, of 200
    assert overall.loc["Immediate INFs/NaNs", "rate"] == pytest.approx(0.1)
    for name, truth in (("SlowDegrade", 50 / 200), ("Masked", 130 / 200)):
        row = overall.loc[name]
        assert row["low"] <= truth <= row["high"], name
        # a perfect predictor: the interval is narrower than the labelled runs' alone
        assert row["high"] - row["low"] < row["classical_high"] - row["classical_low"], name
    assert set(rates.loc[rates["by"] == "stage", "stratum"]) == {"fwrd_inject", "bkwd_inject"}
    confusion = pd.read_csv(out / "confusion.csv", index_col=0)
    assert np.trace(confusion.loc[["Masked", "SlowDegrade"], ["Masked", "SlowDegrade"]]) == (
        confusion.to_numpy().sum())
    scored = pd.read_parquet(out / "units.parquet")
    assert len(scored) == 200 and "predicted_Masked" in scored.columns


def test_a_labelled_run_without_a_trace_is_refused(tmp_path, capsys):
    campaign(tmp_path / "h", 20)
    folders = [str(tmp_path / "h" / "job_0"), str(tmp_path / "h" / "job_1")]
    selection = tmp_path / "selection.csv"
    assert main(["prediction-select", *folders, "--fraction", "1", "--seed", "2",
                 "--out", str(selection)]) == 0
    table = tmp_path / "results.parquet"
    pd.DataFrame({"id": ["inj_00000"], "outcome": ["Masked"]}).to_parquet(table)
    capsys.readouterr()
    code = main(["prediction-rates", *folders, "--selection", str(selection), "--table",
                 str(table), "--out-dir", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2 and "no complete trace of labelled run" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "out" / "rates.csv").exists()
