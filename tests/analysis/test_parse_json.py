"""The JSON parser: valid records, non-finite strings, and every kind of damage."""

from __future__ import annotations

import json
import math
from pathlib import Path

from analysis import synthetic as syn
from analysis.parse_json import parse_json


def _write(tmp_path: Path, rec: dict, name: str = "r.json") -> Path:
    path = tmp_path / name
    path.write_text(syn.json_text(rec))
    return path


def test_valid_injection_record(tmp_path: Path, campaign) -> None:
    rec = syn.injection_record(
        "inj_1",
        campaign.golden,
        6,
        4,
        stage="bkwd_inject",
        fmodel="WT",
        injected=[math.inf, 3.0],
        golden_values=[1.0, 2.0],
    )
    t = parse_json(str(_write(tmp_path, rec)))
    assert t.problems == []
    assert t.id == "inj_1" and t.kind == "injection" and t.workload == "resnet18_small"
    inj = t.injection
    assert inj is not None and inj.fmodel == "WT" and inj.is_backward
    assert inj.injected_values[0] == math.inf  # "Infinity" read back
    assert t.golden_sha256 == campaign.golden["checkpoints"]["5"]
    assert t.csv is not None and t.csv["fmodel"] == "WT"


def test_nonfinite_strings(tmp_path: Path, campaign) -> None:
    rec = syn.injection_record("inj_2", campaign.golden, 6, 4, nonfinite_at=(7, 1))
    text = syn.json_text(rec)
    assert '"loss":"NaN"' in text
    t = parse_json(str(_write(tmp_path, rec)))
    assert t.problems == [] and t.first_nonfinite == (7, 1)
    assert t.curves is not None and math.isnan(t.curves.step_loss[-1])


def test_truncated_json_reports_line(tmp_path: Path, campaign) -> None:
    rec = syn.injection_record("inj_3", campaign.golden, 6, 4)
    text = json.dumps(syn._jsonable(rec), indent=1)
    path = tmp_path / "cut.json"
    path.write_text(text[: len(text) // 2])
    t = parse_json(str(path))
    assert not t.complete
    line = text[: len(text) // 2].count("\n") + 1
    assert t.problems[0].startswith(f"{path}:{line}: invalid JSON"), t.problems


def test_missing_field_is_named(tmp_path: Path, campaign) -> None:
    rec = syn.injection_record("inj_4", campaign.golden, 6, 4)
    del rec["steps"][3]["loss"]
    t = parse_json(str(_write(tmp_path, rec)))
    assert t.problems == [f"{tmp_path / 'r.json'}: steps[3].loss: missing"]


def test_incomplete_flag_and_cut_short_run(tmp_path: Path, campaign) -> None:
    rec = syn.injection_record("inj_5", campaign.golden, 6, 4)
    rec["complete"] = False
    assert "complete" in parse_json(str(_write(tmp_path, rec, "a.json"))).problems[0]
    rec = syn.injection_record("inj_6", campaign.golden, 6, 4)
    rec["epochs"] = rec["epochs"][:-2]  # no NaN, but the last epochs are missing
    t = parse_json(str(_write(tmp_path, rec, "b.json")))
    assert any("ends after epoch 17" in p for p in t.problems), t.problems


def test_inconsistent_first_nonfinite(tmp_path: Path, campaign) -> None:
    rec = syn.injection_record("inj_7", campaign.golden, 6, 4, nonfinite_at=(6, 9))
    rec["first_nonfinite"] = None
    t = parse_json(str(_write(tmp_path, rec)))
    assert any("first_nonfinite" in p for p in t.problems), t.problems


def test_not_a_trace(tmp_path: Path) -> None:
    path = tmp_path / "workload.json"
    path.write_text('{"name": "resnet18_small"}')
    assert parse_json(str(path)).problems == [
        f"{path}: format: not an fi-trace/1 record (format is None)"
    ]
    path.write_text("[1, 2]")
    assert parse_json(str(path)).problems == [f"{path}: record: not a JSON object"]
