"""User plugins of the analysis (outcome rules, their thresholds and features), by module name.

A plugin is an importable Python module that registers its rules when imported
(analysis.rules.register_rule). It is named on the command line (`--plugin MODULE`, repeatable,
on every fi-analysis command), in the environment (`FI_ANALYSIS_PLUGINS=mod_a,mod_b`, loaded
first) or in the pipeline's configuration (`analysis.plugins: [...]`, passed as `--plugin` to
every fi-analysis job and checked by `fi-analysis check-config`). They are the analysis's own:
the engine's `plugins:` are fi-core's, which the analysis never imports.

A plugin is code: it runs with the user's rights when it is imported. A name must be a dotted
module name (never a path); a plugin that raises or exits while it loads is one line, exit 2.
The names loaded are remembered so worker processes load the same ones.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import re
import sys
from collections.abc import Sequence

from analysis.errors import InputError, one_line

ENVIRONMENT = "FI_ANALYSIS_PLUGINS"
MODULE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*")
_LOADED: list[str] = []


def load(names: Sequence[str], where: str = "--plugin", field: str | None = None) -> None:
    """Import each module once; InputError(where, field or the name, reason) if one fails."""
    import analysis.rules  # noqa: F401 (the built-in rules first: a plugin is placed among them)

    for name in names:
        if not isinstance(name, str) or not MODULE.fullmatch(name):
            raise InputError(where, field or "plugin", f"{one_line(repr(name))} is not a module "
                                                       "name (dotted identifiers, e.g. my_rules)")
        try:
            # What a plugin prints while it loads goes to stderr: stdout is a command's result.
            with contextlib.redirect_stdout(sys.stderr):
                importlib.import_module(name)
        except SystemExit as stop:  # user code that ends the process is refused, not obeyed
            raise InputError(where, field or name, "cannot load the plugin: it exits at import "
                                                   f"(SystemExit: {one_line(str(stop.code))})"
                             ) from None
        except Exception as error:  # user code: any failure is one line
            raise InputError(where, field or name, f"cannot load the plugin: "
                                                   f"{type(error).__name__}: {one_line(str(error))}"
                             ) from None
        if name not in _LOADED:
            _LOADED.append(name)


def from_environment() -> list[str]:
    return [n.strip() for n in os.environ.get(ENVIRONMENT, "").split(",") if n.strip()]


def loaded() -> list[str]:
    """The plugins this process loaded, in order (what a worker process loads too)."""
    return list(_LOADED)
