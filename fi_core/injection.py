"""Injection CSVs: read (the artifact's format unchanged, plus optional keys), check, write.

A CSV written by the artifact means the paper configuration of its `model`. Optional keys say
which workload a generated campaign was made for and how values are resolved at run time.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from fi_core import architecture, faults, workloads
from fi_core.errors import BadInput
from fi_core.files import write_atomic

REQUIRED = ("model", "stage", "fmodel", "target_worker", "target_layer", "target_epoch",
            "target_step", "inj_pos", "learning_rate", "seed")
VALUE_KEYS = ("inj_values", "inj_bits", "inj_src_pos")
OPTIONAL = ("workload", "operand", *VALUE_KEYS)
FP32_MAX = float(np.finfo(np.float32).max)


@dataclass(frozen=True)
class Injection:
    """One fully checked experiment: where the fault lands and how its values are found."""

    source: str
    rows: dict[str, list[str]]
    workload: str
    config: workloads.WorkloadConfig
    stage: str
    fmodel: str
    operand: str
    layer: str
    site: architecture.Site
    pass_: str  # "fwrd" | "grad_in" | "grad_wt"
    replica: int
    epoch: int
    step: int
    shape: tuple[int, ...]
    positions: np.ndarray  # (k, rank) int64
    value_kind: str  # "explicit" | "bitflip" | "copy"
    values: np.ndarray | None = None  # (k,) float64, as written in the CSV
    bits: np.ndarray | None = None  # (k,) int32
    sources: np.ndarray | None = None  # (k, rank) int64
    requested: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        return Path(self.source).stem


def read_rows(path: str | Path) -> dict[str, list[str]]:
    """The raw key -> values rows of a CSV; keys must be unique."""
    source = str(path)
    try:
        text = Path(path).read_text()
    except OSError as error:
        raise BadInput(source, "file", error.strerror or str(error)) from None
    rows: dict[str, list[str]] = {}
    for record in csv.reader(io.StringIO(text)):
        if not record or not "".join(record).strip():
            continue
        key = record[0].strip()
        if key in rows:
            raise BadInput(source, key, "appears twice")
        rows[key] = [v.strip() for v in record[1:]]
    if not rows:
        raise BadInput(source, "file", "empty")
    return rows


def _one(source: str, rows: dict[str, list[str]], key: str) -> str:
    if key not in rows:
        raise BadInput(source, key, "missing")
    if len(rows[key]) != 1 or not rows[key][0]:
        raise BadInput(source, key, f"expected one value, got {len(rows[key])}")
    return rows[key][0]


def _int(source: str, key: str, text: str, low: int, high: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise BadInput(source, key, f"not an integer: {text!r}") from None
    if not low <= value < high:
        raise BadInput(source, key, f"{value} is out of range [{low}, {high})")
    return value


def _positions(source: str, key: str, texts: list[str], shape: tuple[int, ...]) -> np.ndarray:
    if not texts or not texts[0]:
        raise BadInput(source, key, "no positions")
    out = np.zeros((len(texts), len(shape)), dtype=np.int64)
    for row, text in enumerate(texts):
        parts = text.split("/")
        if len(parts) != len(shape):
            raise BadInput(source, key, f"position {text!r} has rank {len(parts)}, the operand "
                                        f"{tuple(shape)} has rank {len(shape)}")
        for axis, (part, bound) in enumerate(zip(parts, shape, strict=True)):
            try:
                index = int(part)
            except ValueError:
                raise BadInput(source, key, f"position {text!r} is not integers") from None
            if not 0 <= index < bound:
                raise BadInput(source, key, f"position {text!r} is out of bounds for operand "
                                            f"{tuple(shape)} (axis {axis})")
            out[row, axis] = index
    return out


def _values(source: str, texts: list[str]) -> np.ndarray:
    out = np.zeros(len(texts), dtype=np.float64)
    for i, text in enumerate(texts):
        try:
            value = float(text)
        except ValueError:
            raise BadInput(source, "inj_values", f"not a number: {text!r}") from None
        if not math.isfinite(value) or abs(value) > FP32_MAX:
            raise BadInput(source, "inj_values", f"{text!r} is not a finite fp32 value")
        out[i] = value
    return out


def workload_of(source: str, rows: dict[str, list[str]]) -> tuple[str, workloads.WorkloadConfig]:
    """The workload a CSV was made for: its `workload` row (default: the paper preset of its
    `model`), with workload-field rows, `learning_rate` and `seed` applied."""
    model = _one(source, rows, "model")
    name = rows["workload"][0] if rows.get("workload") else model
    if name not in workloads.PRESETS:
        known = ", ".join(workloads.PRESETS)
        key = "workload" if rows.get("workload") else "model"
        raise BadInput(source, key, f"workload {name!r} is not implemented (known: {known})")
    overrides = {k: _one(source, rows, k) for k in rows if k in workloads.OVERRIDABLE}
    config = workloads.resolve(name, overrides, source)
    if config.model != model:
        raise BadInput(source, "model", f"{model!r} does not match workload {name!r} "
                                        f"(model {config.model!r})")
    return name, config


def parse(path: str | Path) -> Injection:
    """Read and check one injection CSV against its workload; raise BadInput on any problem."""
    source = str(path)
    rows = read_rows(path)
    known = set(REQUIRED) | set(OPTIONAL) | set(workloads.OVERRIDABLE)
    for key in rows:
        if key not in known:
            raise BadInput(source, key, "unknown key")
    for key in REQUIRED:
        if key not in rows:
            raise BadInput(source, key, "missing")
    name, config = workload_of(source, rows)

    stage = _one(source, rows, "stage")
    if stage not in architecture.STAGES:
        raise BadInput(source, "stage", f"{stage!r} is not fwrd_inject or bkwd_inject")
    fmodel = _one(source, rows, "fmodel")
    model = faults.get(fmodel, source)
    operand = rows["operand"][0] if rows.get("operand") else model.operand
    if operand not in architecture.OPERANDS:
        raise BadInput(source, "operand", f"{operand!r} is not input, weight or output")

    layer = _one(source, rows, "target_layer")
    base, pass_ = architecture.split_layer_name(layer)
    sites = architecture.site_by_name(config)
    forward_stage = stage == "fwrd_inject"
    if base not in sites or (pass_ == architecture.FORWARD) != forward_stage:
        raise BadInput(source, "target_layer", f"{layer!r} is not a {stage} site of {name}")
    site = sites[base]

    replica = _int(source, "target_worker", _one(source, rows, "target_worker"), 0,
                   config.replicas)
    epoch = _int(source, "target_epoch", _one(source, rows, "target_epoch"), 0, config.epochs)
    step = _int(source, "target_step", _one(source, rows, "target_step"), 0,
                config.steps_per_epoch)
    shape = site.operand_shape(pass_, operand, config.batch_per_replica_at(step))
    positions = _positions(source, "inj_pos", rows["inj_pos"], shape)

    present = [k for k in VALUE_KEYS if rows.get(k)]
    if len(present) != 1:
        raise BadInput(source, "inj_values",
                       f"give exactly one of {', '.join(VALUE_KEYS)} (found {present or 'none'})")
    value_key = present[0]
    texts = rows[value_key]
    if len(texts) != len(positions):
        raise BadInput(source, value_key, f"{len(texts)} values for {len(positions)} positions")
    extra: dict[str, np.ndarray] = {}
    if value_key == "inj_values":
        kind, extra["values"] = "explicit", _values(source, texts)
    elif value_key == "inj_bits":
        kind = "bitflip"
        extra["bits"] = np.array([_int(source, value_key, t, 0, 32) for t in texts], np.int32)
    else:
        kind, extra["sources"] = "copy", _positions(source, value_key, texts, shape)
    return Injection(
        source=source, rows=rows, workload=name, config=config, stage=stage, fmodel=fmodel,
        operand=operand, layer=layer, site=site, pass_=pass_, replica=replica, epoch=epoch,
        step=step, shape=shape, positions=positions, value_kind=kind, requested=list(texts),
        **extra,
    )


def parse_all(paths: Sequence[str | Path]) -> list[Injection]:
    """Parse a batch of CSVs that will write traces side by side: names must be unique."""
    hits = [parse(path) for path in paths]
    seen: set[str] = set()
    for hit in hits:
        if hit.label in seen:
            raise BadInput(hit.source, "file", f"another CSV has the same name {hit.label!r}")
        seen.add(hit.label)
    return hits


def render(rows: dict[str, list[str]]) -> str:
    """CSV text in the artifact's two-column layout (key, then its values)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    for key, values in rows.items():
        writer.writerow([key, *values])
    return out.getvalue()


def write(path: str | Path, rows: dict[str, list[str]]) -> None:
    write_atomic(Path(path), render(rows))
