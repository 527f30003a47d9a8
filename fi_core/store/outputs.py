"""Where `fi-core inject` writes, checked before any work: a folder it can write in, outside the
golden run, and one plain trace name per CSV that overwrites none of the inputs."""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path

from fi_core.spec.errors import BadInput
from fi_core.spec.injection import Injection
from fi_core.store import files

GOLDEN_MARK = "workload.json"
"""A folder holding this is a golden run (fi_core.store.golden.WORKLOAD_FILE)."""
TRACE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+-]{0,127}")
"""A trace is named after its CSV's stem (`<stem>.txt`, `<stem>.json`): a plain file name, no
separators, spaces, control characters or leading dot, at most 128 characters."""


def trace_paths(out_dir: Path, label: str) -> tuple[Path, Path]:
    """The text and JSON trace of a run."""
    return out_dir / f"{label}.txt", out_dir / f"{label}.json"


def check_trace_dir(golden_dir: Path, out_dir: Path, option: str = "--out-dir") -> None:
    """Refuse, before anything runs, a folder for traces (`option`) that is not a writable
    folder or lies in, or holds, a golden run."""
    files.check_output_dir(out_dir, option)
    if files.inside(out_dir, golden_dir):
        raise BadInput(str(out_dir), option, f"is inside the golden run {golden_dir}: "
                                             "traces would change it")
    if (out_dir / GOLDEN_MARK).exists():
        raise BadInput(str(out_dir), option, "holds a golden run: traces would change it")


def check_inject(hits: Sequence[Injection], golden_dir: Path, out_dir: Path) -> None:
    """`check_trace_dir`, and refuse a CSV whose stem is not a plain name or whose trace would
    overwrite a CSV."""
    check_trace_dir(golden_dir, out_dir)
    inputs = {os.path.realpath(hit.source) for hit in hits}
    for hit in hits:
        if not TRACE_NAME.fullmatch(hit.label):
            raise BadInput(hit.source, "file", f"its name {hit.label[:60]!r} names the trace: "
                                               f"it must match {TRACE_NAME.pattern}")
        for path in trace_paths(out_dir, hit.label):
            if os.path.realpath(path) in inputs:
                raise BadInput(str(path), "--out-dir", "the trace would overwrite an input CSV")



def observe_label(golden_dir: Path) -> str:
    """The name of an observe run's traces: the golden folder's own name, also when it is given
    as `.` or `..` (never an empty name, which would write hidden `.txt` and `.json` files)."""
    name = Path(os.path.abspath(golden_dir)).name
    if not TRACE_NAME.fullmatch(name):
        raise BadInput(str(golden_dir), "--golden", f"its folder name {name[:60]!r} names the "
                                                    f"trace: it must match {TRACE_NAME.pattern}")
    return name
