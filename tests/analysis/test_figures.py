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


# --- colours: one per outcome, told apart with colour-blind eyes --------------------------

# Machado, Oliveira and Fernandes (2009), severity 1.0, on linear RGB.
_CVD = {
    "normal": [[1, 0, 0], [0, 1, 0], [0, 0, 1]],
    "protan": [[0.152286, 1.052583, -0.204868], [0.114503, 0.786281, 0.099216],
               [-0.003882, -0.048116, 1.051998]],
    "deutan": [[0.367322, 0.860646, -0.227968], [0.280085, 0.672501, 0.047413],
               [-0.011820, 0.042940, 0.968881]],
    "tritan": [[1.255528, -0.076749, -0.178779], [-0.078411, 0.930809, 0.147602],
               [0.004733, 0.691367, 0.303900]],
}  # fmt: skip


def _lab(rgb_linear):
    """CIE L*a*b* (D65) of a linear RGB colour."""
    import numpy as np

    xyz = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]])
    f = (xyz @ rgb_linear) / np.array([0.95047, 1.0, 1.08883])
    f = np.where(f > 0.008856, np.cbrt(f), 7.787 * f + 16 / 116)
    return np.array([116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])])


def test_outcome_palette_is_colour_blind_safe() -> None:
    """Every two outcome colours differ by a CIE76 distance of at least 15 (clearly visible)
    for normal vision and simulated protanopia, deuteranopia and tritanopia."""
    import itertools

    import numpy as np
    from matplotlib.colors import to_rgb

    from analysis.figstyle import OUTCOME_COLORS
    from analysis.outcomes import ALL_LABELS

    assert set(OUTCOME_COLORS) == set(ALL_LABELS)
    assert len(set(OUTCOME_COLORS.values())) == len(OUTCOME_COLORS)
    srgb = {k: np.array(to_rgb(v)) for k, v in OUTCOME_COLORS.items()}
    linear = {
        k: np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4) for k, c in srgb.items()
    }
    for name, matrix in _CVD.items():
        lab = {k: _lab(np.clip(np.array(matrix) @ c, 0, 1)) for k, c in linear.items()}
        for a, b in itertools.combinations(lab, 2):
            assert np.linalg.norm(lab[a] - lab[b]) >= 15, (name, a, b)


def test_every_figure_uses_the_outcome_colours(campaign, tmp_path: Path) -> None:
    """Bars and legends of outcomes have their outcome's colour in every figure; the API
    returns the figures the report draws."""
    from matplotlib.colors import to_rgba

    import analysis
    from analysis.figstyle import OUTCOME_COLORS

    for i, kw in enumerate([{"nonfinite_at": (3, 2)}, {"train": {-1: 0.5}}, {}, {}]):
        campaign.inject(
            f"inj_{i}", epoch=3, step=2, stage=("fwrd_inject", "bkwd_inject")[i % 2], **kw
        )
    table_path = tmp_path / "r.parquet"
    collect([str(campaign.traces)], [str(campaign.golden_path)], str(table_path), log=io.StringIO())
    table = analysis.load(table_path)
    colors = {to_rgba(c): o for o, c in OUTCOME_COLORS.items()}
    for fig in (analysis.plot_rates_by_fmodel(table), analysis.plot_magnitude(table)):
        legends = [*fig.legends, *(ax.get_legend() for ax in fig.axes if ax.get_legend())]
        handles = [
            (t.get_text(), h)
            for leg in legends
            for t, h in zip(leg.get_texts(), leg.legend_handles, strict=True)
        ]
        assert handles
        for label, handle in handles:
            assert to_rgba(handle.get_facecolor()) == to_rgba(OUTCOME_COLORS[label]), label
    fig = analysis.plot_outcomes(table)
    bars = [p for ax in fig.axes for p in ax.patches if p.get_height() > 0]
    seen = {colors[to_rgba(p.get_facecolor())] for p in bars}  # KeyError: not an outcome colour
    assert seen == {"Masked", "Immediate INFs/NaNs", "SlowDegrade"}
    hatches = {p.get_hatch() or "" for p in bars}
    assert len(hatches) == 2  # the two stages


def test_failed_figures_leave_the_folder_as_it_was(campaign, tmp_path: Path, monkeypatch) -> None:
    """An interrupt after the first figure, or a damaged curves table found at the fifth: the
    figure folder keeps its old content (or is not made), and no temporary folder is left."""
    import pytest

    import analysis.figures as figures
    from analysis.errors import InputError
    from analysis.figstyle import plt

    campaign.inject("inj_0", epoch=3, step=2)
    table = tmp_path / "r.parquet"
    collect([str(campaign.traces)], [str(campaign.golden_path)], str(table), log=io.StringIO())
    curves = tmp_path / "c.parquet"
    curves.write_bytes(b"PAR1 not really")
    out = tmp_path / "figures"
    out.mkdir()
    (out / "old.png").write_text("old")
    before = sorted(p.name for p in tmp_path.iterdir())

    def interrupted(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(figures, "fig_rates_by_fmodel", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_figures(str(table), str(curves), [str(campaign.golden_path)], str(out))
    assert [p.name for p in out.iterdir()] == ["old.png"]
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    for name in ("fig_rates_by_fmodel", "fig_layer_heatmap", "fig_magnitude_vs_outcome"):
        monkeypatch.setattr(figures, name, lambda *args: plt.figure(figsize=(1, 1)))
    with pytest.raises(InputError, match="cannot read the curves table"):
        write_figures(str(table), str(curves), [str(campaign.golden_path)], str(tmp_path / "new"))
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_report_caption_includes_the_counts(tmp_path: Path, monkeypatch) -> None:
    """workflow/report/figures.rst, rendered as Snakemake renders a caption (Jinja, then
    docutils), shows the caption the figures command wrote, with its numbers of runs."""
    import types

    import jinja2
    from docutils.core import publish_parts

    monkeypatch.chdir(tmp_path)  # Snakemake renders the report from the workflow's folder
    figures = Path("results") / "c1" / "figures"
    figures.mkdir(parents=True)
    text = CAPTIONS["layer_heatmap"] + " Drawn from 21 complete run(s)."
    (figures / "layer_heatmap.rst").write_text(text + "\n")
    snakemake = types.SimpleNamespace(
        output=[str(figures)],
        wildcards=types.SimpleNamespace(campaign="c1", figure="layer_heatmap"),
        params=types.SimpleNamespace(captions=CAPTIONS),
    )
    source = (ROOT / "workflow" / "report" / "figures.rst").read_text()
    rst = jinja2.Environment().from_string(source).render(snakemake=snakemake)
    html = publish_parts(rst, writer="html")["body"]  # Snakemake 9: writer_name="html"
    assert "Drawn from 21 complete run(s)." in html and "Per-layer rates" in html
    assert "results/c1/figures/" in html and "System Message" not in html
