"""Read many trace files in worker processes, a chunk of files per task.

A worker parses its chunk, classifies the rows (numpy only: workers import neither pandas nor
pyarrow, so they start fast) and returns the summary rows and curves; the main process turns
them into Arrow and writes. Nothing else about a run is kept: memory is bounded by the chunks in
flight and the row group being written, not by the number of files. Chunks come back in input
order, so outputs are identical from run to run.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from typing import Any, TextIO

from analysis import plugins
from analysis.errors import InputError
from analysis.golden import GoldenSet
from analysis.outcomes import Thresholds, classify_rows
from analysis.rows import summary_row
from analysis.trace import Curves, Trace, printable
from analysis.tracefiles import file_by_folder, load_trace
from fi_formats.signals import signals_deferred


@dataclass(frozen=True)
class IngestOptions:
    """How to read traces (what the trace itself cannot tell)."""

    num_classes: int = 10  # for text traces
    csv_dir: str | None = None  # injection CSVs that enrich text traces
    want_curves: bool = False

    def __post_init__(self) -> None:
        if self.num_classes < 2:
            raise InputError("--num-classes", None, f"must be >= 2, got {self.num_classes}")
        if self.csv_dir is not None and not os.path.isdir(self.csv_dir):
            raise InputError(self.csv_dir, "--csv-dir", "no such directory")


@dataclass
class Chunk:
    """What a worker sends back for a chunk of files."""

    rows: list[dict[str, Any]] = field(default_factory=list)  # summary rows, classified
    runs: list[tuple[str, str, str, Curves, int]] = field(default_factory=list)  # for curves
    problems: list[str] = field(default_factory=list)  # one line per incomplete trace
    notes: list[str] = field(default_factory=list)  # skipped files
    error: InputError | None = None  # a campaign-level error: stop


_WORKER: tuple[GoldenSet, IngestOptions, Thresholds] | None = None


def _init_worker(golden: GoldenSet, options: IngestOptions, thresholds: Thresholds) -> None:
    global _WORKER
    _WORKER = (golden, options, thresholds)


def _init_pool_worker(
    golden: GoldenSet, options: IngestOptions, thresholds: Thresholds, plugin_names: list[str]
) -> None:
    """A worker process: Ctrl-C reaches the whole process group, but only the main process
    reports it (one line) and stops the pool; the workers ignore it. A worker starts with
    SIGINT blocked (`_sigint_held`): ignored first, then unblocked, a Ctrl-C that came meanwhile
    is dropped here. It loads the plugins the main process loaded (their rules classify here;
    spawned, it inherits none)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    plugins.load(plugin_names)
    _init_worker(golden, options, thresholds)


def problem_line(trace: Trace) -> str | None:
    """The one stderr line of an incomplete trace: its first problem and how many more."""
    if not trace.problems:
        return None
    more = trace.n_problems - 1
    return trace.problems[0] + (f" (and {more} more problem(s))" if more > 0 else "")


def _one(
    path: str, golden: GoldenSet, options: IngestOptions
) -> tuple[str, Any, Curves | None, str | None]:
    trace = load_trace(path, options.num_classes, options.csv_dir)
    if trace.kind == "golden" and (trace.fmt == "json" or trace.complete):
        note = f"{printable(path)}: skipped: a fault-free (golden) run, not an injection run"
        return "skip", note, None, None
    row = summary_row(file_by_folder(trace), golden.reference_for(trace))
    return "row", row, trace.curves if options.want_curves else None, problem_line(trace)


@contextlib.contextmanager
def _sigint_held() -> Iterator[None]:
    """SIGINT held back while worker processes are started. Blocked: a new process inherits
    the signal mask, so a Ctrl-C during start-up prints no traceback from a half-started worker
    (it unblocks SIGINT only once it ignores it). Deferred too: another thread of this process
    (a library's thread pool) may take a Ctrl-C meanwhile, and Python would then run the handler
    in the middle of starting a worker, between its launch and the data it waits for (the
    worker then died with a traceback). This process gets the Ctrl-C when the block ends.
    (Ignoring it here instead, as before, lost a Ctrl-C that came in that window.)"""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        with signals_deferred():
            yield
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


def ingest_chunk(paths: list[str]) -> Chunk:
    """Parse, summarise and classify a chunk of files (runs in a worker process)."""
    assert _WORKER is not None
    golden, options, thresholds = _WORKER
    chunk = Chunk()
    rows: list[dict[str, Any]] = []
    runs: list[tuple[str, str, str, Curves, int]] = []
    try:
        for path in paths:
            kind, value, curves, problem = _one(path, golden, options)
            if kind == "skip":
                chunk.notes.append(value)
                continue
            rows.append(value)
            if problem is not None:
                chunk.problems.append(problem)
            if curves is not None:
                runs.append((path, value["id"], "injection", curves, value["steps_per_epoch"] or 0))
    except InputError as exc:
        chunk.error = exc
        return chunk
    if rows:
        for row, label in zip(rows, classify_rows(rows, thresholds), strict=True):
            row["outcome"] = str(label)
    chunk.rows = rows
    chunk.runs = runs
    return chunk


def default_jobs() -> int:
    """Worker processes: the CPUs this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def ingest(
    paths: list[str],
    golden: GoldenSet,
    options: IngestOptions,
    thresholds: Thresholds,
    jobs: int,
    chunk_files: int = 128,
    log: TextIO = sys.stderr,
) -> Iterator[Chunk]:
    """Yield one Chunk per ``chunk_files`` paths, in order; parallel when it pays off.

    Workers are spawned, not forked (no pyarrow threads are copied). If they cannot start
    (e.g. a main script read from stdin), the remaining files are read in this process
    instead of hanging.
    """
    chunks = [paths[i : i + chunk_files] for i in range(0, len(paths), chunk_files)]
    _init_worker(golden, options, thresholds)
    if jobs <= 1 or len(chunks) < 2:
        yield from map(ingest_chunk, chunks)
        return
    done = 0
    broken: BrokenProcessPool | None = None
    pool = ProcessPoolExecutor(
        min(jobs, len(chunks)),
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_init_pool_worker,
        initargs=(golden, options, thresholds, plugins.loaded()),
    )
    try:
        with _sigint_held():  # the workers start here, SIGINT blocked until they ignore it
            results = pool.map(ingest_chunk, chunks)
        for chunk in results:
            done += 1
            yield chunk
    except BrokenProcessPool as exc:
        broken = exc
    finally:
        # Also when the consumer stops early (a campaign-level error): drop pending chunks.
        pool.shutdown(wait=True, cancel_futures=True)
    if broken is not None:
        print(
            f"note: worker processes failed ({broken}); reading the remaining files in this "
            "process",
            file=log,
        )
        yield from map(ingest_chunk, chunks[done:])
