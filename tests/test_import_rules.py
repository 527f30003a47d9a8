"""The import rules of `[tool.importlinter]` in pyproject.toml hold (`lint-imports`), the
project's packages import each other without a cycle, and the shared formats package imports
nothing outside the standard library."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import grimp

REPO = Path(__file__).resolve().parents[1]


def test_the_import_contracts_are_kept():
    lint = Path(sys.executable).parent / "lint-imports"
    result = subprocess.run([str(lint), "--no-cache"], cwd=REPO, capture_output=True,
                            text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "0 broken" in result.stdout and "4 kept" in result.stdout


def test_the_shared_formats_import_the_standard_library_only():
    graph = grimp.build_graph("fi_formats", include_external_packages=True)
    imported = {module.split(".")[0] for name in graph.modules
                for module in graph.find_modules_directly_imported_by(name)}
    outside = sorted(imported - set(sys.stdlib_module_names) - {"fi_formats"})
    assert outside == []


def test_no_module_imports_itself_through_others():
    # Imports made only for type checkers never run, so they cannot form a cycle.
    graph = grimp.build_graph("fi_core", "analysis", "fi_formats",
                              exclude_type_checking_imports=True)
    cycles = []
    for module in sorted(graph.modules):
        for imported in graph.find_modules_directly_imported_by(module):
            back = graph.find_shortest_chain(imported, module)
            if back:
                cycles.append(" -> ".join((module, *back)))
    assert cycles == []
