"""Synthetic trace records that follow fi_formats/trace.schema.json (a test checks they do).

For tests, the benchmark and pipeline smoke runs while no real campaign is at hand: the curves
are simple and fully controlled (every epoch's accuracy can be set), which is what threshold
tests need.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Mapping
from typing import Any

import fi_formats
from fi_formats.atomic import write_text_atomic

DEFAULT_CONFIG: dict[str, Any] = {
    "model": "resnet18",
    "dataset": "digits",
    "image_size": 16,
    "width": 0.25,
    "replicas": 8,
    "batch_per_replica": 16,
    "epochs": 20,
    "optimizer": "adam",
    "learning_rate": 0.001,
    "end_learning_rate": 0.0001,
    "decay_steps": 240,
    "dropout": 0.15,
    "seed": 123,
    "test_batch": 360,
    "num_classes": 10,
    "steps_per_epoch": 12,
}


def checkpoint_hash(golden_id: str, epoch: int) -> str:
    """A stable fake sha256 for the checkpoint after ``epoch`` of a golden run."""
    return hashlib.sha256(f"{golden_id}/epoch_{epoch}".encode()).hexdigest()


def _ramp(epochs: int, final: float, start: float = 0.3) -> list[float]:
    return [round(start + (final - start) * (e + 1) / epochs, 5) for e in range(epochs)]


def golden_record(
    run_id: str = "golden",
    workload: str = "resnet18_small",
    final_train: float = 0.9,
    final_test: float = 0.85,
    config: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A complete fault-free run whose accuracies ramp up to the given final values."""
    cfg = {**DEFAULT_CONFIG, **(config or {})}
    epochs, spe = cfg["epochs"], cfg["steps_per_epoch"]
    train, test = _ramp(epochs, final_train), _ramp(epochs, final_test)
    rec = _record(run_id, "golden", workload, cfg, None, 0, train, test, None)
    rec["checkpoints"] = {str(e): checkpoint_hash(run_id, e) for e in range(epochs)}
    rec["golden_checkpoint"] = None
    assert len(rec["steps"]) == epochs * spe
    return rec


def _summary(values: list[float]) -> dict[str, float]:
    """min, max, mean, max_abs as a writer records them (NaN when any value is NaN)."""
    if not values:
        return {"min": math.nan, "max": math.nan, "mean": math.nan, "max_abs": math.nan}
    if any(math.isnan(v) for v in values):
        return dict.fromkeys(("min", "max", "mean", "max_abs"), math.nan)
    return {
        "min": min(values),
        "max": max(values),
        "mean": sum(values) / len(values),
        "max_abs": max(abs(v) for v in values),
    }


SHAPE = [16, 8, 8, 32]


def injection_record(
    run_id: str,
    golden: Mapping[str, Any],
    epoch: int,
    step: int,
    *,
    stage: str = "fwrd_inject",
    fmodel: str = "RD",
    layer: str | None = None,
    replica: int = 1,
    train: Mapping[int, float] | None = None,
    test: Mapping[int, float] | None = None,
    nonfinite_at: tuple[int, int] | None = None,
    nonfinite_test_at: int | None = None,
    injected: list[float] | None = None,
    golden_values: list[float] | None = None,
    value_range: tuple[int, int] | None = None,
    rejoined_at: int | None = None,
    mitigation: str | None = None,
) -> dict[str, Any]:
    """An injection run resumed from ``golden``; its epoch accuracies follow the golden run
    except where ``train``/``test`` override them. The training loss turns NaN at
    ``nonfinite_at`` (epoch, step), or the test loss at the end of epoch ``nonfinite_test_at``.
    ``value_range`` (first, last flat index) records a run of elements instead of positions;
    ``rejoined_at`` marks the run as having rejoined the golden state after that epoch."""
    cfg = dict(golden["config"])
    epochs = cfg["epochs"]
    train_acc = [e["train_accuracy"] for e in golden["epochs"]]
    test_acc = [e["test_accuracy"] for e in golden["epochs"]]
    for e, v in (train or {}).items():
        train_acc[e if e >= 0 else epochs + e] = v
    for e, v in (test or {}).items():
        test_acc[e if e >= 0 else epochs + e] = v
    if layer is None:
        layer = "basicblock_2_basic_0_conv2" + ("_grad_in" if stage == "bkwd_inject" else "")
    injected = [2.5e24] if injected is None else injected
    golden_values = golden_values or [1.0] * len(injected)
    injection: dict[str, Any] = {
        "stage": stage,
        "fmodel": fmodel,
        "operand": "output",
        "replica": replica,
        "layer": layer,
        "epoch": epoch,
        "step": step,
        "shape": list(SHAPE),
        "positions": [[i % 16, 3, 3, 5] for i in range(len(injected))],
        "value_kind": "explicit",
        "count": len(injected),
        "golden_values": golden_values,
        "injected_values": injected,
        "requested": [repr(v) for v in injected],
        "golden_summary": _summary(golden_values),
        "injected_summary": _summary(injected),
    }
    if value_range is not None:
        first, last = value_range
        injection.update(
            positions=[],
            golden_values=[],
            injected_values=[],
            requested=[],
            value_kind="copy",
            range={"first": first, "last": last},
            count=last - first + 1,
        )
    rec = _record(
        run_id,
        "injection",
        golden["workload"],
        cfg,
        injection,
        epoch,
        train_acc,
        test_acc,
        nonfinite_at,
        nonfinite_test_at,
    )
    rec["csv"] = {
        "model": cfg["model"],
        "stage": stage,
        "fmodel": fmodel,
        "target_worker": str(replica),
        "target_layer": layer,
        "target_epoch": str(epoch),
        "target_step": str(step),
        "inj_pos": "/".join("3" for _ in range(4)),
        "inj_values": repr(injected[0]) if injected else "",
        "learning_rate": str(cfg["learning_rate"]),
        "seed": str(cfg["seed"]),
        "workload": golden["workload"],
    }
    rec["golden_checkpoint"] = {
        "path": f"golden/{golden['id']}/epoch_{epoch - 1}",
        "sha256": golden["checkpoints"][str(epoch - 1)],
    }
    rec["checkpoints"] = None
    rec["rejoined_golden"] = None if rejoined_at is None else {"epoch": rejoined_at}
    rec["mitigation"] = None if mitigation is None else {"preset": mitigation}
    return rec


def _record(
    run_id: str,
    kind: str,
    workload: str,
    cfg: dict[str, Any],
    injection: Any,
    start: int,
    train: list[float],
    test: list[float],
    nonfinite_at: tuple[int, int] | None,
    nonfinite_test_at: int | None = None,
) -> dict[str, Any]:
    epochs, spe = cfg["epochs"], cfg["steps_per_epoch"]
    steps: list[dict[str, Any]] = []
    epoch_rows: list[dict[str, Any]] = []
    first_nonfinite = None
    for e in range(start, epochs):
        stopped = False
        for s in range(spe):
            acc = round(train[e] + 0.01 * ((s % 3) - 1), 5)
            loss = round(2.3 * (1.0 - train[e]) + 0.05, 5)
            if nonfinite_at is not None and (e, s) == tuple(nonfinite_at):
                steps.append({"epoch": e, "step": s, "loss": math.nan, "accuracy": acc})
                first_nonfinite = {"epoch": e, "step": s, "metric": "train_loss"}
                stopped = True
                break
            steps.append({"epoch": e, "step": s, "loss": loss, "accuracy": acc})
        if stopped:
            break
        test_loss = round(2.3 * (1.0 - test[e]) + 0.1, 5)
        if nonfinite_test_at == e:
            test_loss = math.nan
            first_nonfinite = {"epoch": e, "step": spe - 1, "metric": "test_loss"}
        epoch_rows.append(
            {
                "epoch": e,
                "train_loss": round(2.3 * (1.0 - train[e]) + 0.05, 5),
                "train_accuracy": train[e],
                "test_loss": test_loss,
                "test_accuracy": test[e],
            }
        )
        if first_nonfinite is not None:
            break
    return {
        "format": fi_formats.TRACE_FORMAT,
        "kind": kind,
        "id": run_id,
        "complete": True,
        "workload": workload,
        "config": cfg,
        "csv": {},
        "injection": injection,
        "start_epoch": start,
        "first_nonfinite": first_nonfinite,
        "steps": steps,
        "epochs": epoch_rows,
        "golden_checkpoint": None,
        "checkpoints": None,
        "wall_time_s": 1.5,
        "versions": {"fi_core": "synthetic", "python": "3.11", "tensorflow": "none", "numpy": "2"},
    }


def _jsonable(value: Any) -> Any:
    """Non-finite floats become "NaN", "Infinity", "-Infinity" as the format requires."""
    if isinstance(value, float) and not math.isfinite(value):
        return fi_formats.encode_nonfinite(value)
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    return value


def json_text(record: Mapping[str, Any]) -> str:
    return json.dumps(_jsonable(dict(record)), allow_nan=False, separators=(",", ":")) + "\n"


def _f(x: float) -> str:
    return "nan" if math.isnan(x) else ("inf" if x == math.inf else f"{x:.5f}")


def _index(flat: int, shape: list[int]) -> tuple[int, ...]:
    out = []
    for d in reversed(shape):
        out.append(flat % d)
        flat //= d
    return tuple(reversed(out))


def _injection_lines(inj: Mapping[str, Any]) -> list[str]:
    lines = [
        f"Inject worker: {inj['replica']}",
        f"Inject layer: {inj['layer']}",
        f"Shape for target layer is ({', '.join(map(str, inj['shape']))})",
    ]
    if inj.get("range"):
        first, last = (_index(inj["range"][k], inj["shape"]) for k in ("first", "last"))
        lines.append(
            f"Range is {first} to {last}, {inj['count']} elements, Golden data max abs is "
            f"{inj['golden_summary']['max_abs']!r}, inject data max abs is "
            f"{inj['injected_summary']['max_abs']!r}"
        )
        return lines
    for pos, g, v in zip(
        inj["positions"], inj["golden_values"], inj["injected_values"], strict=True
    ):
        lines.append(
            f"Position is ({', '.join(map(str, pos))}), Golden data is {g!r}, inject data is {v!r}"
        )
    return lines


def text_trace(record: Mapping[str, Any]) -> str:
    """Render a record in the artifact's text format, line for line."""
    cfg = record["config"]
    epochs, spe = cfg["epochs"], cfg["steps_per_epoch"]
    inj = record["injection"]
    lines: list[str] = []
    if inj is not None:
        lines += [f"Inject to epoch: {inj['epoch']}", f"Inject to step: {inj['step']}"]
    ckpt = record.get("golden_checkpoint")
    if ckpt:
        lines.append(f"Load weights from {ckpt['path']}")
    ends = {e["epoch"]: e for e in record["epochs"]}
    for s in record["steps"]:
        if inj is not None and (s["epoch"], s["step"]) == (inj["epoch"], inj["step"]):
            lines += _injection_lines(inj)
        lines.append(
            f"Epoch: {s['epoch']}/{epochs}, step: {s['step']}/{spe}, "
            f"loss: {_f(s['loss'])}, accuracy: {_f(s['accuracy'])}"
        )
        if not math.isfinite(s["loss"]):
            lines.append("Encounter NaN! Terminate training!")
            break
        if s["step"] == spe - 1 and s["epoch"] in ends:
            e = ends[s["epoch"]]
            lines.append(
                f"End of epoch: {e['epoch']}/{epochs}, train loss: {_f(e['train_loss'])}, "
                f"train accuracy: {_f(e['train_accuracy'])}, valid loss: "
                f"{_f(e['test_loss'])}, valid accuracy: {_f(e['test_accuracy'])}"
            )
            if not math.isfinite(e["test_loss"]):
                lines.append("Encounter NaN! Terminate training!")
                break
    return "\n".join(lines) + "\n"


def write_json(path: str | os.PathLike[str], record: Mapping[str, Any]) -> None:
    write_text_atomic(path, json_text(record))


def write_text(path: str | os.PathLike[str], record: Mapping[str, Any]) -> None:
    write_text_atomic(path, text_trace(record))
