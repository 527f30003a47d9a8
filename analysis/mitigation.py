"""How well each mitigation preset does, against the same CSVs without mitigation.

Every injection CSV of a campaign with the `mitigation:` key is run once per preset. A run is
paired with the run of the same CSV (same workload and id) without mitigation (`none`), and
each preset other than `none` gets one row:

- coverage: of the pairs whose outcome without mitigation is not Masked, the share that is
  Masked with it (recovered), with a Wilson interval; also per outcome class (INF/NaN,
  degradation) of the run without mitigation;
- new_unexpected: pairs Masked without mitigation and not with it (a mitigation must not make
  things worse), and McNemar's exact test on the discordant pairs;
- false positives: steps at which a detector fired in the golden runs replayed with the
  preset observing (`fi-core observe`), with the exact one-sided upper confidence bound of
  false positives per step;
- detections, the median latency from the injection to the first detection, and the overhead:
  the time of a fault-free step with the preset (its observe runs: probes, decisions and
  snapshots included) over the time of a step without (the observe runs of the baseline).

Only complete runs count (an incomplete run on either side leaves its pair out, counted).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.errors import InputError
from analysis.outcomes import (
    IMMEDIATE,
    LATE,
    LOW_TEST,
    MASKED,
    SHARP_DEGRADE,
    SHORT_TERM,
    SLOW_DEGRADE,
)
from analysis.stats import mcnemar_exact, proportion_ci, upper_bound
from analysis.trace import NO_MITIGATION, Trace

CLASSES: dict[str, tuple[str, ...]] = {
    "nonfinite": (IMMEDIATE, SHORT_TERM, LATE),
    "degradation": (SHARP_DEGRADE, SLOW_DEGRADE, LOW_TEST),
}
"""Outcome classes of the run without mitigation, for coverage per class."""

TABLE_COLUMNS = [
    "id",
    "workload",
    "mitigation",
    "complete",
    "outcome",
    "stage",
    "fmodel",
    "target_layer",
    "inj_epoch",
    "inj_step",
    "max_abs_injected",
    "detections",
    "detection_latency_steps",
    "rollbacks",
    "unrecovered",
    "steps_reexecuted",
]

COLUMNS = [
    "mitigation",
    "n",
    "unexpected_without",
    "recovered",
    "coverage",
    "coverage_low",
    "coverage_high",
    "new_unexpected",
    "mcnemar_p",
    "missed",
    *(
        f"{kind}_{cls}"
        for cls in CLASSES
        for kind in ("unexpected", "recovered", "coverage", "coverage_low", "coverage_high")
    ),
    "detections",
    "detected_runs",
    "false_positive_steps",
    "golden_steps",
    "fp_rate_high",
    "median_latency_steps",
    "rollbacks",
    "unrecovered",
    "steps_reexecuted",
    "overhead_ratio",
    "incomplete_pairs",
    "confidence",
]


@dataclass(frozen=True)
class GoldenObservations:
    """One preset on the fault-free runs replayed with it observing: its false positives, and
    the time of a step (summed over the runs that recorded it)."""

    runs: int
    flagged_steps: int
    steps: int
    step_seconds: float = 0.0
    timed_steps: int = 0

    @property
    def seconds_per_step(self) -> float:
        return self.step_seconds / self.timed_steps if self.timed_steps else float("nan")


def observations(traces: Sequence[Trace]) -> dict[str, GoldenObservations]:
    """Per preset, the flagged steps (false positives), steps and step time of its observe runs.
    A trace that is not a complete golden run with a mitigation recorded is refused."""
    by_preset: dict[str, list[tuple[int, int, float, int]]] = {}
    for trace in traces:
        if not trace.complete:
            raise InputError(trace.path, None, f"incomplete: {trace.problem_summary()}")
        if trace.kind != "golden" or trace.detections is None:
            raise InputError(
                trace.path,
                "mitigation",
                "not an observe run (a golden run with a mitigation recorded)",
            )
        found = trace.detections
        steps = found.steps_trained
        if steps is None:
            steps = int(trace.curves.step_loss.size) if trace.curves is not None else 0
        timed = (found.step_seconds or 0.0, found.timed_steps or 0)
        by_preset.setdefault(trace.mitigation, []).append((found.flagged_steps, steps, *timed))
    return {
        preset: GoldenObservations(len(runs), *(sum(run[i] for run in runs) for i in range(4)))
        for preset, runs in by_preset.items()
    }


def _coverage(recovered: int, unexpected: int, confidence: float) -> tuple[float, float, float]:
    if unexpected == 0:
        return float("nan"), float("nan"), float("nan")
    low, high = proportion_ci(recovered, unexpected, "wilson", confidence)
    return recovered / unexpected, low, high


def _known_workloads(df: pd.DataFrame) -> pd.DataFrame:
    """A damaged run names no workload: it takes the one the other runs of its id name (when
    they agree), so it is paired (and counted incomplete), or seen twice in its preset, not
    silently left out."""
    missing = df["workload"].isna() | (df["workload"] == "")
    if not missing.any():
        return df
    named = df[~missing].drop_duplicates(["id", "workload"])
    unique = named[~named["id"].duplicated(keep=False)].set_index("id")["workload"]
    return df.assign(workload=df["workload"].where(~missing, df["id"].map(unique)))


def pairs(df: pd.DataFrame, preset: str, baseline: str = NO_MITIGATION) -> pd.DataFrame:
    """The runs of `preset` next to the baseline runs of the same CSV (suffixes _without,
    _with); every run of both, complete or not. A CSV twice in one preset is refused."""
    keys = ["workload", "id"]
    df = _known_workloads(df)
    for name in (baseline, preset):
        runs = df[df["mitigation"] == name]
        twice = runs.duplicated(keys)
        if twice.any():
            row = runs[twice].iloc[0]
            raise InputError("table", "id", f"{row['id']!r} appears twice with mitigation {name!r}")
    without = df[df["mitigation"] == baseline]
    with_ = df[df["mitigation"] == preset]
    return without.merge(with_, on=keys, suffixes=("_without", "_with"))


def preset_row(
    df: pd.DataFrame,
    preset: str,
    golden: GoldenObservations | None,
    confidence: float = 0.95,
    baseline: str = NO_MITIGATION,
    plain: GoldenObservations | None = None,
) -> dict[str, object]:
    """The row of one preset (see the module docstring); `golden` and `plain`: the observe runs
    of the preset and of the baseline."""
    merged = pairs(df, preset, baseline)
    complete = merged["complete_without"].astype(bool) & merged["complete_with"].astype(bool)
    both = merged[complete]
    masked_without = both["outcome_without"] == MASKED
    masked_with = both["outcome_with"] == MASKED
    unexpected = int((~masked_without).sum())
    recovered = int((~masked_without & masked_with).sum())
    new = int((masked_without & ~masked_with).sum())
    coverage, low, high = _coverage(recovered, unexpected, confidence)
    row: dict[str, object] = {
        "mitigation": preset,
        "n": len(both),
        "unexpected_without": unexpected,
        "recovered": recovered,
        "coverage": coverage,
        "coverage_low": low,
        "coverage_high": high,
        "new_unexpected": new,
        "mcnemar_p": mcnemar_exact(recovered, new),
        "missed": unexpected - recovered,
    }
    for cls, labels in CLASSES.items():
        in_class = both["outcome_without"].isin(labels)
        k = int((in_class & masked_with).sum())
        n = int(in_class.sum())
        c, lo, hi = _coverage(k, n, confidence)
        row.update(
            {
                f"unexpected_{cls}": n,
                f"recovered_{cls}": k,
                f"coverage_{cls}": c,
                f"coverage_low_{cls}": lo,
                f"coverage_high_{cls}": hi,
            }
        )
    runs = df[(df["mitigation"] == preset) & df["complete"].astype(bool)]
    latency = runs["detection_latency_steps"].dropna().astype("float64")
    row.update(
        detections=int(runs["detections"].fillna(0).sum()),
        detected_runs=int(runs["detection_latency_steps"].notna().sum()),
        median_latency_steps=float(np.median(latency)) if len(latency) else float("nan"),
        rollbacks=int(runs["rollbacks"].fillna(0).sum()),
        unrecovered=int(runs["unrecovered"].fillna(0).sum()),
        steps_reexecuted=int(runs["steps_reexecuted"].fillna(0).sum()),
        incomplete_pairs=int((~complete).sum()),
        confidence=confidence,
    )
    if golden is not None and golden.steps > 0:
        row.update(
            false_positive_steps=golden.flagged_steps,
            golden_steps=golden.steps,
            fp_rate_high=upper_bound(golden.flagged_steps, golden.steps, confidence),
        )
    else:
        row.update(false_positive_steps=None, golden_steps=0, fp_rate_high=float("nan"))
    timed = golden is not None and plain is not None
    row["overhead_ratio"] = golden.seconds_per_step / plain.seconds_per_step if timed else np.nan
    return row


def mitigation_table(
    df: pd.DataFrame,
    golden: dict[str, GoldenObservations],
    confidence: float = 0.95,
    baseline: str = NO_MITIGATION,
) -> pd.DataFrame:
    """One row per preset other than the baseline, in order of first appearance."""
    presets = [p for p in pd.unique(df["mitigation"].astype(str)) if p != baseline]
    if not (df["mitigation"] == baseline).any():
        raise InputError(
            "table",
            "mitigation",
            f"no runs without mitigation ({baseline!r}) to pair the others with",
        )
    if not presets:
        raise InputError(
            "table", "mitigation", f"only runs with mitigation {baseline!r}: nothing to compare"
        )
    unknown = sorted(set(golden) - {*presets, baseline})
    if unknown:
        raise InputError(
            "--observe",
            None,
            f"observe runs of preset {unknown[0]!r}, which has no injection runs in the table",
        )
    rows = [
        preset_row(df, p, golden.get(p), confidence, baseline, golden.get(baseline))
        for p in presets
    ]
    return pd.DataFrame(rows, columns=COLUMNS)


def misses(
    df: pd.DataFrame, preset: str, limit: int = 10, baseline: str = NO_MITIGATION
) -> pd.DataFrame:
    """Examples of runs a preset did not bring back to Masked (or made unexpected): the fault,
    the outcome without and with, and whether (and when) it detected anything."""
    merged = pairs(df, preset, baseline)
    complete = merged["complete_without"].astype(bool) & merged["complete_with"].astype(bool)
    both = merged[complete]
    bad = both["outcome_with"] != MASKED
    columns = [
        "id",
        "stage_without",
        "fmodel_without",
        "target_layer_without",
        "inj_epoch_without",
        "inj_step_without",
        "max_abs_injected_without",
        "outcome_without",
        "outcome_with",
        "detections_with",
        "detection_latency_steps_with",
    ]
    return both.loc[bad, columns].head(limit).rename(columns=lambda c: c.removesuffix("_without"))
