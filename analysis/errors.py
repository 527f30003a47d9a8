"""One exception type for bad input, so every command reports it the same way.

The command line prints it as a single line on stderr and exits with status 2; library callers
can catch it as a ``ValueError``.
"""

from __future__ import annotations

from fi_formats.oneline import MAX_LINE, cut_end
from fi_formats.oneline import escape_controls as escaped
from fi_formats.oneline import joined as one_line

__all__ = ["MAX_LINE", "InputError", "escaped", "one_line"]
"""`escaped`: control characters (line breaks too) as escapes, for names, which must stay
exact; `one_line`: a message whose line breaks become "; " (an Arrow schema must not turn into
pages). Both from `fi_formats.oneline`."""


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
        return cut_end(line, MAX_LINE)
