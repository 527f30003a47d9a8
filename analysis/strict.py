"""The one strict reader of numbers from options and files.

Every number the analysis takes from a command-line option or a request (a confidence level, a
margin, a threshold, an interval in seconds, a count) goes through `number` or `integer`:
booleans and strings are not numbers, NaN and infinities are refused, and so is anything
outside the range the caller states, as one InputError naming the option (or file) and field.
The bounds that are not obvious are named here, so the docs can state them.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

from analysis.errors import InputError

MAX_CONFIDENCE = 1.0 - 1e-9
"""The highest confidence level (nine nines): beyond it the normal quantile and the beta and
chi-square quantiles lose every digit, and at 1 - 1e-16 they are infinite."""

MAX_COUNT = 10**15
"""The largest count (a population, a sample size): exact as a double, far beyond a campaign."""


def _shown(value: Any) -> str:
    """A value as the user wrote it (a numpy scalar as a plain number)."""
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        digits = str(int(value))
        return digits if len(digits) <= 30 else f"{digits[:8]}... ({len(digits)} digits)"
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return repr(float(value))
    return repr(value)


def _bound(x: float) -> str:
    return str(int(x)) if float(x).is_integer() and abs(x) < 1e16 else repr(float(x))


def interval(low: float | None, high: float | None, low_open: bool, high_open: bool) -> str:
    """A range as text: "(0, 1)", "[0, 0.5)", "> 0", "<= 86400"."""
    if low is not None and high is not None:
        return (f"{'(' if low_open else '['}{_bound(low)}, "
                f"{_bound(high)}{')' if high_open else ']'}")
    if low is not None:
        return f"{'>' if low_open else '>='} {_bound(low)}"
    if high is not None:
        return f"{'<' if high_open else '<='} {_bound(high)}"
    return "any finite number"


def _inside(v: float, low: float | None, high: float | None, lo_open: bool, hi_open: bool) -> bool:
    if low is not None and (v <= low if lo_open else v < low):
        return False
    return not (high is not None and (v >= high if hi_open else v > high))


def number(
    value: Any,
    where: str,
    field: str | None = None,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
    unit: str = "",
) -> float:
    """`value` as a finite float within the stated range, else InputError(where, field, ...)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InputError(where, field, f"expected a number, got {value!r}")
    try:
        v = float(value)
    except OverflowError:  # an int beyond a double
        v = math.inf
    if not math.isfinite(v):
        raise InputError(where, field, f"expected a finite number, got {_shown(value)}")
    if not _inside(v, low, high, low_open, high_open):
        unit_text = f" {unit}" if unit else ""
        raise InputError(
            where,
            field,
            f"must be in {interval(low, high, low_open, high_open)}{unit_text}, "
            f"got {_shown(value)}",
        )
    return v


def integer(
    value: Any, where: str, field: str | None = None, *, low: int = 0, high: int = MAX_COUNT
) -> int:
    """`value` as an int in [low, high] (a whole float is not an integer: counts are exact)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise InputError(where, field, f"expected an integer, got {value!r}")
    if not low <= int(value) <= high:
        raise InputError(where, field, f"{_shown(value)} is outside [{low}, {high}]")
    return int(value)


def unit_open(value: Any, where: str, field: str | None = None) -> float:
    """A number strictly between 0 and 1 (a margin, a proportion)."""
    return number(value, where, field, low=0.0, high=1.0, low_open=True, high_open=True)


def confidence(value: Any, where: str, field: str | None = None) -> float:
    """A confidence level in (0, MAX_CONFIDENCE]: one whose quantiles are finite numbers."""
    return number(value, where, field, low=0.0, high=MAX_CONFIDENCE, low_open=True)
