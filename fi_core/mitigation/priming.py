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

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fi_core.errors import BadInput
from fi_core.mitigation.detectors import State
from fi_core.mitigation.presets import MODES, NONE, PRESETS, Preset

MAX_OBSERVED_BYTES = 64 * 2**20


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
    from fi_core import files, golden

    source = str(path)
    record = golden.parse_json(files.read_input(path, MAX_OBSERVED_BYTES), source)
    if not isinstance(record, dict):
        raise BadInput(source, "file", "not a JSON trace record")
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
        from fi_core import golden

        initial = golden.open_golden(golden_dir).checkpoints[golden.INITIAL]
        observed_golden = mitigation.get("golden")
        if not isinstance(observed_golden, dict) or observed_golden.get("sha256") != initial:
            raise BadInput(source, "mitigation.golden",
                           f"observed another golden run than {golden_dir}")
    states = mitigation.get("states")
    if not isinstance(states, dict) or not all(
            isinstance(by_detector, dict) and all(isinstance(s, dict) for s in by_detector.values())
            for by_detector in states.values()):
        raise BadInput(source, "mitigation.states", "missing or not detector states by epoch")
    for by_detector in states.values():
        for state in by_detector.values():
            if not all(isinstance(v, int | float) for v in state.values()):
                raise BadInput(source, "mitigation.states", "a state value is not a number")
    return states
