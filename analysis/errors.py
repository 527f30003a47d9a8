"""One exception type for bad input, so every command reports it the same way.

The command line prints it as a single line on stderr and exits with status 2; library callers
can catch it as a ``ValueError``.
"""

from __future__ import annotations


class InputError(ValueError):
    """Bad input: a file, a field (or argument) and the reason, printed as one line."""

    def __init__(self, where: str, field: str | None, reason: str) -> None:
        # Positional args only, so the exception pickles across worker processes.
        super().__init__(where, field, reason)
        self.where = where
        self.field = field
        self.reason = reason

    def __str__(self) -> str:
        if self.field:
            return f"{self.where}: {self.field}: {self.reason}"
        return f"{self.where}: {self.reason}"
