"""The one error type for bad user input.

Every message a user sees is one line, whatever the input: `BadInput` escapes its parts itself
(`fi_formats.oneline`, re-exported here), so no caller can forget to.
"""

from __future__ import annotations

from fi_formats.oneline import MAX_LINE, cut, escaped, one_line

__all__ = ["MAX_LINE", "MAX_PART", "BadInput", "cut", "escaped", "one_line"]

MAX_PART = 300
"""Characters kept of a file name or key (the middle of a longer one is cut: its start says
where, its end which file)."""


class BadInput(Exception):
    """Bad input from a user: reported as one line `<file>: <key>: <reason>`, exit status 2.

    The parts are kept as given (`source`, `key`, `reason`); the message escapes them."""

    def __init__(self, source: str, key: str, reason: str) -> None:
        super().__init__(one_line(f"{one_line(str(source), MAX_PART)}: "
                                  f"{one_line(str(key), MAX_PART)}: {one_line(str(reason))}"))
        self.source = source
        self.key = key
        self.reason = reason
