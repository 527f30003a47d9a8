"""docs/analysis.md documents every command, option, column, outcome label and figure."""

from __future__ import annotations

import argparse
from pathlib import Path

from analysis.captions import FIGURES
from analysis.cli import build_parser
from analysis.columns import CURVE_COLUMNS, RESULT_COLUMNS
from analysis.outcomes import ALL_LABELS

DOC = (Path(__file__).resolve().parents[2] / "docs" / "analysis.md").read_text()


def test_every_command_and_option_is_documented() -> None:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for name, command in sub.choices.items():
        assert f"### `{name}`" in DOC, name
        for action in command._actions:
            for opt in action.option_strings:
                if opt not in ("-h", "--help"):
                    assert opt in DOC, (name, opt)


def test_every_column_label_and_figure_is_documented() -> None:
    for name, _, _ in [*RESULT_COLUMNS, *CURVE_COLUMNS]:
        assert f"| `{name}` |" in DOC, name
    for label in ALL_LABELS:
        assert f"`{label}`" in DOC, label
    for name in FIGURES:
        assert f"| `{name}` |" in DOC, name
