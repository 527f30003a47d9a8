"""Registries filled by their package's modules: each public module of the package is imported
once, on the registry's first use, and registers what it declares (a network, a site kind, an
op, a task). Adding a file to the package is then the whole change."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterable

_IMPORTED: set[str] = set()


def import_modules(package: str, path: Iterable[str]) -> None:
    """Import every module of `package` (found on `path`, its `__path__`) once; modules whose
    name starts with `_` are private helpers, imported by their users only."""
    if package in _IMPORTED:
        return
    _IMPORTED.add(package)
    for module in pkgutil.iter_modules(path):
        if not module.name.startswith("_"):
            importlib.import_module(f"{package}.{module.name}")
