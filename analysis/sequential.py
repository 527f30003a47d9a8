"""Sequential campaigns: injections per stratum until every outcome rate is narrow enough.

A fixed-size campaign takes the worst case (p = 0.5) for every stratum; most strata are far
from it (most faults are Masked), so they reach the same interval width with fewer runs. A
sequential campaign looks at its results after each round and stops the strata that are done.

Looking at the data and stopping when the interval is narrow would make ordinary intervals too
optimistic, so the design is fixed before any injection (a group-sequential design):

- K looks at pre-computed stratum sizes n_1 < ... < n_K (``schedule``): n_K is the smallest n
  at which the interval is narrow enough whatever the outcome counts, and n_k = ceil(k n_K / K);
- at every look, each outcome's rate gets an exact Clopper-Pearson interval at confidence
  1 - alpha / K (alpha = 1 - confidence): the error is split evenly over the looks (Bonferroni);
- a stratum stops at the first look where every outcome's interval has a half-width
  (high - low) / 2 at most the target, and at look K in any case.

With probability at least 1 - alpha all K intervals of an outcome cover its rate (union bound),
so the interval at whichever look a stratum stopped covers it too: the final intervals are valid
at the stated confidence, per stratum and outcome (as the fixed-size rates tables are), however
the stopping went. Incomplete runs are left out of every count, as everywhere.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from analysis.errors import InputError
from analysis.strict import MAX_CONFIDENCE, integer, number
from analysis.strict import confidence as strict_confidence

FORMAT = "fi-sequential/1"
METHOD = "clopper-pearson"
DESIGN = "K pre-computed looks, exact Clopper-Pearson intervals at 1 - alpha/K (Bonferroni)"
MIN_HALF_WIDTH = 0.005
MAX_LOOKS = 20
_MAX_N = 10**8


@dataclass(frozen=True)
class Schedule:
    """Stratum sizes of the K looks, and the confidence level of every look's intervals."""

    sizes: list[int]
    level: float


def _widest_half_width(n: int, level: float) -> float:
    """The largest Clopper-Pearson half-width over the possible counts of n runs (near n/2)."""
    from analysis.stats import proportion_ci_array

    ks = np.array(sorted({k for k in (n // 2 - 1, n // 2, (n + 1) // 2, n // 2 + 1)
                          if 0 <= k <= n}))
    low, high = proportion_ci_array(ks, np.full(ks.shape, n), METHOD, level)
    return float(np.max(high - low) / 2.0)


def worst_case_n(half_width: float, level: float) -> int:
    """The smallest n whose interval at ``level`` is at most ``half_width`` for any count."""
    high = 1
    while _widest_half_width(high, level) > half_width:
        high *= 2
        if high > _MAX_N:
            raise InputError("half_width", None, f"{half_width} needs more than {_MAX_N} runs")
    low = high // 2  # too wide at low (or low == 0)
    while high - low > 1:
        mid = (low + high) // 2
        if _widest_half_width(mid, level) <= half_width:
            high = mid
        else:
            low = mid
    return high


def schedule(half_width: float, confidence: float, looks: int) -> Schedule:
    """The looks of a sequential campaign, fixed before any injection (see the module doc)."""
    half_width = number(half_width, "--half-width", low=MIN_HALF_WIDTH, high=0.5, high_open=True)
    confidence = strict_confidence(confidence, "--confidence")
    looks = integer(looks, "--looks", low=1, high=MAX_LOOKS)
    level = 1.0 - (1.0 - confidence) / looks
    if level > MAX_CONFIDENCE:
        raise InputError(
            "--confidence", None, f"{confidence!r} is too close to 1 for {looks} looks: each "
            f"look's level, 1 - (1 - confidence) / {looks}, must be at most {MAX_CONFIDENCE!r}"
        )
    last = worst_case_n(half_width, level)
    sizes = sorted({math.ceil(last * k / looks) for k in range(1, looks + 1)})
    return Schedule(sizes=sizes, level=level)


def estimate(df: Any, by: Sequence[str], half_width: float, plan: Schedule) -> Any:
    """One row per stratum (group of ``by``): n, incomplete runs, every outcome's count and
    interval at the schedule's level, the widest half-width and whether the target is met."""
    import pandas as pd

    from analysis.groups import outcome_counts
    from analysis.outcomes import outcomes as _outcomes
    from analysis.stats import proportion_ci_array

    counts = outcome_counts(df, list(by))
    k = counts[list(_outcomes())].to_numpy(dtype=np.int64)
    n = counts["n"].to_numpy(dtype=np.int64)
    rows = []
    for i in range(len(counts)):
        row: dict[str, Any] = {c: counts[c].iloc[i] for c in by}
        row.update(n=int(n[i]), n_incomplete=int(counts["n_incomplete"].iloc[i]))
        if n[i] == 0:
            row.update(half_width=1.0, widest=None, reached=False, intervals={})
        else:
            low, high = proportion_ci_array(k[i], np.full(k[i].shape, n[i]), METHOD, plan.level)
            halves = (high - low) / 2.0
            widest = int(np.argmax(halves))
            row.update(
                half_width=float(halves[widest]), widest=_outcomes()[widest],
                reached=bool(halves[widest] <= half_width),
                intervals={o: [int(k[i][j]), float(low[j]), float(high[j])]
                           for j, o in enumerate(_outcomes())},
            )
        rows.append(row)
    return pd.DataFrame(rows)


def record(strata: Any, by: Sequence[str], half_width: float, confidence: float,
           plan: Schedule) -> dict[str, Any]:
    """The JSON record the pipeline reads after each round (and the final report's data)."""
    return {
        "format": FORMAT,
        "design": DESIGN,
        "by": list(by),
        "half_width": half_width,
        "confidence": confidence,
        "looks": plan.sizes,
        "level": plan.level,
        "strata": [
            {
                "key": {c: str(row[c]) for c in by},
                "n": int(row["n"]),
                "n_incomplete": int(row["n_incomplete"]),
                "half_width": float(row["half_width"]),
                "widest": row["widest"],
                "reached": bool(row["reached"]),
                "intervals": {o: {"k": v[0], "low": v[1], "high": v[2]}
                              for o, v in row["intervals"].items()},
            }
            for _, row in strata.iterrows()
        ],
    }


def long_table(strata: Any, by: Sequence[str], plan: Schedule) -> Any:
    """CSV form: one row per stratum and outcome."""
    import pandas as pd

    rows = []
    for _, row in strata.iterrows():
        for outcome, (k, low, high) in row["intervals"].items():
            rows.append({**{c: row[c] for c in by}, "outcome": outcome, "k": k,
                         "n": row["n"], "rate": k / row["n"], "ci_low": low, "ci_high": high,
                         "method": METHOD, "confidence": plan.level,
                         "n_incomplete": row["n_incomplete"],
                         "stratum_half_width": row["half_width"],
                         "target_reached": row["reached"]})
    return pd.DataFrame(rows)


def markdown(strata: Any, by: Sequence[str], half_width: float, confidence: float,
             plan: Schedule) -> str:
    from analysis.tables import pct

    lines = [
        "# Sequential campaign",
        "",
        f"Target: every outcome's interval at most +/- {pct(half_width)} % per stratum "
        f"({', '.join(by)}), {pct(confidence)} % confidence overall.",
        f"Looks at {', '.join(map(str, plan.sizes))} runs per stratum; each look's intervals "
        f"are Clopper-Pearson at {100 * plan.level:.4g} % (the error split over the "
        f"{len(plan.sizes)} looks), so the final ones hold at {pct(confidence)} %.",
        "",
        f"| {' | '.join(by)} | n | widest outcome | its rate (interval) | half-width | target |",
        f"| {' | '.join('---' for _ in by)} | --- | --- | --- | --- | --- |",
    ]
    for _, row in strata.iterrows():
        keys = " | ".join(str(row[c]) for c in by)
        if row["widest"] is None:
            lines.append(f"| {keys} | 0 | | | | not reached |")
            continue
        k, low, high = row["intervals"][row["widest"]]
        rate = f"{pct(k / row['n'])} % ({pct(low)}-{pct(high)})"
        reached = "reached" if row["reached"] else "not reached"
        lines.append(f"| {keys} | {row['n']} | {row['widest']} | {rate} | "
                     f"{pct(row['half_width'])} % | {reached} |")
    total = int(strata["n"].sum())
    lines += ["", f"{total} complete runs in {len(strata)} strata."]
    return "\n".join(lines) + "\n"
