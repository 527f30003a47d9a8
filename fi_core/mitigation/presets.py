"""Named mitigations: which detectors run, and what happens when one fires.

A preset is data: detectors with their parameters, a recovery, and how state is saved for a
rollback. Adding a preset is one entry of `PRESETS` (`fi-core describe` lists them, the
pipeline's `mitigation:` key names them).

Recoveries:

- `none`: detectors only observe (their detections are recorded);
- `skip_update`: the artifact's detection experiment (`technique/detection`): a watched
  variable whose check fails has this step's update multiplied by 0 in the compiled step, while
  Adam's m and v keep their new values; every other variable updates. Only detectors with an
  in-graph gate (the per-variable bounds) can do this;
- `rollback`: the paper's recovery: restore the newest snapshot taken at least `lag` steps
  before the step that detected, and re-execute from there on the same batches (the fault is
  transient: it is not injected again). A detection during the re-execution goes back one
  snapshot further; with none left, the detection is recorded as unrecovered and training goes
  on. Snapshots are taken every `every` steps, the last `depth` kept (`snapshots.py`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from fi_core.mitigation import detectors

RECOVERIES = ("none", "skip_update", "rollback")
NONE = "none"
MODES = ("active", "observe")
"""active: the preset's recovery acts; observe: detectors only record (false positives of a
golden run, or what a preset would catch)."""


@dataclass(frozen=True)
class Preset:
    name: str
    description: str
    detectors: tuple[tuple[str, Mapping[str, Any]], ...] = ()
    recovery: str = "none"
    every: int = 1  # rollback: a snapshot every `every` global steps
    depth: int = 2  # rollback: snapshots kept
    lag: int = 1  # rollback: go back to a snapshot taken at least `lag` steps before detection

    def build(self, optimizer: str | None = None) -> list[detectors.Detector]:
        """The preset's detectors (those that apply to `optimizer`, when given)."""
        built = [detectors.build(name, params) for name, params in self.detectors]
        return [d for d in built if optimizer is None or optimizer in d.optimizers]

    def describe(self) -> dict[str, Any]:
        """Everything that decides what the preset does (recorded in traces, compared when an
        injection run is primed from an observe run)."""
        out: dict[str, Any] = {"name": self.name, "recovery": self.recovery,
                               "detectors": [{"name": name, **dict(params)}
                                             for name, params in self.detectors]}
        if self.recovery == "rollback":
            out.update(every=self.every, depth=self.depth, lag=self.lag)
        return out


PAPER_BOUND = {"threshold": 20.0, "variables": "conv_kernels"}
PAPER_DETECTORS = (("adam_m_bound", PAPER_BOUND), ("sgd_update_bound", {}))
"""The paper's bound on Adam's first moment; on an SGD workload, its carry-over to the update."""

PRESETS: dict[str, Preset] = {}


def register(preset: Preset) -> Preset:
    """Check a preset and make it available by name."""
    if preset.recovery not in RECOVERIES:
        raise ValueError(f"{preset.name}: recovery {preset.recovery!r} not in {RECOVERIES}")
    built = preset.build()
    if preset.recovery == "skip_update" and any(d.gate is None for d in built):
        raise ValueError(f"{preset.name}: skip_update needs detectors with an in-graph gate")
    if preset.every < 1 or preset.depth < 1 or preset.lag < 0:
        raise ValueError(f"{preset.name}: every, depth >= 1 and lag >= 0")
    PRESETS[preset.name] = preset
    return preset


register(Preset(NONE, "no mitigation: the plain training step, nothing recorded"))
register(Preset(
    "paper",
    "the paper's technique: Adam's first moment of every conv kernel below 20.0 (NaN fails), "
    "checked after every step (SGD: the update below 2.0); on a detection, roll back to a "
    "snapshot and re-execute",
    detectors=PAPER_DETECTORS, recovery="rollback", every=10, depth=2, lag=0))
register(Preset(
    "paper_skip",
    "the artifact's detection experiment: the paper's bound, and a variable that fails it "
    "does not update in that step (m and v keep their new values)",
    detectors=PAPER_DETECTORS, recovery="skip_update"))
register(Preset(
    "guard",
    "this project's combination: non-finite loss, gradients or test loss; the paper's bound; "
    "batch-norm moving variances below 1e6; loss and gradient-norm spikes against their "
    "running means; roll back to a snapshot at least one step before the detection",
    detectors=(("nonfinite", {}), *PAPER_DETECTORS, ("bn_stats", {}), ("loss_spike", {}),
               ("grad_norm", {})),
    recovery="rollback", every=10, depth=3, lag=1))


def names() -> list[str]:
    return list(PRESETS)


def get(name: str) -> Preset:
    if name not in PRESETS:
        raise KeyError(name)
    return PRESETS[name]
