"""A golden run's folder, read and verified without TensorFlow.

`fi-core golden` builds the folder beside its final place (`.<name>.partial`) and renames it
into place after its trace, which is written last; so a folder without a complete `trace.json`
is not a golden run. Before anything uses one (an injection, the early exit), its files are
checked here, strictly, before TensorFlow starts: `workload.json` and `trace.json` parse and
agree with each other, `trace.txt` has the record's steps and epochs, and every checkpoint a
run resumes from has the sha256 the trace recorded. Any problem is one line naming the file.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import math
import os
import re
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fi_core.spec import workloads
from fi_core.spec.errors import BadInput
from fi_core.spec.injection import Injection
from fi_core.spec.workloads import WorkloadConfig
from fi_core.store import files

WORKLOAD_FILE = "workload.json"
TRACE_JSON, TRACE_TEXT = "trace.json", "trace.txt"
INITIAL = "initial"
CHECKPOINT = re.compile(r"initial|epoch_(0|[1-9][0-9]{0,5})")
MAX_WORKLOAD_BYTES = 2**20
MAX_TRACE_BYTES = 2**30
"""A golden trace.json is about 100 bytes per step: 1 GiB is ten million steps."""
MAX_NAME = 256


def checkpoint_dir(golden: Path, epoch: int) -> Path:
    """Folder of the checkpoint saved at the end of `epoch` (-1: before training)."""
    return golden / (INITIAL if epoch < 0 else f"epoch_{epoch}")


def checkpoint_key(epoch: int) -> str:
    """The key of a checkpoint in the trace's `checkpoints`."""
    return INITIAL if epoch < 0 else str(epoch)


# ---------------------------------------------------------------- the folder being written
def partial_dir(out: Path) -> Path:
    """Where `fi-core golden` builds the folder `out` before renaming it into place."""
    return out.parent / f".{out.name}.partial"


def _name_max(out: Path) -> int:
    """The longest file name the file system under `out` takes (255 where it cannot tell)."""
    try:
        return os.pathconf(files.nearest_existing(out), "PC_NAME_MAX")
    except (OSError, ValueError):
        return 255


def _is_golden_entry(name: str) -> bool:
    return (name in (WORKLOAD_FILE, TRACE_JSON, TRACE_TEXT) or name.startswith(".")
            or CHECKPOINT.fullmatch(name) is not None)


def check_out(out: Path) -> None:
    """`out` can become a golden run's folder: a writable place, and either nothing yet, an
    empty folder, or an earlier golden run (which the new one replaces when it completes).
    Any other folder is refused: it is never replaced."""
    files.check_output_dir(out, "--out", replaced=True)
    building = partial_dir(out).name
    if len(os.fsencode(building)) > _name_max(out):
        raise BadInput(str(out)[:300], "--out", f"the folder name is too long: the run is built "
                                                f"in {building[:40]!r}... beside it, which must "
                                                f"fit in {_name_max(out)} bytes")
    try:
        if out.is_symlink():
            raise BadInput(str(out), "--out", "is a symbolic link (give the folder itself)")
        if not out.is_dir():
            return
        alien = sorted(entry.name for entry in out.iterdir() if not _is_golden_entry(entry.name))
        files.check_can_write_in(out.absolute().parent, out, "--out")  # the partial folder
    except OSError as error:
        raise BadInput(str(out), "--out", error.strerror or type(error).__name__) from None
    if alien:
        raise BadInput(str(out), "--out", f"holds {alien[0]!r}, which is not part of a golden "
                                          "run: refusing to replace this folder")


def start_partial(out: Path) -> Path:
    """An empty `.<name>.partial` folder beside `out` (what a killed run left there is
    removed first)."""
    work = partial_dir(out)
    discard_partial(out)
    work.mkdir(parents=True)
    return work


def discard_partial(out: Path) -> None:
    shutil.rmtree(partial_dir(out), ignore_errors=True)


# ---------------------------------------------------------------- strict reading
def _refuse_constant(name: str) -> float:
    raise ValueError(f"{name} is not JSON")


def parse_json(data: bytes, source: str) -> Any:
    """Strict JSON from bytes: UTF-8, no NaN or Infinity literals, nesting and numbers within
    what Python can hold; anything else is one line."""
    try:
        text = data.decode("utf-8")
        return json.loads(text, parse_constant=_refuse_constant)
    except UnicodeDecodeError as error:
        raise BadInput(source, "file", f"not UTF-8 (byte 0x{data[error.start]:02x} at offset "
                                       f"{error.start})") from None
    except RecursionError:
        raise BadInput(source, "file", "JSON nested too deeply") from None
    except ValueError as error:  # JSONDecodeError, an integer of too many digits
        raise BadInput(source, "file", f"not valid JSON ({error})") from None


class _Unreadable:
    """A number of the text that Python's json would read as infinity (`1e400`) or as an
    integer of any size (a 4,000-digit mean): kept as text, refused with its field's path."""

    def __init__(self, text: str, reason: str) -> None:
        self.text, self.reason = text, reason


INT64_DIGITS = 19


def _strict_float(text: str) -> float | _Unreadable:
    value = float(text)
    return value if math.isfinite(value) else _Unreadable(text, "beyond float64")


def _strict_int(text: str) -> int | _Unreadable:
    if len(text.lstrip("-")) > INT64_DIGITS:
        return _Unreadable(text, "an integer beyond int64")
    value = int(text)
    if not -workloads.INT64 <= value < workloads.INT64:
        return _Unreadable(text, "an integer beyond int64")
    return value


def _first_unreadable(value: Any, path: str) -> tuple[str, _Unreadable] | None:
    """The path (`a.b[3].c`) of the first number `parse_strict_json` could not hold."""
    if isinstance(value, _Unreadable):
        return path, value
    items = (value.items() if isinstance(value, dict)
             else enumerate(value) if isinstance(value, list) else ())
    for key, item in items:
        where = f"{path}[{key}]" if isinstance(value, list) else (
            f"{path}.{key}" if path else str(key))
        if isinstance(item, _Unreadable | dict | list):
            found = _first_unreadable(item, where)
            if found is not None:
                return found
    return None


def parse_strict_json(data: bytes, source: str) -> Any:
    """`parse_json`, and every number finite within float64 or an integer within int64: one
    line `<source>: <field path>: <reason>` otherwise (Python's json reads `1e400` as inf)."""
    try:
        text = data.decode("utf-8")
        value = json.loads(text, parse_constant=_refuse_constant, parse_float=_strict_float,
                           parse_int=_strict_int)
    except UnicodeDecodeError:
        return parse_json(data, source)  # its one line names the byte
    except RecursionError:
        raise BadInput(source, "file", "JSON nested too deeply") from None
    except ValueError as error:
        raise BadInput(source, "file", f"not valid JSON ({error})") from None
    found = _first_unreadable(value, "")
    if found is not None:
        path, bad = found
        digits = (f"{bad.text[:24]}... ({len(bad.text)} characters)" if len(bad.text) > 40
                  else bad.text)
        raise BadInput(source, path or "file", f"{digits} is not a finite number ({bad.reason})")
    return value


def _name(value: Any) -> bool:
    return isinstance(value, str) and 0 < len(value) <= MAX_NAME and value.isprintable()


def _typed(source: str, key: str, value: Any, kind: str) -> Any:
    """A stored workload field, of exactly its JSON type (no strings for numbers, no booleans
    for integers, finite floats)."""
    ok = {"bool": lambda v: isinstance(v, bool),
          "int": lambda v: (isinstance(v, int) and not isinstance(v, bool)
                            and -workloads.INT64 <= v < workloads.INT64),
          "float": lambda v: (isinstance(v, int | float) and not isinstance(v, bool)
                              and math.isfinite(v)),
          "str": _name}[kind](value)
    if not ok:
        expected = {"bool": "true or false", "int": "an integer within int64",
                    "float": "a finite number", "str": "a short printable string"}[kind]
        raise BadInput(source, f"config.{key}", f"expected {expected}, got "
                                                f"{type(value).__name__}")
    return float(value) if kind == "float" else value


def config_from_dict(source: str, stored: Any) -> WorkloadConfig:
    """A `WorkloadConfig` from its stored dict: every field present, of its type, checked as a
    `--set` value would be."""
    if not isinstance(stored, dict):
        raise BadInput(source, "config", "not a JSON object")
    fields = {f.name: str(f.type) for f in dataclasses.fields(WorkloadConfig)}
    for key in stored:
        if key not in fields:
            raise BadInput(source, f"config.{key}", "not a workload field")
    values = {}
    for key, kind in fields.items():
        if key not in stored:
            raise BadInput(source, f"config.{key}", "missing")
        values[key] = _typed(source, key, stored[key], kind)
    config = WorkloadConfig(**values)
    workloads.check(source, config)
    return config


def read_workload(golden_dir: Path) -> tuple[str, WorkloadConfig]:
    """The workload name and configuration of a golden run (its `workload.json`)."""
    path = golden_dir / WORKLOAD_FILE
    source = str(path)
    if not path.exists():
        raise BadInput(source, "golden", "no golden run here (missing workload.json)")
    stored = parse_json(files.read_input(path, MAX_WORKLOAD_BYTES), source)
    if not isinstance(stored, dict) or set(stored) != {"workload", "config"}:
        raise BadInput(source, "file", "expected an object with the keys workload and config")
    name = stored["workload"]
    if not _name(name) or name not in workloads.PRESETS:
        shown = repr(name)[:80] if isinstance(name, str) else type(name).__name__
        raise BadInput(source, "workload", f"{shown} is not a known workload (a plugin's "
                                           "workload needs its --plugin)")
    config = config_from_dict(source, stored["config"])
    preset = workloads.PRESETS[name]
    for key in workloads.FIXED:
        if getattr(config, key) != getattr(preset, key):
            raise BadInput(source, f"config.{key}", f"{getattr(config, key)!r} is not workload "
                                                    f"{name}'s {getattr(preset, key)!r}")
    return name, config


@dataclass(frozen=True)
class GoldenFolder:
    """A verified golden run: its workload, configuration, trace record and checkpoint hashes."""

    path: Path
    workload: str
    config: WorkloadConfig
    record: dict[str, Any]
    trace_sha256: str  # of the trace.json verified: names this run (its wall time included)

    @property
    def checkpoints(self) -> dict[str, str]:
        return self.record["checkpoints"]


def _read_record(golden_dir: Path, workload: str, config: WorkloadConfig
                 ) -> tuple[dict[str, Any], str]:
    import fi_formats

    path = golden_dir / TRACE_JSON
    source = str(path)
    if not path.exists():
        raise BadInput(source, "golden", "no complete golden run here (trace.json missing: the "
                                         "run did not finish)")
    data = files.read_input(path, MAX_TRACE_BYTES)
    record = parse_json(data, source)
    problems = fi_formats.trace_problems(record)
    if problems:
        field, _, reason = problems[0].partition(": ")
        raise BadInput(source, field, reason)
    if record["kind"] != "golden" or record["complete"] is not True:
        raise BadInput(source, "kind", "not a complete golden run's trace")
    if record.get("workload") != workload:
        raise BadInput(source, "workload", f"{record.get('workload')!r} differs from "
                                           f"{WORKLOAD_FILE}'s {workload!r}")
    for key, value in config.to_dict().items():
        if record["config"].get(key) != value:
            raise BadInput(source, f"config.{key}", f"{record['config'].get(key)!r} differs from "
                                                    f"{WORKLOAD_FILE}'s {value!r}")
    if INITIAL not in record["checkpoints"]:
        raise BadInput(source, "checkpoints", "no initial checkpoint")
    return record, hashlib.sha256(data).hexdigest()


def _check_text(golden_dir: Path, record: dict[str, Any]) -> None:
    """`trace.txt` has a line per step and per epoch of the record (the early exit copies it)."""
    path = golden_dir / TRACE_TEXT
    data = files.read_input(path, MAX_TRACE_BYTES)
    try:
        lines = data.decode("utf-8").splitlines()
    except UnicodeDecodeError:
        raise BadInput(str(path), "file", "not UTF-8") from None
    steps = sum(line.startswith("Epoch: ") for line in lines)
    epochs = sum(line.startswith("End of epoch: ") for line in lines)
    if (steps, epochs) != (len(record["steps"]), len(record["epochs"])):
        raise BadInput(str(path), "file", f"{steps} step and {epochs} epoch lines, trace.json "
                                          f"has {len(record['steps'])} and "
                                          f"{len(record['epochs'])} (damaged)")


def _stamp(path: Path) -> tuple[int, int] | None:
    try:
        status = path.stat()
    except (OSError, ValueError):
        return None
    return status.st_mtime_ns, status.st_size


def open_golden(golden_dir: Path) -> GoldenFolder:
    """The golden run in `golden_dir`, verified (read once per process while its files stay
    the same)."""
    stamps = tuple(_stamp(golden_dir / name) for name in (WORKLOAD_FILE, TRACE_JSON, TRACE_TEXT))
    return _open_golden(Path(os.path.abspath(golden_dir)), golden_dir, stamps)


@functools.lru_cache(maxsize=8)
def _open_golden(key: Path, golden_dir: Path, stamps: tuple) -> GoldenFolder:
    try:
        if not golden_dir.is_dir():
            raise BadInput(str(golden_dir), "--golden",
                           "not a folder" if golden_dir.exists() else "No such folder")
    except (OSError, ValueError) as error:
        raise BadInput(str(golden_dir), "--golden", getattr(error, "strerror", None) or
                       str(error)) from None
    workload, config = read_workload(golden_dir)
    record, trace_sha256 = _read_record(golden_dir, workload, config)
    _check_text(golden_dir, record)
    return GoldenFolder(golden_dir, workload, config, record, trace_sha256)


# ---------------------------------------------------------------- checkpoints
@functools.cache
def _hash(folder: Path) -> str:
    return files.hash_dir(folder)


def checkpoint_hash(folder: Path) -> str:
    """sha256 of a checkpoint folder (`files.hash_dir`), computed once per process."""
    try:
        return _hash(Path(os.path.abspath(folder)))
    except OSError as error:
        raise BadInput(str(folder), "golden checkpoint",
                       f"cannot be read ({error.strerror or type(error).__name__})") from None


def verify_checkpoint(golden: GoldenFolder, epoch: int) -> Path:
    """The folder of the checkpoint saved at the end of `epoch`, once its sha256 is the one the
    golden trace recorded: a damaged, truncated or replaced checkpoint is never restored."""
    folder = checkpoint_dir(golden.path, epoch)
    expected = golden.checkpoints.get(checkpoint_key(epoch))
    if expected is None:
        raise BadInput(str(folder), "golden checkpoint",
                       f"not among the golden run's checkpoints ({golden.path / TRACE_JSON})")
    try:
        present = folder.is_dir()
    except OSError as error:
        raise BadInput(str(folder), "golden checkpoint", error.strerror or "unreadable") from None
    if not present:
        raise BadInput(str(folder), "golden checkpoint", "missing")
    actual = checkpoint_hash(folder)
    if actual != expected:
        raise BadInput(str(folder), "golden checkpoint",
                       f"sha256 {actual[:16]}... is not the {expected[:16]}... recorded in "
                       f"{TRACE_JSON} (damaged or replaced)")
    return folder


def check_against_golden(hits: Sequence[Injection], golden_dir: Path) -> WorkloadConfig:
    """Every CSV must describe the golden run's workload, and the checkpoint it resumes from
    must be the golden run's own (sha256 as recorded)."""
    golden = open_golden(golden_dir)
    config, name = golden.config, golden.workload
    for hit in hits:
        field = workloads.structural_mismatch(hit.config, config)
        if field is not None:
            raise BadInput(hit.source, field,
                           f"{getattr(hit.config, field)!r} differs from the golden run's "
                           f"{getattr(config, field)!r} ({golden_dir}, workload {name})")
    for epoch in sorted({hit.epoch - 1 for hit in hits}):
        verify_checkpoint(golden, epoch)
    return config
