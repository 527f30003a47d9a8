"""The file formats shared by the engine and the analysis, each declared once.

The JSON trace record ``fi-trace/1``, declared as a JSON Schema in ``trace.schema.json`` next
to this file (the writer's tests, the reader and the synthetic trace writer of the tests all
check records against it), and its encoding of non-finite floats, here. Beside it:
``trace_text`` (the text trace's lines, written and parsed), ``injection_csv`` (the injection
CSV's rows, read and written), ``names`` (passes, stages, operands, layer names, prefixes),
``numbers`` (the strict grammar of numbers as text), and the plumbing both commands share:
``oneline`` (any text as one printable line), ``signals`` (deferred signals, interrupts of a
command) and ``atomic`` (atomic writes).

Needs only the standard library (its own validator: ``fi_formats.schema``)."""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable
from importlib import resources
from operator import itemgetter
from typing import Any

from fi_formats.oneline import printable
from fi_formats.schema import SchemaError, compile_schema, inline_refs

__all__ = [
    "NONFINITE",
    "TRACE_FORMAT",
    "TRACE_SCHEMA_FILE",
    "check_trace",
    "encode_nonfinite",
    "load_trace_schema",
    "trace_problems",
]

TRACE_FORMAT = "fi-trace/1"
TRACE_SCHEMA_FILE = "trace.schema.json"
# How non-finite floats are written in a record (JSON has no NaN or infinity).
NONFINITE = ("NaN", "Infinity", "-Infinity")


def encode_nonfinite(value: float) -> str | None:
    """The record's string for a non-finite float (NaN, +inf, -inf), None for a finite one:
    the one place the encoding is spelled (the engine writes it, the analysis reads it)."""
    if value != value:
        return NONFINITE[0]
    if value in (float("inf"), float("-inf")):
        return NONFINITE[1] if value > 0 else NONFINITE[2]
    return None

_MAX_REASON = 200  # characters of a validator message kept in a problem


@functools.cache
def _schema_text() -> str:
    return resources.files(__name__).joinpath(TRACE_SCHEMA_FILE).read_text(encoding="utf-8")


def load_trace_schema() -> dict[str, Any]:
    """The JSON Schema of a trace record, as a new dict (safe to modify)."""
    return json.loads(_schema_text())


def _inlined_schema() -> dict[str, Any]:
    return inline_refs(json.loads(_schema_text()))


@functools.cache
def _trace_validator() -> Callable[[Any], Any]:
    return compile_schema(load_trace_schema())  # compile_schema inlines the references


# --- a fast path for the long arrays of flat rows (`steps`, `epochs`) ------------------------
#
# A trace holds thousands of step rows; validating them one value at a time is most of the cost
# of reading a trace. Their row schemas are flat (numbers with bounds), so the rows are checked
# a column at a time, from bounds read from the same schema, and the rest of the record by the
# validator with those items left out. Anything the column check does not clearly accept goes
# to the full validator, which decides (and names the problem): the fast path can only say
# "valid" when the full one would.

_ROW_ARRAYS = ("steps", "epochs")
_COLUMN_KEYS = {"type", "minimum", "maximum", "pattern", "description"}


def _column_rule(prop: dict[str, Any]) -> tuple[bool, Any, Any, re.Pattern[str] | None] | None:
    """(integer?, minimum, maximum, pattern for strings) of a flat column, None if the column
    schema uses anything else (then the fast path is not used)."""
    if not set(prop) <= _COLUMN_KEYS:
        return None
    kind = prop.get("type")
    types = set(kind) if isinstance(kind, list) else {kind}
    if types == {"integer"}:
        integer, strings = True, False
    elif types in ({"number"}, {"number", "string"}):
        integer, strings = False, "string" in types
    else:
        return None
    pattern = re.compile(prop["pattern"]) if strings and "pattern" in prop else None
    if strings and pattern is None:
        return None
    return integer, prop.get("minimum"), prop.get("maximum"), pattern


@functools.cache
def _fast_plan() -> tuple[Callable[[Any], Any], dict[str, list[tuple[str, Any]]]] | None:
    schema = _inlined_schema()
    plan: dict[str, list[tuple[str, Any]]] = {}
    for name in _ROW_ARRAYS:
        items = schema["properties"][name]["items"]
        if (
            set(items) - {"type", "required", "properties", "description"}
            or items.get("type") != "object"
            or set(items["required"]) != set(items["properties"])
        ):
            return None
        rules = [(key, _column_rule(prop)) for key, prop in items["properties"].items()]
        if any(rule is None for _, rule in rules):
            return None
        plan[name] = rules
        schema["properties"][name]["items"] = {}
    return compile_schema(schema), plan


def _column_fine(values: list[Any], rule: tuple[bool, Any, Any, re.Pattern[str] | None]) -> bool:
    """Every value of the column clearly valid (C-speed builtins: type sets, min, max)."""
    integer, low, high, pattern = rule
    types = set(map(type, values))  # bool is not int here, as in JSON Schema
    numbers = values
    if integer:
        if not types <= {int}:
            return False
    elif not types <= {int, float}:
        if pattern is None or not types <= {int, float, str}:
            return False
        if not all(pattern.search(v) for v in values if type(v) is str):
            return False
        numbers = [v for v in values if type(v) is not str]
    if not numbers:
        return True
    # A NaN first makes min/max NaN and the comparison false: then the full validator decides.
    if low is not None and not low <= min(numbers):
        return False
    return high is None or max(numbers) <= high


Columns = dict[str, dict[str, list[Any]]]


def _rows_fine(record: dict[str, Any], plan: dict[str, list[tuple[str, Any]]]) -> Columns | None:
    """The row arrays as columns (array -> key -> values) when every row is clearly valid."""
    columns: Columns = {}
    for name, rules in plan.items():
        rows = record.get(name)
        if type(rows) is not list or not set(map(type, rows)) <= {dict}:
            return None
        columns[name] = {}
        try:
            for key, rule in rules:
                values = list(map(itemgetter(key), rows))
                if not _column_fine(values, rule):
                    return None
                columns[name][key] = values
        except KeyError:
            return None
    return columns


def _field(name: str) -> str:
    """fastjsonschema's "data.steps[3].loss" -> "steps[3].loss" (the record itself: "record")."""
    field = name[len("data") :].lstrip(".") if name.startswith("data") else name
    return _printable(field) or "record"


def _printable(text: str, limit: int = _MAX_REASON) -> str:
    return printable(text, limit)


def _reason(exc: Any) -> tuple[str, str]:
    """(missing key or "", reason) of a validation error."""
    if exc.rule == "required" and isinstance(exc.value, dict):
        missing = [k for k in exc.rule_definition if k not in exc.value]
        if missing:
            return _printable(str(missing[0])), "missing"
    message = str(exc.message)
    # fastjsonschema names the field as "data.x[0]..."; the field is reported separately.
    name = str(exc.name)
    if message.startswith(name + " "):
        message = message[len(name) + 1 :]
    return "", _printable(message)


def check_trace(record: Any) -> tuple[list[str], Columns | None]:
    """``trace_problems(record)``, and, for a valid record, its row arrays as columns when
    they were checked a column at a time: ``{"steps": {"epoch": [...], "loss": [...], ...},
    "epochs": {...}}`` (None otherwise). A reader can build its arrays from them."""
    # The format first: whatever else is wrong with a file that is not a trace is noise.
    if not isinstance(record, dict):
        return ["record: not a JSON object"], None
    if record.get("format") != TRACE_FORMAT:
        found = _printable(repr(record.get("format")), 60)
        return [f"format: not an {TRACE_FORMAT} record (format is {found})"], None
    columns = None
    try:
        fast = _fast_plan()
        columns = None if fast is None else _rows_fine(record, fast[1])
        if fast is not None and columns is not None:
            fast[0](record)  # the rest of the record; its rows are fine
        else:
            _trace_validator()(record)
    except SchemaError as exc:
        missing, reason = _reason(exc)
        field = _field(str(exc.name))
        if missing:
            field = missing if field == "record" else f"{field}.{missing}"
        return [f"{field}: {reason}"], None
    return [], columns


def trace_problems(record: Any) -> list[str]:
    """Why ``record`` (a parsed JSON value) is not a valid fi-trace/1 record: a list of
    ``"<field>: <reason>"`` strings, empty when it is valid.

    The validator stops at the first problem, so the list has at most one entry. Messages are
    one printable line each (control characters escaped, long values cut).
    """
    return check_trace(record)[0]
