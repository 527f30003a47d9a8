"""The strict grammar of numbers written as text (a CSV field, a `--set` value, an option).

ASCII only: Python's `int` and `float` also take `1_9`, other scripts' digits, `nan`, `inf` and
surrounding whitespace, none of which a file of this project means. Two lengths of the same
grammar: a field the reader has already bounded (a CSV field: at most a few hundred characters)
is matched as it is; free text (an option, a `--set` value) is bounded here, so that `int` and
`float` are never run on thousands of digits.
"""

from __future__ import annotations

import re

INTEGER = re.compile(r"[+-]?[0-9]+")
"""An integer: ASCII digits with an optional sign."""
DECIMAL = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
"""A float: ASCII decimal or exponent notation (no `nan`, `inf`, `_`, `0x`)."""

BOUNDED_INTEGER = re.compile(r"[+-]?[0-9]{1,19}")
"""INTEGER of at most 19 digits: everything within int64, nothing much beyond it."""
BOUNDED_DECIMAL = re.compile(r"[+-]?(?:[0-9]{1,400}(?:\.[0-9]{0,400})?|\.[0-9]{1,400})"
                             r"(?:[eE][+-]?[0-9]{1,4})?")
"""DECIMAL of at most 400 digits each side of the point and a 4-digit exponent."""
