"""Resumable inject jobs: `fi-core inject --partial-dir P` trains only the CSVs that P does not
already hold a complete, verified trace pair for, from an earlier attempt of the same job.

Why: a pipeline job holds many CSVs, and when it fails or is killed Snakemake removes its
output folder, so without this its finished runs would be trained again (at paper size, hours
of accelerator time). The job writes its pairs into P (outside the folder Snakemake removes)
and moves them all into `--out-dir` once every CSV has its pair.

P holds `.attempt.json`, the fingerprint of what the runs depend on: each CSV's rows, the golden
run's verified checkpoint hashes and configuration, the engine options and fi_core's version.
A pair is kept only when the fingerprint is the same and the pair itself checks out (both
files, the JSON parses, names this CSV and holds its rows); otherwise it is trained again.
Everything here is decided before TensorFlow starts.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import fi_core
from fi_core.spec.errors import BadInput
from fi_core.spec.injection import Injection
from fi_core.store import files, golden, outputs

ATTEMPT = ".attempt.json"  # hidden: no trace name starts with a dot (attempt.csv is a CSV)
MAX_TRACE_BYTES = 2**30
ATTEMPT_LIMIT = 2**26


@dataclass(frozen=True)
class PartialRuns:
    """Where a job's runs are written first, and which of its CSVs still need training."""

    folder: Path
    kept: tuple[str, ...]  # labels whose pair from an earlier attempt is kept
    todo: tuple[Injection, ...]  # the CSVs to train, in the order given


def _csv_rows(hit: Injection) -> dict[str, str]:
    """The CSV's rows as an injection trace records them (`trace.record["csv"]`)."""
    return {key: ",".join(values) for key, values in hit.rows.items()}


def fingerprint(hits: Sequence[Injection], golden_dir: Path,
                options: dict[str, Any]) -> dict[str, Any]:
    """What the traces of these CSVs depend on, besides the code: a pair written under another
    fingerprint is never kept."""
    folder = golden.open_golden(golden_dir)
    return {
        "fi_core": fi_core.__version__,
        "golden": {"workload": folder.workload, "config": folder.config.to_dict(),
                   "checkpoints": folder.checkpoints},
        "options": options,
        "csvs": {hit.label: _csv_rows(hit) for hit in hits},
    }


def file_sha256(path: Path | None) -> str | None:
    """sha256 of a small input file named by an option (None stays None)."""
    if path is None:
        return None
    return hashlib.sha256(files.read_input(path, ATTEMPT_LIMIT)).hexdigest()


def _read_json(path: Path, limit: int) -> Any:
    try:
        if not path.is_file() or path.stat().st_size > limit:
            return None
        return json.loads(path.read_bytes())
    except (OSError, ValueError, RecursionError):
        return None


def pair_is_complete(folder: Path, hit: Injection) -> bool:
    """Both files of this CSV's trace pair are there and the JSON record is this CSV's run."""
    text, record_path = outputs.trace_paths(folder, hit.label)
    record = _read_json(record_path, MAX_TRACE_BYTES)
    try:
        text_ok = text.is_file() and text.stat().st_size > 0
    except OSError:
        return False
    return (text_ok and isinstance(record, dict) and record.get("kind") == "injection"
            and record.get("id") == hit.label and record.get("complete") is True
            and record.get("csv") == _csv_rows(hit))


def _own_files(folder: Path, labels: set[str]) -> list[Path]:
    """The files of `folder` this module may remove: trace pairs of these labels and the
    temporary files of an interrupted atomic write."""
    names = {f"{label}{ext}" for label in labels for ext in (".txt", ".json")}
    try:
        return [entry for entry in folder.iterdir()
                if entry.name in names or (entry.name.startswith(".") and
                                           entry.name.endswith(".tmp"))]
    except OSError:
        return []


def check_partial_dir(partial: Path, out_dir: Path, golden_dir: Path) -> None:
    """`--partial-dir` is a writable folder (or can be made), outside the golden run, not the
    output folder itself, and on the output folder's file system (pairs are renamed across)."""
    outputs.check_trace_dir(golden_dir, partial, "--partial-dir")
    if os.path.realpath(partial) == os.path.realpath(out_dir):
        raise BadInput(str(partial), "--partial-dir", "is the --out-dir itself")
    if files.inside(out_dir, partial) or files.inside(partial, out_dir):
        raise BadInput(str(partial), "--partial-dir", "lies inside --out-dir or holds it")
    try:
        same = (files.nearest_existing(partial).stat().st_dev
                == files.nearest_existing(out_dir).stat().st_dev)
    except OSError as error:
        raise BadInput(str(partial), "--partial-dir", error.strerror or str(error)) from None
    if not same:
        raise BadInput(str(partial), "--partial-dir", "is not on the file system of --out-dir "
                                                      "(finished pairs are renamed into it)")


def open_partial(partial: Path, hits: Sequence[Injection],
                 print_note: bool = True, **fingerprint_args: Any) -> PartialRuns:
    """Keep the pairs an earlier attempt with the same fingerprint finished; start a new
    attempt (its fingerprint written first) for the rest."""
    wanted = fingerprint(hits, **fingerprint_args)
    earlier = _read_json(partial / ATTEMPT, ATTEMPT_LIMIT)
    same = earlier == json.loads(json.dumps(wanted))
    kept = tuple(hit.label for hit in hits if same and pair_is_complete(partial, hit))
    stale = _own_files(partial, {hit.label for hit in hits} - set(kept))
    for path in stale:
        path.unlink(missing_ok=True)
    if not same:
        files.write_atomic(partial / ATTEMPT, json.dumps(wanted, indent=1, sort_keys=True) + "\n")
    todo = tuple(hit for hit in hits if hit.label not in kept)
    if print_note and kept:
        print(f"kept {len(kept)} finished runs of an earlier attempt ({partial}); "
              f"training {len(todo)}", flush=True)
    return PartialRuns(partial, kept, todo)


def finish(runs: PartialRuns, hits: Sequence[Injection], out_dir: Path) -> None:
    """Every CSV has its pair in the partial folder: rename them into `out_dir` (each pair's
    JSON last, as everywhere) and remove the partial folder."""
    out_dir.mkdir(parents=True, exist_ok=True)
    with files.signals_deferred():
        for hit in hits:
            for source, target in zip(outputs.trace_paths(runs.folder, hit.label),
                                      outputs.trace_paths(out_dir, hit.label), strict=True):
                try:
                    os.replace(source, target)
                except OSError as error:
                    if error.errno != errno.EXDEV:
                        raise
                    files.write_atomic(target, source.read_bytes())
                    source.unlink()
        (runs.folder / ATTEMPT).unlink(missing_ok=True)
        with contextlib.suppress(OSError):  # something else is in there: left as it was
            runs.folder.rmdir()
