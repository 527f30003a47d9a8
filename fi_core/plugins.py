"""User plugins: modules imported before a command runs, so that what they register (a network
and its presets, a fault model, a value rule) is known to every command and to the pipeline.

Name them in the environment variable FI_CORE_PLUGINS (comma-separated module names, importable
from PYTHONPATH) or with `--plugin MODULE` on any fi-core command.
"""

from __future__ import annotations

import importlib
import os
import re
from collections.abc import Iterable

from fi_core.errors import BadInput

ENVIRONMENT = "FI_CORE_PLUGINS"
_MODULE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")


def from_environment() -> list[str]:
    return [name.strip() for name in os.environ.get(ENVIRONMENT, "").split(",") if name.strip()]


def load(names: Iterable[str], source: str = "--plugin") -> None:
    """Import each module once; a bad name or a module that fails to import is BadInput."""
    for name in names:
        if not _MODULE.fullmatch(name):
            raise BadInput(source, "plugin", f"{name!r} is not a module name")
        try:
            importlib.import_module(name)
        except Exception as error:  # any failure of user code is one line
            raise BadInput(source, name, f"cannot import the plugin: "
                                         f"{type(error).__name__}: {error}") from None
