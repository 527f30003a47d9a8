"""The mitigation comparison as files: CSV (the table), Markdown (the table, coverage per outcome
class, and examples of the runs each preset did not recover) and a figure (the outcome
distribution of every preset side by side). `fi-analysis mitigation` writes them."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence

import numpy as np
import pandas as pd

from analysis.errors import InputError
from analysis.figstyle import OUTCOME_COLORS, plt, save, style
from analysis.mitigation import (
    CLASSES,
    TABLE_COLUMNS,
    misses,
    mitigation_table,
    observations,
)
from analysis.outcomes import outcomes as _outcomes
from analysis.stats import normal_quantile
from analysis.table import read_results
from analysis.tables import _md_table, pct, write_csv, write_markdown
from analysis.trace import NO_MITIGATION
from analysis.tracefiles import discover_traces, load_trace

CAPTION = (
    "Outcome distribution of the same injection CSVs without mitigation (none) and with each "
    "mitigation preset, side by side: stacked shares of the complete runs (bar colours are the "
    "outcomes, as in every figure); n per preset under its name."
)


def _cell(k: int, n: int, rate: float, low: float, high: float) -> str:
    if n == 0 or math.isnan(rate):
        return f"{k}/{n}"
    return f"{k}/{n}: {pct(rate)} % ({pct(low)}-{pct(high)})"


def _number(value: object, digits: int = 4) -> str:
    if value is None or pd.isna(value):
        return "n/a"
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    return str(value)


def mitigation_markdown(
    table: pd.DataFrame, examples: dict[str, pd.DataFrame], confidence: float
) -> str:
    level = f"{confidence:.0%}"
    rows = []
    for r in table.itertuples():
        rows.append(
            [
                r.mitigation,
                r.n,
                _cell(
                    r.recovered, r.unexpected_without, r.coverage, r.coverage_low, r.coverage_high
                ),
                r.new_unexpected,
                _number(r.mcnemar_p),
                r.detections,
                r.detected_runs,
                f"{_number(r.false_positive_steps)}/{r.golden_steps}",
                _number(r.fp_rate_high),
                _number(r.median_latency_steps),
                r.rollbacks,
                r.unrecovered,
                r.steps_reexecuted,
                _number(r.overhead_ratio),
            ]
        )
    lines = [
        "# Mitigation: the same injection CSVs with and without each preset",
        "",
        f"Pairs: runs of one CSV without mitigation and with the preset, both complete (n). "
        f"Coverage: of the pairs not Masked without mitigation, those Masked with it, with "
        f"{level} Wilson intervals. New unexpected: Masked without, not with (McNemar's exact "
        f"test on the discordant pairs). False positives: steps at which a detector fired in "
        f"the golden runs replayed with the preset observing; bound: exact one-sided {level} "
        f"upper bound per step. Latency: steps from the injection to the first detection "
        f"(median over the runs with one). Overhead: time of a fault-free step with the "
        f"preset (its observe runs: probes, decisions, snapshots) over one without.",
        "",
        *_md_table(
            [
                "mitigation",
                "n",
                "coverage",
                "new unexpected",
                "McNemar p",
                "detections",
                "runs detected",
                "false positive steps",
                "fp rate bound",
                "median latency",
                "rollbacks",
                "unrecovered",
                "steps re-executed",
                "overhead ratio",
            ],
            rows,
        ),
        "",
        "## Coverage per outcome class without mitigation",
        "",
    ]
    header = ["mitigation", *(f"{cls} (recovered/unexpected)" for cls in CLASSES)]
    class_rows = [
        [
            r["mitigation"],
            *(
                _cell(
                    int(r[f"recovered_{cls}"]),
                    int(r[f"unexpected_{cls}"]),
                    r[f"coverage_{cls}"],
                    r[f"coverage_low_{cls}"],
                    r[f"coverage_high_{cls}"],
                )
                for cls in CLASSES
            ),
        ]
        for _, r in table.iterrows()
    ]
    lines += _md_table(header, class_rows)
    lines += [
        "",
        "Classes: "
        + "; ".join(f"{cls}: {', '.join(labels)}" for cls, labels in CLASSES.items())
        + ".",
    ]
    for preset, frame in examples.items():
        if frame.empty:
            lines += ["", f"## Runs `{preset}` did not bring back to Masked: none", ""]
            continue
        lines += ["", f"## Runs `{preset}` did not bring back to Masked (first {len(frame)})", ""]
        lines += _md_table(
            [
                "id",
                "stage",
                "fault model",
                "layer",
                "epoch/step",
                "max abs injected",
                "outcome without",
                "outcome with",
                "detections",
                "latency",
            ],
            [
                [
                    r["id"],
                    r["stage"],
                    r["fmodel"],
                    r["target_layer"],
                    f"{r['inj_epoch']}/{r['inj_step']}",
                    _number(r["max_abs_injected"], 3),
                    r["outcome"],
                    r["outcome_with"],
                    _number(r["detections_with"]),
                    _number(r["detection_latency_steps_with"]),
                ]
                for _, r in frame.iterrows()
            ],
        )
    return "\n".join(lines) + "\n"


def fig_outcomes_by_mitigation(df: pd.DataFrame, presets: Sequence[str]) -> plt.Figure:
    """Stacked outcome shares (% of complete runs) per preset."""
    complete = df[df["complete"].astype(bool)]
    fig, ax = plt.subplots(figsize=(1.2 + 1.1 * len(presets), 3.2), layout="constrained")
    x = np.arange(len(presets))
    bottom = np.zeros(len(presets))
    totals = np.array([(complete["mitigation"] == p).sum() for p in presets], dtype=float)
    for outcome in _outcomes():
        counts = np.array(
            [
                ((complete["mitigation"] == p) & (complete["outcome"] == outcome)).sum()
                for p in presets
            ],
            dtype=float,
        )
        share = np.divide(100 * counts, totals, out=np.zeros_like(counts), where=totals > 0)
        ax.bar(
            x,
            share,
            0.7,
            bottom=bottom,
            color=OUTCOME_COLORS[outcome],
            label=outcome,
            edgecolor="0.25",
            linewidth=0.4,
        )
        bottom += share
    ax.set_xticks(x, [f"{p}\n(n={int(n)})" for p, n in zip(presets, totals, strict=True)])
    ax.set_ylim(0, 100)
    ax.set_ylabel("runs (% of complete runs)")
    ax.set_title("Outcomes with and without mitigation", loc="left")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False, title="outcome")
    return fig


def write_mitigation(
    table_path: str,
    observe: Sequence[str],
    out_csv: str,
    out_markdown: str | None,
    figure: str | None,
    confidence: float = 0.95,
    baseline: str = NO_MITIGATION,
    examples: int = 10,
) -> pd.DataFrame:
    """Read the results table (every preset's runs) and the observe traces; write the table
    (CSV), its Markdown and the figure. Nothing is written when an input is bad."""
    normal_quantile(confidence)
    df = read_results(table_path, TABLE_COLUMNS)
    df = df.assign(mitigation=df["mitigation"].astype(str), workload=df["workload"].fillna(""))
    paths, _ = discover_traces(list(observe), recursive=True)  # e.g. observe/<preset>/
    traces = [load_trace(p) for p in paths]
    table = mitigation_table(df, observations(traces), confidence, baseline)
    presets = [baseline, *table["mitigation"]]
    found = {p: misses(df, p, examples, baseline) for p in table["mitigation"]}
    markdown = mitigation_markdown(table, found, confidence) if out_markdown else None
    if figure is not None and not figure.endswith(".png"):
        raise InputError(
            figure, "--figure", "must name a .png file (the .pdf is written next to it)"
        )
    write_csv(table, out_csv)
    if markdown is not None:
        write_markdown(markdown, out_markdown)
    if figure is not None:
        with style():
            save(
                fig_outcomes_by_mitigation(df, presets),
                os.path.dirname(figure) or ".",
                os.path.basename(figure).removesuffix(".png"),
            )
    return table
