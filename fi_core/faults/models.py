"""The artifact's 18 fault models as (operand, pattern, value) triples, and a registry."""

from __future__ import annotations

from dataclasses import dataclass

from fi_core.errors import BadInput
from fi_core.faults import patterns, values


@dataclass(frozen=True)
class FaultModel:
    """A fault model: which operand of the op, which elements, and what they become."""

    name: str
    operand: str  # "input" | "weight" | "output"
    pattern: patterns.Pattern
    value: values.ValueRule


FAULT_MODELS: dict[str, FaultModel] = {}


def register(model: FaultModel) -> FaultModel:
    """Add (or replace) a fault model; campaigns and validation pick it up by name."""
    FAULT_MODELS[model.name] = model
    return model


def get(name: str, source: str = "fmodel") -> FaultModel:
    if name not in FAULT_MODELS:
        raise BadInput(source, "fmodel", f"unknown fault model {name!r}")
    return FAULT_MODELS[name]


def _presets() -> None:
    one, run16, run64 = patterns.single(), patterns.aligned_run(16), patterns.aligned_run(64)
    glb16, glb64 = patterns.global_run(16), patterns.global_run(64)
    flip, rand, copy = values.bit_flip(), values.random_finite(), values.copy_from_random()
    # INPUT_16 / WT_16 (FIdelity) reach only 16 output neurons in theory; the artifact left their
    # correction unfinished, so they corrupt the operand exactly as INPUT / WT do.
    table = [
        ("INPUT", "input", one, flip), ("INPUT_16", "input", one, flip),
        ("WT", "weight", one, flip), ("WT_16", "weight", one, flip),
        ("RBFLIP", "output", one, flip), ("RD", "output", one, rand),
        ("RD_CORRECT", "output", one, copy), ("ZERO", "output", one, values.zero()),
        ("N16_RD", "output", run16, rand), ("N16_RD_CORRECT", "output", run16, copy),
        ("RD_GLB", "output", glb16, rand), ("RD_CORRECT_GLB", "output", glb16, copy),
        ("N64_INPUT", "input", run64, copy), ("N64_WT", "weight", run64, copy),
        ("N64_INPUT_16", "input", run64, copy), ("N64_WT_16", "weight", run64, copy),
        ("N64_INPUT_GLB", "input", glb64, copy), ("N64_WT_GLB", "weight", glb64, copy),
    ]
    for name, operand, pattern, value in table:
        register(FaultModel(name, operand, pattern, value))


_presets()
ARTIFACT_NAMES = tuple(FAULT_MODELS)
