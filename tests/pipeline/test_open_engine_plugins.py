"""The open engine's promise, through the pipeline: four one-file plugins (a site kind, an op, a
fault model, an outcome rule) and a tiny network made of them and of the built-in
batched-matmul kind, copied into a scratch folder, run a campaign into the rates table; no other
file is edited (the plugins are `tests/plugins/open_engine/`, the examples of docs/extending.md)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from .pipeline_helpers import run_snakemake, write_config

pytestmark = pytest.mark.slow

PLUGINS = Path(__file__).resolve().parents[1] / "plugins" / "open_engine"
N = 6


def test_a_campaign_with_four_one_file_plugins_reaches_the_rates_table(tmp_path):
    for path in PLUGINS.glob("*.py"):
        shutil.copy(path, tmp_path / path.name)
    config = write_config(tmp_path / "config.yaml", {
        "run": ["open"],
        "plugins": ["tiny_mixer", "scale_fault"],
        "workloads": {"mixer": {"preset": "tiny_mixer"}},
        "golden": {"runs": 2, "resources": {"threads": 1, "mem_mb": 2000, "runtime": 10}},
        "campaigns": {"open": {
            "workload": "mixer", "n": N, "seed": 3, "layers": ["gate", "mix"],
            "fmodels": ["OUT_SCALE", "INPUT", "WT"],
            "backward_ops": ["grad_a", "grad_b"]}},
        "inject": {"workers": 1, "resources": {"threads": 1, "mem_mb": 2000, "runtime": 10}},
        "analysis": {"plugins": ["loss_spike_rule"],
                     "thresholds": {"loss_spike_factor": 1.0},
                     "rates": {"fmodel": ["fmodel"]},
                     "resources": {"threads": 1}},
    })
    result = run_snakemake(tmp_path, "--cores", "2", configfile=config, timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]

    results = tmp_path / "results" / "open"
    table = pd.read_parquet(results / "results.parquet")
    assert len(table) == N and table["complete"].all() and table["outcome"].notna().all()
    layers = set(table["target_layer"])
    assert layers <= {"gate", "mix", "gate_grad_a", "gate_grad_b", "mix_grad_a", "mix_grad_b"}
    assert layers & {"gate", "gate_grad_a", "gate_grad_b"}, layers  # the plugin's site kind
    assert layers & {"mix", "mix_grad_a", "mix_grad_b"}, layers  # the built-in batched matmul
    assert "OUT_SCALE" in set(table["fmodel"])  # the plugin's fault model
    assert "peak_loss_ratio" in table.columns  # the plugin rule's feature
    rates = pd.read_csv(results / "rates" / "fmodel.csv")
    assert "LossSpike" in set(rates["outcome"]), rates.columns.tolist()
    assert rates.groupby("fmodel")["n"].first().sum() == N
