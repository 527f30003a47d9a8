"""Arrow schemas of the results and curves tables, and their batched Parquet writers.

Rows are buffered and written a batch at a time, so memory does not grow with the number of
traces; the outcome column is filled per batch by the vectorised classifier.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from analysis.columns import CURVE_COLUMNS, RESULT_COLUMNS
from analysis.errors import InputError
from analysis.outcomes import Thresholds, classify_rows
from analysis.rules import registry
from analysis.trace import Curves

_TYPES: dict[str, pa.DataType] = {
    "string": pa.string(),
    "bool": pa.bool_(),
    "int32": pa.int32(),
    "int64": pa.int64(),
    "float64": pa.float64(),
    "list<int64>": pa.list_(pa.int64()),
    "list<list<int64>>": pa.list_(pa.list_(pa.int64())),
    "list<float64>": pa.list_(pa.float64()),
    "list<string>": pa.list_(pa.string()),
}

RESULT_SCHEMA = pa.schema([pa.field(n, _TYPES[t]) for n, t, _ in RESULT_COLUMNS])
_DICT = pa.dictionary(pa.int32(), pa.string())
CURVE_SCHEMA = pa.schema(
    [
        pa.field(n, _DICT if n in ("trace", "id", "run_kind", "level", "metric") else _TYPES[t])
        for n, t, _ in CURVE_COLUMNS
    ]
)
METADATA_KEY = b"fi_analysis"


def current_schema() -> pa.Schema:
    """The results schema with the plugins' feature columns (analysis.rules) after the
    built-in ones: RESULT_SCHEMA itself when no plugin adds any."""
    extra = [pa.field(f.name, _TYPES[f.dtype]) for f in registry.computed_features()]
    return pa.schema([*RESULT_SCHEMA, *extra]) if extra else RESULT_SCHEMA


def rows_to_table(rows: list[dict[str, Any]], thresholds: Thresholds | None = None) -> pa.Table:
    """Build an Arrow table from summary rows; classify them unless they carry an outcome."""
    if rows and any(row["outcome"] is None for row in rows):
        labels = classify_rows(rows, thresholds)
        rows = [{**row, "outcome": str(label)} for row, label in zip(rows, labels, strict=True)]
    schema = current_schema()
    arrays = [pa.array([row[f.name] for row in rows], type=f.type) for f in schema]
    return pa.Table.from_arrays(arrays, schema=schema)


class BufferedWriter:
    """Append Arrow tables to a Parquet file, in row groups of about ``group_rows`` rows.

    Memory holds at most one row group, whatever the number of traces.
    """

    def __init__(self, path: Path, schema: pa.Schema, group_rows: int = 65536) -> None:
        self._writer = pq.ParquetWriter(path, schema, compression="zstd")
        self._schema = schema
        self._pending: list[pa.Table] = []
        self._pending_rows = 0
        self._group_rows = group_rows
        self.n_rows = 0

    def add(self, table: pa.Table) -> None:
        self._pending.append(table.replace_schema_metadata(self._schema.metadata))
        self._pending_rows += table.num_rows
        self.n_rows += table.num_rows
        if self._pending_rows >= self._group_rows:
            self.flush()

    def flush(self) -> None:
        if self._pending:
            self._writer.write_table(
                pa.concat_tables(self._pending),
                row_group_size=max(self._group_rows, self._pending_rows),
            )
        self._pending = []
        self._pending_rows = 0

    def close(self) -> None:
        self.flush()
        self._writer.close()


def results_schema(metadata: dict[str, Any]) -> pa.Schema:
    """The results schema with provenance (thresholds, golden runs) in its metadata."""
    return current_schema().with_metadata({METADATA_KEY: json.dumps(metadata, sort_keys=True)})


def _dict_array(values: list[str], index: np.ndarray) -> pa.DictionaryArray:
    return pa.DictionaryArray.from_arrays(pa.array(index, type=pa.int32()), pa.array(values))


_STEP_METRICS = ("loss", "accuracy")
_EPOCH_METRICS = ("train_loss", "train_accuracy", "test_loss", "test_accuracy")


def curves_table(runs: list[tuple[str, str, str, Curves, int]]) -> pa.Table:
    """Long table of (trace, id, run_kind, curves, steps_per_epoch) runs, vectorised per batch.

    Rows: for every step a `loss` and an `accuracy` row, for every epoch end the four epoch
    metrics.
    """
    kinds = sorted({r[2] for r in runs})
    ns = np.array([r[3].step_loss.size for r in runs], dtype=np.int64)
    ne = np.array([r[3].epoch.size for r in runs], dtype=np.int64)
    spe = np.array([r[4] for r in runs], dtype=np.int64)
    kind = np.array([kinds.index(r[2]) for r in runs], dtype=np.int32)

    def cat(attr: str, dtype: type) -> np.ndarray:
        arrays = [getattr(r[3], attr) for r in runs]
        return np.concatenate(arrays).astype(dtype) if arrays else np.zeros(0, dtype)

    s_run = np.repeat(np.arange(len(runs), dtype=np.int32), ns)
    e_run = np.repeat(np.arange(len(runs), dtype=np.int32), ne)
    s_epoch, s_step = cat("step_epoch", np.int32), cat("step_step", np.int32)
    e_epoch = cat("epoch", np.int32)
    s_global = s_epoch.astype(np.int64) * spe[s_run] + s_step
    e_global = (e_epoch.astype(np.int64) + 1) * spe[e_run] - 1
    n_s, n_e = s_run.size, e_run.size
    run = np.concatenate([np.tile(s_run, 2), np.tile(e_run, 4)])
    metric = np.repeat(np.arange(6, dtype=np.int32), [n_s, n_s, n_e, n_e, n_e, n_e])
    step = np.concatenate([np.tile(s_step, 2), np.zeros(4 * n_e, dtype=np.int32)])
    values = np.concatenate(
        [
            cat(a, np.float64)
            for a in (
                "step_loss",
                "step_accuracy",
                "train_loss",
                "train_accuracy",
                "test_loss",
                "test_accuracy",
            )
        ]
    )
    columns = {
        "trace": _dict_array([r[0] for r in runs], run),
        "id": _dict_array([r[1] for r in runs], run),
        "run_kind": _dict_array(kinds, kind[run] if run.size else run),
        "level": _dict_array(["epoch", "step"], (metric < 2).astype(np.int32)),
        "epoch": pa.array(np.concatenate([np.tile(s_epoch, 2), np.tile(e_epoch, 4)])),
        "step": pa.array(step, mask=metric >= 2),
        "global_step": pa.array(np.concatenate([np.tile(s_global, 2), np.tile(e_global, 4)])),
        "metric": _dict_array([*_STEP_METRICS, *_EPOCH_METRICS], metric),
        "value": pa.array(values),
    }
    # from_arrays, not pa.table(dict): the latter imports pandas (slow in a fresh worker).
    return pa.Table.from_arrays([columns[f.name] for f in CURVE_SCHEMA], schema=CURVE_SCHEMA)


def read_results(path: str, columns: list[str] | None = None) -> Any:  # pd.DataFrame
    """Read (some columns of) a results table as a pandas DataFrame, with clear errors.

    The file must be a results table: every column asked for present, with its type.
    """
    try:
        schema = pq.read_schema(path)
    except (OSError, pa.ArrowException) as exc:
        raise InputError(path, None, f"cannot read the results table: {exc}") from exc
    known = current_schema()
    wanted = list(columns) if columns is not None else list(known.names)
    for name in wanted:
        if name not in schema.names:
            raise InputError(path, name, "no such column in the results table")
        expected = known.field(name).type if name in known.names else None
        found = schema.field(name).type
        if expected is not None and found != expected:
            raise InputError(
                path, name, f"has type {found}, a results table has {expected}: wrong table?"
            )
    import pandas as pd  # only readers need pandas (not the ingest workers)

    nullable = {pa.int32(): pd.Int32Dtype(), pa.int64(): pd.Int64Dtype()}
    try:
        df = pq.read_table(path, columns=columns).to_pandas(types_mapper=nullable.get)
    except (OSError, pa.ArrowException) as exc:
        raise InputError(path, None, f"cannot read the results table: {exc}") from exc
    if len(df) == 0:
        raise InputError(path, None, "the results table has no experiments (empty campaign)")
    return df


def table_metadata(path: str) -> dict[str, Any]:
    """The provenance stored by collect (thresholds, golden runs)."""
    meta = pq.read_schema(path).metadata or {}
    raw = meta.get(METADATA_KEY)
    return json.loads(raw) if raw else {}
