"""The figures of a campaign, drawn from the results table, the curves table and the golden
traces alone (PNG and PDF, byte-stable), with one caption file per figure."""

from __future__ import annotations

import itertools
import math
import os
import re
from collections.abc import Sequence

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
from matplotlib.patches import Patch

from analysis.captions import CAPTIONS
from analysis.errors import InputError
from analysis.figstyle import (
    GOLDEN_TEST,
    GOLDEN_TRAIN,
    OUTCOME_COLORS,
    STAGE_HATCHES,
    plt,
    save,
    sns,
    style,
)
from analysis.golden import band_key
from analysis.groups import MISSING, outcome_counts
from analysis.outcomes import INCOMPLETE, MASKED
from analysis.outcomes import outcomes as _outcomes
from analysis.outcomes import unexpected as _unexpected
from analysis.outputs import replaced_dir
from analysis.stats import normal_quantile, proportion_ci_array
from analysis.table import read_results
from analysis.trace import Trace
from analysis.tracefiles import golden_files, load_trace
from fi_formats.atomic import write_text_atomic

TABLE_COLUMNS = [
    "trace",
    "workload",
    "stage",
    "fmodel",
    "target_layer",
    "outcome",
    "complete",
    "max_abs_injected",
    "golden_trace",
    "inj_global_step",
    "first_nonfinite_global_step",
    "steps_per_epoch",
    "epochs",
]


def _natural_key(text: str) -> tuple[bool, list[object]]:
    """Sort "layer_2" before "layer_10", and "n/a" last."""
    parts = [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", str(text))]
    return str(text) == MISSING or str(text).startswith(f"{MISSING}:"), parts


def _complete(df: pd.DataFrame) -> pd.DataFrame:
    out = df[df["outcome"] != INCOMPLETE]
    if len(out) == 0:
        raise InputError("table", None, "no complete runs: nothing to plot")
    return out


def _ci(k: np.ndarray, n: np.ndarray, confidence: float) -> tuple[np.ndarray, np.ndarray]:
    return proportion_ci_array(k, n, "wilson", confidence)


def fig_outcomes_by_workload_stage(df: pd.DataFrame, confidence: float = 0.95) -> plt.Figure:
    """Rates per outcome (bar colour = outcome), stages side by side told apart by hatching,
    one row of panels per workload, Wilson whiskers."""
    counts = outcome_counts(_complete(df), ["workload", "stage"])
    counts = counts[counts["n"] > 0]
    workloads = sorted(counts["workload"].astype(str).unique(), key=_natural_key)
    stages = sorted(counts["stage"].astype(str).unique(), key=_natural_key)
    hatches = {s: STAGE_HATCHES[i % len(STAGE_HATCHES)] for i, s in enumerate(stages)}
    fig, axes = plt.subplots(
        len(workloads),
        2,
        figsize=(9.0, 2.4 * len(workloads) + 0.4),
        width_ratios=[1, 5],
        squeeze=False,
        layout="constrained",
    )
    width = 0.8 / max(1, len(stages))
    for row, workload in enumerate(workloads):
        sub = counts[counts["workload"].astype(str) == workload]
        legend = []
        for col, outcomes in enumerate([(MASKED,), _unexpected()]):
            ax = axes[row][col]
            x = np.arange(len(outcomes))
            for i, stage in enumerate(stages):
                g = sub[sub["stage"].astype(str) == stage]
                if len(g) == 0:
                    continue
                n = int(g["n"].iloc[0])
                k = g[list(outcomes)].to_numpy(dtype=np.int64)[0]
                low, high = _ci(k, np.full(k.shape, n), confidence)
                rate = k / n
                ax.bar(
                    x + (i - (len(stages) - 1) / 2) * width,
                    100 * rate,
                    width,
                    color=[OUTCOME_COLORS[o] for o in outcomes],
                    hatch=hatches[stage],
                    edgecolor="0.25",
                    linewidth=0.5,
                    yerr=100 * np.vstack([rate - low, high - rate]),
                    capsize=2,
                    error_kw={"elinewidth": 0.8, "capthick": 0.8},
                )
                if col == 1:
                    legend.append(
                        Patch(
                            facecolor="white",
                            edgecolor="0.25",
                            hatch=hatches[stage],
                            label=f"{stage} (n={n})",
                        )
                    )
            ax.set_xticks(
                x,
                [o.replace(" INFs/NaNs", "\nINFs/NaNs") for o in outcomes],
                rotation=0 if col == 0 else 30,
                ha="center" if col == 0 else "right",
            )
            ax.set_ylabel("runs (% of complete runs)" if col == 0 else "")
            ax.set_ylim(bottom=0)
            if col == 1:
                ax.set_title(f"{workload}: unexpected outcomes", loc="left")
                ax.legend(
                    handles=legend,
                    title="stage (hatching)",
                    loc="upper left",
                    bbox_to_anchor=(1.01, 1.0),
                    frameon=False,
                )
            else:
                ax.set_title("Masked", loc="left")
                ax.set_ylim(0, 100)
    return fig


def fig_rates_by_fmodel(df: pd.DataFrame, confidence: float = 0.95) -> plt.Figure:
    """Stacked unexpected-outcome rates per fault model with a whisker for their total."""
    counts = outcome_counts(_complete(df), ["fmodel"])
    counts = counts[counts["n"] > 0]
    counts = counts.iloc[
        sorted(range(len(counts)), key=lambda i: _natural_key(counts["fmodel"].iloc[i]))
    ]
    n = counts["n"].to_numpy(dtype=np.int64)
    fig, ax = plt.subplots(figsize=(7.0, 0.32 * len(counts) + 1.3), layout="constrained")
    y = np.arange(len(counts))
    left = np.zeros(len(counts))
    for outcome in _unexpected():
        share = 100 * counts[outcome].to_numpy(dtype=np.int64) / n
        ax.barh(y, share, left=left, color=OUTCOME_COLORS[outcome], label=outcome, height=0.7)
        left += share
    k_total = (counts["n"] - counts[MASKED]).to_numpy(dtype=np.int64)
    low, high = _ci(k_total, n, confidence)
    total = k_total / n
    ax.errorbar(
        100 * total,
        y,
        xerr=100 * np.vstack([total - low, high - total]),
        fmt="none",
        ecolor="black",
        elinewidth=0.8,
        capsize=2,
    )
    ax.set_yticks(y, [f"{f} (n={m})" for f, m in zip(counts["fmodel"], n, strict=True)])
    ax.invert_yaxis()
    ax.set_xlabel("runs with an unexpected outcome (% of complete runs)")
    ax.set_xlim(left=0)
    fig.legend(loc="outside lower center", ncols=3, frameon=False)
    ax.set_title("Unexpected outcomes per fault model", loc="left")
    return fig


def fig_layer_heatmap(df: pd.DataFrame) -> plt.Figure:
    """Per-layer rates of each unexpected outcome, n in the row labels."""
    counts = outcome_counts(_complete(df), ["workload", "target_layer"])
    counts = counts[counts["n"] > 0].copy()
    several = counts["workload"].astype(str).nunique() > 1
    counts["row"] = [
        f"{w}: {layer}" if several else str(layer)
        for w, layer in zip(counts["workload"], counts["target_layer"], strict=True)
    ]
    counts = counts.iloc[
        sorted(range(len(counts)), key=lambda i: _natural_key(counts["row"].iloc[i]))
    ]
    n = counts["n"].to_numpy(dtype=np.float64)
    columns = [*_unexpected(), "any unexpected"]
    values = (
        np.column_stack(
            [counts[o].to_numpy(dtype=np.float64) / n for o in _unexpected()]
            + [(counts["n"] - counts[MASKED]).to_numpy(dtype=np.float64) / n]
        )
        * 100
    )
    frame = pd.DataFrame(
        values,
        columns=columns,
        index=[f"{r} (n={int(m)})" for r, m in zip(counts["row"], n, strict=True)],
    )
    fig, ax = plt.subplots(figsize=(7.5, 0.22 * len(frame) + 1.8), layout="constrained")
    sns.heatmap(
        frame,
        ax=ax,
        cmap="rocket_r",
        vmin=0,
        vmax=max(1.0, float(values.max())),
        annot=np.vectorize(lambda v: f"{v:.1f}")(values),
        fmt="",
        linewidths=0.3,
        annot_kws={"fontsize": 6},
        cbar_kws={"label": "runs (% of the layer's complete runs)"},
    )
    ax.set_xlabel("")
    ax.set_ylabel("")
    ax.set_xticks(ax.get_xticks(), columns, rotation=30, ha="right")
    ax.set_title("Unexpected-outcome rates per layer (%)", loc="left")
    return fig


MAGNITUDE_DECADES = tuple(range(0, 41, 4))  # bin edges 1e0, 1e4, ..., 1e40


def magnitude_bins(values: np.ndarray) -> np.ndarray:
    """Label magnitudes by four-decade bins: "<1e0", "1e0-1e4", ..., "non-finite"."""
    labels = np.full(values.shape, MISSING, dtype=object)
    finite = np.isfinite(values)
    labels[~finite & ~np.isnan(values)] = "non-finite"
    labels[finite & (values < 1.0)] = "<1e0"
    for lo, hi in itertools.pairwise(MAGNITUDE_DECADES):
        labels[finite & (values >= 10.0**lo) & (values < 10.0**hi)] = f"1e{lo}-1e{hi}"
    top = MAGNITUDE_DECADES[-1]
    labels[finite & (values >= 10.0**top)] = f">=1e{top}"
    return labels


def _bin_order(label: str) -> float:
    if label == "<1e0":
        return -1.0
    if label == "non-finite":
        return 1e9
    return float(label.lstrip(">=").split("-")[0][2:])


def fig_magnitude_vs_outcome(df: pd.DataFrame) -> plt.Figure:
    """100% stacked outcome shares per magnitude bin of the injected value."""
    sub = _complete(df)
    mags = sub["max_abs_injected"].to_numpy(dtype=np.float64, na_value=np.nan)
    sub = sub.assign(magnitude=magnitude_bins(mags))
    sub = sub[sub["magnitude"] != MISSING]
    fig, ax = plt.subplots(figsize=(7.0, 3.2), layout="constrained")
    if len(sub) == 0:
        ax.text(
            0.5,
            0.5,
            "no injected values recorded",
            ha="center",
            va="center",
            transform=ax.transAxes,
        )
        ax.set_axis_off()
        return fig
    counts = outcome_counts(sub, ["magnitude"])
    counts = counts.iloc[
        sorted(range(len(counts)), key=lambda i: _bin_order(counts["magnitude"].iloc[i]))
    ]
    x = np.arange(len(counts))
    n = counts["n"].to_numpy(dtype=np.float64)
    bottom = np.zeros(len(counts))
    for outcome in _outcomes():
        share = 100 * counts[outcome].to_numpy(dtype=np.float64) / n
        ax.bar(x, share, bottom=bottom, color=OUTCOME_COLORS[outcome], label=outcome, width=0.75)
        bottom += share
    for xi, m in zip(x, n, strict=True):
        ax.text(xi, 101, f"n={int(m)}", ha="center", va="bottom", fontsize=6)
    ax.set_xticks(x, counts["magnitude"].tolist(), rotation=30, ha="right")
    ax.set_ylim(0, 108)
    ax.set_ylabel("runs (% of the bin's runs)")
    ax.set_xlabel("largest absolute injected value (bins of four decades, dimensionless)")
    ax.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False)
    ax.set_title("Outcome against the magnitude of the injected value", loc="left")
    return fig


def _golden_bands(goldens: list[Trace]) -> dict[str, list[Trace]]:
    bands: dict[str, list[Trace]] = {}
    for g in goldens:
        bands.setdefault(band_key(g), []).append(g)
    return bands


def _band_arrays(members: list[Trace]) -> tuple[np.ndarray, ...]:
    """Epoch ends shared by the golden runs, and min/max train and test accuracy there."""
    common = set.intersection(*(set(m.curves.epoch.tolist()) for m in members if m.curves))
    e = np.array(sorted(common), dtype=np.int64)
    if e.size == 0:
        empty = np.zeros(0)
        return e, empty, empty, empty, empty

    def pick(m: Trace, attr: str) -> np.ndarray:
        idx = {int(v): i for i, v in enumerate(m.curves.epoch)}
        return np.array([getattr(m.curves, attr)[idx[int(v)]] for v in e])

    tr = np.vstack([pick(m, "train_accuracy") for m in members])
    te = np.vstack([pick(m, "test_accuracy") for m in members])
    return e, tr.min(0), tr.max(0), te.min(0), te.max(0)


def fig_example_curves(df: pd.DataFrame, curves_path: str, goldens: list[Trace]) -> plt.Figure:
    """One panel per outcome present: an example run over the golden band."""
    sub = _complete(df).sort_values("trace", kind="stable")
    examples = [
        (o, sub[sub["outcome"] == o].iloc[0]) for o in _outcomes() if (sub["outcome"] == o).any()
    ]
    wanted = [str(r["trace"]) for _, r in examples]
    try:
        curves = pq.read_table(
            curves_path,
            columns=["trace", "level", "epoch", "global_step", "metric", "value"],
            filters=[("trace", "in", wanted)],
        ).to_pandas()
    except (OSError, ValueError) as exc:
        raise InputError(curves_path, None, f"cannot read the curves table: {exc}") from exc
    for col in ("trace", "level", "metric"):
        curves[col] = curves[col].astype(str)
    bands = _golden_bands(goldens)
    by_path = {g.path: band_key(g) for g in goldens}
    ncols = 2
    nrows = math.ceil(len(examples) / ncols)
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(7.5, 2.1 * nrows + 0.3), squeeze=False, layout="constrained"
    )
    for ax in axes.flat[len(examples) :]:
        ax.set_axis_off()
    for ax, (outcome, row) in zip(axes.flat, examples, strict=False):
        spe = float(row["steps_per_epoch"])
        key = by_path.get(str(row["golden_trace"]))
        members = bands.get(key) if key else None
        members = members or goldens
        e, trlo, trhi, telo, tehi = _band_arrays(members)
        if e.size:  # golden runs with no epoch in common have no band to draw
            ax.fill_between(
                e + 1,
                trlo,
                trhi,
                color=GOLDEN_TRAIN,
                alpha=0.35,
                lw=0.6,
                edgecolor=GOLDEN_TRAIN,
                label="golden train",
            )
            ax.fill_between(
                e + 1,
                telo,
                tehi,
                color=GOLDEN_TEST,
                alpha=0.45,
                lw=0.6,
                edgecolor=GOLDEN_TEST,
                label="golden test",
            )
        c = curves[curves["trace"] == str(row["trace"])]
        color = OUTCOME_COLORS[outcome]
        steps = c[(c["level"] == "step") & (c["metric"] == "accuracy")].sort_values("global_step")
        ax.plot((steps["global_step"] + 1) / spe, steps["value"], color=color, lw=0.4, alpha=0.5)
        for metric, ls in (("train_accuracy", "-"), ("test_accuracy", "--")):
            ep = c[(c["level"] == "epoch") & (c["metric"] == metric)].sort_values("epoch")
            ax.plot(
                ep["epoch"] + 1,
                ep["value"],
                color=color,
                lw=1.2,
                ls=ls,
                label=metric.replace("_", " "),
            )
        inj = row["inj_global_step"]
        if pd.notna(inj):
            ax.axvline((float(inj) + 1) / spe, color="black", lw=0.8, ls=":")
        nf = row["first_nonfinite_global_step"]
        if pd.notna(nf):
            hit = steps[steps["global_step"] == int(nf)]
            y = float(hit["value"].iloc[0]) if len(hit) else 0.5
            ax.plot([(float(nf) + 1) / spe], [y], marker="x", color="black", ms=6, mew=1.5)
        ax.set_xlim(0, float(row["epochs"]))
        ax.set_ylim(0, 1)
        ax.set_title(f"{outcome}: {os.path.basename(str(row['trace']))}", loc="left", fontsize=7)
        ax.set_xlabel("training time (epochs)")
        ax.set_ylabel("accuracy (fraction)")
    axes.flat[0].legend(loc="lower right", frameon=False, fontsize=6)
    return fig


def fig_artifact_examples(traces: list[Trace]) -> plt.Figure:
    """Loss and accuracy per step of the artifact's traces on shared axes.

    Outcome colours mean outcomes everywhere, and these runs are not classified here: the
    golden run is grey, injection runs black, told apart by line style."""
    fig, (ax_loss, ax_acc) = plt.subplots(
        2, 1, figsize=(7.0, 4.6), sharex=True, layout="constrained"
    )
    styles = ("-", "--", "-.", ":")
    n_injection = 0
    for t in traces:
        assert t.curves is not None
        spe = float(t.steps_per_epoch or 1)
        x = (t.curves.step_epoch * spe + t.curves.step_step + 1) / spe
        if t.kind == "golden":
            color, ls, label = GOLDEN_TRAIN, "-", f"{t.id} (fault-free)"
        else:
            color, ls = "black", styles[n_injection % len(styles)]
            label = f"{t.id} (injection)"
            n_injection += 1
        loss = np.where(np.isfinite(t.curves.step_loss), t.curves.step_loss, np.nan)
        ax_loss.plot(x, loss, color=color, lw=0.6, ls=ls, label=label)
        ax_acc.plot(x, t.curves.step_accuracy, color=color, lw=0.6, ls=ls, label=label)
        if t.injection is not None:
            for ax in (ax_loss, ax_acc):
                ax.axvline(
                    (t.injection.epoch * spe + t.injection.step + 1) / spe,
                    color=color,
                    lw=0.8,
                    ls=":",
                )
        if t.first_nonfinite is not None:
            e, s = t.first_nonfinite
            finite = np.isfinite(loss)
            y = float(loss[finite][-1]) if finite.any() else 1.0
            ax_loss.plot(
                [(e * spe + s + 1) / spe],
                [y],
                marker="x",
                color="black",
                ms=7,
                mew=1.5,
                label="loss is NaN",
            )
    ax_loss.set_ylabel("training loss (cross-entropy, nats)")
    ax_acc.set_ylabel("training accuracy (fraction)")
    ax_acc.set_xlabel("training time (epochs)")
    ax_loss.legend(loc="upper right", frameon=False)
    ax_loss.set_title("Artifact traces: fault-free run and immediate INF/NaN replay", loc="left")
    return fig


def load_artifact_traces(directory: str, num_classes: int = 10) -> list[Trace]:
    """fault_free.txt first, then every replay_*.txt, sorted; they must be complete."""
    if not os.path.isdir(directory):
        raise InputError(directory, "--artifact-traces", "no such directory")
    names = sorted(n for n in os.listdir(directory) if n.endswith(".txt"))
    if "fault_free.txt" not in names:
        raise InputError(directory, "--artifact-traces", "no fault_free.txt in the directory")
    ordered = ["fault_free.txt", *(n for n in names if n.startswith("replay_"))]
    traces = [load_trace(os.path.join(directory, n), num_classes) for n in ordered]
    for t in traces:
        if t.problems:
            raise InputError(t.path, "artifact trace", t.problems[0])
    return traces


def _run_counts(df: pd.DataFrame, goldens: list[Trace], artifact: list[Trace] | None) -> dict:
    """For each figure, the sentence of its caption that says from how many runs it is drawn."""
    total = len(df)
    complete = int((df["outcome"] != INCOMPLETE).sum())
    left_out = f"{total - complete} incomplete run(s) left out" if total > complete else ""
    base = f"Drawn from {complete} complete run(s)" + (f" ({left_out})." if left_out else ".")
    mags = df.loc[df["outcome"] != INCOMPLETE, "max_abs_injected"]
    with_mag = int(mags.notna().sum())
    examples = int(df.loc[df["outcome"] != INCOMPLETE, "outcome"].nunique())
    counts = {
        "outcomes_by_workload_stage": base,
        "rates_by_fmodel": base,
        "layer_heatmap": base,
        "magnitude_vs_outcome": (
            f"Drawn from {with_mag} complete run(s) with a recorded injected value"
            + (f" ({complete - with_mag} without one left out)" if complete > with_mag else "")
            + (f"; {left_out}." if left_out else ".")
        ),
        "example_curves": (
            f"{examples} example run(s), one per outcome present among {complete} complete "
            f"run(s); the band spans {len(goldens)} golden run(s)."
        ),
    }
    if artifact is not None:
        counts["artifact_examples"] = f"Drawn from the artifact's {len(artifact)} trace(s)."
    return counts


def write_figures(
    table: str,
    curves: str,
    golden: Sequence[str],
    out_dir: str,
    artifact_traces: str | None = None,
    confidence: float = 0.95,
    num_classes: int = 10,
) -> list[str]:
    """Draw every figure into ``out_dir`` (PNG, PDF and a .rst caption each).

    The figures are drawn into a new directory beside ``out_dir`` that replaces it only when
    all are written: a failure or an interrupt leaves ``out_dir`` as it was.
    """
    normal_quantile(confidence)  # a bad confidence is refused before anything is read
    df = read_results(table, TABLE_COLUMNS)
    goldens = [load_trace(p, num_classes) for p in golden_files(list(golden))]
    for g in goldens:
        if g.problems or g.kind != "golden":
            raise InputError(g.path, "golden", g.problems[0] if g.problems else "not a golden run")
    if not os.path.isfile(curves):
        raise InputError(curves, "--curves", "no such file")
    artifact = load_artifact_traces(artifact_traces, num_classes) if artifact_traces else None
    counts = _run_counts(df, goldens, artifact)
    names: list[str] = []
    with replaced_dir(out_dir) as tmp, style():
        for name, draw in (
            ("outcomes_by_workload_stage", lambda: fig_outcomes_by_workload_stage(df, confidence)),
            ("rates_by_fmodel", lambda: fig_rates_by_fmodel(df, confidence)),
            ("layer_heatmap", lambda: fig_layer_heatmap(df)),
            ("magnitude_vs_outcome", lambda: fig_magnitude_vs_outcome(df)),
            ("example_curves", lambda: fig_example_curves(df, curves, goldens)),
        ):
            save(draw(), str(tmp), name)
            names.append(name)
        if artifact is not None:
            save(fig_artifact_examples(artifact), str(tmp), "artifact_examples")
            names.append("artifact_examples")
        for name in names:
            write_text_atomic(tmp / f"{name}.rst", f"{CAPTIONS[name]} {counts[name]}\n")
    return [os.path.join(out_dir, f"{n}.{ext}") for n in names for ext in ("png", "pdf", "rst")]
