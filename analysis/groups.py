"""Outcome rates with intervals, grouped by any columns of the results table.

Incomplete runs are not part of any rate: each group reports them in ``n_incomplete``. A group
whose runs are all incomplete has no rate (n = 0) and is an error unless asked to skip it.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TextIO

import numpy as np
import pandas as pd

from analysis.errors import InputError
from analysis.outcomes import INCOMPLETE, MASKED
from analysis.outcomes import outcomes as _outcomes
from analysis.stats import GroupTest, difference_test, multinomial_ci, proportion_ci_array

MISSING = "n/a"
DEFAULT_EPOCH_BUCKET_WIDTH = 10


def _epoch_bucket(df: pd.DataFrame, width: int) -> pd.Series:
    """Label injection epochs by buckets of ``width`` epochs: "00-09", "10-19", ..."""
    if width < 1:
        raise InputError("--epoch-bucket-width", None, f"must be >= 1, got {width}")
    epoch = df["inj_epoch"].to_numpy(dtype=np.float64, na_value=np.nan)
    lo = np.floor(epoch / width) * width
    finite = np.isfinite(lo)
    top = int(np.nanmax(lo)) + width - 1 if finite.any() else 0
    digits = max(2, len(str(top)))
    labels = np.full(len(df), None, dtype=object)  # missing epoch: null, like other keys
    for value in np.unique(lo[finite]):
        v = int(value)
        labels[lo == value] = f"{v:0{digits}d}-{v + width - 1:0{digits}d}"
    return pd.Series(labels, index=df.index, name="epoch_bucket")


DERIVED = {"epoch_bucket": ("inj_epoch",)}


def _display_key(s: pd.Series) -> pd.Series:
    """Group keys as people read them: 3 rather than 3.0, "n/a" rather than NaN."""
    if s.dtype.kind == "f":
        values = s.to_numpy(dtype=np.float64)
        finite = np.isfinite(values)
        if np.all(values[finite] == np.round(values[finite])):
            s = s.astype("Int64")
    if s.isna().any():
        s = s.astype(object).where(s.notna(), MISSING)
    return s


def needed_columns(by: Sequence[str]) -> list[str]:
    """Table columns to read for a grouping (derived columns expand to their sources)."""
    cols: list[str] = []
    for col in by:
        cols.extend(DERIVED.get(col, (col,)))
    return list(dict.fromkeys([*cols, "outcome"]))


def with_derived(df: pd.DataFrame, by: Sequence[str], epoch_bucket_width: int) -> pd.DataFrame:
    """Add derived grouping columns that the table does not hold itself."""
    if "epoch_bucket" in by and "epoch_bucket" not in df:
        df = df.assign(epoch_bucket=_epoch_bucket(df, epoch_bucket_width))
    return df


def outcome_counts(
    df: pd.DataFrame, by: Sequence[str], epoch_bucket_width: int = DEFAULT_EPOCH_BUCKET_WIDTH
) -> pd.DataFrame:
    """One row per group: the count of every outcome, n (complete runs) and n_incomplete."""
    if len(df) == 0:
        raise InputError("table", None, "no experiments (empty campaign)")
    by = list(by)
    df = with_derived(df, by, epoch_bucket_width)
    for col in [*by, "outcome"]:
        if col not in df:
            raise InputError("table", col, "no such column")
    unknown = set(pd.unique(df["outcome"])) - {*_outcomes(), INCOMPLETE}
    if unknown:
        raise InputError(
            "table", "outcome", f"unknown outcome label(s): {sorted(map(str, unknown))}"
        )
    # An incomplete run whose trace could not be read far enough to know its group cannot be
    # counted in any group; it is counted apart (attrs["unattributed"]) and reported.
    unattributed = pd.Series(False, index=df.index)
    if by:
        unattributed = (df["outcome"] == INCOMPLETE) & df[by].isna().any(axis=1)
        df = df[~unattributed]
    n_unattributed = int(unattributed.sum())
    if len(df) == 0:
        raise InputError("table", None, f"all {n_unattributed} runs are incomplete: no rates")
    keys = (
        [df[c] for c in by] if by else [pd.Series(np.zeros(len(df), dtype=np.int8), index=df.index)]
    )
    counts = (
        df.groupby([*keys, df["outcome"]], dropna=False, observed=True, sort=True)
        .size()
        .unstack("outcome", fill_value=0)
        .reindex(columns=[*_outcomes(), INCOMPLETE], fill_value=0)
        .astype(np.int64)
    )
    counts.columns.name = None
    counts = counts.rename(columns={INCOMPLETE: "n_incomplete"})
    counts.insert(len(_outcomes()), "n", counts[list(_outcomes())].sum(axis=1))
    counts = counts.reset_index()
    if not by:
        counts = counts.drop(columns=counts.columns[0])
    else:
        counts.columns = [*by, *counts.columns[len(by) :]]
        for col in by:
            counts[col] = _display_key(counts[col])
    counts.attrs["unattributed"] = n_unattributed
    return counts


def _drop_empty(
    counts: pd.DataFrame, by: Sequence[str], skip_empty: bool, log: TextIO
) -> pd.DataFrame:
    empty = counts["n"] == 0
    if not empty.any():
        return counts
    first = counts[empty].iloc[0]
    name = ", ".join(f"{c}={first[c]}" for c in by) or "all runs"
    if not skip_empty:
        raise InputError(
            f"group {name}",
            "n",
            f"is 0 (all {int(first['n_incomplete'])} run(s) incomplete): no rate; "
            "pass --skip-empty-groups to leave such groups out",
        )
    for _, row in counts[empty].iterrows():
        label = ", ".join(f"{c}={row[c]}" for c in by) or "all runs"
        print(
            f"note: group {label}: n = 0 ({int(row['n_incomplete'])} incomplete): left out",
            file=log,
        )
    out = counts[~empty].reset_index(drop=True)
    if len(out) == 0:
        raise InputError("table", None, "every run is incomplete: no rates")
    return out


def grouped_rates(
    df: pd.DataFrame,
    by: Sequence[str],
    method: str = "wilson",
    confidence: float = 0.95,
    epoch_bucket_width: int = DEFAULT_EPOCH_BUCKET_WIDTH,
    skip_empty: bool = False,
    log: TextIO = sys.stderr,
) -> pd.DataFrame:
    """Long table: group columns, outcome, k, n, rate, ci_low, ci_high, method, confidence,
    n_incomplete; one row per group and outcome (zero counts included)."""
    counts = outcome_counts(df, by, epoch_bucket_width)
    unattributed = counts.attrs.get("unattributed", 0)
    if unattributed:
        print(
            f"note: {unattributed} incomplete run(s) without {', '.join(by)}: in no group", file=log
        )
    counts = _drop_empty(counts, by, skip_empty, log)
    n_groups = len(counts)
    k = counts[list(_outcomes())].to_numpy(dtype=np.int64)  # groups x outcomes
    n = np.repeat(counts["n"].to_numpy(dtype=np.int64), len(_outcomes()))
    low, high = proportion_ci_array(k.ravel(), n, method, confidence)
    out = pd.DataFrame({col: np.repeat(counts[col].to_numpy(), len(_outcomes())) for col in by})
    out["outcome"] = np.tile(np.array(_outcomes(), dtype=object), n_groups)
    out["k"] = k.ravel()
    out["n"] = n
    out["rate"] = k.ravel() / n
    out["ci_low"] = low
    out["ci_high"] = high
    out["method"] = method
    out["confidence"] = confidence
    out["n_incomplete"] = np.repeat(
        counts["n_incomplete"].to_numpy(dtype=np.int64), len(_outcomes())
    )
    out.attrs["unattributed"] = unattributed
    return out


def distribution_with_goodman(counts_row: pd.Series, confidence: float) -> pd.DataFrame:
    """Per-outcome rate with Wilson and Goodman simultaneous intervals for one group."""
    k = counts_row[list(_outcomes())].to_numpy(dtype=np.int64)
    n = int(counts_row["n"])
    if n == 0:
        raise InputError("group", "n", "is 0: no distribution to estimate")
    wl, wh = proportion_ci_array(k, np.full(k.shape, n), "wilson", confidence)
    gl, gh = multinomial_ci(k, confidence)
    return pd.DataFrame(
        {
            "outcome": _outcomes(),
            "k": k,
            "rate": k / n,
            "wilson_low": wl,
            "wilson_high": wh,
            "goodman_low": gl,
            "goodman_high": gh,
        }
    )


def compare_groups(
    df: pd.DataFrame,
    by: Sequence[str],
    outcome: str | None = None,
    groups: Sequence[str] | None = None,
    epoch_bucket_width: int = DEFAULT_EPOCH_BUCKET_WIDTH,
) -> tuple[pd.DataFrame, GroupTest]:
    """Test whether the groups of ``by`` differ: in the rate of ``outcome`` (group x
    [outcome, other]; Fisher's exact test for two groups) or in the whole distribution."""
    counts = outcome_counts(df, by, epoch_bucket_width)
    label = counts[list(by)].astype(str).agg(", ".join, axis=1)
    counts.insert(0, "group", label)
    if groups:
        missing = [g for g in groups if g not in set(label)]
        if missing:
            raise InputError(
                "--groups", None, f"no group {missing[0]!r} (have: {', '.join(label)})"
            )
        counts = counts[label.isin(groups)].reset_index(drop=True)
    if outcome is not None:
        if outcome not in _outcomes():
            raise InputError("--outcome", None, f"unknown outcome {outcome!r}")
        other = f"not {outcome}"
        table = pd.DataFrame(
            {
                "group": counts["group"],
                outcome: counts[outcome],
                other: counts["n"] - counts[outcome],
                "n": counts["n"],
            }
        )
        cols = [outcome, other]
    else:
        table = counts[["group", *_outcomes(), "n"]]
        cols = list(_outcomes())
    if (table["n"] == 0).any():
        g = table.loc[table["n"] == 0, "group"].iloc[0]
        raise InputError(f"group {g}", "n", "is 0: all runs incomplete, cannot compare")
    return table, difference_test(table[cols].to_numpy())


def unexpected_rates(
    df: pd.DataFrame,
    by: Sequence[str],
    confidence: float = 0.95,
    epoch_bucket_width: int = DEFAULT_EPOCH_BUCKET_WIDTH,
) -> pd.DataFrame:
    """Per group: n, k (runs not Masked), rate and Wilson interval; empty groups left out."""
    counts = outcome_counts(df, by, epoch_bucket_width)
    counts = counts[counts["n"] > 0].reset_index(drop=True)
    k = (counts["n"] - counts[MASKED]).to_numpy(dtype=np.int64)
    n = counts["n"].to_numpy(dtype=np.int64)
    low, high = proportion_ci_array(k, n, "wilson", confidence) if len(n) else (k, k)
    counts["k_unexpected"] = k
    counts["rate_unexpected"] = k / n if len(n) else k
    counts["ci_low"] = low
    counts["ci_high"] = high
    return counts
