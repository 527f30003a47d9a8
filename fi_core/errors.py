"""The one error type for bad user input: it carries the file, the key and the reason."""

from __future__ import annotations


class BadInput(Exception):
    """Bad input from a user: reported as one line `<file>: <key>: <reason>`, exit status 2."""

    def __init__(self, source: str, key: str, reason: str) -> None:
        super().__init__(f"{source}: {key}: {reason}")
        self.source = source
        self.key = key
        self.reason = reason
