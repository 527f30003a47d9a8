"""Asking the engine and the analysis about a configuration, through their command lines.

`fi-core check-config` and `fi-analysis check-config` read one JSON request on stdin and answer
with JSON facts (exit 0) or one line `config: <json path>: <reason>` (exit 2). The workflow runs
them with the Python its jobs use, so the answers are those of the code the jobs will run.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable, Mapping
from typing import Any

from fi_pipeline.errors import ConfigError, shown

Asker = Callable[[str, dict[str, Any]], dict[str, Any]]
"""ask(tool, request) -> facts, tool being "fi_core" or "analysis"; raises ConfigError."""

TOOLS = {"fi_core": "the engine (fi-core check-config)",
         "analysis": "the analysis (fi-analysis check-config)"}


def subprocess_asker(python: str, env: Mapping[str, str] | None = None,
                     timeout: float = 300) -> Asker:
    """An asker that runs `python -m <tool> check-config`."""

    def ask(tool: str, request: dict[str, Any]) -> dict[str, Any]:
        command = [python, "-m", tool, "check-config"]
        try:
            result = subprocess.run(command, input=json.dumps(request), capture_output=True,
                                    text=True, timeout=timeout, env=dict(env) if env else None)
        except (OSError, subprocess.TimeoutExpired) as error:
            raise ConfigError("(workflow)", f"cannot ask {TOOLS[tool]}: {error}") from None
        lines = result.stderr.strip().splitlines()
        if result.returncode == 2 and lines and lines[-1].startswith("config: "):
            raise ConfigError.from_line(lines[-1])
        if result.returncode != 0:
            last = lines[-1] if lines else "no message"
            raise ConfigError("(workflow)", f"{TOOLS[tool]} failed (exit {result.returncode}): "
                                            f"{last}")
        try:
            facts = json.loads(result.stdout)
        except ValueError:
            raise ConfigError("(workflow)", f"{TOOLS[tool]} answered "
                                            f"{shown(result.stdout)}, not JSON") from None
        if not isinstance(facts, dict):
            raise ConfigError("(workflow)", f"{TOOLS[tool]} answered {shown(facts)}")
        return facts

    return ask
