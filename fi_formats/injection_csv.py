"""The injection CSV's grammar: one reader and one writer of its rows, for the engine (which
checks every row against the workload) and the analysis (which reads a text trace's CSV).

A CSV is rows `key,value[,value...]` (the artifact's two-column layout, a key with several
values for positions). The reader is strict and total: any bytes give the rows or one
`CsvError` (file, key, reason), never another exception. Text is UTF-8 (a BOM is tolerated)
without NUL characters; spaces and tabs around a field are ignored, trailing empty fields of
a row are dropped, empty rows are skipped; a key may appear once; a field is at most
`MAX_FIELD_CHARS` long, a file at most `MAX_FILE_BYTES`.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from fi_formats.oneline import shown

MAX_FILE_BYTES = 64 * 2**20
"""A CSV larger than this is refused unread (a million listed positions take about 16 MB)."""
MAX_FIELD_CHARS = 256
SPACE = " \t"

Rows = dict[str, list[str]]


class CsvError(ValueError):
    """A CSV that cannot be read: which file, which key (or "file"), why. Each side reports
    it in its own error type (`fi_core.spec.errors.BadInput`, `analysis.errors.InputError`)."""

    def __init__(self, source: str, key: str, reason: str) -> None:
        super().__init__(source, key, reason)
        self.source = source
        self.key = key
        self.reason = reason

    def __str__(self) -> str:
        return f"{self.source}: {self.key}: {self.reason}"


def read_bytes(path: Path, source: str, limit: int = MAX_FILE_BYTES) -> bytes:
    """The bytes of a regular file of at most `limit` bytes (else CsvError)."""
    try:
        regular, exists = path.is_file(), path.exists()
        if regular:
            with path.open("rb") as handle:
                data = handle.read(limit + 1)
    except (OSError, ValueError) as error:  # ValueError: a NUL in the path
        reason = getattr(error, "strerror", None) or shown(str(error))
        raise CsvError(source, "file", reason) from None
    if not regular:
        raise CsvError(source, "file",
                       "not a regular file" if exists else "No such file or directory")
    if len(data) > limit:
        raise CsvError(source, "file", f"larger than {limit} bytes")
    return data


def decode(data: bytes, source: str) -> str:
    """UTF-8 text (a BOM dropped) without NUL characters, else CsvError."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise CsvError(source, "file", f"not UTF-8 text (byte 0x{data[error.start]:02x} at "
                                       f"offset {error.start})") from None
    if "\x00" in text:
        raise CsvError(source, "file", f"contains a NUL character (offset {text.index(chr(0))})")
    return text


def parse_rows(text: str, source: str) -> Rows:
    """The key -> values rows of a CSV's text; keys must be unique."""
    rows: Rows = {}
    try:
        for record in csv.reader(io.StringIO(text, newline=""), strict=True):
            fields = [f.strip(SPACE) for f in record]
            while fields and not fields[-1]:
                fields.pop()
            if not fields:
                continue
            key = fields[0]
            for value in fields:
                if len(value) > MAX_FIELD_CHARS:
                    raise CsvError(source, shown(key, 40),
                                   f"a field of {len(value)} characters (at most "
                                   f"{MAX_FIELD_CHARS})")
            if key in rows:
                raise CsvError(source, shown(key), "appears twice")
            rows[key] = fields[1:]
    except csv.Error as error:
        raise CsvError(source, "file", f"not a valid CSV ({shown(str(error))})") from None
    if not rows:
        raise CsvError(source, "file", "empty")
    return rows


def read_rows(path: str | Path, source: str | None = None) -> Rows:
    """The rows of the CSV file at `path`; `source` names it in errors (default: the path,
    escaped)."""
    source = shown(str(path)) if source is None else source
    return parse_rows(decode(read_bytes(Path(path), source), source), source)


def render(rows: Rows) -> str:
    """CSV text in the artifact's two-column layout (key, then its values). What `read_rows`
    gives back is `rows` for every field without a carriage return (the csv module quotes
    one only when it ends lines with it; no field the engine writes has one)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    for key, values in rows.items():
        writer.writerow([key, *values])
    return out.getvalue()
