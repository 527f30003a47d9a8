"""User plugins (networks, fault models, value rules), loaded by module name before a command runs.

A plugin is any importable Python module that registers what it defines when imported:
`fi_core.networks.register(Network(...), {...presets})` for a network and its workloads (see
docs/workloads.md), `fi_core.faults.register(FaultModel(...))` for a fault model,
`fi_core.faults.register_rule(ValueRule(...))` for a value rule (see docs/fi_core.md, "Fault
models"). It is named on the
command line (`--plugin MODULE`, repeatable, on every fi-core command), in the environment
(`FI_CORE_PLUGINS=mod_a,mod_b`, loaded first), or in the pipeline's config (`plugins: [...]`,
passed as `--plugin`). It must be importable: on `PYTHONPATH`, installed, or in the folder the
command runs from (the pipeline adds its checkout).

A plugin is code, by design (like a Snakefile): it runs with the user's rights when it is
imported, and `plugins:` in a pipeline configuration is imported by every fi-core command the
pipeline runs, a dry run (`snakemake -n`) included. Only the user names plugins (an option, the
environment, the configuration); no data file (CSV, trace, golden folder, observe record) can
name a module. The name is checked (dotted identifiers) so that it can only name a module, never
a path or a shell word. A plugin that raises or exits while it loads is one line, exit 2.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import re
import sys
from collections.abc import Sequence

from fi_core.spec.errors import BadInput
from fi_formats.oneline import collapsed

ENVIRONMENT = "FI_CORE_PLUGINS"
MODULE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*")


def load(names: Sequence[str], source: str = "--plugin") -> None:
    """Import each module once (a module already imported is not run again)."""
    for name in names:
        if not MODULE.fullmatch(name):
            raise BadInput(source, "plugin", f"{collapsed(repr(name))} is not a module name "
                                             "(dotted identifiers, e.g. my_faults)")
        try:
            # What a plugin prints while it loads goes to stderr: stdout is a command's result
            # (describe's and check-config's JSON).
            with contextlib.redirect_stdout(sys.stderr):
                importlib.import_module(name)
        except SystemExit as stop:  # user code that ends the process is refused, not obeyed
            raise BadInput(source, name, f"cannot load the plugin: it exits at import "
                                         f"(SystemExit: {collapsed(str(stop.code))})") from None
        except Exception as error:  # user code: any failure is one line
            raise BadInput(source, name, f"cannot load the plugin: {type(error).__name__}: "
                                         f"{collapsed(str(error))}") from None


def from_environment() -> list[str]:
    return [name.strip() for name in os.environ.get(ENVIRONMENT, "").split(",") if name.strip()]
