"""The example notebook runs top to bottom against a small results folder made here."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from analysis import synthetic as syn

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = ROOT / "docs" / "analysis_example.ipynb"


def _results_folder(root: Path) -> Path:
    """results/golden/<workload>/seed_<s>/trace.json and results/small/{csv,traces}."""
    golden = syn.golden_record("seed_123")
    gdir = root / "results" / "golden" / "resnet18_small" / "seed_123"
    gdir.mkdir(parents=True)
    syn.write_json(gdir / "trace.json", golden)
    campaign = root / "results" / "small"
    (campaign / "csv").mkdir(parents=True)
    (campaign / "traces").mkdir()
    for i in range(12):
        kw = {"nonfinite_at": (3 + i % 5, 2)} if i % 3 == 0 else {}
        rec = syn.injection_record(
            f"inj_{i:05d}", golden, 3 + i % 5, 2, stage=("fwrd_inject", "bkwd_inject")[i % 2], **kw
        )
        rec["golden_checkpoint"]["path"] = str(gdir.parent / f"seed_123/epoch_{2 + i % 5}")
        syn.write_json(campaign / "traces" / f"inj_{i:05d}.json", rec)
        (campaign / "csv" / f"inj_{i:05d}.csv").write_text("model,resnet18\n")
    (campaign / "csv" / "inj_00012.csv").write_text("model,resnet18\n")  # not run yet
    return campaign


def _kernel(root: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A kernel spec for this very interpreter (the venv's stock one runs `python` from PATH)."""
    spec = root / "jupyter" / "kernels" / "fi-test"
    spec.mkdir(parents=True)
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    (spec / "kernel.json").write_text(
        json.dumps({"argv": argv, "display_name": "fi-test", "language": "python"})
    )
    monkeypatch.setenv("JUPYTER_PATH", str(root / "jupyter"))
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(root / "runtime"))
    monkeypatch.setenv("IPYTHONDIR", str(root / "ipython"))
    # The kernel runs in another folder: it must import this checkout's analysis package.
    path = [str(ROOT), *(p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p)]
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(path))
    return "fi-test"


def _outputs(cell: dict) -> tuple[str, list[str]]:
    text, kinds = "", []
    for out in cell.get("outputs", []):
        kinds.extend(out.get("data", {}))
        text += out.get("text", "") + out.get("data", {}).get("text/plain", "")
    return text, kinds


def test_notebook_runs_top_to_bottom(tmp_path: Path, monkeypatch) -> None:
    """On a campaign still running (no results.parquet yet: analysis.load reads the traces;
    tests/analysis/test_status.py covers loading a collected table)."""
    campaign = _results_folder(tmp_path)
    monkeypatch.setenv("FI_RESULTS", str(campaign))
    nb = nbformat.read(NOTEBOOK, as_version=4)
    assert not any(c.get("outputs") for c in nb.cells if c.cell_type == "code"), "saved outputs"
    client = NotebookClient(
        nb,
        timeout=180,
        kernel_name=_kernel(tmp_path, monkeypatch),
        resources={"metadata": {"path": str(tmp_path)}},
    )
    client.execute()
    code = [c for c in nb.cells if c.cell_type == "code"]
    for cell in code:
        assert not [o for o in cell.outputs if o.output_type == "error"], cell.source
    text = [_outputs(c)[0] for c in code]
    kinds = [_outputs(c)[1] for c in code]
    assert f"{campaign}: 12 injection runs, 12 complete" in text[0]
    assert "Immediate INFs/NaNs" in text[1] and "ci_low" in text[1]  # the rates table
    assert "bkwd_inject" in text[2] and "%" in text[2]
    assert sum("image/png" in k for k in kinds) == 2  # the two figures, each shown once
    assert "12 of 13 injections have a trace" in text[-1] and "PROVISIONAL" in text[-1]
