"""Output paths checked before any work, and directories replaced whole.

Every command checks its outputs first (right kind, a writable place, not one of its inputs),
so a bad path costs one line and no computation; files are then written under a temporary name
and renamed (``fi_formats.atomic``), and a directory of outputs is built beside its final place
and renamed into it, so an interrupted command leaves nothing half-written.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

from analysis.errors import InputError
from fi_formats.signals import signals_deferred


def _writable_place(path: Path, option: str) -> None:
    """The nearest existing ancestor of ``path`` is a directory this process can write."""
    parent = path.parent
    while not parent.exists():
        if parent == parent.parent:
            break
        parent = parent.parent
    if not parent.is_dir():
        raise InputError(str(path), option, f"{parent} is not a directory")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise InputError(str(path), option, f"cannot write in {parent} (permission denied)")


def check_output_file(path: str, option: str) -> None:
    """``path`` can be written as a file: not a directory, in a writable place."""
    p = Path(path)
    if path == "" or p.name in ("", ".", ".."):
        raise InputError(path or "''", option, "not a file name")
    if p.is_dir():
        raise InputError(path, option, "is a directory, not a file")
    if p.exists() and not p.is_file():
        raise InputError(path, option, "exists and is not a regular file")
    _writable_place(p, option)


def check_output_dir(path: str, option: str) -> None:
    """``path`` can be (re)made as a directory: not a file, in a writable place."""
    p = Path(path)
    if path == "" or p.name in ("", ".", ".."):
        raise InputError(path or "''", option, "not a directory name that can be replaced")
    if p.exists() and not p.is_dir():
        raise InputError(path, option, "exists and is not a directory")
    _writable_place(p, option)


def check_distinct(outputs: Mapping[str, str | None], inputs: Sequence[str] = ()) -> None:
    """No output is an input or another output (one would overwrite the other)."""
    seen: dict[str, str] = {os.path.realpath(p): "an input" for p in inputs}
    for option, path in outputs.items():
        if path is None:
            continue
        key = os.path.realpath(path)
        if key in seen:
            raise InputError(path, option, f"is also {seen[key]}: refusing to overwrite it")
        seen[key] = f"the {option} output"


@contextlib.contextmanager
def replaced_dir(target: str) -> Iterator[Path]:
    """Yield a new empty directory beside ``target``; on success it replaces ``target``.

    On failure (an exception, an interrupt) the new directory is removed and ``target`` keeps
    what it had.
    """
    final = Path(target)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp: Path | None = None
    try:
        with signals_deferred():
            tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent))
        yield tmp
        os.chmod(tmp, 0o755)
        if final.is_dir():
            old = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".old", dir=final.parent))
            os.replace(final, old / final.name)
            os.replace(tmp, final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, final)
    finally:
        if tmp is not None and tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
