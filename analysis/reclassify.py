"""Re-classify a results table with other thresholds (or rules), without its traces.

Every rule reads only feature columns of the table (analysis.rules), so a new threshold needs
no re-collection: the outcome column is recomputed, the rest of the table is copied as it is,
and the thresholds recorded in its metadata are the new ones.
"""

from __future__ import annotations

import json

from analysis.errors import InputError
from analysis.outcomes import Thresholds, classify_arrow
from fi_formats.atomic import atomic_path


def reclassify(path: str, out: str, thresholds: Thresholds) -> dict[str, int]:
    """Write `out`, `path` with its outcomes recomputed; returns the counts per outcome."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from analysis.table import METADATA_KEY, table_metadata

    try:
        table = pq.read_table(path)
        metadata = table_metadata(path)
    except (OSError, pa.ArrowException, ValueError) as exc:
        raise InputError(path, None, f"cannot read the results table: {exc}") from None
    if "outcome" not in table.column_names:
        raise InputError(path, "outcome", "no such column in the results table")
    if table.num_rows == 0:
        raise InputError(path, None, "the results table has no experiments (empty campaign)")
    labels = classify_arrow(table, thresholds)
    i = table.column_names.index("outcome")
    table = table.set_column(i, table.schema.field(i), pa.array(list(labels), pa.string()))
    metadata["thresholds"] = dict(thresholds)
    meta = dict(table.schema.metadata or {})
    meta[METADATA_KEY] = json.dumps(metadata, sort_keys=True).encode()
    table = table.replace_schema_metadata(meta)
    with atomic_path(out) as tmp:
        pq.write_table(table, tmp, compression="zstd")
    counts: dict[str, int] = {}
    for label in labels:
        counts[str(label)] = counts.get(str(label), 0) + 1
    return dict(sorted(counts.items()))
