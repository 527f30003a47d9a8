"""The classification thresholds as one immutable mapping, built from the registry's table.

`Thresholds(tol_min=0.05)` takes any registered threshold by name (a plugin's too), fills in
the defaults and checks every value as its option would (one InputError naming the option);
`t.tol_min` and `t["tol_min"]` read it. It pickles as its plain values, so worker processes
get it before they load the plugins that declare some of them.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from analysis.rules import registry


class Thresholds(Mapping[str, Any]):
    """Classification thresholds (command-line options; defaults as in docs/analysis.md)."""

    __slots__ = ("_values",)

    def __init__(self, **values: Any) -> None:
        table = registry.thresholds()
        known = {t.name for t in table}
        for name in values:
            if name not in known:
                raise TypeError(f"Thresholds() got an unexpected keyword argument {name!r}")
        checked = {t.name: t.check(values.get(t.name, t.default), t.option) for t in table}
        object.__setattr__(self, "_values", checked)

    @classmethod
    def _restored(cls, values: dict[str, Any]) -> Thresholds:
        self = cls.__new__(cls)
        object.__setattr__(self, "_values", dict(values))
        return self

    def __reduce__(self) -> tuple[Any, ...]:
        return (Thresholds._restored, (dict(self._values),))

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):  # _values itself, while unpickling
            raise AttributeError(name)
        try:
            return self._values[name]
        except KeyError:
            raise AttributeError(f"no threshold {name!r}") from None

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("Thresholds are immutable")

    def __getitem__(self, name: str) -> Any:
        return self._values[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __hash__(self) -> int:
        return hash(tuple(self._values.items()))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Thresholds):
            return self._values == other._values
        return NotImplemented if not isinstance(other, Mapping) else dict(self) == dict(other)

    def __repr__(self) -> str:
        inner = ", ".join(f"{k}={v!r}" for k, v in self._values.items())
        return f"Thresholds({inner})"
