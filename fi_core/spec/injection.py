"""Injection CSVs: read strictly (the artifact's format unchanged, plus optional keys), check
against the workload, write.

A CSV written by the artifact means the paper configuration of its `model`. Optional keys say
which workload a generated campaign was made for, select a run of elements (`inj_range`), and
name the value rule by its row (`inj_values`, `inj_bits`, ... see `fi_core.faults.rules`).

The reader is total: any bytes give an `Injection` or a `BadInput` (one line: file, key,
reason), never another exception. Text is UTF-8 (a BOM is tolerated); integers are ASCII digits
with an optional sign; floats are ASCII decimal or exponent notation; spaces and tabs around a
field are ignored and trailing empty fields of a row are dropped; anything else is refused.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fi_core import faults
from fi_core import sites as sites_module
from fi_core.faults import rules
from fi_core.faults.patterns import Selection
from fi_core.spec import architecture, workloads
from fi_core.spec.errors import BadInput
from fi_formats import injection_csv, names, numbers
from fi_formats.atomic import write_atomic
from fi_formats.injection_csv import render
from fi_formats.oneline import shown

REQUIRED = ("model", "stage", "fmodel", "target_worker", "target_layer", "target_epoch",
            "target_step", "learning_rate", "seed")
SELECTION_KEYS = ("inj_pos", "inj_range")
"""Exactly one: listed positions `a/b/c/d`, or a run `first,last` of flat row-major indices."""
OPTIONAL = ("workload", "operand")
FP32_MAX = float(np.finfo(np.float32).max)

MAX_FILE_BYTES = injection_csv.MAX_FILE_BYTES
MAX_POSITIONS = 2**20
"""Listed positions per CSV; a longer fault is a run (`inj_range`), which has no limit."""
MAX_FIELD_CHARS = injection_csv.MAX_FIELD_CHARS
MAX_OPERAND_ELEMENTS = 2**62
"""Flat indices are int64 in the graph."""

INTEGER, DECIMAL = numbers.INTEGER, numbers.DECIMAL  # a field is at most MAX_FIELD_CHARS long
WORD = re.compile(r"[A-Za-z0-9_.-]+")
BOOLEAN = ("true", "false", "1", "0")


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
    selection: Selection
    flat: np.ndarray  # (k,) int64: flat indices of the listed positions (empty for a run)
    value_kind: str  # the value rule's registered name
    floats: np.ndarray  # float64: the rule's float parameters (per element: one per position)
    ints: np.ndarray  # int64: its int parameters (positions as flat indices)
    requested: list[str]  # the rule's row as written

    @property
    def label(self) -> str:
        return Path(self.source).stem

    @property
    def positions(self) -> np.ndarray:
        """(k, rank) int64 listed positions; (0, rank) for a run."""
        listed = self.selection.positions
        return listed if listed is not None else np.zeros((0, len(self.shape)), np.int64)

    @property
    def count(self) -> int:
        return self.selection.count

    @property
    def span(self) -> tuple[int, int] | None:
        """(first, last) flat indices of a run, or None for listed positions."""
        return (self.selection.first, self.selection.last) if self.selection.is_run else None


# ---------------------------------------------------------------- text
def read_rows(path: str | Path) -> dict[str, list[str]]:
    """The raw key -> values rows of a CSV (`fi_formats.injection_csv`); keys must be unique."""
    try:
        return injection_csv.read_rows(path)
    except injection_csv.CsvError as error:
        raise BadInput(error.source, error.key, error.reason) from None


# ---------------------------------------------------------------- fields
def _one(source: str, rows: dict[str, list[str]], key: str) -> str:
    if key not in rows:
        raise BadInput(source, key, "missing")
    if len(rows[key]) != 1 or not rows[key][0]:
        raise BadInput(source, key, f"expected one value, got {len(rows[key])}")
    return rows[key][0]


def _int(source: str, key: str, text: str, low: int, high: int) -> int:
    if not INTEGER.fullmatch(text):
        raise BadInput(source, key, f"not an integer: {shown(text)!r}")
    value = int(text)
    if not low <= value < high:
        raise BadInput(source, key, f"{value} is out of range [{low}, {high})")
    return value


def _float(source: str, key: str, text: str) -> float:
    if not DECIMAL.fullmatch(text):
        raise BadInput(source, key, f"not a finite decimal number: {shown(text)!r}")
    value = float(text)
    if not math.isfinite(value) or abs(value) > FP32_MAX:
        raise BadInput(source, key, f"{text!r} is not a finite fp32 value")
    return value


def _position(source: str, key: str, text: str, shape: tuple[int, ...]) -> tuple[int, ...]:
    parts = text.split("/")
    if len(parts) != len(shape):
        raise BadInput(source, key, f"position {shown(text)!r} has rank {len(parts)}, the "
                                    f"operand {tuple(shape)} has rank {len(shape)}")
    if not all(INTEGER.fullmatch(part) for part in parts):
        raise BadInput(source, key, f"position {shown(text)!r} is not integers")
    index = tuple(int(part) for part in parts)
    for axis, (i, bound) in enumerate(zip(index, shape, strict=True)):
        if not 0 <= i < bound:
            raise BadInput(source, key, f"position {text!r} is out of bounds for operand "
                                        f"{tuple(shape)} (axis {axis})")
    return index


def _flat(index: tuple[int, ...], shape: tuple[int, ...]) -> int:
    flat = 0
    for i, bound in zip(index, shape, strict=True):
        flat = flat * bound + i
    return flat


def _positions(source: str, key: str, texts: list[str], shape: tuple[int, ...]
               ) -> tuple[np.ndarray, np.ndarray]:
    """Listed positions as (k, rank) indices and (k,) flat indices."""
    if not texts:
        raise BadInput(source, key, "no positions")
    if len(texts) > MAX_POSITIONS:
        raise BadInput(source, key, f"{len(texts)} positions (at most {MAX_POSITIONS}; give a "
                                    "long run as inj_range)")
    indices = [_position(source, key, text, shape) for text in texts]
    return (np.array(indices, np.int64).reshape(len(texts), len(shape)),
            np.array([_flat(i, shape) for i in indices], np.int64))


# ---------------------------------------------------------------- what the fault hits
def _selection(source: str, rows: dict[str, list[str]], shape: tuple[int, ...]
               ) -> tuple[Selection, np.ndarray]:
    present = [key for key in SELECTION_KEYS if key in rows]
    if len(present) != 1:
        raise BadInput(source, "inj_pos", f"give exactly one of {', '.join(SELECTION_KEYS)} "
                                          f"(found {present or 'none'})")
    size = math.prod(shape)
    if present == ["inj_range"]:
        texts = rows["inj_range"]
        if len(texts) != 2:
            raise BadInput(source, "inj_range", f"expected first,last (flat indices), got "
                                                f"{len(texts)} values")
        first = _int(source, "inj_range", texts[0], 0, size)
        last = _int(source, "inj_range", texts[1], 0, size)
        if last < first:
            raise BadInput(source, "inj_range", f"last {last} is before first {first}")
        return Selection(shape, first=first, last=last), np.zeros(0, np.int64)
    positions, flat = _positions(source, "inj_pos", rows["inj_pos"], shape)
    unique, first_seen = np.unique(flat, return_index=True)
    if len(unique) != len(flat):
        repeated = sorted(set(range(len(flat))) - set(first_seen.tolist()))[0]
        raise BadInput(source, "inj_pos",
                       f"position {rows['inj_pos'][repeated]!r} appears twice")
    return Selection(shape, positions=positions), flat


def _value_rule(source: str, rows: dict[str, list[str]]) -> rules.ValueRule:
    keys = {rule.key: rule for rule in rules.in_order()}
    present = [key for key in keys if key in rows]
    if len(present) != 1:
        raise BadInput(source, "inj_values",
                       f"give exactly one of {', '.join(keys)} (found {present or 'none'})")
    return keys[present[0]]


def _rule_parameters(source: str, rule: rules.ValueRule, texts: list[str],
                     selection: Selection) -> tuple[np.ndarray, np.ndarray]:
    """The row of `rule` as (floats, ints), strictly: per element, one value per listed
    position (both arrays that long, zero where the field is of the other kind)."""
    key = rule.key
    if rule.per_element:
        if selection.is_run:
            raise BadInput(source, key, "gives one value per listed position: use inj_pos, not "
                                        "inj_range")
        if len(texts) != selection.count:
            raise BadInput(source, key, f"{len(texts)} values for {selection.count} positions")
        fields = rule.fields * len(texts)
    else:
        fields = rule.fields
        if len(texts) != len(fields):
            kinds = ",".join(f.kind for f in fields)
            raise BadInput(source, key, f"expected {len(fields)} values ({kinds}), got "
                                        f"{len(texts)}")
    floats: list[float] = []
    ints: list[int] = []
    for f, text in zip(fields, texts, strict=True):
        if f.kind == "float":
            floats.append(_float(source, key, text))
        elif f.kind == "int":
            ints.append(_int(source, key, text, f.low, f.high))
        else:
            ints.append(_flat(_position(source, key, text, selection.shape), selection.shape))
    if rule.per_element:  # both kinds as long as the positions, for the in-graph scatter
        floats = floats or [0.0] * len(texts)
        ints = ints or [0] * len(texts)
    out = np.array(floats, np.float64), np.array(ints, np.int64)
    if rule.check is not None and (problem := rule.check(*out)):
        raise BadInput(source, key, problem)
    return out


# ---------------------------------------------------------------- the whole file
def _checked_override(source: str, key: str, text: str) -> str:
    """A workload field's text, refused unless it is plainly of the field's type."""
    types = {f.name: f.type for f in dataclasses.fields(workloads.WorkloadConfig)}
    kind = types[key] if isinstance(types[key], str) else types[key].__name__
    ok = {"int": INTEGER.fullmatch, "float": DECIMAL.fullmatch,
          "bool": lambda t: t.lower() in BOOLEAN}.get(kind, WORD.fullmatch)(text)
    if not ok:
        raise BadInput(source, key, f"expected a {kind}, got {shown(text)!r}")
    return text


def workload_of(source: str, rows: dict[str, list[str]]) -> tuple[str, workloads.WorkloadConfig]:
    """The workload a CSV was made for: its `workload` row (default: the paper preset of its
    `model`), with workload-field rows, `learning_rate` and `seed` applied."""
    model = _one(source, rows, "model")
    name = _one(source, rows, "workload") if "workload" in rows else model
    if name not in workloads.PRESETS:
        known = ", ".join(workloads.PRESETS)
        key = "workload" if "workload" in rows else "model"
        raise BadInput(source, key, f"workload {shown(name)!r} is not implemented "
                                    f"(known: {known})")
    overrides = {k: _checked_override(source, k, _one(source, rows, k))
                 for k in rows if k in workloads.OVERRIDABLE}
    config = workloads.resolve(name, overrides, source)
    if config.model != model:
        raise BadInput(source, "model", f"{shown(model)!r} does not match workload {name!r} "
                                        f"(model {config.model!r})")
    return name, config


def known_keys() -> set[str]:
    return ({*REQUIRED, *OPTIONAL, *SELECTION_KEYS, *workloads.OVERRIDABLE}
            | {rule.key for rule in rules.in_order()})


def parse(path: str | Path) -> Injection:
    """Read and check one injection CSV against its workload; raise BadInput on any problem."""
    source = shown(str(path))
    rows = read_rows(path)
    known = known_keys()
    for key in rows:
        if key not in known:
            raise BadInput(source, shown(key, 40), "unknown key")
    for key in REQUIRED:
        if key not in rows:
            raise BadInput(source, key, "missing")
    name, config = workload_of(source, rows)

    stage = _one(source, rows, "stage")
    if stage not in architecture.STAGES:
        raise BadInput(source, "stage", f"{shown(stage)!r} is not fwrd_inject or bkwd_inject")
    fmodel = _one(source, rows, "fmodel")
    if fmodel not in faults.FAULT_MODELS:
        raise BadInput(source, "fmodel", f"unknown fault model {shown(fmodel)!r}")
    model = faults.FAULT_MODELS[fmodel]
    operand = _one(source, rows, "operand") if "operand" in rows else model.operand
    if operand not in architecture.OPERANDS:
        raise BadInput(source, "operand", f"{shown(operand)!r} is not input, weight or output")

    layer = _one(source, rows, "target_layer")
    sites = architecture.site_by_name(config)
    base, pass_ = architecture.split_layer_name(layer, sites)
    forward_stage = stage == names.FORWARD_STAGE
    if base not in sites or (pass_ == architecture.FORWARD) != forward_stage:
        raise BadInput(source, "target_layer", f"{shown(layer)!r} is not a {stage} site of "
                                               f"{name}")
    site = sites[base]

    replica = _int(source, "target_worker", _one(source, rows, "target_worker"), 0,
                   config.replicas)
    epoch = _int(source, "target_epoch", _one(source, rows, "target_epoch"), 0, config.epochs)
    step = _int(source, "target_step", _one(source, rows, "target_step"), 0,
                config.steps_per_epoch)
    shape = sites_module.operand_shape(site, pass_, operand, config.batch_per_replica_at(step))
    if math.prod(shape) >= MAX_OPERAND_ELEMENTS:
        raise BadInput(source, "target_layer", f"operand {shape} is too large")
    selection, flat = _selection(source, rows, shape)
    rule = _value_rule(source, rows)
    floats, ints = _rule_parameters(source, rule, rows[rule.key], selection)
    return Injection(
        source=str(path), rows=rows, workload=name, config=config, stage=stage, fmodel=fmodel,
        operand=operand, layer=layer, site=site, pass_=pass_, replica=replica, epoch=epoch,
        step=step, shape=shape, selection=selection, flat=flat, value_kind=rule.name,
        floats=floats, ints=ints, requested=list(rows[rule.key]),
    )


def parse_all(paths: Sequence[str | Path]) -> list[Injection]:
    """Parse a batch of CSVs that will write traces side by side: names must be unique."""
    hits = [parse(path) for path in paths]
    seen: set[str] = set()
    for hit in hits:
        if hit.label in seen:
            raise BadInput(shown(hit.source), "file",
                           f"another CSV has the same name {shown(hit.label)!r}")
        seen.add(hit.label)
    return hits


def selection_rows(selection: Selection) -> dict[str, list[str]]:
    """The CSV row of a selection: `inj_pos` (listed) or `inj_range` (a run)."""
    if selection.is_run:
        return {"inj_range": [str(selection.first), str(selection.last)]}
    return {"inj_pos": [rules.format_position(p) for p in selection.positions]}


def write(path: str | Path, rows: dict[str, list[str]]) -> None:
    write_atomic(Path(path), render(rows))
