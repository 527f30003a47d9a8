"""Helpers of the hostile-input tests: run `fi_core.commands.cli.main` in a fresh process and tell
whether TensorFlow was ever imported (checks meant to come before it must not need it)."""

from __future__ import annotations

import os
import subprocess
import sys

NO_TF_MARKER = "[tensorflow was not imported]"
_SCRIPT = (
    "import sys\n"
    "from fi_core.commands import cli\n"
    "code = cli.main(sys.argv[1:])\n"
    "if 'tensorflow' not in sys.modules:\n"
    f"    print({NO_TF_MARKER!r})\n"
    "sys.stdout.flush()\n"
    "sys.exit(code)\n"
)


def run_main(*args: str, env: dict[str, str] | None = None, timeout: float = 300
             ) -> subprocess.CompletedProcess:
    """`fi-core ARGS` in a new interpreter; stdout ends with NO_TF_MARKER when TensorFlow was
    never imported."""
    return subprocess.run([sys.executable, "-c", _SCRIPT, *args], capture_output=True,
                          text=True, timeout=timeout, env={**os.environ, **(env or {})})


def run_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 300,
            **options) -> subprocess.CompletedProcess:
    """`python -m fi_core ARGS`, the real entry point (its fast exit included)."""
    return subprocess.run([sys.executable, "-m", "fi_core", *args], capture_output=True,
                          timeout=timeout, env={**os.environ, **(env or {})}, **options)


def one_line(stderr: str) -> str:
    """The only line of `stderr` (fails when there are more or none, or a traceback)."""
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    return lines[0]
