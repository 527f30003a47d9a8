"""Choosing a mitigation for a run, and priming its detectors from an observe run.

Detectors that compare against a running estimate (the loss, the gradient norm) need the
history of the training before the run's first step. An injection run starts from the golden
checkpoint of the epoch before its injection, so the estimate it needs is the one the detectors
had at that point of the golden run: an observe run (`fi-core observe`: the golden run's
training replayed with the detectors observing) records it at every epoch end, and
`fi-core inject --observed FILE` starts each run from the state of its epoch. Without it the
running estimates start empty (and those detectors wait `warmup` steps).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fi_core.mitigation.detectors import State, StateField
from fi_core.mitigation.presets import MODES, NONE, PRESETS, Preset
from fi_core.spec.errors import BadInput

MAX_OBSERVED_BYTES = 64 * 2**20
SHA256 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class Setting:
    """The mitigation of an inject or observe process: a preset, a mode and, optionally, the
    detectors' running states by epoch end (from an observe run)."""

    preset: Preset
    mode: str = "active"
    states: dict[str, dict[str, State]] = field(default_factory=dict)

    def states_before(self, epoch: int) -> dict[str, State]:
        """The running states at the end of `epoch - 1` (empty before the first epoch)."""
        return self.states.get(str(epoch - 1), {})


def setting(name: str, mode: str = "active", observed: Path | None = None,
            golden_dir: Path | None = None) -> Setting | None:
    """The setting named on the command line; None for `none` (the plain training step).
    `observed` must be an observe run of the same preset on the same golden run."""
    if name not in PRESETS:
        raise BadInput("--mitigation", name, f"unknown preset (known: {', '.join(PRESETS)})")
    if mode not in MODES:
        raise BadInput("--mitigation-mode", mode, f"not one of {', '.join(MODES)}")
    if name == NONE:
        if observed is not None:
            raise BadInput("--observed", str(observed), "given without a --mitigation preset")
        return None
    preset = PRESETS[name]
    states = _observed_states(observed, preset, golden_dir) if observed is not None else {}
    return Setting(preset, mode, states)


def observing(name: str) -> Setting:
    """The setting of an observe run; `none` too (the plain step, timed: the baseline of the
    presets' overhead)."""
    if name not in PRESETS:
        raise BadInput("--mitigation", name, f"unknown preset (known: {', '.join(PRESETS)})")
    return Setting(PRESETS[name], "observe")


def _read(path: Path) -> dict[str, Any]:
    """The record, every number in it strictly read (finite, within float64 or int64) and the
    whole checked against the trace schema, before TensorFlow starts."""
    import fi_formats
    from fi_core.store import files, golden

    source = str(path)
    record = golden.parse_strict_json(files.read_input(path, MAX_OBSERVED_BYTES), source)
    if not isinstance(record, dict):
        raise BadInput(source, "file", "not a JSON trace record")
    problems = fi_formats.trace_problems(record)
    if problems:
        field, _, reason = problems[0].partition(": ")
        raise BadInput(source, field, reason)
    return record


def _observed_states(path: Path, preset: Preset, golden_dir: Path | None
                     ) -> dict[str, dict[str, State]]:
    """The running states recorded by an observe run, checked against the preset and the
    golden run they are to prime runs of."""
    source = str(path)
    record = _read(path)
    mitigation = record.get("mitigation")
    if record.get("kind") != "golden" or not isinstance(mitigation, dict) \
            or mitigation.get("mode") != "observe":
        raise BadInput(source, "mitigation", "not an observe run (fi-core observe)")
    if mitigation.get("spec") != preset.describe():
        raise BadInput(source, "mitigation.spec",
                       f"observed with another preset than {preset.name!r} (or another version "
                       "of its parameters)")
    if golden_dir is not None:
        _check_golden(source, mitigation.get("golden"), golden_dir)
    states = mitigation.get("states")
    if not isinstance(states, dict):
        raise BadInput(source, "mitigation.states", "missing or not detector states by epoch")
    fields = {d.name: d.state for d in preset.build()}
    for epoch, by_detector in states.items():
        _check_states(source, f"mitigation.states.{epoch}", by_detector, fields)
    return states


def _check_golden(source: str, observed: Any, golden_dir: Path) -> None:
    """The record names the golden run it replayed by the sha256 of its trace.json (which
    differs between two golden runs of the same seed, whose initial checkpoints are alike)."""
    from fi_core.store import golden

    field = "mitigation.golden.trace_sha256"
    named = observed.get("trace_sha256") if isinstance(observed, dict) else None
    if named is None:
        raise BadInput(source, field, "missing: the record does not name the golden run it "
                                      "observed (written by an older fi-core): observe again")
    if not isinstance(named, str) or not SHA256.fullmatch(named):
        raise BadInput(source, field, "not a sha256 (64 lowercase hex digits)")
    run = golden.open_golden(golden_dir)
    if named != run.trace_sha256:
        raise BadInput(source, field, f"observed another golden run than {golden_dir} (its "
                                      f"{golden.TRACE_JSON} has another sha256)")
    if observed.get("sha256") != run.checkpoints[golden.INITIAL]:
        raise BadInput(source, "mitigation.golden.sha256", f"observed another golden run than "
                                                           f"{golden_dir} (another initial "
                                                           "checkpoint)")


def _check_states(source: str, where: str, by_detector: Any,
                  fields: dict[str, Mapping[str, StateField] | None]) -> None:
    """Each detector's running state at one epoch end: detectors of the preset, their declared
    entries, each a number of its range (a count a whole number)."""
    if not isinstance(by_detector, dict):
        raise BadInput(source, where, "not detector states by name")
    for name, state in by_detector.items():
        if name not in fields:
            raise BadInput(source, f"{where}.{name}", "not a detector of the preset")
        if not isinstance(state, dict):
            raise BadInput(source, f"{where}.{name}", "not a detector's state (an object)")
        for key, value in state.items():
            _check_state_value(source, f"{where}.{name}.{key}", value, fields[name], key)


def _check_state_value(source: str, field: str, value: Any,
                       declared: Mapping[str, StateField] | None, key: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise BadInput(source, field, f"expected a number, got {type(value).__name__}")
    if not math.isfinite(value):
        raise BadInput(source, field, f"{value!r} is not a finite number")
    if declared is None:  # a plugin's detector that declares no state: any finite number
        return
    if key not in declared:
        raise BadInput(source, field, "not an entry of this detector's state")
    bounds = declared[key]
    if not bounds.low <= value <= bounds.high:
        raise BadInput(source, field, f"{value!r} is outside [{bounds.low!r}, {bounds.high!r}]")
    if bounds.whole and value != int(value):
        raise BadInput(source, field, f"{value!r} is not a whole number (a count)")
