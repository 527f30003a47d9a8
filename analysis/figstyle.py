"""Plot style and byte-stable saving: the same data gives the same PNG and PDF bytes.

Agg backend, fixed fonts and sizes, fixed outcome colours, and no version or date strings in
the file metadata.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import matplotlib

matplotlib.use("Agg", force=True)

import matplotlib.pyplot as plt
import seaborn as sns

from analysis.atomic import atomic_path
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

_PALETTE = sns.color_palette("colorblind", 10)
OUTCOME_COLORS = {
    MASKED: _PALETTE[2],
    IMMEDIATE: _PALETTE[3],
    SHORT_TERM: _PALETTE[1],
    LATE: _PALETTE[8],
    SHARP_DEGRADE: _PALETTE[4],
    SLOW_DEGRADE: _PALETTE[0],
    LOW_TEST: _PALETTE[9],
    INCOMPLETE: _PALETTE[7],
}
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
