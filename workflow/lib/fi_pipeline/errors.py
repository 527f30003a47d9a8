"""The one error of the pipeline's configuration: one line naming the key and the reason."""

from __future__ import annotations

import re
from collections.abc import Sequence

_SIMPLE_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
MAX_LINE = 300


def shown(value: object, limit: int = 60) -> str:
    """A value as it may appear in a message: repr, control characters escaped, cut short."""
    text = _CONTROL.sub(lambda m: repr(m.group())[1:-1], repr(value))
    return text if len(text) <= limit else text[: limit - 3] + "..."


def json_path(parts: Sequence[object]) -> str:
    """`campaigns.default.layers[1]`; a key that is not a plain name is shown quoted."""
    out = ""
    for part in parts:
        if isinstance(part, int) and not isinstance(part, bool):
            out += f"[{part}]"
        elif isinstance(part, str) and _SIMPLE_KEY.fullmatch(part):
            out += f".{part}" if out else part
        else:
            out += f"[{shown(part)}]"
    return out or "(top level)"


class ConfigError(Exception):
    """A configuration the workflow refuses: `config: <json path>: <reason>`, one line."""

    def __init__(self, path: Sequence[object] | str, reason: str) -> None:
        self.where = path if isinstance(path, str) else json_path(path)
        line = _CONTROL.sub(" ", f"config: {self.where}: {reason}")
        super().__init__(line if len(line) <= MAX_LINE else line[: MAX_LINE - 3] + "...")

    @classmethod
    def from_line(cls, line: str) -> ConfigError:
        """An error the engine or the analysis already worded (`config: <path>: <reason>`;
        their paths are plain, the schema refused any other key before they were asked)."""
        line = _CONTROL.sub(" ", line.strip())
        where, _, reason = line.removeprefix("config: ").partition(": ")
        error = cls(where, reason)
        error.args = (line if len(line) <= MAX_LINE else line[: MAX_LINE - 3] + "...",)
        return error
