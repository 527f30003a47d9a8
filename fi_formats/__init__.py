"""The file formats shared by the engine and the analysis, each declared once.

Today one: the JSON trace record ``fi-trace/1``, declared as a JSON Schema in
``trace.schema.json`` next to this file. The writer's tests (fi_core), the reader (analysis)
and the synthetic trace writer of the tests all check records against it, so the format is
spelled out in one place only.

Needs only the standard library and ``fastjsonschema`` (imported on first validation).
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable
from importlib import resources
from typing import Any

__all__ = [
    "NONFINITE",
    "TRACE_FORMAT",
    "TRACE_SCHEMA_FILE",
    "load_trace_schema",
    "trace_problems",
]

TRACE_FORMAT = "fi-trace/1"
TRACE_SCHEMA_FILE = "trace.schema.json"
# How non-finite floats are written in a record (JSON has no NaN or infinity).
NONFINITE = ("NaN", "Infinity", "-Infinity")

_MAX_REASON = 200  # characters of a validator message kept in a problem


@functools.cache
def _schema_text() -> str:
    return resources.files(__name__).joinpath(TRACE_SCHEMA_FILE).read_text(encoding="utf-8")


def load_trace_schema() -> dict[str, Any]:
    """The JSON Schema of a trace record, as a new dict (safe to modify)."""
    return json.loads(_schema_text())


def _inline_refs(node: Any, definitions: dict[str, Any]) -> Any:
    """The schema with every local ``$ref`` replaced by its definition.

    Same meaning, about three times faster to validate with fastjsonschema (a reference is a
    function call per value; the step rows of a trace are thousands of values).
    """
    if isinstance(node, list):
        return [_inline_refs(v, definitions) for v in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        name = node["$ref"].removeprefix("#/definitions/")
        return _inline_refs(definitions[name], definitions)  # draft 7: siblings are ignored
    return {k: _inline_refs(v, definitions) for k, v in node.items() if k != "definitions"}


@functools.cache
def _trace_validator() -> Callable[[Any], Any]:
    import fastjsonschema

    schema = json.loads(_schema_text())
    return fastjsonschema.compile(_inline_refs(schema, schema.get("definitions", {})))


def _field(name: str) -> str:
    """fastjsonschema's "data.steps[3].loss" -> "steps[3].loss" (the record itself: "record")."""
    field = name[len("data") :].lstrip(".") if name.startswith("data") else name
    return _printable(field) or "record"


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def _printable(text: str, limit: int = _MAX_REASON) -> str:
    """One printable line: control characters escaped, long text cut."""
    text = _CONTROL.sub(lambda m: repr(m.group())[1:-1], text)
    return text if len(text) <= limit else text[: limit - 3] + "..."


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


def trace_problems(record: Any) -> list[str]:
    """Why ``record`` (a parsed JSON value) is not a valid fi-trace/1 record: a list of
    ``"<field>: <reason>"`` strings, empty when it is valid.

    The validator stops at the first problem, so the list has at most one entry. Messages are
    one printable line each (control characters escaped, long values cut).
    """
    import fastjsonschema

    # The format first: whatever else is wrong with a file that is not a trace is noise.
    if not isinstance(record, dict):
        return ["record: not a JSON object"]
    if record.get("format") != TRACE_FORMAT:
        found = _printable(repr(record.get("format")), 60)
        return [f"format: not an {TRACE_FORMAT} record (format is {found})"]
    try:
        _trace_validator()(record)
    except fastjsonschema.JsonSchemaValueException as exc:
        missing, reason = _reason(exc)
        field = _field(str(exc.name))
        if missing:
            field = missing if field == "record" else f"{field}.{missing}"
        return [f"{field}: {reason}"]
    return []
