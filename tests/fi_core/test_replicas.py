"""Emulated replicas give the same training as real ones under MirroredStrategy over R logical
CPU devices, with and without a fault on one replica; in both, a replica's moving batch-norm
statistics serve only its own share of the test set."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from fi_core.spec import injection

SCRIPT = Path(__file__).parent / "scripts" / "emulated_vs_mirrored.py"


def _csv(path: Path, **rows: str) -> Path:
    base = {"model": "resnet18", "target_worker": "1", "target_epoch": "0", "target_step": "3",
            "learning_rate": "0.001", "seed": "123", "workload": "resnet18_small",
            "replicas": "2", "batch_per_replica": "8", "epochs": "1", "test_batch": "45"}
    injection.write(path, {k: v.split(",") for k, v in {**base, **rows}.items()})
    return path


def test_emulated_replicas_match_mirrored_strategy(tmp_path):
    forward = _csv(tmp_path / "fwd.csv", stage="fwrd_inject", fmodel="RD",
                   target_layer="basicblock_2_basic_0_conv1", inj_pos="3/1/2/5",
                   inj_values="250.0")
    backward = _csv(tmp_path / "bwd.csv", stage="bkwd_inject", fmodel="WT",
                    target_layer="basicblock_3_basic_1_conv1_grad_in", inj_pos="1/2/7/30",
                    inj_values="80.0", target_step="4")
    result = subprocess.run([sys.executable, str(SCRIPT), str(forward), str(backward)],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    runs = json.loads(result.stdout.strip().splitlines()[-1])
    emulated, mirrored = runs["emulated"], runs["mirrored"]
    assert len(emulated) == len(mirrored) == 7
    # Replica 1 evaluates the last 22 of every 45 test examples (45 = 23 + 22).
    share = np.arange(360) % 45 >= 23
    for name in ("emulated", "mirrored"):
        before, after = np.array(runs[f"{name} test losses"])
        assert np.array_equal(before[~share], after[~share])
        assert np.all(before[share] != after[share])
    # One example's loss, without the averaging of the mean test loss: a looser bound still.
    np.testing.assert_allclose(runs["emulated test losses"], runs["mirrored test losses"],
                               rtol=1e-3)
    # Training steps agree to float32 rounding; the test set's loss sees the moving statistics
    # that rounding has moved a little further, so it gets a looser bound.
    for ours, theirs in zip(emulated[:-1], mirrored[:-1], strict=True):
        np.testing.assert_allclose(ours[:2], theirs[:2], rtol=2e-5, atol=1e-6)
        for a, b in zip(ours[2:], theirs[2:], strict=True):  # golden and injected values
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(emulated[-1], mirrored[-1], rtol=2e-4)
    # The faults did something: the forward fault moved its step's loss away from a
    # fault-free step, which the later steps can only show through the update.
    assert emulated[3][3] == [250.0] and mirrored[3][3] == [250.0]
