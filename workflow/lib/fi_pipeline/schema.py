"""The configuration against workflow/schemas/config.schema.yaml, defaults filled in, and any
problem reduced to one line naming the key (never the schema, never a traceback).

Snakemake's own `validate` prints the failing part of the schema (100 lines and more) and
accepts 1.0 as an integer; this module is stricter: integers are ints (not floats, not booleans),
numbers are finite, mapping keys are strings, and a value is only what YAML or JSON can say.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterator, Mapping
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from fi_pipeline.errors import ConfigError, shown

SCHEMA = Path(__file__).resolve().parents[2] / "schemas" / "config.schema.yaml"
MAX_DEPTH = 32
MAX_ITEMS = 100_000
MAX_TEXT = 4096


def _plain(value: Any, path: list[object], depth: int = 0) -> None:
    """Only what a YAML or JSON configuration can hold: mappings with string keys, lists,
    strings, booleans, integers, finite floats and null; not too deep, not too big."""
    if depth > MAX_DEPTH:
        raise ConfigError(path, f"nested deeper than {MAX_DEPTH} levels")
    if value is None or isinstance(value, (bool, int)):
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ConfigError(path, f"expected a finite number, got {shown(value)}")
        return
    if isinstance(value, str):
        if len(value) > MAX_TEXT:
            raise ConfigError(path, f"a text of {len(value)} characters (at most {MAX_TEXT})")
        return
    if isinstance(value, Mapping):
        if len(value) > MAX_ITEMS:
            raise ConfigError(path, f"{len(value)} entries (at most {MAX_ITEMS})")
        for key, item in value.items():
            if not isinstance(key, str):
                raise ConfigError(path, f"key {shown(key)} is not a text")
            _plain(item, [*path, key], depth + 1)
        return
    if isinstance(value, (list, tuple)):
        if len(value) > MAX_ITEMS:
            raise ConfigError(path, f"{len(value)} items (at most {MAX_ITEMS})")
        for i, item in enumerate(value):
            _plain(item, [*path, i], depth + 1)
        return
    raise ConfigError(path, f"{type(value).__name__} values are not allowed ({shown(value)})")


def _strict_int(checker: Any, instance: Any) -> bool:
    return isinstance(instance, int) and not isinstance(instance, bool)


def _validator_class() -> Any:
    """Draft 2020-12, integers strict, and defaults filled in as objects are visited."""
    base = jsonschema.Draft202012Validator
    checker = base.TYPE_CHECKER.redefine("integer", _strict_int)
    properties = base.VALIDATORS["properties"]

    def fill_defaults(validator: Any, props: Any, instance: Any, schema: Any) -> Iterator[Any]:
        if isinstance(instance, dict):
            for name, sub in props.items():
                if isinstance(sub, dict) and "default" in sub and name not in instance:
                    instance[name] = copy.deepcopy(sub["default"])
        yield from properties(validator, props, instance, schema)

    return jsonschema.validators.extend(
        base, validators={"properties": fill_defaults}, type_checker=checker)


@cache
def _schema() -> dict[str, Any]:
    return yaml.safe_load(SCHEMA.read_text())


def builtin_thresholds() -> list[str]:
    """The analysis's built-in threshold keys, in its options' order (as the schema lists
    them; tests/analysis/test_rule_table.py keeps them equal to analysis.rules)."""
    analysis = _schema()["properties"]["analysis"]["properties"]
    return list(analysis["thresholds"]["properties"])


_TYPE_WORDS = {"integer": "an integer", "number": "a number", "string": "a text",
               "boolean": "true or false", "array": "a list", "object": "a mapping",
               "null": "null"}


def _required_sets(schema: Any) -> list[list[str]]:
    return [branch.get("required", []) for branch in schema if isinstance(branch, dict)]


def _reason(error: Any) -> tuple[list[object], str]:
    """(path, reason) of one jsonschema error, in words."""
    path = list(error.absolute_path)
    value, kind, arg = error.instance, error.validator, error.validator_value
    if "propertyNames" in error.relative_schema_path:  # a bad key: the instance is the key
        if kind == "not":
            return path, f"{shown(value)} is a reserved name"
        if kind == "pattern":
            return path, f"key {shown(value)} does not match {arg}"
        return path, f"key {shown(value)} is not allowed"
    if kind == "required":
        missing = [k for k in arg if isinstance(value, dict) and k not in value]
        return [*path, *missing[:1]], "required"
    if kind == "additionalProperties":
        known = set(error.schema.get("properties", {}))
        extra = [k for k in value if k not in known] if isinstance(value, dict) else []
        return [*path, *extra[:1]], "unknown key"
    if kind == "oneOf" and isinstance(value, dict) and all(
            set(b) == {"required"} for b in arg if isinstance(b, dict)):
        names = [keys[0] for keys in _required_sets(arg) if keys]
        given = [n for n in names if n in value]
        choice = ", ".join(names)
        if given:
            return path, f"give only one of {choice} (found {', '.join(given)})"
        return path, f"give one of {choice}"
    if kind == "type":
        names = [arg] if isinstance(arg, str) else list(arg)
        wanted = " or ".join(_TYPE_WORDS.get(n, n) for n in names)
        return path, f"expected {wanted}, got {shown(value)}"
    if kind == "enum":
        return path, f"{shown(value)} is not one of {', '.join(map(str, arg))}"
    if kind == "pattern":
        return path, f"{shown(value)} does not match {arg}"
    if kind in ("minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum"):
        word = {"minimum": "at least", "exclusiveMinimum": "more than",
                "maximum": "at most", "exclusiveMaximum": "less than"}[kind]
        return path, f"{shown(value)}: must be {word} {arg}"
    if kind in ("minItems", "maxItems", "maxProperties"):
        word = "at least" if kind == "minItems" else "at most"
        return path, f"expected {word} {arg} items"
    if kind == "uniqueItems":
        return path, "items must be unique"
    if kind == "oneOf":
        return path, f"{shown(value)} is not valid here ({error.schema.get('description', '')})"
    return path, error.message


def validate(config: Any) -> dict[str, Any]:
    """A deep copy of the configuration with every default filled in, or ConfigError."""
    _plain(config, [])
    if not isinstance(config, Mapping):
        raise ConfigError([], f"expected a mapping of keys, got {shown(config)}")
    data = copy.deepcopy(dict(config))
    validator = _validator_class()(_schema())
    errors = list(validator.iter_errors(data))
    if errors:
        raise ConfigError(*_reason(jsonschema.exceptions.best_match(errors)))
    return data
