"""`fi-analysis status` reads only what it should: a job folder it cannot list is refused, never
skipped (its runs would count as done), and a path read from a trace never sends it to scan
folders outside the pipeline's results."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from analysis.cli import main
from tests.analysis.test_status import Running

REPO = Path(__file__).resolve().parents[2]


def test_a_checkpoint_path_outside_the_results_is_not_scanned(tmp_path: Path, monkeypatch,
                                                               capsys) -> None:
    monkeypatch.chdir(tmp_path)
    running = Running(tmp_path)
    elsewhere = tmp_path / "elsewhere" / "w"  # a folder of "seeds" outside results/
    (elsewhere / "seed_1").mkdir(parents=True)
    (elsewhere / "seed_1" / "trace.json").write_text("{}")
    first = running.traces / "inj_00000.json"
    record = json.loads(first.read_text())
    record["golden_checkpoint"]["path"] = str(elsewhere / "seed_1" / "epoch_4")
    first.write_text(json.dumps(record))
    assert main(["status", "results/default"]) == 0
    out = capsys.readouterr().out
    assert f"note: golden folder '{elsewhere}' named by results/default/traces/inj_00000.json" \
           in out and "not used (give --golden)" in out
    assert "golden runs 3: results/golden/resnet18_small/seed_123/trace.json" in out


def _as_another_user() -> dict:
    """Run the child as `nobody` when this is root (root reads any folder), as is otherwise."""
    if os.geteuid() != 0:
        return {}
    return {"user": 65534, "group": 65534, "extra_groups": []}


def test_a_job_folder_that_cannot_be_listed_is_refused(capsys) -> None:
    # Outside pytest's private temporary folder, so that `nobody` can reach the campaign.
    root = Path(tempfile.mkdtemp(prefix="fi-status-"))
    try:
        os.chmod(root, 0o755)
        Running(root)
        hidden = root / "results" / "default" / "traces" / "inj_00030..inj_00039"
        hidden.mkdir()
        for path in [root, *root.rglob("*")]:
            os.chmod(path, 0o755 if path.is_dir() else 0o644)
        hidden.chmod(0o000)
        code = ("import sys; from analysis.cli import main; "
                "sys.exit(main(['status', 'results/default']))")
        result = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True,
                                text=True, timeout=300, env={**os.environ, "PYTHONPATH": str(REPO)},
                                **_as_another_user())
        assert result.returncode == 2, f"skipped, not refused:\n{result.stdout}{result.stderr}"
        lines = result.stderr.splitlines()
        assert lines == ["results/default/traces/inj_00030..inj_00039: cannot list: "
                         "Permission denied"], result.stderr
    finally:
        for path in [root, *root.rglob("*")] if root.exists() else []:
            if path.is_dir():
                path.chmod(0o755)
        shutil.rmtree(root, ignore_errors=True)


def test_runs_a_job_finished_before_moving_them_count_once(tmp_path: Path, monkeypatch,
                                                           capsys) -> None:
    monkeypatch.chdir(tmp_path)
    running = Running(tmp_path)  # 25 traces in traces/
    partial = running.campaign / "partial" / "traces" / "inj_00025..inj_00029"
    partial.mkdir(parents=True)
    for name in ("inj_00024.json", "inj_00023.json"):
        record = json.loads((running.traces / name).read_text())
        if name == "inj_00023.json":  # a pair moved meanwhile: in both listings, read once
            shutil.copy(running.traces / name, partial / name)
            continue
        record["id"] = "inj_00025"
        (partial / "inj_00025.json").write_text(json.dumps(record))
    (partial / ".attempt.json").write_text("{}")  # the job's own record: not a trace
    assert main(["status", "results/default"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == "results/default: PROVISIONAL: 26 of 60 injections have a trace"
