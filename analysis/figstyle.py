"""Plot style and byte-stable saving: the same data gives the same PNG and PDF bytes.

Agg backend, fixed fonts and sizes, fixed outcome colours, and no version or date strings in
the file metadata.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator

import matplotlib

# Agg (no display, byte-stable files) unless pyplot or a backend was set up already, e.g. by a
# notebook's inline backend, which draws with Agg too.
if "matplotlib.pyplot" not in sys.modules and not os.environ.get("MPLBACKEND"):
    matplotlib.use("Agg", force=True)

import matplotlib.pyplot as plt
import seaborn as sns

from analysis.outcomes import (
    IMMEDIATE,
    INCOMPLETE,
    LATE,
    LOW_TEST,
    MASKED,
    SHARP_DEGRADE,
    SHORT_TERM,
    SLOW_DEGRADE,
)
from fi_formats.atomic import atomic_path

# One colour per outcome in every figure: the Okabe-Ito palette (Okabe and Ito, "Color
# Universal Design", 2008), designed to stay distinguishable with every common form of colour
# blindness; grey for incomplete runs. tests/analysis/test_figures.py checks the simulated
# protan, deutan and tritan views. A plugin's outcome (analysis.rules) is drawn black: the
# palette has no eighth colour, and black stays apart from all seven for every view.


class _Colors(dict):
    """The palette; a label it lacks (a plugin's) gets PLUGIN_COLOR."""

    def __missing__(self, label: str) -> str:
        return PLUGIN_COLOR


PLUGIN_COLOR = "#000000"
OUTCOME_COLORS = _Colors({
    MASKED: "#009E73",  # bluish green
    IMMEDIATE: "#D55E00",  # vermillion
    SHORT_TERM: "#E69F00",  # orange
    LATE: "#F0E442",  # yellow
    SHARP_DEGRADE: "#CC79A7",  # reddish purple
    SLOW_DEGRADE: "#0072B2",  # blue
    LOW_TEST: "#56B4E9",  # sky blue
    INCOMPLETE: "#555555",  # dark grey (light grey is too close to purple for deutans)
})
# Stages are told apart by hatching, so that bar colours always mean outcomes.
STAGE_HATCHES = ("", "////", "....", "xxxx")
GOLDEN_TRAIN = "0.55"
GOLDEN_TEST = "#d8b98a"

_RC = {
    "font.family": "DejaVu Sans",
    "font.size": 8,
    "axes.titlesize": 9,
    "axes.labelsize": 8,
    "legend.fontsize": 7,
    "legend.title_fontsize": 7,
    "xtick.labelsize": 7,
    "ytick.labelsize": 7,
    "figure.dpi": 100,
    "savefig.dpi": 150,
    "pdf.fonttype": 42,
    "pdf.compression": 6,
    "svg.hashsalt": "fi-analysis",
    "path.simplify": False,
}

_METADATA = {
    "png": {"Software": None},
    "pdf": {"Creator": None, "Producer": None, "CreationDate": None, "ModDate": None},
}


@contextlib.contextmanager
def style() -> Iterator[None]:
    """Apply the house style for the duration of a figure, restoring global state after."""
    with plt.rc_context():
        sns.set_theme(context="paper", style="whitegrid", font="DejaVu Sans", rc=_RC)
        yield


def save(fig: plt.Figure, out_dir: str, name: str) -> list[str]:
    """Write ``name.png`` and ``name.pdf`` atomically, without volatile metadata."""
    os.makedirs(out_dir, exist_ok=True)
    paths = []
    for ext in ("png", "pdf"):
        path = os.path.join(out_dir, f"{name}.{ext}")
        with atomic_path(path) as tmp:
            fig.savefig(
                tmp, format=ext, metadata=_METADATA[ext], bbox_inches="tight", pad_inches=0.05
            )
        paths.append(path)
    plt.close(fig)
    return paths
