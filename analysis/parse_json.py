"""Parser for the project's JSON trace records (``fi-trace/1``, see docs/interfaces.md).

A record that is cut off, is not JSON, or lacks a field is reported with its file and the line
(for JSON syntax errors) or the field, and the run is marked incomplete.
"""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np

from analysis.trace import Curves, Injection, Trace, check_consistency

_NONFINITE = {"NaN", "Infinity", "-Infinity"}


class _Bad(ValueError):
    """A field with a missing or wrong value."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(field, reason)
        self.field = field
        self.reason = reason


def _num(value: Any, field: str) -> float:
    if isinstance(value, bool):
        raise _Bad(field, "not a number")
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str) and value in _NONFINITE:
        return float(value)
    raise _Bad(field, f"not a number: {value!r}")


def _int(value: Any, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _Bad(field, f"not an integer: {value!r}")
    return value


def _str(value: Any, field: str) -> str:
    if not isinstance(value, str):
        raise _Bad(field, f"not a string: {value!r}")
    return value


def _opt_str(value: Any, field: str) -> str | None:
    return None if value is None else _str(value, field)


def _dict(obj: dict[str, Any], key: str, field: str | None = None) -> dict[str, Any]:
    value = obj.get(key)
    if not isinstance(value, dict):
        raise _Bad(field or key, "missing or not an object")
    return value


def _list(value: Any, field: str) -> list[Any]:
    if not isinstance(value, list):
        raise _Bad(field, "missing or not a list")
    return value


def _columns(
    items: Any, field: str, int_keys: tuple[str, ...], float_keys: tuple[str, ...]
) -> dict[str, np.ndarray]:
    """A list of JSON objects -> one numpy array per key (fast path: whole columns at once)."""
    items = _list(items, field)
    try:
        out = {}
        for key in int_keys:
            col = [x[key] for x in items]
            if not all(type(v) is int for v in col):
                raise ValueError(key)
            out[key] = np.array(col, dtype=np.int32)
        for key in float_keys:
            col = [x[key] for x in items]
            if None in col:
                raise ValueError(key)
            out[key] = np.array(col, dtype=np.float64)  # also reads "NaN", "Infinity"
        return out
    except (KeyError, TypeError, ValueError):
        pass
    for i, x in enumerate(items):  # slow path, only to name the offending entry
        where = f"{field}[{i}]"
        if not isinstance(x, dict):
            raise _Bad(where, "not an object")
        for key in (*int_keys, *float_keys):
            if key not in x:
                raise _Bad(f"{where}.{key}", "missing")
            (_int if key in int_keys else _num)(x[key], f"{where}.{key}")
    raise _Bad(field, "malformed values")


_STEP_INTS, _STEP_FLOATS = ("epoch", "step"), ("loss", "accuracy")
_EPOCH_INTS = ("epoch",)
_EPOCH_FLOATS = ("train_loss", "train_accuracy", "test_loss", "test_accuracy")


def _curves(steps: Any, epochs: Any) -> Curves:
    s = _columns(steps, "steps", _STEP_INTS, _STEP_FLOATS)
    e = _columns(epochs, "epochs", _EPOCH_INTS, _EPOCH_FLOATS)
    return Curves(
        step_epoch=s["epoch"],
        step_step=s["step"],
        step_loss=s["loss"],
        step_accuracy=s["accuracy"],
        epoch=e["epoch"],
        train_loss=e["train_loss"],
        train_accuracy=e["train_accuracy"],
        test_loss=e["test_loss"],
        test_accuracy=e["test_accuracy"],
    )


def _injection(obj: dict[str, Any]) -> Injection:
    inj = _dict(obj, "injection")
    f = "injection."
    positions = [
        [_int(x, f"{f}positions") for x in _list(p, f"{f}positions")]
        for p in _list(inj.get("positions"), f"{f}positions")
    ]
    shape = inj.get("shape")
    return Injection(
        epoch=_int(inj.get("epoch"), f"{f}epoch"),
        step=_int(inj.get("step"), f"{f}step"),
        layer=_str(inj.get("layer"), f"{f}layer"),
        stage=_str(inj.get("stage"), f"{f}stage"),
        fmodel=_str(inj.get("fmodel"), f"{f}fmodel"),
        operand=_opt_str(inj.get("operand"), f"{f}operand"),
        replica=None if inj.get("replica") is None else _int(inj["replica"], f"{f}replica"),
        shape=None if shape is None else [_int(x, f"{f}shape") for x in _list(shape, f"{f}shape")],
        positions=positions,
        golden_values=[
            _num(v, f"{f}golden_values")
            for v in _list(inj.get("golden_values", []), f"{f}golden_values")
        ],
        injected_values=[
            _num(v, f"{f}injected_values")
            for v in _list(inj.get("injected_values", []), f"{f}injected_values")
        ],
        requested=[str(v) for v in _list(inj.get("requested", []), f"{f}requested")],
    )


def _fill(trace: Trace, obj: dict[str, Any]) -> None:
    """Copy fields from the record into ``trace``; raise _Bad at the first bad field."""
    fmt = obj.get("format")
    if not isinstance(fmt, str) or not fmt.startswith("fi-trace/"):
        raise _Bad("format", f"not an fi-trace record (format {fmt!r})")
    kind = obj.get("kind")
    if kind not in ("injection", "golden"):
        raise _Bad("kind", f"must be 'injection' or 'golden', got {kind!r}")
    trace.kind = kind
    if "id" in obj:
        trace.id = _str(obj["id"], "id")
    trace.workload = _opt_str(obj.get("workload"), "workload")
    config = _dict(obj, "config")
    for key in ("num_classes", "steps_per_epoch", "epochs"):
        _int(config.get(key), f"config.{key}")
    trace.config = dict(config)
    csv = obj.get("csv")
    if isinstance(csv, dict):
        trace.csv = {str(k): str(v) for k, v in csv.items()}
    if obj.get("complete") is not True:
        trace.problem(f"is {obj.get('complete')!r}: the run did not finish", field_name="complete")
    if kind == "injection":
        trace.injection = _injection(obj)
        ckpt = _dict(obj, "golden_checkpoint")
        trace.golden_sha256 = _str(ckpt.get("sha256"), "golden_checkpoint.sha256")
        trace.golden_checkpoint_path = _opt_str(ckpt.get("path"), "golden_checkpoint.path")
    else:
        ckpts = obj.get("checkpoints") or {}
        if not isinstance(ckpts, dict):
            raise _Bad("checkpoints", "not an object")
        trace.checkpoints = {str(k): _str(v, f"checkpoints.{k}") for k, v in ckpts.items()}
    if obj.get("start_epoch") is not None:
        trace.start_epoch = _int(obj["start_epoch"], "start_epoch")
    nf = obj.get("first_nonfinite")
    if nf is not None:
        if not isinstance(nf, dict):
            raise _Bad("first_nonfinite", "not an object or null")
        trace.first_nonfinite = (
            _int(nf.get("epoch"), "first_nonfinite.epoch"),
            _int(nf.get("step"), "first_nonfinite.step"),
        )
    trace.curves = _curves(obj.get("steps"), obj.get("epochs"))
    wall = obj.get("wall_time_s")
    if wall is not None:
        trace.wall_time_s = _num(wall, "wall_time_s")


def parse_json(path: str, data: bytes | None = None) -> Trace:
    """Parse a JSON trace record; never raises on bad content, records problems instead."""
    stem = os.path.splitext(os.path.basename(path))[0]
    trace = Trace(path=path, fmt="json", id=stem, kind="injection")
    if data is None:
        try:
            with open(path, "rb") as fh:
                data = fh.read()
        except OSError as exc:
            trace.problem(f"cannot read: {exc.strerror}")
            return trace
    try:
        obj = json.loads(data)
    except UnicodeDecodeError as exc:
        trace.problem(f"not UTF-8 text ({exc.reason} at byte {exc.start})")
        return trace
    except json.JSONDecodeError as exc:
        trace.problem(
            f"invalid JSON, truncated or corrupt ({exc.msg}, column {exc.colno})", line=exc.lineno
        )
        return trace
    if not isinstance(obj, dict):
        trace.problem("not a JSON object", line=1)
        return trace
    try:
        _fill(trace, obj)
    except _Bad as exc:
        trace.problem(exc.reason, field_name=exc.field)
        return trace
    check_consistency(trace)
    return trace
