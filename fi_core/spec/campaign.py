"""Random injection campaigns, following the paper's method.

Each experiment draws, uniformly: a stage, a fault model, a layer (from the forward list, or a
`_grad_in` layer for the backward pass), an epoch (at least `min_epoch`), a step and a replica;
then the fault model's pattern draws the elements hit in the operand (listed positions, or a
run written as `inj_range`) and its value rule (or a uniform range, for worst-case studies)
draws its CSV row. Experiment i uses its own generator seeded with (campaign seed, i), so a
campaign is byte-identical for the same arguments and growing N keeps the first CSVs unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fi_core import faults, sites
from fi_core.faults import rules
from fi_core.faults.value_rules import explicit, uniform
from fi_core.spec import architecture, injection
from fi_core.spec.errors import BadInput
from fi_core.spec.workloads import WorkloadConfig
from fi_formats import names

ID_WIDTH = 5
"""Digits of a CSV's number at least (`inj_00042`); more when a campaign needs them."""
MAX_INJECTIONS = 10**7
"""`--n` at most: ten million CSVs is already more files than a folder should hold."""
PREFIX = names.FILE_PREFIX
"""CSV names are `<prefix><index>.csv` inside `--out`: no `/`, no dots, nothing to escape
(`fi_formats.names`; a pipeline campaign's id prefix is stricter:
`fi_core.commands.check.PREFIX`)."""
SEED_HIGH = 2**63


@dataclass(frozen=True)
class CampaignSpec:
    """What to draw from. Empty `layers` means the workload's full lists."""

    workload: str
    config: WorkloadConfig
    overrides: Mapping[str, str]
    stages: Sequence[str] = tuple(names.STAGES)
    fmodels: Sequence[str] = faults.ARTIFACT_NAMES
    layers: Sequence[str] = ()
    backward_ops: Sequence[str] = (architecture.GRAD_IN,)
    all_sites: bool = False
    value_range: tuple[float, float] | None = None
    min_epoch: int = 1


def candidate_layers(spec: CampaignSpec, stage: str) -> list[str]:
    """The layers a stage draws from, in the artifact's order."""
    only = not spec.all_sites
    if stage == names.FORWARD_STAGE:
        layers = architecture.forward_layers(spec.config, artifact_only=only)
    else:
        layers = [name for name in architecture.backward_layers(spec.config, artifact_only=only)
                  if architecture.split_layer_name(name)[1] in spec.backward_ops]
    if spec.layers:
        layers = [n for n in layers
                  if n in spec.layers or architecture.split_layer_name(n)[0] in spec.layers]
    return layers


def check(spec: CampaignSpec) -> None:
    source = "campaign"
    for op in spec.backward_ops:
        if op not in sites.backward_pass_names():
            known_ops = ", ".join(sites.backward_pass_names())
            raise BadInput(source, "backward_ops", f"unknown {op!r} (known: {known_ops})")
    known = {*architecture.forward_layers(spec.config, artifact_only=False),
             *architecture.backward_layers(spec.config, artifact_only=False)}
    known |= {architecture.split_layer_name(name)[0] for name in known}
    for layer in spec.layers:
        if layer not in known:
            raise BadInput(source, "layers", f"{layer!r} is not a layer of workload "
                                             f"{spec.workload}")
    for stage in spec.stages:
        if stage not in architecture.STAGES:
            raise BadInput(source, "stages", f"unknown stage {stage!r}")
        if not candidate_layers(spec, stage):
            raise BadInput(source, "layers", f"no {stage} layer matches {list(spec.layers)}")
    for name in spec.fmodels:
        faults.get(name, source)
    if not spec.stages or not spec.fmodels:
        raise BadInput(source, "stages" if not spec.stages else "fmodels", "empty")
    if not 0 <= spec.min_epoch < spec.config.epochs:
        raise BadInput(source, "min_epoch",
                       f"{spec.min_epoch} is not below the workload's {spec.config.epochs} epochs")
    if spec.value_range is not None:
        low, high = spec.value_range
        if not (np.isfinite(low) and np.isfinite(high) and low < high
                and max(abs(low), abs(high)) <= injection.FP32_MAX):
            raise BadInput(source, "value_range", f"{spec.value_range} is not a finite fp32 range")
        if np.float32(low) >= np.float32(high):
            raise BadInput(source, "value_range", f"{spec.value_range} is empty in fp32 (low and "
                                                  "high are the same fp32 value)")


def _value_rule(spec: CampaignSpec, fmodel: faults.FaultModel,
                selection: faults.Selection) -> rules.ValueRule:
    """The fault model's rule, or the worst-case uniform range: listed as `inj_values` (the
    artifact's format), a run as `inj_uniform` (a seed and the range)."""
    if spec.value_range is not None:
        low, high = spec.value_range
        return uniform.within(low, high) if selection.is_run else explicit.uniform(low, high)
    if fmodel.value.per_element and selection.is_run:
        raise BadInput("campaign", "fmodels",
                       f"fault model {fmodel.name!r} draws a run but its value rule "
                       f"{fmodel.value.name!r} needs listed positions")
    return fmodel.value


def draw(spec: CampaignSpec, seed: int, index: int) -> dict[str, list[str]]:
    """The CSV rows of experiment `index` of a campaign."""
    rng = np.random.default_rng([seed, index])
    config = spec.config
    stage = spec.stages[rng.integers(len(spec.stages))]
    fmodel = faults.get(spec.fmodels[rng.integers(len(spec.fmodels))])
    layers = candidate_layers(spec, stage)
    layer = layers[rng.integers(len(layers))]
    epoch = int(rng.integers(spec.min_epoch, config.epochs))
    step = int(rng.integers(0, config.steps_per_epoch))
    replica = int(rng.integers(0, config.replicas))
    base, pass_ = architecture.split_layer_name(layer)
    site = architecture.site_by_name(config)[base]
    shape = sites.operand_shape(site, pass_, fmodel.operand, config.batch_per_replica_at(step))
    selection = fmodel.pattern(tuple(shape), rng)
    rule = _value_rule(spec, fmodel, selection)
    rows = {
        "model": [config.model], "stage": [stage], "fmodel": [fmodel.name],
        "target_worker": [str(replica)], "target_layer": [layer],
        "target_epoch": [str(epoch)], "target_step": [str(step)],
        **injection.selection_rows(selection),
        rule.key: rule.draw(rng, selection),
        "learning_rate": [repr(config.learning_rate)], "seed": [str(config.seed)],
        "workload": [spec.workload],
    }
    for key, value in spec.overrides.items():
        if key not in ("learning_rate", "seed"):
            rows[key] = [str(value)]
    return rows


def check_output(count: int, seed: int, out: Path, prefix: str) -> None:
    """Refuse, before anything is written, a campaign size, seed, prefix or folder that would
    fail or leave `out`."""
    if not 1 <= count <= MAX_INJECTIONS:
        raise BadInput("--n", "n", f"{count} is not in [1, {MAX_INJECTIONS}]")
    if not 0 <= seed < SEED_HIGH:
        raise BadInput("--seed", "seed", f"{seed} is not in [0, 2**63)")
    if not PREFIX.fullmatch(prefix):
        raise BadInput("--prefix", "prefix", f"{injection.shown(prefix)!r} does not match "
                                             f"{PREFIX.pattern} (it names files inside --out)")
    try:
        if out.exists() and not out.is_dir():
            raise BadInput(injection.shown(str(out)), "--out", "exists and is not a folder")
    except (OSError, ValueError) as error:
        raise BadInput(injection.shown(str(out)), "--out", injection.shown(str(error))) from None


def generate(spec: CampaignSpec, count: int, seed: int, out: Path,
             prefix: str = "inj_", shown_out: Path | None = None) -> list[Path]:
    """Write `count` CSVs `<prefix>00000.csv`... into `out`; each one parses back as valid.

    A write that fails (a full disk) is not the input's fault: an OSError naming the CSV as it
    would be in `shown_out` (the final folder, when `out` is a staging folder inside it)."""
    check(spec)
    check_output(count, seed, out, prefix)
    width = max(ID_WIDTH, len(str(count - 1)))
    paths = []
    for index in range(count):
        path = out / f"{prefix}{index:0{width}d}.csv"
        rows = draw(spec, seed, index)
        try:
            injection.write(path, rows)
        except OSError as error:
            shown = (shown_out or out) / path.name
            raise OSError(error.errno, error.strerror or type(error).__name__,
                          injection.shown(str(shown))) from None
        paths.append(path)
    return paths
