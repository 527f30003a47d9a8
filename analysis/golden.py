"""The fault-free reference: which golden run each injection is compared with, and the band.

An injection's golden reference is the golden run whose ``checkpoints`` contain the injection's
``golden_checkpoint.sha256`` (text traces carry no hash: the first golden trace given). The band
of a reference is every golden run given with the same workload configuration except the seed;
its spread (max - min of final accuracies) widens the tolerance.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from analysis.errors import InputError
from analysis.rules import registry
from analysis.trace import Curves, Trace


@dataclass(frozen=True)
class GoldenRef:
    """What classification needs from one golden run (small, so it ships to workers)."""

    path: str
    id: str
    band_key: str
    final_epoch: int
    final_train_accuracy: float
    final_test_accuracy: float
    epochs: int
    steps_per_epoch: int
    num_classes: int
    checkpoints: frozenset[str]
    # The golden run's per-step and per-epoch curves, for a plugin's features (analysis.rules);
    # kept only when one is registered, so workers are not sent them for nothing.
    curves: Curves | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Band:
    """The K golden runs that share a configuration, reduced to their spread."""

    key: str
    size: int
    spread_train: float
    spread_test: float


def band_key(trace: Trace) -> str:
    """Runs that differ only in their seed belong to the same band."""
    if trace.fmt == "text":
        return f"text:epochs={trace.epochs}:steps_per_epoch={trace.steps_per_epoch}"
    config = {k: v for k, v in trace.config.items() if k != "seed"}
    return f"{trace.workload}:" + json.dumps(config, sort_keys=True, default=str)


def golden_ref(trace: Trace) -> GoldenRef:
    """Check that a trace can serve as a golden run and reduce it to a GoldenRef."""
    if trace.problems:
        raise InputError(trace.path, "golden", f"incomplete golden run: {trace.problems[0]}")
    if trace.kind != "golden":
        raise InputError(trace.path, "golden", "is an injection run, not a fault-free run")
    if trace.first_nonfinite is not None:
        raise InputError(trace.path, "golden", "the fault-free run has a non-finite loss")
    last = trace.final_epoch_index()
    assert trace.curves is not None and last is not None  # guaranteed by check_consistency
    return GoldenRef(
        path=trace.path,
        id=trace.id,
        band_key=band_key(trace),
        final_epoch=int(trace.curves.epoch[last]),
        final_train_accuracy=float(trace.curves.train_accuracy[last]),
        final_test_accuracy=float(trace.curves.test_accuracy[last]),
        epochs=int(trace.epochs or 0),
        steps_per_epoch=int(trace.steps_per_epoch or 0),
        num_classes=int(trace.num_classes or 0),
        checkpoints=frozenset((trace.checkpoints or {}).values()),
        curves=trace.curves if registry.computed_features() else None,
    )


class GoldenSet:
    """The golden runs given on the command line, indexed by checkpoint hash."""

    def __init__(self, refs: list[GoldenRef]) -> None:
        if not refs:
            raise InputError("--golden", None, "at least one golden (fault-free) trace is needed")
        self.refs = refs
        self.by_hash: dict[str, GoldenRef] = {}
        for ref in refs:
            for digest in sorted(ref.checkpoints):
                self.by_hash.setdefault(digest, ref)  # first given wins on a shared hash
        self.bands: dict[str, Band] = {}
        for key in dict.fromkeys(r.band_key for r in refs):
            members = [r for r in refs if r.band_key == key]
            train = [r.final_train_accuracy for r in members]
            test = [r.final_test_accuracy for r in members]
            self.bands[key] = Band(
                key=key,
                size=len(members),
                spread_train=max(train) - min(train),
                spread_test=max(test) - min(test),
            )

    def reference_for(self, trace: Trace) -> tuple[GoldenRef, Band] | None:
        """The golden reference of an injection; None when an incomplete run names none.

        Raises InputError when the run names a checkpoint none of the golden runs produced
        (refusing to mix campaigns), or when its shape of training differs from its reference.
        """
        if trace.golden_sha256 is not None:
            ref = self.by_hash.get(trace.golden_sha256)
            if ref is None:
                given = ", ".join(r.path for r in self.refs)
                raise InputError(
                    trace.path,
                    "golden_checkpoint.sha256",
                    f"{trace.golden_sha256} ({trace.golden_checkpoint_path}) is in none of the "
                    f"golden runs given ({given}); refusing to mix campaigns",
                )
        elif trace.fmt == "text":
            ref = self.refs[0]
        else:
            return None
        for name, value, expected in (
            ("epochs", trace.epochs, ref.epochs),
            ("steps_per_epoch", trace.steps_per_epoch, ref.steps_per_epoch),
        ):
            if value is not None and value != expected:
                raise InputError(
                    trace.path, name, f"{value} differs from its golden run {ref.path} ({expected})"
                )
        return ref, self.bands[ref.band_key]


def load_golden_set(traces: list[Trace]) -> GoldenSet:
    """Validate golden traces and index them."""
    return GoldenSet([golden_ref(t) for t in traces])
