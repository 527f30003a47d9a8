"""A task is a declaration: a sequence task (token ids in, next-token loss and token accuracy
out), its corpus, an embedding op and a network, all in one plugin module
(`tests/plugins/sequence/next_token.py`), train with the ordinary `fi-core golden` and take a
fault with the ordinary `fi-core inject`; the training loop knows nothing of them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

PLUGINS = Path(__file__).resolve().parents[1] / "plugins"


def fi_core(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    path = os.pathsep.join([str(PLUGINS / "sequence"), str(PLUGINS / "open_engine")])
    env = {**os.environ, "PYTHONPATH": path + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.run([sys.executable, "-m", "fi_core", *args, "--plugin", "next_token"],
                          cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def test_a_sequence_task_trains_and_takes_a_fault_through_the_ordinary_commands(tmp_path):
    golden = tmp_path / "golden" / "seed_123"
    done = fi_core("golden", "--workload", "counter", "--out", str(golden), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    record = json.loads((golden / "trace.json").read_text())
    assert record["config"]["num_classes"] == 10  # the task's, not the images' constant
    losses = [epoch["train_loss"] for epoch in record["epochs"]]
    accuracy = [epoch["test_accuracy"] for epoch in record["epochs"]]
    assert losses[-1] < losses[0] / 4 and accuracy[-1] > 0.5  # it learns (chance: 0.1)

    csvs = tmp_path / "csvs"
    done = fi_core("generate", "--workload", "counter", "--n", "2", "--fmodels", "INPUT",
                   "--stages", "bkwd_inject", "--backward-ops", "grad_in", "--out", str(csvs),
                   "--seed", "3", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    files = [arg for csv in sorted(csvs.glob("*.csv")) for arg in ("--file", str(csv))]
    done = fi_core("inject", *files, "--golden", str(golden), "--out-dir", str(tmp_path / "t"),
                   cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    traces = [json.loads(p.read_text()) for p in sorted((tmp_path / "t").glob("*.json"))]
    assert len(traces) == 2
    assert all(t["injection"]["layer"].endswith("_grad_in") for t in traces)
