"""Parser for the project's JSON trace records (``fi-trace/1``).

The format is declared once, as a JSON Schema in ``fi_formats/trace.schema.json``; a record is
first checked against it, then copied into a ``Trace``, then checked for consistency. Whatever
the bytes, the result is a Trace: a record that is not UTF-8, not JSON, nested too deep, cut
off, or does not follow the schema becomes an incomplete run whose one problem names the file
and the line (JSON syntax) or the field.
"""

from __future__ import annotations

import os
from operator import itemgetter
from typing import Any

import numpy as np
import orjson

import fi_formats
from analysis.trace import (
    NO_MITIGATION,
    TEST_LOSS,
    Curves,
    Detections,
    Injection,
    Summary,
    Trace,
    check_consistency,
    read_trace_bytes,
)


def _floats(values: list[Any]) -> list[float]:
    return [float(v) for v in values]  # also reads "NaN", "Infinity", "-Infinity"


def _summary(value: Any) -> Summary | None:
    if value is None:
        return None
    return Summary(*(float(value[k]) for k in ("min", "max", "mean", "max_abs")))


def _curves(obj: dict[str, Any], columns: fi_formats.Columns | None) -> Curves:
    """The curves, from the columns the validator extracted when it did (else from the rows)."""

    def col(name: str, key: str, dtype: type) -> np.ndarray:
        values = columns[name][key] if columns else list(map(itemgetter(key), obj[name]))
        # Through float64: the schema lets 3.0 pass as an integer; "NaN" strings read as floats.
        return np.array(values, dtype=np.float64).astype(dtype, copy=False)

    return Curves(
        step_epoch=col("steps", "epoch", np.int32),
        step_step=col("steps", "step", np.int32),
        step_loss=col("steps", "loss", np.float64),
        step_accuracy=col("steps", "accuracy", np.float64),
        epoch=col("epochs", "epoch", np.int32),
        train_loss=col("epochs", "train_loss", np.float64),
        train_accuracy=col("epochs", "train_accuracy", np.float64),
        test_loss=col("epochs", "test_loss", np.float64),
        test_accuracy=col("epochs", "test_accuracy", np.float64),
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


def _detections(mitigation: dict[str, Any], inj: Injection | None) -> Detections:
    """The detections a mitigation recorded (first after the injection, rollbacks, costs)."""
    found = Detections(mode=mitigation.get("mode"))
    at = None if inj is None else (inj.epoch, inj.step)
    flagged = set()
    events: set[object] = set()
    for i, entry in enumerate(mitigation.get("detections", [])):
        event = entry.get("event", i)
        found.add(int(entry["epoch"]), int(entry["step"]), at, entry["action"], event not in events)
        events.add(event)
        found.steps_reexecuted += int(entry.get("steps_reexecuted", 0))
        flagged.add((int(entry["epoch"]), int(entry["step"]), entry.get("at", "step")))
    found.flagged_steps = len(flagged)
    totals = mitigation.get("totals") or {}
    trained = totals.get("steps_trained")
    found.steps_trained = None if trained is None else int(trained)
    if totals.get("step_seconds") is not None and totals.get("timed_steps") is not None:
        found.step_seconds = float(totals["step_seconds"])
        found.timed_steps = int(totals["timed_steps"])
    return found


def _fill(trace: Trace, obj: dict[str, Any], columns: fi_formats.Columns | None = None) -> None:
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
        trace.detections = _detections(mitigation, trace.injection)
    trace.curves = _curves(obj, columns)
    if obj.get("wall_time_s") is not None:
        trace.wall_time_s = float(obj["wall_time_s"])


_BOM = b"\xef\xbb\xbf"
_BARE = (b"NaN", b"Infinity", b"-Infinity")


def _line_and_column(data: bytes, pos: int) -> tuple[int, int]:
    line_start = data.rfind(b"\n", 0, pos) + 1
    return data.count(b"\n", 0, pos) + 1, pos - line_start + 1


def decode(trace: Trace, data: bytes) -> Any:
    """The JSON value of ``data``, or None with the problem recorded.

    orjson: strict UTF-8 (a byte-order mark is tolerated, removed first), standard JSON only
    (a bare NaN or Infinity, an infinite number, nesting deeper than 1024 are refused).
    """
    if data.startswith(_BOM):
        data = data[len(_BOM) :]
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        pos = exc.pos if isinstance(exc.pos, int) else 0
        line, column = _line_and_column(data, pos)
        bare = next((t for t in _BARE if data.startswith(t, pos)), None)
        if bare is not None:
            reason = f"bare {bare.decode()} in the JSON: non-finite numbers are strings"
        elif "UTF-8" in exc.msg:
            reason = f"not UTF-8 text ({exc.msg})"
        elif "depth" in exc.msg:
            reason = "invalid JSON: nested too deeply"
        elif "infinity" in exc.msg:
            reason = f"invalid JSON: a number too large for a double, column {column}"
        else:
            reason = f"invalid JSON, truncated or corrupt ({exc.msg}, column {column})"
        trace.problem(reason, line=line)
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
    problems, columns = fi_formats.check_trace(obj)
    if problems:
        field, _, reason = problems[0].partition(": ")
        trace.problem(reason, field_name=field)
        if isinstance(obj, dict) and obj.get("kind") == "golden":
            trace.kind = "golden"
        return trace
    _fill(trace, obj, columns)
    check_consistency(trace)
    return trace
