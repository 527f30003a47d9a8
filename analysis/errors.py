"""One exception type for bad input, so every command reports it the same way.

The command line prints it as a single line on stderr and exits with status 2; library callers
can catch it as a ``ValueError``.
"""

from __future__ import annotations

import re

_BREAKS = re.compile(r"\s*[\r\n\u2028\u2029]+\s*")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
MAX_LINE = 1000


def escaped(text: str) -> str:
    """Control characters (line breaks too) as escapes: for names, which must stay exact."""
    return _CONTROL.sub(lambda m: repr(m.group())[1:-1], text.replace("\u2028", "\\u2028"))


def one_line(text: str) -> str:
    """A message as one printable line: line breaks become "; ", other control characters are
    escaped, and a very long message is cut (an Arrow schema must not turn into pages)."""
    text = escaped(_BREAKS.sub("; ", text.strip()))
    return text if len(text) <= MAX_LINE else text[: MAX_LINE - 3] + "..."


class InputError(ValueError):
    """Bad input: a file, a field (or argument) and the reason, printed as one line."""

    def __init__(self, where: str, field: str | None, reason: str) -> None:
        # Positional args only, so the exception pickles across worker processes.
        super().__init__(where, field, reason)
        self.where = where
        self.field = field
        self.reason = reason

    def __str__(self) -> str:
        head = escaped(str(self.where)) + (f": {escaped(str(self.field))}" if self.field else "")
        line = f"{head}: {one_line(str(self.reason))}"
        return line if len(line) <= MAX_LINE else line[: MAX_LINE - 3] + "..."
