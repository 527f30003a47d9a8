"""Optional enrichment of text traces with their injection CSV (artifact format).

Text traces carry no fault model, workload or learning rate. When the CSV that produced a run is
at hand (``replay_inj_X.txt`` or ``inj_X.txt`` <-> ``inj_X.csv``), those fields are taken from it,
after checking that the CSV describes the same injection as the trace.
"""

from __future__ import annotations

import os

from analysis.errors import InputError
from analysis.trace import Trace, printable
from fi_formats import injection_csv
from fi_formats.names import stage_from_layer


def read_injection_csv(path: str) -> dict[str, list[str]]:
    """The key -> values rows of an injection CSV, read as the engine reads it
    (`fi_formats.injection_csv`: strict, a key once); a CSV it refuses is refused here too, in
    the same words."""
    try:
        return injection_csv.read_rows(path, source=path)
    except injection_csv.CsvError as exc:
        raise InputError(exc.source, exc.key, exc.reason) from None


def csv_path_for(trace_path: str, csv_dir: str) -> str | None:
    """The CSV of a text trace by file stem, or None when there is none."""
    stem = os.path.splitext(os.path.basename(trace_path))[0]
    if stem.startswith("replay_"):
        stem = stem[len("replay_") :]
    candidate = os.path.join(csv_dir, stem + ".csv")
    return candidate if os.path.isfile(candidate) else None


def _check(trace: Trace, key: str, csv_value: str, trace_value: object) -> None:
    if trace_value is not None and str(trace_value) != csv_value:
        raise InputError(
            trace.path,
            key,
            printable(f"CSV says {csv_value!r}, the trace says {trace_value!r}: wrong CSV"),
        )


def enrich_from_csv(trace: Trace, csv_file: str) -> None:
    """Fill fault model, stage, workload, learning rate and seed of a text trace from its CSV."""
    rows = read_injection_csv(csv_file)
    first = {k: v[0] for k, v in rows.items() if v}
    inj = trace.injection
    if inj is not None:
        _check(trace, "target_layer", first.get("target_layer", ""), inj.layer)
        _check(trace, "target_epoch", first.get("target_epoch", ""), inj.epoch)
        _check(trace, "target_step", first.get("target_step", ""), inj.step)
        _check(trace, "target_worker", first.get("target_worker", ""), inj.replica)
        inj.fmodel = first.get("fmodel", inj.fmodel)
        stage = first.get("stage")
        if stage and stage_from_layer(inj.layer) not in (None, stage):
            raise InputError(
                trace.path, "stage", f"CSV says {stage!r} but layer {inj.layer!r} implies otherwise"
            )
        inj.stage = stage or inj.stage
        inj.operand = first.get("operand", inj.operand)
    trace.workload = first.get("workload") or first.get("model") or trace.workload
    for key in ("model", "learning_rate", "seed"):
        if key in first:
            trace.config[key] = first[key]
    trace.csv = {k: ",".join(v) for k, v in rows.items()}
