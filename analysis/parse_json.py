"""Parser for the project's JSON trace records (``fi-trace/1``).

The format is declared once, as a JSON Schema in ``fi_formats/trace.schema.json``; a record is
first checked against it, then copied into a ``Trace``, then checked for consistency. Whatever
the bytes, the result is a Trace: a record that is not UTF-8, not JSON, nested too deep, cut
off, or does not follow the schema becomes an incomplete run whose one problem names the file
and the line (JSON syntax) or the field.
"""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np

import fi_formats
from analysis.trace import (
    NO_MITIGATION,
    TEST_LOSS,
    Curves,
    Injection,
    Summary,
    Trace,
    check_consistency,
    read_trace_bytes,
)


class _BareConstant(ValueError):
    """NaN or Infinity written as a bare JSON token instead of a string."""


def _refuse_constant(token: str) -> float:
    raise _BareConstant(token)


def _floats(values: list[Any]) -> list[float]:
    return [float(v) for v in values]  # also reads "NaN", "Infinity", "-Infinity"


def _summary(value: Any) -> Summary | None:
    if value is None:
        return None
    return Summary(*(float(value[k]) for k in ("min", "max", "mean", "max_abs")))


def _column(items: list[dict[str, Any]], key: str, dtype: type) -> np.ndarray:
    # float(x) first: the schema lets 3.0 pass as an integer; "NaN" strings read as floats.
    return np.array([float(x[key]) for x in items], dtype=np.float64).astype(dtype)


def _curves(steps: list[dict[str, Any]], epochs: list[dict[str, Any]]) -> Curves:
    return Curves(
        step_epoch=_column(steps, "epoch", np.int32),
        step_step=_column(steps, "step", np.int32),
        step_loss=_column(steps, "loss", np.float64),
        step_accuracy=_column(steps, "accuracy", np.float64),
        epoch=_column(epochs, "epoch", np.int32),
        train_loss=_column(epochs, "train_loss", np.float64),
        train_accuracy=_column(epochs, "train_accuracy", np.float64),
        test_loss=_column(epochs, "test_loss", np.float64),
        test_accuracy=_column(epochs, "test_accuracy", np.float64),
    )


def _opt_int(value: Any) -> int | None:
    return None if value is None else int(value)


def _injection(inj: dict[str, Any]) -> Injection:
    rng = inj.get("range")
    shape = inj.get("shape")
    return Injection(
        epoch=int(inj["epoch"]),
        step=int(inj["step"]),
        layer=inj["layer"],
        stage=inj["stage"],
        fmodel=inj["fmodel"],
        operand=inj.get("operand"),
        replica=_opt_int(inj.get("replica")),
        shape=None if shape is None else [int(x) for x in shape],
        positions=[[int(x) for x in p] for p in inj["positions"]],
        golden_values=_floats(inj.get("golden_values", [])),
        injected_values=_floats(inj.get("injected_values", [])),
        requested=list(inj.get("requested", [])),
        value_kind=inj.get("value_kind"),
        count=_opt_int(inj.get("count")),
        range_first=None if rng is None else int(rng["first"]),
        range_last=None if rng is None else int(rng["last"]),
        golden_summary=_summary(inj.get("golden_summary")),
        injected_summary=_summary(inj.get("injected_summary")),
    )


def _fill(trace: Trace, obj: dict[str, Any]) -> None:
    """Copy a record that follows the schema into ``trace``."""
    trace.kind = obj["kind"]
    if obj.get("id") is not None:
        trace.id = obj["id"]
    trace.workload = obj.get("workload")
    trace.config = dict(obj["config"])
    if obj.get("csv") is not None:
        trace.csv = dict(obj["csv"])
    if obj["complete"] is not True:
        trace.problem("is false: the run did not finish", field_name="complete")
    if trace.kind == "injection":
        trace.injection = _injection(obj["injection"])
        ckpt = obj["golden_checkpoint"]
        trace.golden_sha256 = ckpt["sha256"]
        trace.golden_checkpoint_path = ckpt.get("path")
    else:
        trace.checkpoints = dict(obj["checkpoints"])
    if obj.get("start_epoch") is not None:
        trace.start_epoch = int(obj["start_epoch"])
    nf = obj.get("first_nonfinite")
    if nf is not None:
        trace.first_nonfinite = (int(nf["epoch"]), int(nf["step"]))
        trace.nonfinite_metric = TEST_LOSS if nf.get("metric") == TEST_LOSS else None
    rejoined = obj.get("rejoined_golden")
    if rejoined is not None:
        trace.rejoined_epoch = int(rejoined["epoch"])
    mitigation = obj.get("mitigation")
    if mitigation is not None:
        trace.mitigation = mitigation.get("preset") or NO_MITIGATION
    trace.curves = _curves(obj["steps"], obj["epochs"])
    if obj.get("wall_time_s") is not None:
        trace.wall_time_s = float(obj["wall_time_s"])


def decode(trace: Trace, data: bytes) -> Any:
    """The JSON value of ``data``, or None with the problem recorded."""
    try:
        text = data.decode("utf-8-sig")  # strict UTF-8 (a byte-order mark is tolerated)
    except UnicodeDecodeError as exc:
        trace.problem(f"not UTF-8 text ({exc.reason} at byte {exc.start})")
        return None
    try:
        return json.loads(text, parse_constant=_refuse_constant)
    except _BareConstant as exc:
        trace.problem(f"bare {exc} in the JSON: non-finite numbers must be strings ('\"NaN\"')")
    except json.JSONDecodeError as exc:
        trace.problem(
            f"invalid JSON, truncated or corrupt ({exc.msg}, column {exc.colno})", line=exc.lineno
        )
    except RecursionError:
        trace.problem("invalid JSON: nested too deeply")
    except ValueError as exc:  # e.g. an integer with thousands of digits
        trace.problem(f"invalid JSON: {exc}")
    return None


def parse_json(path: str, data: bytes | None = None) -> Trace:
    """Parse a JSON trace record; never raises on bad content, records problems instead."""
    stem = os.path.splitext(os.path.basename(path))[0]
    trace = Trace(path=path, fmt="json", id=stem, kind="injection")
    if data is None:
        data = read_trace_bytes(trace)
        if data is None:
            return trace
    obj = decode(trace, data)
    if trace.problems:
        return trace
    problems = fi_formats.trace_problems(obj)
    if problems:
        field, _, reason = problems[0].partition(": ")
        trace.problem(reason, field_name=field)
        if isinstance(obj, dict) and obj.get("kind") == "golden":
            trace.kind = "golden"
        return trace
    _fill(trace, obj)
    check_consistency(trace)
    return trace
