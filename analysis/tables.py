"""Rates as CSV (for machines) and as Markdown (to paste into a paper or a report)."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from analysis.groups import distribution_with_goodman, outcome_counts
from analysis.outcomes import outcomes as _outcomes
from fi_formats.atomic import atomic_path, write_text_atomic


def write_csv(df: pd.DataFrame, path: str) -> None:
    """Write a table as CSV (full float precision, no index), atomically."""
    with atomic_path(path) as tmp:
        df.to_csv(tmp, index=False, lineterminator="\n")


METHOD_NAMES = {"wilson": "Wilson", "clopper-pearson": "Clopper-Pearson", "jeffreys": "Jeffreys"}


def pct(x: float) -> str:
    """A proportion as a percentage with two decimals."""
    return f"{100.0 * x:.2f}"


def _md_row(cells: Sequence[object]) -> str:
    return "| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |"


def _md_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> list[str]:
    lines = [_md_row(header), "| " + " | ".join("---" for _ in header) + " |"]
    lines.extend(_md_row(r) for r in rows)
    return lines


def rates_markdown(rates: pd.DataFrame, by: Sequence[str]) -> str:
    """Wide Markdown table: one row per group, one "rate % (low-high)" cell per outcome."""
    method = METHOD_NAMES.get(str(rates["method"].iloc[0]), str(rates["method"].iloc[0]))
    confidence = float(rates["confidence"].iloc[0])
    by = list(by)
    header = [*by, "n", *_outcomes(), "incomplete"]
    rows = []
    group_cols = by or None
    groups = rates.groupby(group_cols, sort=False, dropna=False) if group_cols else [((), rates)]
    for key, g in groups:
        key = key if isinstance(key, tuple) else (key,)
        cells = {
            r.outcome: f"{pct(r.rate)} ({pct(r.ci_low)}-{pct(r.ci_high)})" for r in g.itertuples()
        }
        first = g.iloc[0]
        rows.append(
            [*key, int(first["n"]), *(cells[o] for o in _outcomes()), int(first["n_incomplete"])]
        )
    text = [
        f"Outcome rates in % with {method} {confidence:.0%} confidence intervals; n = complete "
        "runs in the group; incomplete runs are excluded from the rates.",
        *(
            [
                f"{rates.attrs['unattributed']} incomplete run(s) could not be attributed to any "
                "group (trace unreadable) and are not counted."
            ]
            if rates.attrs.get("unattributed")
            else []
        ),
        "",
        *_md_table(header, rows),
        "",
    ]
    return "\n".join(text)


def write_markdown(text: str, path: str) -> None:
    write_text_atomic(path, text)


def summary_markdown(
    df: pd.DataFrame, confidence: float = 0.95, by: Sequence[str] = ("workload", "stage")
) -> str:
    """Outcome distribution per workload and stage with Wilson and Goodman intervals."""
    counts = outcome_counts(df, list(by))
    total_incomplete = int(counts["n_incomplete"].sum()) + counts.attrs.get("unattributed", 0)
    out = [
        "# Outcome distribution",
        "",
        f"{int(counts['n'].sum())} complete runs, {total_incomplete} incomplete (excluded). "
        f"Intervals at {confidence:.0%}: Wilson for each outcome on its own; Goodman "
        "simultaneous intervals hold for all outcomes of a group together.",
        "",
    ]
    for _, row in counts.iterrows():
        name = ", ".join(f"{c} {row[c]}" for c in by) or "all runs"
        out += [
            f"## {name}",
            "",
            f"n = {int(row['n'])} complete runs, {int(row['n_incomplete'])} incomplete.",
            "",
        ]
        if int(row["n"]) == 0:
            out += ["No complete runs: no rates.", ""]
            continue
        dist = distribution_with_goodman(row, confidence)
        out += _md_table(
            ["outcome", "k", "rate %", "Wilson %", "Goodman (simultaneous) %"],
            [
                [
                    d.outcome,
                    int(d.k),
                    pct(d.rate),
                    f"{pct(d.wilson_low)}-{pct(d.wilson_high)}",
                    f"{pct(d.goodman_low)}-{pct(d.goodman_high)}",
                ]
                for d in dist.itertuples()
            ],
        )
        out.append("")
    return "\n".join(out)
