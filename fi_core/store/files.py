"""Files in and out: atomic writes (a killed job leaves the old file or the new one, never half
of one; `fi_formats.atomic`), output paths checked before any work, input files read with a
size cap, folder hashes, staging folders.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from fi_core.spec.errors import BadInput

# The atomic writes and the deferred signals are shared with the analysis; re-exported here.
from fi_formats.atomic import replace_dir, write_all_or_none, write_atomic  # noqa: F401
from fi_formats.signals import (  # noqa: F401
    DEFERRED,
    STOP_SIGNALS,
    install_handlers,
    signals_deferred,
)


def hash_dir(folder: Path) -> str:
    """sha256 over the names and bytes of the files of a folder, in sorted order."""
    digest = hashlib.sha256()
    for item in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(item.relative_to(folder).as_posix().encode() + b"\0")
        with item.open("rb") as handle:
            for block in iter(lambda h=handle: h.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


# ---------------------------------------------------------------- inputs
def read_input(path: Path, limit: int, source: str | None = None) -> bytes:
    """The bytes of an input file, refused in one line when it is missing, not a regular file,
    unreadable or larger than `limit` bytes (then it is not read)."""
    source = str(path) if source is None else source
    try:
        if not path.is_file():
            reason = "not a regular file" if path.exists() else "No such file or directory"
            raise BadInput(source, "file", reason)
        with path.open("rb") as handle:
            data = handle.read(limit + 1)
    except (OSError, ValueError) as error:  # ValueError: a NUL in the path
        raise BadInput(source, "file", getattr(error, "strerror", None) or str(error)) from None
    if len(data) > limit:
        raise BadInput(source, "file", f"larger than {limit} bytes")
    return data


# ---------------------------------------------------------------- outputs
def nearest_existing(path: Path) -> Path:
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    return parent


def check_can_write_in(folder: Path, path: Path, option: str) -> None:
    """Create and remove a file in `folder`: the only sure test that this process can write
    there (permissions, a read-only mount, /proc, the root user all answer it the same way)."""
    try:
        fd, probe = tempfile.mkstemp(prefix=".fi-core-probe.", dir=folder)
    except OSError as error:
        raise BadInput(str(path), option, f"cannot write in {folder} "
                                          f"({error.strerror or type(error).__name__})") from None
    os.close(fd)
    os.unlink(probe)


def check_output_dir(path: Path, option: str, replaced: bool = False) -> None:
    """`path` can hold this command's outputs: a folder, or nothing yet, in a place this
    process can write; checked before any work, so a wrong path costs one line. A folder that
    is `replaced` whole must have a name of its own (not `.`, `..` or `/`)."""
    try:
        if "\0" in str(path):
            raise BadInput(str(path), option, "contains a NUL character")
        if replaced and (str(path) == "" or path.name in ("", ".", "..")):
            raise BadInput(str(path) or "''", option, "not a folder name that can be replaced")
        if path.exists() and not path.is_dir():
            raise BadInput(str(path), option, "exists and is not a folder")
        place = path if path.is_dir() else nearest_existing(path)
        if not place.is_dir():
            raise BadInput(str(path), option, f"{place} is not a folder")
        check_can_write_in(place, path, option)
    except (OSError, ValueError) as error:  # a NUL in the path, a name too long, a loop
        raise BadInput(str(path), option, getattr(error, "strerror", None) or str(error)
                       ) from None


def inside(path: Path, folder: Path) -> bool:
    """Whether `path` is `folder` or somewhere under it (symbolic links resolved)."""
    try:
        real, base = os.path.realpath(path), os.path.realpath(folder)
    except (OSError, ValueError):
        return False
    return real == base or real.startswith(base.rstrip(os.sep) + os.sep)


STAGED_PREFIX, STAGED_SUFFIX = ".staged.", ".partial"


def _hold(folder: Path) -> int:
    """An exclusive lock on `folder` for as long as this process lives (or closes the fd): how
    a later run tells a staging folder in use from one a killed run left behind."""
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)  # held by another process: not ours to keep open
        raise
    return fd


def _clear_abandoned_staging(out: Path, keep: Path) -> None:
    """Remove the staging folders in `out` that no live process holds (a killed run's)."""
    for entry in out.iterdir():
        if (entry == keep or not entry.name.startswith(STAGED_PREFIX)
                or not entry.name.endswith(STAGED_SUFFIX) or entry.is_symlink()
                or not entry.is_dir()):
            continue
        try:
            fd = _hold(entry)
        except OSError:
            continue  # in use by a run that is still going
        try:
            shutil.rmtree(entry, ignore_errors=True)
        finally:
            os.close(fd)


@contextlib.contextmanager
def staged_files(out: Path) -> Iterator[Path]:
    """A hidden folder inside `out` to write files into; when the block succeeds they are
    moved into `out` (an interrupt waits for the moves), otherwise they are removed and `out`
    is as it was (a folder this created is removed again)."""
    created = not out.exists()
    work, done, held = None, False, None
    try:
        with signals_deferred():  # created and named at once, or not at all
            out.mkdir(parents=True, exist_ok=True)
            work = Path(tempfile.mkdtemp(prefix=STAGED_PREFIX, suffix=STAGED_SUFFIX, dir=out))
            held = _hold(work)
        _clear_abandoned_staging(out, keep=work)
        yield work
        with signals_deferred():
            for item in sorted(work.iterdir()):
                os.replace(item, out / item.name)
        done = True
    finally:
        if work is not None:
            shutil.rmtree(work, ignore_errors=True)
        if held is not None:
            os.close(held)
        if created and not done:
            with contextlib.suppress(OSError):
                out.rmdir()
