"""The one error type for bad user input, and how any text becomes one printable line.

Every message a user sees is one line, whatever the input: a file name with a newline, a value
with a terminal escape sequence or a right-to-left override, a path of thousands of characters.
`BadInput` escapes its parts itself, so no caller can forget to.
"""

from __future__ import annotations

MAX_PART = 300
"""Characters kept of a file name or key (the middle of a longer one is cut: its start says
where, its end which file)."""
MAX_LINE = 1000
"""Characters of a whole message line at most."""


def escaped(text: str) -> str:
    """Every character that is not printable (line breaks, tabs, other control characters,
    bidirectional overrides, lone surrogates of an undecodable file name) as its escape
    sequence; printable text, including non-ASCII letters, stays as it is."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else ch.encode("unicode_escape",
                                                         "backslashreplace").decode("ascii")
                   for ch in text)


def cut(text: str, limit: int) -> str:
    """`text` with its middle replaced by "..." when it is longer than `limit`."""
    if len(text) <= limit:
        return text
    head = limit // 3
    return f"{text[:head]}...{text[len(text) - (limit - head - 3):]}"


def one_line(text: str, limit: int = MAX_LINE) -> str:
    """Any text as one printable line of at most `limit` characters."""
    return cut(escaped(str(text)), limit)


class BadInput(Exception):
    """Bad input from a user: reported as one line `<file>: <key>: <reason>`, exit status 2.

    The parts are kept as given (`source`, `key`, `reason`); the message escapes them."""

    def __init__(self, source: str, key: str, reason: str) -> None:
        super().__init__(one_line(f"{one_line(str(source), MAX_PART)}: "
                                  f"{one_line(str(key), MAX_PART)}: {one_line(str(reason))}"))
        self.source = source
        self.key = key
        self.reason = reason
