"""The feature arrays a classification reads: declared features as columns, derived ones on use.

A `Features` holds, for n runs, one numpy array per declared feature (analysis.rules.registry:
floats with NaN for missing, booleans with False, texts with None) and computes a derived
feature (`registry.register_derived`) the first time a rule reads it, so rules share it.
Features come from a pandas DataFrame, a pyarrow Table or summary rows (dicts): the same
columns, so a results table is re-classified with other thresholds without its traces.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any

import numpy as np

from analysis.errors import InputError
from analysis.rules import registry


def names() -> tuple[str, ...]:
    """The columns classification reads (in declaration order)."""
    return tuple(f.name for f in registry.features())


def optional_names() -> tuple[str, ...]:
    return tuple(f.name for f in registry.features() if f.optional)


class Features:
    """Feature arrays by attribute: `f.final_train_accuracy`, `f.nonfinite`, ..."""

    def __init__(self, arrays: dict[str, np.ndarray], thresholds: Any, n: int) -> None:
        self._arrays = arrays
        self._thresholds = thresholds
        self.n = n

    def __getattr__(self, name: str) -> np.ndarray:
        arrays = self.__dict__.get("_arrays")
        if arrays is None:
            raise AttributeError(name)
        if name in arrays:
            return arrays[name]
        compute = registry.derived().get(name)
        if compute is None:
            raise AttributeError(f"no feature {name!r} (analysis.rules.registry declares them)")
        arrays[name] = value = compute(self, self._thresholds)
        return value

    @classmethod
    def from_columns(
        cls,
        columns: Collection[str],
        floats: Callable[[str], np.ndarray],
        bools: Callable[[str], np.ndarray],
        thresholds: Any,
        texts: Callable[[str], np.ndarray] | None = None,
    ) -> Features:
        """Build from accessors returning float arrays (NaN = missing), bool arrays and object
        arrays of strings (None = missing); an optional feature absent is all missing."""
        declared = registry.features()
        missing = [f.name for f in declared if f.name not in columns and not f.optional]
        if missing:
            raise InputError("table", missing[0], "missing column needed for classification")
        n = bools("complete").shape[0]
        arrays: dict[str, np.ndarray] = {}
        for feature in declared:
            present = feature.name in columns and (feature.kind != "text" or texts is not None)
            if feature.kind == "bool":
                arrays[feature.name] = bools(feature.name) if present else np.zeros(n, bool)
            elif feature.kind == "text":
                arrays[feature.name] = (
                    texts(feature.name) if present and texts else np.full(n, None, object)
                )
            else:
                arrays[feature.name] = floats(feature.name) if present else np.full(n, np.nan)
        return cls(arrays, thresholds, n)

    @classmethod
    def from_frame(cls, df: Any, thresholds: Any) -> Features:
        """Build from a pandas DataFrame holding the feature columns."""
        return cls.from_columns(
            list(df.columns),
            lambda name: df[name].to_numpy(dtype=np.float64, na_value=np.nan),
            lambda name: df[name].fillna(False).to_numpy(dtype=bool),
            thresholds,
            lambda name: df[name].astype(object).where(df[name].notna(), None).to_numpy(),
        )

    @classmethod
    def from_arrow(cls, table: Any, thresholds: Any) -> Features:
        """Build from a pyarrow Table holding the feature columns (no pandas needed)."""
        import pyarrow as pa

        return cls.from_columns(
            table.column_names,
            lambda name: table.column(name).cast(pa.float64()).to_numpy(zero_copy_only=False),
            lambda name: table.column(name).fill_null(False).to_numpy(zero_copy_only=False),
            thresholds,
            lambda name: np.asarray(table.column(name).to_pylist(), dtype=object),
        )
