"""A JSON Schema (draft 7) validator for the keywords the project's schemas use, in the
standard library only, so that the shared formats package imports nothing else.

It stops at the first problem, found in the order fastjsonschema (the validator used before)
checks keywords, and words it the same way (`<name> must be bigger than or equal to 0`), so
that a record's first problem reads as it always has. A keyword applies only to values of its
type, as the standard says; `integer` takes 3.0 (a number with no fraction) and never a bool.
Unknown keywords are refused when the schema is compiled, so that a schema cannot silently
ask for a check that is not made.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

__all__ = ["SchemaError", "compile_schema", "inline_refs"]

ANNOTATIONS = {"$schema", "$id", "title", "description", "definitions", "default", "examples",
               "$comment"}
Check = Callable[[Any, str], None]


class SchemaError(ValueError):
    """The first problem of a value: where (`data.steps[3].loss`), what, and by which rule."""

    def __init__(self, name: str, message: str, rule: str, value: Any, definition: Any) -> None:
        super().__init__(f"{name} {message}")
        self.name, self.message, self.rule = name, f"{name} {message}", rule
        self.value, self.rule_definition = value, definition


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


_TYPES: dict[str, Callable[[Any], bool]] = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "number": _is_number,
    "integer": lambda v: (isinstance(v, int) and not isinstance(v, bool))
    or (isinstance(v, float) and v.is_integer()),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
}


def inline_refs(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema with every local ``$ref`` replaced by its definition (and no
    ``definitions``): the same meaning, each reference resolved once instead of at every
    value."""
    definitions = schema.get("definitions", {})

    def inline(node: Any) -> Any:
        if isinstance(node, list):
            return [inline(item) for item in node]
        if not isinstance(node, dict):
            return node
        if "$ref" in node:  # draft 7: the siblings of $ref are ignored
            return inline(definitions[node["$ref"].removeprefix("#/definitions/")])
        return {key: inline(value) for key, value in node.items() if key != "definitions"}

    return inline(schema)


def _fail(name: str, message: str, rule: str, value: Any, definition: Any) -> None:
    raise SchemaError(name, message, rule, value, definition)


def _node(schema: Any) -> Check:
    """The check of one (sub)schema, its keywords in fastjsonschema's order."""
    if schema is True or schema == {}:
        return lambda value, name: None
    if schema is False:
        return lambda value, name: _fail(name, "must not be there", "not", value, False)
    unknown = set(schema) - ANNOTATIONS - set(_ORDER)
    if unknown:
        raise ValueError(f"schema keyword(s) not supported: {sorted(unknown)}")
    checks = [_KEYWORDS[key](schema[key], schema) for key in _ORDER if key in schema]
    checks = [check for check in checks if check is not None]
    if not checks:
        return lambda value, name: None
    if len(checks) == 1:
        return checks[0]

    def check(value: Any, name: str) -> None:
        for one in checks:
            one(value, name)
    return check


_PLAIN = {"object": dict, "array": list, "string": str, "null": type(None), "boolean": bool}
"""Types a single `type(value) is ...` decides (JSON values are exactly these)."""


def _type(kinds: Any, _: dict) -> Check:
    names = kinds if isinstance(kinds, list) else [kinds]
    tests = [_TYPES[kind] for kind in names]
    words = f"must be {' or '.join(names)}"
    if all(kind in _PLAIN for kind in names):
        exact = frozenset(_PLAIN[kind] for kind in names)

        def plain(value: Any, name: str) -> None:
            if type(value) not in exact and not any(test(value) for test in tests):
                _fail(name, words, "type", value, kinds)
        return plain

    def check(value: Any, name: str) -> None:
        if not any(test(value) for test in tests):
            _fail(name, words, "type", value, kinds)
    return check


def _same(value: Any, expected: Any) -> bool:
    """JSON equality: numbers by value (1 == 1.0), anything else of the same type (1 != true)."""
    if _is_number(value) and _is_number(expected):
        return value == expected
    return type(value) is type(expected) and value == expected


def _enum(options: list, _: dict) -> Check:
    def check(value: Any, name: str) -> None:
        if not any(_same(value, option) for option in options):
            _fail(name, f"must be one of {options}", "enum", value, options)
    return check


def _const(expected: Any, _: dict) -> Check:
    def check(value: Any, name: str) -> None:
        if not _same(value, expected):
            _fail(name, f"must be same as const definition: {expected}", "const", value,
                  expected)
    return check


def _all_of(schemas: list, _: dict) -> Check:
    checks = [_node(s) for s in schemas]

    def check(value: Any, name: str) -> None:
        for one in checks:
            one(value, name)
    return check


def _if(condition: Any, schema: dict) -> Check:
    test = _node(condition)
    then = _node(schema.get("then", True))
    otherwise = _node(schema.get("else", True))

    def check(value: Any, name: str) -> None:
        try:
            test(value, name)
        except SchemaError:
            otherwise(value, name)
        else:
            then(value, name)
    return check


def _string(rule: str, test: Callable[[str, Any], bool], words: str) -> Callable:
    def build(bound: Any, _: dict) -> Check:
        def check(value: Any, name: str) -> None:
            if isinstance(value, str) and not test(value, bound):
                _fail(name, words.format(bound), rule, value, bound)
        return check
    return build


def _pattern(expression: str, _: dict) -> Check:
    compiled = re.compile(expression)

    def check(value: Any, name: str) -> None:
        if isinstance(value, str) and not compiled.search(value):
            _fail(name, f"must match pattern {expression}", "pattern", value, expression)
    return check


def _bound(rule: str, holds: Callable[[Any, Any], bool], words: str) -> Callable:
    def build(bound: Any, _: dict) -> Check:
        def check(value: Any, name: str) -> None:
            if _is_number(value) and not holds(value, bound):
                _fail(name, words.format(bound), rule, value, bound)
        return check
    return build


def _max_items(bound: int, _: dict) -> Check:
    def check(value: Any, name: str) -> None:
        if isinstance(value, list) and len(value) > bound:
            _fail(name, f"must contain less than or equal to {bound} items", "maxItems",
                  value, bound)
    return check


def _items(schema: Any, _: dict) -> Check:
    if isinstance(schema, list):
        raise ValueError("schema keyword items as a list is not supported")
    one = _node(schema)

    def check(value: Any, name: str) -> None:
        if isinstance(value, list):
            for index, item in enumerate(value):
                one(item, f"{name}[{index}]")
    return check


def _max_properties(bound: int, _: dict) -> Check:
    def check(value: Any, name: str) -> None:
        if isinstance(value, dict) and len(value) > bound:
            _fail(name, f"must contain less than or equal to {bound} properties",
                  "maxProperties", value, bound)
    return check


def _required(keys: list, _: dict) -> Check:
    def check(value: Any, name: str) -> None:
        if isinstance(value, dict) and not all(key in value for key in keys):
            _fail(name, f"must contain {keys} properties", "required", value, keys)
    return check


def _properties(schemas: dict, _: dict) -> Check:
    checks = {key: _node(schema) for key, schema in schemas.items()}

    def check(value: Any, name: str) -> None:
        if isinstance(value, dict):
            for key, one in checks.items():
                if key in value:
                    one(value[key], f"{name}.{key}")
    return check


def _additional(schema: Any, whole: dict) -> Check:
    declared = set(whole.get("properties", {}))
    if schema is False:
        def refuse(value: Any, name: str) -> None:
            if isinstance(value, dict):
                extra = [key for key in value if key not in declared]
                if extra:
                    _fail(name, f"must not contain {set(extra)} properties",
                          "additionalProperties", value, False)
        return refuse
    one = _node(schema)

    def check(value: Any, name: str) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                if key not in declared:
                    one(item, f"{name}.{key}")
    return check


def _property_names(schema: Any, _: dict) -> Check:
    one = _node(schema)

    def check(value: Any, name: str) -> None:
        if isinstance(value, dict):
            for key in value:
                try:
                    one(key, name)
                except SchemaError:
                    _fail(name, "must be named by propertyName definition", "propertyNames",
                          value, schema)
    return check


_KEYWORDS: dict[str, Callable[[Any, dict], Check | None]] = {
    "type": _type,
    "enum": _enum,
    "allOf": _all_of,
    "minLength": _string("minLength", lambda v, n: len(v) >= n,
                         "must be longer than or equal to {} characters"),
    "maxLength": _string("maxLength", lambda v, n: len(v) <= n,
                         "must be shorter than or equal to {} characters"),
    "pattern": _pattern,
    "minimum": _bound("minimum", lambda v, b: v >= b, "must be bigger than or equal to {}"),
    "maximum": _bound("maximum", lambda v, b: v <= b, "must be smaller than or equal to {}"),
    "maxItems": _max_items,
    "items": _items,
    "maxProperties": _max_properties,
    "required": _required,
    "properties": _properties,
    "additionalProperties": _additional,
    "propertyNames": _property_names,
    "const": _const,
    "if": _if,
    "then": lambda schema, whole: None,  # part of `if`
    "else": lambda schema, whole: None,
}
_ORDER = tuple(_KEYWORDS)


def compile_schema(schema: dict[str, Any]) -> Callable[[Any], None]:
    """A function that raises `SchemaError` for the first problem of a value (and returns
    None for a valid one); local `$ref`s are resolved once, here."""
    check = _node(inline_refs(schema))

    def validate(value: Any) -> None:
        check(value, "data")
    return validate
