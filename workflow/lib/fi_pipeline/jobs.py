"""Injection jobs: a campaign's ids cut into runs of consecutive ids, one process each.

A job replays its CSVs in one `fi-core inject` process (TensorFlow starts and traces once per
job) and writes their traces into one folder, `results/<campaign>/traces/<job>/`, which is the
job's one declared output: a job that fails leaves no folder, and running the workflow again
reruns exactly the jobs whose folder is missing. A job is named after its first and last id
(`inj_00040..inj_00049`), so any batch size works and the ids never depend on it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

MAX_JOBS = 20_000
"""Inject jobs of one workflow at most: Snakemake keeps every job of its DAG in memory (a
million jobs would take the machine's memory before anything runs)."""

MAX_COMMAND = 100_000
"""Characters of one inject command at most: Snakemake hands a job's command to the shell as
one argument, which Linux caps at 128 KiB (a job of some thousands of CSVs would fail)."""

SEPARATOR = ".."
"""Between a job's first and last id; ids cannot contain it (ids have no dots)."""


@dataclass(frozen=True)
class Job:
    """One inject process: its ids, the CSVs it replays and the inputs Snakemake tracks."""

    label: str
    ids: tuple[str, ...]
    csvs: tuple[str, ...]
    inputs: tuple[str, ...]


def label(ids: Sequence[str]) -> str:
    return f"{ids[0]}{SEPARATOR}{ids[-1]}"


def sizes(count: int, batch: int, workers: int | None) -> list[int]:
    """Job sizes for `count` CSVs: `batch` each (the last one smaller), or `workers` jobs of
    nearly equal size (the first ones one larger)."""
    if count <= 0:
        return []
    if workers is None:
        return [min(batch, count - start) for start in range(0, count, batch)]
    jobs = min(workers, count)
    base, extra = divmod(count, jobs)
    return [base + (1 if k < extra else 0) for k in range(jobs)]


def largest(total: int, batch: int, workers: int | None) -> int:
    """The size of the largest job `sizes` makes, without making them."""
    if total <= 0:
        return 0
    return min(batch, total) if workers is None else -(-total // min(workers, total))


def command_length(csvs: int, longest_path: int) -> int:
    """An upper bound of the `--file <csv>` part of a job's command."""
    return csvs * (len(" --file ''") + longest_path)


def count(total: int, batch: int, workers: int | None) -> int:
    """How many jobs `sizes` makes, without making them."""
    if total <= 0:
        return 0
    return -(-total // batch) if workers is None else min(workers, total)


def split(ids: Sequence[str], csvs: Sequence[str], inputs: Sequence[str], batch: int,
          workers: int | None) -> list[Job]:
    """Cut ids (with their CSVs) into jobs. `inputs[i]` is what Snakemake tracks for id i
    (the folder its CSV is generated into, or the CSV itself); a job tracks those of its ids."""
    out, start = [], 0
    for size in sizes(len(ids), batch, workers):
        part = tuple(ids[start:start + size])
        files = tuple(csvs[start:start + size])
        tracked = tuple(dict.fromkeys(inputs[start:start + size]))
        out.append(Job(label(part), part, files, tracked))
        start += size
    return out


def id_width(minimum: int, count: int) -> int:
    """Digits of the ids of a generated campaign of `count` CSVs (as `fi-core generate`)."""
    return max(minimum, len(str(count - 1)))
