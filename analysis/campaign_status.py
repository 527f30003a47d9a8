"""Where a running campaign stands: injections done, time spent and left, provisional rates.

Reads whatever exists under a campaign's results folder, at any moment: trace records appear
atomically (written under a hidden temporary name, then renamed), so a trace is either there
whole or not at all, and hidden files are never read. Nothing is written.

Provisional means what it says: a campaign's traces do not arrive in random order. Runs that
end at an INF/NaN stop early and finish first, so early in a campaign the INF/NaN outcomes are
over-represented; the intervals cover the runs done so far, not the campaign.
"""

from __future__ import annotations

import bisect
import contextlib
import csv
import io
import math
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from analysis.collect import load_goldens
from analysis.errors import InputError
from analysis.golden import GoldenSet
from analysis.ingest import IngestOptions, ingest
from analysis.outcomes import INCOMPLETE, Thresholds
from analysis.outcomes import outcomes as _outcomes
from analysis.trace import printable
from analysis.tracefiles import discover_traces, folder_preset, load_trace

RECENT_WINDOW_S = 1800.0  # the pace of the campaign: traces finished in the last 30 minutes
_PROBE_TRACES = 20  # traces read to find the golden runs when --golden is not given


@dataclass
class Status:
    """A snapshot of a campaign (see ``campaign_status``); ``format_status`` prints it."""

    results_dir: str
    planned: int | None = None
    planned_from: list[str] = field(default_factory=list)
    done: int = 0  # injection traces that are complete
    failed: int = 0  # injection traces present but incomplete (unreadable, truncated, ...)
    golden: list[str] = field(default_factory=list)
    finished_jobs: int = 0
    jobs_s: float = 0.0  # wall time of the finished jobs (Snakemake benchmarks)
    running_runs_s: float = 0.0  # wall time of finished runs of jobs still running
    per_run_s: float | None = None
    recent_runs: int = 0  # runs finished within the last window_s seconds
    window_s: float = RECENT_WINDOW_S
    pace_per_s: float | None = None
    table: Any = None  # pandas DataFrame of the traces so far (results-table columns)
    rates: Any = None  # grouped rates (long form) by ``by``, plus the group "all"
    by: list[str] = field(default_factory=list)
    method: str = "wilson"
    confidence: float = 0.95
    failures: list[str] = field(default_factory=list)  # the first problem of each failed trace
    notes: list[str] = field(default_factory=list)

    @property
    def remaining(self) -> int | None:
        """Injections without a trace yet (failed ones count as done: they have a trace)."""
        return None if self.planned is None else max(0, self.planned - self.done - self.failed)

    @property
    def spent_s(self) -> float:
        return self.jobs_s + self.running_runs_s

    @property
    def compute_left_s(self) -> float | None:
        if self.remaining is None or self.per_run_s is None:
            return None
        return self.remaining * self.per_run_s

    @property
    def wall_left_s(self) -> float | None:
        if self.remaining is None or not self.pace_per_s:
            return None
        return self.remaining / self.pace_per_s

    @property
    def provisional(self) -> bool:
        return self.remaining is None or self.remaining > 0

    def __str__(self) -> str:
        return format_status(self)


def _count_csvs(folder: str) -> int:
    return sum(
        1
        for entry in os.scandir(folder)
        if entry.name.endswith(".csv") and not entry.name.startswith(".") and entry.is_file()
    )


def _planned(status: Status, csv_dir: str | None) -> None:
    folder = csv_dir or os.path.join(status.results_dir, "csv")
    if not os.path.isdir(folder):
        if csv_dir is not None:
            raise InputError(csv_dir, "--csv-dir", "no such directory")
        status.notes.append(f"no CSV folder {folder} (yet): the number planned is unknown")
        return
    status.planned = _count_csvs(folder)
    status.planned_from = [folder]


def _per_preset(status: Status, results_dir: str, rows: list[dict[str, Any]]) -> None:
    """A campaign with mitigation presets replays every CSV once per preset (the runs without
    mitigation in `traces/`, each other preset's in `mitigated/<preset>/`): planned per preset,
    and the rates per preset too."""
    mitigated = os.path.join(results_dir, "mitigated")
    folders = (
        [e.name for e in os.scandir(mitigated) if e.is_dir() and not e.name.startswith(".")]
        if os.path.isdir(mitigated)
        else []
    )
    presets = {row["mitigation"] or "none" for row in rows} | set(folders)
    if folders:
        presets.add("none")
    if len(presets) < 2:
        return
    if status.planned is not None:
        status.planned *= len(presets)
        status.notes.append(
            f"mitigation presets {', '.join(sorted(presets))}: every CSV once each"
        )
    if "mitigation" not in status.by:
        status.by = ["mitigation", *status.by]


def _resolve(path: str, results_dir: str) -> Path | None:
    """A relative path recorded by a job (relative to the workflow's directory): found from
    here, or from a folder above the results folder."""
    p = Path(path)
    if p.is_absolute():
        return p if p.exists() else None
    bases = [Path.cwd(), *Path(os.path.abspath(results_dir)).parents]
    return next((b / p for b in bases if (b / p).exists()), None)


def _shown(path: Path) -> str:
    """A path as short as it can be said: relative to here when it is below here."""
    rel = os.path.relpath(path)
    return str(path) if rel.startswith("..") else rel


def _discover_goldens(status: Status, paths: list[str]) -> list[str]:
    """The golden runs of the campaign, from the checkpoint its traces resumed from:
    ``<golden>/<workload>/seed_<s>/epoch_<e>`` -> every ``seed_*/trace.json`` beside it."""
    folders: dict[str, None] = {}
    # Only a folder of the pipeline's results is scanned: a path read from a trace is data,
    # and must not send this anywhere else on the machine (give --golden for other places).
    results_root = os.path.realpath(Path(status.results_dir).parent)
    for path in paths[:_PROBE_TRACES]:
        ckpt = load_trace(path).golden_checkpoint_path
        if ckpt:  # the workload's folder of seeds: two levels above the checkpoint
            found = _resolve(str(Path(ckpt).parent.parent), status.results_dir)
            if found is None or not found.is_dir():
                continue
            if not os.path.realpath(found).startswith(results_root + os.sep):
                status.notes.append(
                    f"golden folder {str(found)[:200]!r} named by {_shown(Path(path))} is "
                    f"outside {_shown(Path(results_root))}: not used (give --golden)"
                )
                continue
            folders[str(found)] = None
    out: list[str] = []
    for folder in folders:
        seeds = sorted(p for p in Path(folder).iterdir() if p.is_dir())
        for seed in seeds:
            trace = next(
                (seed / n for n in ("trace.json", "trace.txt") if (seed / n).is_file()), None
            )
            if trace is None:
                status.notes.append(f"golden run {_shown(seed)} has no trace (yet): not used")
            elif load_trace(str(trace)).complete:
                out.append(_shown(trace))
            else:
                status.notes.append(f"golden run {_shown(trace)} is incomplete: not used")
    if not out:
        status.notes.append(
            "no golden trace found (give --golden): outcomes are not classified yet"
        )
    return out


def _read_benchmark(path: str) -> float | None:
    """Seconds of one Snakemake benchmark TSV (its `s` column), None if unreadable."""
    from analysis.inputs import Unreadable, read_regular

    try:  # a regular file of at most 1 MiB: a FIFO among the benchmarks must not block status
        text = read_regular(path, 1 << 20, "a benchmark file").decode("utf-8")
        rows = list(csv.DictReader(io.StringIO(text, newline=""), delimiter="\t"))
        value = float(rows[0]["s"])
    except (Unreadable, UnicodeDecodeError, csv.Error, LookupError, TypeError, ValueError):
        return None
    return value if math.isfinite(value) and value >= 0 else None


def _benchmarks(results_dir: Path) -> tuple[dict[tuple[str, str], float], int]:
    """Seconds of every finished inject job by (preset, job name), and how many benchmark files
    were unreadable: a campaign's own jobs in `benchmarks/inject/<campaign>/`, another
    mitigation preset's in its sub-folder."""
    found: dict[tuple[str, str], float] = {}
    bad = 0
    for kind in ("inject", "replay"):
        folder = results_dir.parent / "benchmarks" / kind / results_dir.name
        if not folder.is_dir():
            continue
        for tsv in sorted(folder.rglob("*.tsv")):
            preset = "none" if tsv.parent == folder else tsv.parent.name
            seconds = _read_benchmark(str(tsv))
            if seconds is None:
                bad += 1
            else:
                found[(preset, tsv.stem)] = seconds
    return found, bad


class _FinishedJobs:
    """The finished jobs of each preset, looked up by run id in O(log jobs): jobs are named
    `<first id>..<last id>` (ids in sorted order, ranges that do not overlap), or, in older
    campaigns, by their ids' shared prefix."""

    def __init__(self, jobs: Sequence[tuple[str, str]]) -> None:
        self.ranges: dict[str, tuple[list[str], list[str]]] = {}
        self.prefixes: set[tuple[str, str]] = set()
        for preset, job in sorted(jobs, key=lambda pj: (pj[0], pj[1].partition("..")[0])):
            first, sep, last = job.partition("..")
            if sep:
                firsts, lasts = self.ranges.setdefault(preset, ([], []))
                firsts.append(first)
                lasts.append(last)
            else:
                self.prefixes.add((preset, job))

    def covers(self, preset: str, run_id: str) -> bool:
        firsts, lasts = self.ranges.get(preset, ([], []))
        i = bisect.bisect_right(firsts, run_id) - 1
        if i >= 0 and run_id <= lasts[i]:
            return True
        return any((preset, run_id[:k]) in self.prefixes for k in range(1, len(run_id) + 1))


def _job_times(status: Status, rows: list[dict[str, Any]]) -> None:
    """Time spent from the jobs' benchmarks and the runs' wall times; cost of one run."""
    jobs, bad = _benchmarks(Path(status.results_dir))
    if bad:
        status.notes.append(f"{bad} benchmark file(s) unreadable: left out of the times")
    status.finished_jobs = len(jobs)
    status.jobs_s = sum(jobs.values())
    finished = _FinishedJobs(list(jobs))
    covered = 0
    walls: list[float] = []
    for row in rows:
        if finished.covers(row.get("mitigation") or "none", str(row["id"])):
            covered += 1
        elif row.get("wall_time_s") is not None:
            status.running_runs_s += float(row["wall_time_s"])
        if row.get("wall_time_s") is not None:
            walls.append(float(row["wall_time_s"]))
    if covered:
        status.per_run_s = status.jobs_s / covered
    elif walls:
        status.per_run_s = sum(walls) / len(walls)


def _pace(status: Status, rows: list[dict[str, Any]], now: float) -> None:
    """Runs per second over the recent window, from the trace files' times."""
    ends, starts = [], []
    for row in rows:
        try:
            mtime = os.stat(row["trace"]).st_mtime
        except OSError:
            continue
        ends.append(mtime)
        starts.append(mtime - float(row.get("wall_time_s") or 0.0))
    if not ends:
        return
    status.window_s = min(RECENT_WINDOW_S, max(1.0, now - min(starts)))
    status.recent_runs = sum(1 for t in ends if t >= now - status.window_s)
    if status.recent_runs:
        status.pace_per_s = status.recent_runs / status.window_s


def _vanished(row: dict[str, Any]) -> bool:
    """A trace that was removed while being read (Snakemake cleans up after a failed job)."""
    return not row["complete"] and not os.path.exists(row["trace"])


def _rows(
    paths: list[str], golden_set: GoldenSet | None, options: IngestOptions, t: Thresholds, jobs: int
) -> list[dict[str, Any]]:
    from analysis.rows import summary_row

    rows: list[dict[str, Any]] = []
    if golden_set is None:  # not classifiable yet: count and time only
        for path in paths:
            trace = load_trace(path, options.num_classes, options.csv_dir)
            if trace.kind == "golden" and (trace.fmt == "json" or trace.complete):
                continue
            row = summary_row(trace, None)
            row["outcome"] = INCOMPLETE if trace.problems else None
            rows.append(row)
        return [r for r in rows if not _vanished(r)]
    with contextlib.closing(ingest(paths, golden_set, options, t, jobs, log=io.StringIO())) as it:
        for chunk in it:
            if chunk.error is not None:
                raise chunk.error
            rows.extend(chunk.rows)
    return [r for r in rows if not _vanished(r)]


def _rates(status: Status, rows: list[dict[str, Any]]) -> None:
    import pandas as pd

    from analysis.groups import grouped_rates
    from analysis.table import rows_to_table

    nullable = {"int32": pd.Int32Dtype(), "int64": pd.Int64Dtype()}
    df = rows_to_table(rows).to_pandas(types_mapper=lambda t: nullable.get(str(t)))
    status.table = df
    if not (df["outcome"] != INCOMPLETE).any():
        status.notes.append("no complete run yet: no rates")
        return
    quiet = io.StringIO()
    parts = [grouped_rates(df, [], status.method, status.confidence, log=quiet)]
    parts[0].insert(0, "group", "all")
    if status.by:
        by = grouped_rates(
            df, status.by, status.method, status.confidence, skip_empty=True, log=quiet
        )
        label = by[status.by].astype(str).agg(", ".join, axis=1)
        by = by.drop(columns=status.by)
        by.insert(0, "group", label)
        parts.append(by)
    status.rates = pd.concat(parts, ignore_index=True)


def _once_per_run(paths: list[str], results_dir: str) -> list[str]:
    """Trace files with a run in both a job folder and its partial folder read once (the job
    folder's): a pair moved between the two listings would otherwise count twice."""
    partial = os.path.join(os.path.abspath(results_dir), "partial") + os.sep
    seen: set[tuple[str | None, str]] = set()
    kept = []
    for path in sorted(paths, key=lambda p: os.path.abspath(p).startswith(partial)):
        key = (folder_preset(path), os.path.splitext(os.path.basename(path))[0])
        if key not in seen:
            seen.add(key)
            kept.append(path)
    return kept


def campaign_status(
    results_dir: str,
    golden: Sequence[str] | None = None,
    csv_dir: str | None = None,
    by: Sequence[str] = ("stage",),
    method: str = "wilson",
    confidence: float = 0.95,
    thresholds: Thresholds | None = None,
    num_classes: int = 10,
    jobs: int = 1,
    now: float | None = None,
) -> Status:
    """Read a campaign's results folder as it is now (``results/<campaign>``)."""
    from analysis.stats import METHODS, normal_quantile

    if method not in METHODS:
        raise InputError("--method", None, f"must be one of {', '.join(METHODS)}, got {method!r}")
    normal_quantile(confidence)
    from analysis.columns import RESULT_NAMES
    from analysis.groups import DERIVED

    for column in by:
        if column not in RESULT_NAMES and column not in DERIVED:
            raise InputError("--by", None, f"no column {column!r} in the results table")
    if not os.path.isdir(results_dir):
        raise InputError(results_dir, None, "no such directory (a campaign's results folder)")
    status = Status(results_dir, by=list(by), method=method, confidence=confidence)
    _planned(status, csv_dir)
    # partial/: the pairs a running (or killed) inject job has finished, before it moves them
    # into its folder (fi-core inject --partial-dir); a run moved meanwhile is read once.
    folders = [os.path.join(results_dir, name) for name in ("traces", "mitigated", "partial")]
    folders = [f for f in folders if os.path.isdir(f)]
    found = discover_traces(folders, recursive=True)[0] if folders else []
    paths = _once_per_run(found, results_dir)
    options = IngestOptions(num_classes=num_classes, csv_dir=csv_dir)
    t = thresholds or Thresholds()
    golden_set = None
    golden_paths = list(golden) if golden else _discover_goldens(status, paths)
    if golden_paths:
        goldens, golden_set = load_goldens(golden_paths, options)
        status.golden = [g.path for g in goldens]
        seen = {os.path.realpath(p) for p in status.golden}
        paths = [p for p in paths if os.path.realpath(p) not in seen]
    rows = _rows(paths, golden_set, options, t, jobs)
    _per_preset(status, results_dir, rows)
    status.failures = [str(r["problem"]).split(" | ")[0] for r in rows if not r["complete"]]
    status.failed = len(status.failures)
    status.done = len(rows) - status.failed
    _job_times(status, rows)
    _pace(status, rows, time.time() if now is None else now)
    if golden_set is not None and rows:
        _rates(status, rows)
    return status


def duration(seconds: float | None) -> str:
    """12s, 5m07s, 3h04m, 2d05h."""
    if seconds is None or not math.isfinite(seconds):
        return "unknown"
    s = round(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 86400}d{s % 86400 // 3600:02d}h"


def _rate_cell(row: Any) -> str:
    return (
        f"{int(row.k):>4} {100 * row.rate:5.1f}% ({100 * row.ci_low:.1f}-{100 * row.ci_high:.1f})"
    )


def _rates_lines(status: Status) -> list[str]:
    rates = status.rates
    groups = list(dict.fromkeys(rates["group"]))
    n = {g: int(rates.loc[rates["group"] == g, "n"].iloc[0]) for g in groups}
    heads = [f"{g} (n={n[g]})" for g in groups]
    width = max(24, *(len(h) + 2 for h in heads))
    lines = ["  " + f"{'outcome':<22}" + "".join(f"{h:<{width}}" for h in heads)]
    for outcome in _outcomes():
        cells = []
        for g in groups:
            r = rates[(rates["group"] == g) & (rates["outcome"] == outcome)]
            cells.append(_rate_cell(r.iloc[0]) if len(r) else "")
        lines.append("  " + f"{outcome:<22}" + "".join(f"{c:<{width}}" for c in cells))
    return [line.rstrip() for line in lines]


def format_status(status: Status) -> str:
    """The status as a few lines of text for a terminal."""
    from analysis.tables import METHOD_NAMES

    rd = printable(status.results_dir)
    have = status.done + status.failed
    if status.planned is None:
        head = f"{rd}: PROVISIONAL: {have} injection(s) have a trace; the number planned is unknown"
    elif status.provisional:
        head = f"{rd}: PROVISIONAL: {have} of {status.planned} injections have a trace"
    else:
        head = f"{rd}: every planned injection has a trace ({have} of {status.planned})"
    planned = (
        f", {status.remaining} to go, {status.planned} planned "
        f"({', '.join(map(printable, status.planned_from))})"
        if status.planned is not None
        else ""
    )
    lines = [
        head,
        f"  injections  {status.done} done, {status.failed} failed (incomplete trace){planned}",
        f"  golden runs {len(status.golden)}"
        + (f": {', '.join(map(printable, status.golden))}" if status.golden else ""),
        f"  time spent  {duration(status.spent_s)} of compute ({status.finished_jobs} finished "
        f"job(s): {duration(status.jobs_s)}; runs finished in running jobs: "
        f"{duration(status.running_runs_s)})",
    ]
    if status.remaining == 0:
        lines.append("  time left   none")
    else:
        left = f"  time left   {duration(status.compute_left_s)} of compute"
        if status.remaining is not None and status.per_run_s is not None:
            left += f" ({status.remaining} x {duration(status.per_run_s)})"
        if status.wall_left_s is not None:
            left += (
                f"; at the pace of the last {duration(status.window_s)} "
                f"({status.recent_runs} run(s) finished): {duration(status.wall_left_s)}"
            )
        lines.append(left)
    if status.rates is not None:
        method = METHOD_NAMES.get(status.method, status.method)
        what = "outcome rates so far (PROVISIONAL)" if status.provisional else "outcome rates"
        lines.append(
            f"  {what}, k rate% ({status.confidence:.0%} {method} interval), complete runs only:"
        )
        lines += _rates_lines(status)
        if status.provisional:
            lines.append(
                "  (runs that end at an INF/NaN finish sooner, so early in a campaign they are "
                "over-represented)"
            )
    lines += [f"  failed: {printable(p)}" for p in status.failures[:3]]
    if len(status.failures) > 3:
        lines.append(f"  failed: ... and {len(status.failures) - 3} more")
    lines += [f"  note: {printable(n)}" for n in status.notes]
    return "\n".join(lines) + "\n"
