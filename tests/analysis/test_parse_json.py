"""The JSON parser: valid records, non-finite strings, and every kind of damage."""

from __future__ import annotations

import json
import math
import os
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


def test_agreed_additions_are_read(tmp_path: Path, campaign) -> None:
    rec = syn.injection_record(
        "inj_r", campaign.golden, 6, 4, value_range=(32, 95), rejoined_at=9, mitigation="abft"
    )
    t = parse_json(str(_write(tmp_path, rec)))
    assert t.problems == []
    inj = t.injection
    assert inj is not None and (inj.range_first, inj.range_last, inj.count) == (32, 95, 64)
    assert inj.value_kind == "copy" and inj.positions == []
    assert (t.rejoined_epoch, t.mitigation) == (9, "abft")
    rec = syn.injection_record("inj_t", campaign.golden, 6, 4, nonfinite_test_at=8)
    assert rec["first_nonfinite"] == {"epoch": 8, "step": 11, "metric": "test_loss"}
    t = parse_json(str(_write(tmp_path, rec)))
    assert t.problems == [] and (t.first_nonfinite, t.nonfinite_metric) == ((8, 11), "test_loss")
    assert t.curves is not None and t.curves.epoch[-1] == 8


def test_nonfinite_record_must_match_the_curves(tmp_path: Path, campaign) -> None:
    rec = syn.injection_record("a", campaign.golden, 6, 4, nonfinite_test_at=8)
    rec["first_nonfinite"]["step"] = 3  # a test loss is seen at the epoch's last step
    assert "must be the epoch's last" in parse_json(str(_write(tmp_path, rec))).problems[0]
    rec = syn.injection_record("b", campaign.golden, 6, 4, nonfinite_at=(7, 2))
    rec["first_nonfinite"] = {"epoch": 7, "step": 5, "metric": "train_loss"}
    assert "the steps show epoch 7 step 2" in parse_json(str(_write(tmp_path, rec))).problems[0]
    rec = syn.injection_record("c", campaign.golden, 6, 4, rejoined_at=8, nonfinite_at=(9, 0))
    assert "rejoined" in parse_json(str(_write(tmp_path, rec))).problems[0]
    # An older record without first_nonfinite whose test loss went NaN and that trained on.
    rec = syn.injection_record("d", campaign.golden, 6, 4)
    rec["epochs"][3]["test_loss"] = "NaN"
    t = parse_json(str(_write(tmp_path, rec)))
    assert t.problems == [] and (t.first_nonfinite, t.nonfinite_metric) == ((9, 11), "test_loss")


def test_values_are_range_checked(tmp_path: Path, campaign) -> None:
    def damaged(change) -> list[str]:
        rec = json.loads(syn.json_text(syn.injection_record("v", campaign.golden, 6, 4)))
        change(rec)
        return parse_json("v.json", json.dumps(rec).encode()).problems

    cases = [
        (lambda r: r["steps"][2].update(epoch=20), "steps[].epoch: 20 is outside 0..19"),
        (lambda r: r["steps"][2].update(step=12), "steps[].step: 12 is outside 0..11"),
        (lambda r: r["steps"][2].update(epoch=-1), "steps[2].epoch: must be bigger"),
        (lambda r: r["epochs"][0].update(test_accuracy=1.5), "epochs[0].test_accuracy: must be"),
        (lambda r: r["config"].update(num_classes=1), "config.num_classes: must be bigger"),
        (lambda r: r["config"].update(epochs=10**19), "config.epochs: must be smaller"),
        (lambda r: r["config"].update(epochs=10**400), "invalid JSON: a number too large"),
        (lambda r: r["injection"].update(epoch=25), "injection: epoch 25 step 4 is outside"),
        (lambda r: r["injection"].update(replica=8), "injection.replica: 8 >= 8 replicas"),
        (lambda r: r["injection"].update(positions=[[16, 0, 0, 0]]), "not a position in shape"),
        (lambda r: r["injection"].update(range={"first": 9, "last": 3}), "first 9 > last 3"),
        (lambda r: r["injection"].update(count=10**6), "more than the 32768 of shape"),
        (lambda r: r["injection"].update(layer="a\nb"), "injection.layer: must match pattern"),
        (lambda r: r["injection"].update(stage=[1] * 10**5), "injection.stage: must be one of"),
        (lambda r: r["steps"].reverse(), "steps: steps are not in training order"),
        (lambda r: r.update(format="fi-trace/2"), "format: not an fi-trace/1 record"),
    ]
    for change, reason in cases:
        problems = damaged(change)
        assert len(problems) == 1 and reason in problems[0], (reason, problems)
        assert "\n" not in problems[0] and len(problems[0]) < 400


def test_hostile_bytes_are_one_problem(tmp_path: Path, campaign, monkeypatch) -> None:
    good = syn.json_text(syn.injection_record("h", campaign.golden, 6, 4))
    nan = syn.json_text(syn.injection_record("h", campaign.golden, 6, 4, nonfinite_at=(6, 5)))
    for data, reason in (
        (b"[" * 100_000, "nested too deeply"),
        (b'{"a":' * 100_000, "nested too deeply"),
        (b'{"a": ' + b"9" * 10_000 + b"}", "invalid JSON: a number too large"),
        (nan.replace('"NaN"', "NaN").encode(), "bare NaN"),
        (nan.replace('"NaN"', "Infinity").encode(), "bare Infinity"),
        (good.replace('"accuracy":0', '"accuracy":NaN', 1).encode(), "bare NaN"),
        (good.encode("utf-16"), "not UTF-8 text"),
        (good.replace("resnet18", "résnet18").encode("latin-1"), "not UTF-8 text"),
        (b"\x00" * 1000, "invalid JSON"),
        (good[:-50].encode(), "invalid JSON, truncated"),
    ):
        t = parse_json("h.json", data)
        assert len(t.problems) == 1 and reason in t.problems[0], (reason, t.problems)
    assert parse_json("bom.json", b"\xef\xbb\xbf" + good.encode()).problems == []
    # Files larger than a trace can be are refused unread; so is what is not a regular file.
    import analysis.trace as trace_module

    big = tmp_path / "big.json"
    big.write_text(good)
    monkeypatch.setattr(trace_module, "MAX_TRACE_BYTES", 1000)
    assert "larger than the 1000 bytes a trace may have" in parse_json(str(big)).problems[0]
    monkeypatch.undo()
    fifo = tmp_path / "fifo.json"
    os.mkfifo(fifo)
    assert parse_json(str(fifo)).problems == [f"{fifo}: not a regular file (a FIFO)"]


def test_synthetic_records_follow_the_schema(campaign) -> None:
    """The test writer produces exactly the declared format (fi_formats/trace.schema.json)."""
    import fi_formats

    records = [campaign.golden]
    for kw in (
        {},
        {"nonfinite_at": (7, 3)},
        {"nonfinite_test_at": 9},
        {"value_range": (0, 127)},
        {"rejoined_at": 10},
        {"mitigation": "ranger", "injected": [float("inf"), float("nan")]},
    ):
        records.append(syn.injection_record("s", campaign.golden, 6, 4, **kw))
    for rec in records:
        assert fi_formats.trace_problems(json.loads(syn.json_text(rec))) == [], rec["id"]
