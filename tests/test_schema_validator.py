"""fi_formats' own JSON Schema validator: the verdict of jsonschema (the reference
implementation) on every keyword it supports, fastjsonschema's wording of the first problem,
and a refusal of any keyword it does not support."""

from __future__ import annotations

import jsonschema
import pytest

from fi_formats.schema import SchemaError, compile_schema

CASES = [
    ({"type": "integer"}, [3, 3.0, -1, True, 3.5, "3", None]),
    ({"type": ["number", "string"]}, [1, 1.5, "x", False, None, []]),
    ({"type": "object", "required": ["a"], "properties": {"a": {"minimum": 0, "maximum": 1}}},
     [{"a": 0}, {"a": 1.0}, {"a": -0.1}, {"a": 2}, {}, {"a": "text"}, []]),
    ({"enum": [1, "a", None]}, [1, 1.0, True, "a", None, "b"]),
    ({"const": "golden"}, ["golden", "injection", 1]),
    ({"type": "string", "pattern": "^[a-z]{1,3}$(?!\n)", "minLength": 1, "maxLength": 2},
     ["ab", "abc", "", "a\n", 5]),
    ({"type": "array", "maxItems": 2, "items": {"type": "integer"}}, [[1], [1, 2, 3], [1, "x"]]),
    ({"type": "object", "maxProperties": 1, "propertyNames": {"pattern": "^x"},
      "additionalProperties": {"type": "integer"}}, [{"x1": 1}, {"y": 1}, {"x": "s"},
                                                     {"x": 1, "xx": 2}]),
    ({"properties": {"a": {}}, "additionalProperties": False}, [{"a": 1}, {"b": 1}]),
    ({"allOf": [{"if": {"properties": {"kind": {"const": "g"}}, "required": ["kind"]},
                 "then": {"required": ["c"]}, "else": {"required": ["d"]}}]},
     [{"kind": "g", "c": 1}, {"kind": "g"}, {"kind": "i", "d": 1}, {"kind": "i"}]),
    ({"definitions": {"n": {"type": "integer", "minimum": 1}},
      "items": {"$ref": "#/definitions/n"}}, [[1, 2], [0], ["x"]]),
]


@pytest.mark.parametrize(("schema", "values"), CASES)
def test_verdicts_equal_jsonschema(schema, values):
    validate = compile_schema(schema)
    reference = jsonschema.Draft7Validator(schema)
    for value in values:
        try:
            validate(value)
            ours = True
        except SchemaError:
            ours = False
        assert ours == reference.is_valid(value), (schema, value)


@pytest.mark.parametrize(("schema", "value", "message"), [
    ({"properties": {"x": {"maximum": 1}}}, {"x": 2}, "data.x must be smaller than or equal to 1"),
    ({"items": {"minimum": 0}}, [1, -1], "data[1] must be bigger than or equal to 0"),
    ({"required": ["a", "b"]}, {"a": 1}, "data must contain ['a', 'b'] properties"),
    ({"enum": ["a", "b"]}, "c", "data must be one of ['a', 'b']"),
    ({"pattern": "^a$"}, "b", "data must match pattern ^a$"),
    ({"propertyNames": {"pattern": "^x"}}, {"y": 1},
     "data must be named by propertyName definition"),
    ({"type": ["integer", "null"]}, "s", "data must be integer or null"),
])
def test_the_first_problem_is_worded_as_before(schema, value, message):
    with pytest.raises(SchemaError) as caught:
        compile_schema(schema)(value)
    assert caught.value.message == message


def test_an_unsupported_keyword_is_refused_when_compiled():
    with pytest.raises(ValueError, match="not supported: \\['uniqueItems'\\]"):
        compile_schema({"type": "array", "uniqueItems": True})
