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

A plugin runs with the user's rights, like any code the user imports; the module name is checked
(dotted identifiers) so that it can only name a module, never a path or a shell word.
"""

from __future__ import annotations

import importlib
import os
import re
from collections.abc import Sequence

from fi_core.errors import BadInput

ENVIRONMENT = "FI_CORE_PLUGINS"
MODULE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*")


def _one_line(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= 200 else text[:200] + "..."


def load(names: Sequence[str], source: str = "--plugin") -> None:
    """Import each module once (a module already imported is not run again)."""
    for name in names:
        if not MODULE.fullmatch(name):
            raise BadInput(source, "plugin", f"{_one_line(repr(name))} is not a module name "
                                             "(dotted identifiers, e.g. my_faults)")
        try:
            importlib.import_module(name)
        except Exception as error:  # user code: any failure is one line
            raise BadInput(source, name, f"cannot load the plugin: {type(error).__name__}: "
                                         f"{_one_line(str(error))}") from None


def from_environment() -> list[str]:
    return [name.strip() for name in os.environ.get(ENVIRONMENT, "").split(",") if name.strip()]
