"""Every figure is written as PNG and PDF with its caption, and the bytes are the same when
the figures are drawn again in a fresh process."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

from analysis.captions import CAPTIONS, FIGURES
from analysis.collect import collect
from analysis.figures import magnitude_bins, write_figures

ROOT = Path(__file__).resolve().parents[2]


def test_figures_are_written_and_byte_stable(campaign, tmp_path: Path, artifact_traces) -> None:
    _, other = campaign.add_golden("golden_b", final_train=0.92, config={"seed": 124})
    kinds = [
        {"nonfinite_at": (3, 2)},
        {"nonfinite_at": (4, 0)},
        {"nonfinite_at": (9, 5)},
        {"train": {e: 0.1 for e in range(3, 20)}},
        {"train": {-1: 0.5}},
        {"test": {-1: 0.4}},
        {},
    ]
    for i in range(21):
        campaign.inject(
            f"inj_{i:02d}",
            epoch=3,
            step=2,
            fmodel=["RD", "ZERO", "WT"][i % 3],
            stage="bkwd_inject" if i % 2 else "fwrd_inject",
            injected=[10.0 ** (i * 2 - 5)],
            **kinds[i % len(kinds)],
        )
    table, curves = tmp_path / "results.parquet", tmp_path / "curves.parquet"
    collect(
        [str(campaign.traces)],
        [str(campaign.golden_path), str(other)],
        str(table),
        str(curves),
        log=io.StringIO(),
    )
    goldens = [str(campaign.golden_path), str(other)]
    first = tmp_path / "fig1"
    written = write_figures(str(table), str(curves), goldens, str(first), str(artifact_traces))
    expected = {f"{name}.{ext}" for name in FIGURES for ext in ("png", "pdf", "rst")}
    assert {Path(p).name for p in written} == expected
    assert {p.name for p in first.iterdir()} == expected
    for name in FIGURES:
        assert (first / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        pdf = (first / f"{name}.pdf").read_bytes()
        assert pdf.startswith(b"%PDF") and b"CreationDate" not in pdf and b"Matplotlib" not in pdf
        caption = (first / f"{name}.rst").read_text()
        assert caption.startswith(CAPTIONS[name] + " ") and caption.endswith(".\n"), caption
    # The captions say from how many runs each figure is drawn.
    assert "Drawn from 21 complete run(s)." in (first / "rates_by_fmodel.rst").read_text()
    assert "recorded injected value" in (first / "magnitude_vs_outcome.rst").read_text()
    assert "the artifact's 2 trace(s)" in (first / "artifact_examples.rst").read_text()
    assert b"Matplotlib" not in (first / "layer_heatmap.png").read_bytes()

    second = tmp_path / "fig2"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "analysis",
            "figures",
            "--table",
            str(table),
            "--curves",
            str(curves),
            "--golden",
            *goldens,
            "--out-dir",
            str(second),
            "--artifact-traces",
            str(artifact_traces),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    for name in sorted(expected):
        assert (first / name).read_bytes() == (second / name).read_bytes(), name


def test_magnitude_bins() -> None:
    import numpy as np

    labels = magnitude_bins(np.array([0.0, 0.5, 1.0, 9999.0, 1e4, 2.9e24, np.inf, np.nan, 1e41]))
    assert list(labels) == [
        "<1e0",
        "<1e0",
        "1e0-1e4",
        "1e0-1e4",
        "1e4-1e8",
        "1e24-1e28",
        "non-finite",
        "n/a",
        ">=1e40",
    ]


def test_captions_command(tmp_path: Path, capsys) -> None:
    from analysis.cli import main

    assert main(["captions", "--out-dir", str(tmp_path)]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(f"{n}.rst" for n in FIGURES)


def test_captions_are_plain_restructuredtext() -> None:
    """The Snakemake report renders captions as reStructuredText: a bare `|` would start a
    substitution reference and break the report."""
    from analysis.captions import CAPTIONS

    assert sorted(CAPTIONS) == sorted(FIGURES)
    for name, text in CAPTIONS.items():
        assert "|" not in text, name
        assert "*" not in text and "`" not in text, name
