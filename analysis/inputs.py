"""Reading an input file whole, safely: a regular file of bounded size, or nothing.

A FIFO would block a read, a device (/dev/zero) never end, a huge file exhaust memory: every
small input the analysis reads whole (argument lists, check-config requests, traces, benchmark
files) is opened without blocking, checked with fstat (a regular file, at most `limit` bytes)
before a byte is read, and read to at most `limit` bytes even if it grows meanwhile.
"""

from __future__ import annotations

import os
import stat
from typing import BinaryIO

from analysis.errors import InputError

MAX_SMALL_INPUT = 8 * 1024 * 1024
"""The largest argument list (@FILE) or check-config request: 8 MiB, about 100,000 paths."""

_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


class Unreadable(Exception):
    """Why a file was not read (one short reason, without the file name)."""


def _kind(mode: int) -> str:
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


def read_regular(path: str, limit: int, noun: str = "a file") -> bytes:
    """The bytes of a regular file of at most `limit` bytes, else Unreadable(reason): the
    reason names what it is instead ("not a regular file (a FIFO)") or its size."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except (OSError, ValueError) as exc:  # ValueError: a NUL in the name
        raise Unreadable(f"cannot read: {getattr(exc, 'strerror', None) or exc}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            kind = _kind(info.st_mode)
            suffix = "" if kind == "not a regular file" else f" ({kind})"
            raise Unreadable(f"not a regular file{suffix}")
        if info.st_size > limit:
            raise Unreadable(f"{info.st_size} bytes, larger than the {limit} bytes {noun} may have")
        parts = [os.read(fd, info.st_size + 1)]
        while parts[-1] and sum(map(len, parts)) <= limit:  # it grew meanwhile
            parts.append(os.read(fd, 1 << 20))
    except OSError as exc:
        raise Unreadable(f"cannot read: {exc.strerror or exc}") from None
    finally:
        os.close(fd)
    data = b"".join(parts)
    if len(data) > limit:  # grew while being read
        raise Unreadable(f"larger than the {limit} bytes {noun} may have")
    return data


def read_stream(stream: BinaryIO, limit: int, noun: str = "a file") -> bytes:
    """At most `limit` bytes of a stream (standard input), else Unreadable."""
    try:
        data = stream.read(limit + 1)
    except OSError as exc:
        raise Unreadable(f"cannot read: {exc.strerror or exc}") from None
    if len(data) > limit:
        raise Unreadable(f"larger than the {limit} bytes {noun} may have")
    return data


def read_text(path: str, field: str, limit: int = MAX_SMALL_INPUT, noun: str = "a file") -> str:
    """A small UTF-8 input file as text ("-": standard input), or InputError(path, field, ...)
    in one line: unreadable, not a regular file, too large, not UTF-8."""
    import sys

    try:
        if path == "-":
            data = read_stream(sys.stdin.buffer, limit, noun)
        else:
            data = read_regular(path, limit, noun)
    except Unreadable as exc:
        raise InputError(path, field, str(exc)) from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(
            path, field, f"not UTF-8 text ({exc.reason} at byte {exc.start})"
        ) from None
