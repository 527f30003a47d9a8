"""Finding trace files and reading each with the right parser."""

from __future__ import annotations

import os

from analysis.artifact_csv import csv_path_for, enrich_from_csv
from analysis.errors import InputError
from analysis.parse_json import parse_json
from analysis.parse_text import parse_text
from analysis.trace import NO_MITIGATION, Trace, read_trace_bytes

TRACE_SUFFIXES = (".json", ".txt")
MITIGATED = "mitigated"
"""A mitigation campaign's folder of the runs with a preset: mitigated/<preset>/<job>/."""


def load_trace(path: str, num_classes: int = 10, csv_dir: str | None = None) -> Trace:
    """Read one trace file, choosing the parser by content (JSON starts with '{')."""
    probe = Trace(
        path=path, fmt="unknown", id=os.path.splitext(os.path.basename(path))[0], kind="injection"
    )
    data = read_trace_bytes(probe)
    if data is None:
        return probe
    if path.endswith(".json") or data.lstrip()[:1] == b"{":
        return parse_json(path, data)
    trace = parse_text(path, data, num_classes=num_classes)
    if csv_dir is not None:
        csv_file = csv_path_for(path, csv_dir)
        if csv_file is not None:
            enrich_from_csv(trace, csv_file)
    return trace


def folder_preset(path: str) -> str | None:
    """The preset whose folder holds a trace (`.../mitigated/<preset>/<job>/<file>`, or
    `.../mitigated/<preset>/<file>`), None elsewhere."""
    parts = os.path.abspath(path).split(os.sep)
    for depth in (4, 3):
        if len(parts) > depth and parts[-depth] == MITIGATED:
            return parts[-depth + 1]
    return None


def file_by_folder(trace: Trace) -> Trace:
    """A trace in a preset's folder is a run of that preset: a damaged one that names none
    (cut off before its mitigation record) takes the folder's, so it is counted (incomplete)
    with its preset and not as a second run without mitigation; one that names another
    preset, or a complete one that names none, is misfiled: refused."""
    preset = folder_preset(trace.path)
    if preset is None:
        return trace
    where = f"the trace is in the folder of preset {preset!r} ({MITIGATED}/{preset}/)"
    if trace.detections is not None or trace.mitigation != NO_MITIGATION:
        if trace.mitigation != preset:
            raise InputError(trace.path, "mitigation.preset", f"{trace.mitigation!r}, but {where}")
    elif trace.complete:
        raise InputError(trace.path, "mitigation", f"none recorded, but {where}")
    trace.mitigation = preset
    return trace


def _is_trace_name(name: str) -> bool:
    # Hidden files are never traces: writers use ".<name>.<random>.tmp" until the rename.
    return name.endswith(TRACE_SUFFIXES) and not name.startswith(".")


def _unreadable(error: OSError) -> None:
    """A sub-folder that cannot be listed is refused, never skipped: its runs would silently
    be missing from the table (and a status would count them as done)."""
    raise InputError(error.filename or "?", None, f"cannot list: {error.strerror}")


def _trace_files_in(folder: str, recursive: bool) -> tuple[list[str], int]:
    """Trace files of one folder (and its sub-folders), sorted; a run written in both formats
    is listed once, as its JSON record. Returns the paths and the text duplicates skipped."""
    files: list[str] = []
    skipped = 0
    walk = (os.walk(folder, onerror=_unreadable) if recursive
            else [(folder, [], os.listdir(folder))])
    for root, dirs, names in walk:
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        names = sorted(n for n in names if _is_trace_name(n))
        stems_with_json = {n[:-5] for n in names if n.endswith(".json")}
        for name in names:
            if name.endswith(".txt") and name[:-4] in stems_with_json:
                skipped += 1
                continue
            path = os.path.join(root, name)
            if recursive and not os.path.isfile(path):
                continue
            files.append(path)
    return files, skipped


def discover_traces(inputs: list[str], recursive: bool = False) -> tuple[list[str], int]:
    """Expand directories into their trace files (sorted; sub-folders too when recursive).

    A run written in both formats (``X.json`` and ``X.txt`` in one directory) is read once,
    from the JSON record. Returns the paths and how many text duplicates were skipped.
    """
    out: list[str] = []
    seen: set[str] = set()
    skipped = 0
    for item in inputs:
        if os.path.isdir(item):
            try:
                files, n = _trace_files_in(item, recursive)
            except OSError as exc:
                raise InputError(item, None, f"cannot list: {exc.strerror}") from exc
            skipped += n
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
