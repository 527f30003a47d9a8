"""Output names a user did not mean: a golden folder given as `.` names its observe traces after
the folder (no hidden `.txt`/`.json`), and a golden folder name too long for the run's partial
folder is refused before any training."""

from __future__ import annotations

import json
from pathlib import Path

from fi_core.mitigation import priming
from fi_core.replay import runs
from tests.fi_core.hostile import NO_TF_MARKER, one_line, run_main


def test_observe_of_golden_dot_names_its_traces_after_the_folder(micro_golden, tmp_path,
                                                                 monkeypatch):
    monkeypatch.chdir(micro_golden)
    record = runs.observe(Path("."), priming.setting("guard", "observe"), tmp_path / "out")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        f"{micro_golden.name}.json", f"{micro_golden.name}.txt"]
    assert json.loads(record.read_text())["id"] == micro_golden.name


def test_a_golden_folder_name_too_long_for_its_partial_folder_is_refused_at_once(tmp_path):
    out = tmp_path / ("g" * 252)  # fits the file system, `.<name>.partial` does not
    result = run_main("golden", "--workload", "resnet18_small", "--set", "epochs=1",
                      "--out", str(out))
    assert result.returncode == 2
    assert "--out: the folder name is too long: the run is built in" in one_line(result.stderr)
    assert result.stdout.endswith(f"{NO_TF_MARKER}\n")  # refused before TensorFlow started
    assert list(tmp_path.iterdir()) == []
