"""Atomic output files: written under a temporary name in the same folder, then renamed.

A killed job leaves the old file or the new one, never half of one, and an interrupted command
leaves no temporary file behind either. `write_all_or_none` writes a group of files (a trace
pair) so that a failure leaves none of them; `atomic_path` hands a temporary path to code that
writes it itself (a table, a figure).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

from fi_formats.signals import signals_deferred


def _temporary_beside(path: Path) -> tuple[int, Path]:
    """A new empty temporary file beside `path` (its folder made if need be): (fd, name),
    created and named at once or not at all."""
    path.parent.mkdir(parents=True, exist_ok=True)
    made: tuple[int, Path] | None = None
    try:
        with signals_deferred():  # a held signal is raised as the block ends: made is set
            fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
            made = fd, Path(tmp)
    except BaseException:
        if made is not None:
            os.close(made[0])
            made[1].unlink(missing_ok=True)
        raise
    return made


def _write_temporary(path: Path, data: str | bytes) -> Path:
    """`data` in a new temporary file beside `path`, fsynced (removed again if that fails)."""
    payload = data.encode() if isinstance(data, str) else data
    tmp = None
    try:
        fd, tmp = _temporary_beside(path)
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)  # mkstemp's 0600 would hide results from a group
        return tmp
    except BaseException:
        if tmp is not None:
            tmp.unlink(missing_ok=True)
        raise


def write_atomic(path: Path, data: str | bytes) -> None:
    """Write to a temporary file in the same folder, fsync, then rename over `path`."""
    write_all_or_none([(path, data)])


def write_all_or_none(items: Sequence[tuple[Path, str | bytes]]) -> None:
    """Write every file under a temporary name first, then rename them into place in order:
    a full disk or any other failure while writing leaves none of them (a trace pair is both
    files or neither; a rename needs no space)."""
    written: list[tuple[Path, Path]] = []
    renamed: list[Path] = []
    try:
        for path, data in items:
            written.append((_write_temporary(path, data), path))
        with signals_deferred():
            for tmp, path in written:
                os.replace(tmp, path)
                renamed.append(path)
    except BaseException:
        for tmp, _ in written:
            tmp.unlink(missing_ok=True)
        if len(renamed) < len(items):
            for path in renamed:
                path.unlink(missing_ok=True)
        raise


def replace_dir(tmp_dir: Path, final: Path) -> None:
    """Move a fully written folder into place, replacing an older one."""
    with signals_deferred():
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp_dir, final)


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path next to ``target``; rename it onto ``target`` on success."""
    target = Path(target)
    tmp_path: Path | None = None
    try:
        fd, tmp_path = _temporary_beside(target)
        os.close(fd)
        yield tmp_path
        os.chmod(tmp_path, 0o644)
        os.replace(tmp_path, target)
    finally:
        if tmp_path is not None and tmp_path.exists():
            tmp_path.unlink()


def write_text_atomic(target: str | os.PathLike[str], text: str) -> None:
    """Write a UTF-8 text file atomically."""
    with atomic_path(target) as tmp:
        tmp.write_text(text, encoding="utf-8")
