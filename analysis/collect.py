"""The collect and classify commands: golden runs first, then every trace, streamed.

Problems with individual traces (truncated, garbage lines) are reported on the log stream and
end as "Incomplete" rows; problems with the campaign as a whole (no traces, a golden run that is
unusable, an injection from another campaign) stop everything with an InputError and leave no
output behind.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TextIO

from analysis.errors import InputError
from analysis.golden import GoldenSet, load_golden_set
from analysis.ingest import Chunk, IngestOptions, ingest
from analysis.outcomes import Thresholds
from analysis.table import CURVE_SCHEMA, BufferedWriter, curves_table, results_schema, rows_to_table
from analysis.trace import Trace
from analysis.tracefiles import discover_traces, golden_files, load_trace
from analysis.version import __version__
from fi_formats.atomic import atomic_path


def load_goldens(inputs: list[str], options: IngestOptions) -> tuple[list[Trace], GoldenSet]:
    """Parse and validate the golden traces (files or golden output directories)."""
    traces = [load_trace(p, options.num_classes, options.csv_dir) for p in golden_files(inputs)]
    return traces, load_golden_set(traces)


def _trace_paths(inputs: list[str], goldens: list[Trace], log: TextIO) -> list[str]:
    paths, skipped = discover_traces(inputs)
    if skipped:
        print(f"note: {skipped} run(s) found as both .json and .txt: read from the JSON", file=log)
    golden_real = {os.path.abspath(g.path) for g in goldens}
    paths = [p for p in paths if os.path.abspath(p) not in golden_real]
    if not paths:
        raise InputError(" ".join(inputs) or "TRACE", None, "no trace files: empty campaign")
    return paths


def _checked(chunks: Iterator[Chunk], log: TextIO) -> Iterator[Chunk]:
    """Stop on campaign-level errors, report per-trace problems and skipped files."""
    for chunk in chunks:
        if chunk.error is not None:
            raise chunk.error
        for note in chunk.notes:
            print(f"note: {note}", file=log)
        for problem in chunk.problems:
            print(f"incomplete: {problem}", file=log)
        yield chunk


@dataclass
class CollectSummary:
    """Counts reported at the end of collect."""

    n_rows: int = 0
    counts: dict[str, int] = field(default_factory=dict)


def collect(
    inputs: list[str],
    golden_inputs: list[str],
    out: str,
    curves_out: str | None = None,
    thresholds: Thresholds | None = None,
    options: IngestOptions | None = None,
    jobs: int = 1,
    log: TextIO | None = None,
) -> CollectSummary:
    """Parse every trace and write results.parquet (and curves.parquet), atomically. The
    notes and incomplete-trace lines reach `log` only when it succeeds (see _held)."""
    with _held(log or sys.stderr) as held:  # stderr as it is now (a test may replace it)
        return _collect(inputs, golden_inputs, out, curves_out, thresholds, options, jobs, held)


@contextlib.contextmanager
def _held(log: TextIO) -> Iterator[TextIO]:
    """A stream that holds what collect reports on the way (in memory, on disk beyond 1 MiB)
    and writes it to `log` when collect succeeds: on an error, the error's one line is all
    that is printed."""
    with tempfile.SpooledTemporaryFile(
        max_size=1 << 20, mode="w+", encoding="utf-8", errors="backslashreplace"
    ) as held:
        yield held  # type: ignore[misc]
        if held.tell():  # nothing to write: leave `log` alone
            held.seek(0)
            shutil.copyfileobj(held, log)
            log.flush()


def _collect(
    inputs: list[str],
    golden_inputs: list[str],
    out: str,
    curves_out: str | None,
    thresholds: Thresholds | None,
    options: IngestOptions | None,
    jobs: int,
    log: TextIO,
) -> CollectSummary:
    thresholds = thresholds or Thresholds()
    options = options or IngestOptions()
    options = IngestOptions(options.num_classes, options.csv_dir, want_curves=bool(curves_out))
    goldens, golden_set = load_goldens(golden_inputs, options)
    paths = _trace_paths(inputs, goldens, log)
    metadata = {
        "fi_analysis": __version__,
        "thresholds": dict(thresholds),
        "golden": [g.path for g in goldens],
        "num_classes_text": options.num_classes,
    }
    counts: dict[str, int] = {}
    with contextlib.ExitStack() as stack:
        writer = BufferedWriter(stack.enter_context(atomic_path(out)), results_schema(metadata))
        curves = None
        if curves_out:
            curves = BufferedWriter(
                stack.enter_context(atomic_path(curves_out)), CURVE_SCHEMA, group_rows=1 << 20
            )
            curves.add(
                curves_table(
                    [
                        (g.path, g.id, "golden", g.curves, g.steps_per_epoch or 0)
                        for g in goldens
                        if g.curves is not None
                    ]
                )
            )
        # Closed explicitly, so that an error stops the workers here and now.
        chunks = stack.enter_context(
            contextlib.closing(ingest(paths, golden_set, options, thresholds, jobs, log=log))
        )
        for chunk in _checked(chunks, log):
            if chunk.rows:
                writer.add(rows_to_table(chunk.rows))
                for row in chunk.rows:
                    counts[row["outcome"]] = counts.get(row["outcome"], 0) + 1
            if curves is not None and chunk.runs:
                curves.add(curves_table(chunk.runs))
        writer.close()
        if curves is not None:
            curves.close()
        if writer.n_rows == 0:
            raise InputError(" ".join(inputs), None, "no injection runs among the traces")
        return CollectSummary(writer.n_rows, dict(sorted(counts.items())))


def classify(
    inputs: list[str],
    golden_inputs: list[str],
    thresholds: Thresholds | None = None,
    options: IngestOptions | None = None,
    jobs: int = 1,
    log: TextIO = sys.stderr,
) -> Iterator[tuple[str, str]]:
    """Yield (path, outcome) for every trace, in input order."""
    thresholds = thresholds or Thresholds()
    options = options or IngestOptions()
    goldens, golden_set = load_goldens(golden_inputs, options)
    paths = _trace_paths(inputs, goldens, log)
    with contextlib.closing(
        ingest(paths, golden_set, options, thresholds, jobs, log=log)
    ) as chunks:
        for chunk in _checked(chunks, log):
            for row in chunk.rows:
                yield row["trace"], row["outcome"]
