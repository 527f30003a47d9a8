"""Any text as one printable line: how every message of both sides keeps to one line.

Whatever the input (a file name with a newline, a value with a terminal escape sequence or a
right-to-left override, a path of thousands of characters), a message is one line. Two ways of
escaping, for two kinds of text: `escaped` turns every character that is not printable into its
escape (the engine's messages: nothing the user did not type can hide in them), and
`escape_controls` only the control characters and line separators (the analysis' names and
the traces' validator messages, which keep other Unicode as written). Two ways of cutting: in
the middle (`cut`: a path's start says where, its end which file) or at the end (`cut_end`).
"""

from __future__ import annotations

import re

MAX_LINE = 1000
"""Characters of a whole message line at most."""

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_BREAKS = re.compile(r"\s*[\r\n\u2028\u2029]+\s*")


def escaped(text: str) -> str:
    """Every character that is not printable (line breaks, tabs, other control characters,
    bidirectional overrides, lone surrogates of an undecodable file name) as its escape
    sequence; printable text, including non-ASCII letters, stays as it is."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else ch.encode("unicode_escape",
                                                         "backslashreplace").decode("ascii")
                   for ch in text)


def escape_controls(text: str) -> str:
    """Control characters (C0, C1) and the Unicode line separators as Python escapes; every
    other character as it is."""
    return _CONTROL.sub(lambda m: repr(m.group())[1:-1], text)


def cut(text: str, limit: int) -> str:
    """`text` with its middle replaced by "..." when it is longer than `limit`."""
    if len(text) <= limit:
        return text
    head = limit // 3
    return f"{text[:head]}...{text[len(text) - (limit - head - 3):]}"


def cut_end(text: str, limit: int) -> str:
    """`text` cut to `limit` characters, the last three "...", when it is longer."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


def one_line(text: str, limit: int = MAX_LINE) -> str:
    """Any text as one printable line of at most `limit` characters (cut in the middle)."""
    return cut(escaped(str(text)), limit)


def printable(text: str, limit: int = 300) -> str:
    """One printable line: control characters escaped, long text cut at the end."""
    return cut_end(escape_controls(text), limit)


def joined(text: str, limit: int = MAX_LINE) -> str:
    """A message of several lines (a library's error, an Arrow schema) as one: its line breaks
    become "; ", control characters are escaped, and a long one is cut at the end."""
    return printable(_BREAKS.sub("; ", text.strip()), limit)


def collapsed(text: str, limit: int = 200) -> str:
    """Text whose whitespace runs (line breaks too) become single spaces, its first `limit`
    characters kept (then "..."): a message written by user code (a plugin's exception), read
    as a sentence."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + "..."


def shown(text: str, limit: int = 80) -> str:
    """A value quoted in a one-line message: as is when printable, else escaped (non-ASCII as
    well); cut at `limit` characters (then "..." follows)."""
    if len(text) > limit:
        text = text[:limit] + "..."
    return text if text.isprintable() else text.encode("unicode_escape", "replace").decode()
