"""A prediction-powered campaign through the pipeline: every CSV to its horizon, a seeded share
continued, the labelled runs' traces collected, and the rates table with both intervals and the
predictor's confusion matrix; a second run has nothing to do."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from fi_formats import horizon

from .pipeline_helpers import run_snakemake, write_config

pytestmark = pytest.mark.slow

N = 10


def test_a_prediction_powered_campaign_runs_end_to_end(tmp_path):
    config = write_config(tmp_path / "config.yaml", {
        "run": ["predicted"],
        "workloads": {"resnet18_small": {"set": {"epochs": 3}}},
        "golden": {"runs": 2, "resources": {"threads": 1, "mem_mb": 2000, "runtime": 10}},
        "campaigns": {"predicted": {
            "workload": "resnet18_small", "n": N, "seed": 11,
            "prediction": {"horizon": 1, "label_fraction": 0.5, "seed": 3, "folds": 2}}},
        "inject": {"workers": 2, "resources": {"threads": 1, "mem_mb": 2000, "runtime": 10}},
        "analysis": {"rates": {"stage": ["stage"]}, "resources": {"threads": 1}},
    })
    result = run_snakemake(tmp_path, "--cores", "2", configfile=config, timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]

    results = tmp_path / "results" / "predicted"
    records = [json.loads(p.read_text()) for p in (results / "horizon").rglob(
        f"*{horizon.SUFFIX}")]
    assert len(records) == N
    selection = pd.read_csv(results / "prediction" / "selection.csv")
    assert len(selection) == N
    assert selection.loc[selection["exact"], "labelled"].all()
    near = ~selection["exact"] & ~selection["far"]
    assert set(selection.loc[near, "probability"]) <= {0.5}
    assert selection.loc[selection["far"], "labelled"].all()  # far_fraction 1 by default
    stopped = {r["id"] for r in records if r["ended"] == horizon.STOPPED}
    assert stopped == set(selection.loc[~selection["exact"], "id"])

    # the table holds the labelled runs: the exact ones and the continued ones, complete
    table = pd.read_parquet(results / "results.parquet")
    assert set(table["id"]) == set(selection.loc[selection["labelled"], "id"])
    assert table["complete"].all()
    continued = table[table["id"].isin(stopped)]
    assert len(continued)
    for trace in continued["trace"]:  # trained on from the horizon to the last epoch
        record = json.loads((tmp_path / trace).read_text()) if trace.endswith(".json") else None
        assert record is not None and record["epochs"][-1]["epoch"] == 2, trace

    rates = pd.read_csv(results / "prediction" / "rates.csv")
    overall = rates[rates["by"] == "all"]
    assert set(overall["n_units"]) == {N}
    assert overall["rate"].sum() == pytest.approx(1.0, abs=1e-9)  # the classes partition
    for prefix in ("", "classical_"):
        assert (rates[f"{prefix}low"] <= rates[f"{prefix}rate"] + 1e-12).all()
        assert (rates[f"{prefix}rate"] <= rates[f"{prefix}high"] + 1e-12).all()
    assert set(rates.loc[rates["by"] == "stage", "stratum"]) == set(selection["stage"])
    assert "prediction-powered" in (results / "prediction" / "rates.md").read_text()
    assert "true \\ predicted" in (results / "prediction" / "confusion.md").read_text()

    again = run_snakemake(tmp_path, "--cores", "2", "-n", configfile=config)
    assert again.returncode == 0 and "Nothing to be done" in again.stdout + again.stderr
