"""Finding trace files and reading each with the right parser."""

from __future__ import annotations

import os

from analysis.artifact_csv import csv_path_for, enrich_from_csv
from analysis.errors import InputError
from analysis.parse_json import parse_json
from analysis.parse_text import parse_text
from analysis.trace import Trace

TRACE_SUFFIXES = (".json", ".txt")


def load_trace(path: str, num_classes: int = 10, csv_dir: str | None = None) -> Trace:
    """Read one trace file, choosing the parser by content (JSON starts with '{')."""
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError as exc:
        trace = Trace(
            path=path,
            fmt="unknown",
            id=os.path.splitext(os.path.basename(path))[0],
            kind="injection",
        )
        trace.problem(f"cannot read: {exc.strerror}")
        return trace
    if path.endswith(".json") or data.lstrip()[:1] == b"{":
        return parse_json(path, data)
    trace = parse_text(path, data, num_classes=num_classes)
    if csv_dir is not None:
        csv_file = csv_path_for(path, csv_dir)
        if csv_file is not None:
            enrich_from_csv(trace, csv_file)
    return trace


def discover_traces(inputs: list[str]) -> tuple[list[str], int]:
    """Expand directories into their trace files (sorted, not recursive).

    A run written in both formats (``X.json`` and ``X.txt`` in one directory) is read once,
    from the JSON record. Returns the paths and how many text duplicates were skipped.
    """
    out: list[str] = []
    seen: set[str] = set()
    skipped = 0
    for item in inputs:
        if os.path.isdir(item):
            names = sorted(n for n in os.listdir(item) if n.endswith(TRACE_SUFFIXES))
            stems_with_json = {n[:-5] for n in names if n.endswith(".json")}
            files = []
            for name in names:
                if name.endswith(".txt") and name[:-4] in stems_with_json:
                    skipped += 1
                    continue
                files.append(os.path.join(item, name))
        elif os.path.isfile(item):
            files = [item]
        else:
            raise InputError(item, None, "no such file or directory")
        for f in files:
            key = os.path.abspath(f)
            if key not in seen:
                seen.add(key)
                out.append(f)
    return out, skipped


def golden_files(inputs: list[str]) -> list[str]:
    """Golden traces given as files or as golden output directories (trace.json, else trace.txt)."""
    out = []
    for item in inputs:
        if os.path.isdir(item):
            for name in ("trace.json", "trace.txt"):
                candidate = os.path.join(item, name)
                if os.path.isfile(candidate):
                    out.append(candidate)
                    break
            else:
                raise InputError(item, "golden", "directory without trace.json or trace.txt")
        elif os.path.isfile(item):
            out.append(item)
        else:
            raise InputError(item, "golden", "no such file or directory")
    return out
