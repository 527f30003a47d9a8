"""The engine's verdict on a pipeline configuration, before any job runs (`fi-core check-config`).

The Snakemake workflow sends the parts of its configuration that reach the engine (the
plugins, imported first, workloads and their overrides, the golden runs' seeds, every
campaign's generation options or replay CSVs and mitigation presets) as one JSON request,
once per parse, and gets back what the engine knows about them (resolved workloads, golden
seeds, fault models, id width, the largest campaign). Every check
is the engine's own (`workloads.resolve`, `campaign.check`, `injection.parse`), so a dry run
refuses exactly what a job would refuse. A problem is `BadInput("config", <json path>,
<reason>)`: one line naming the configuration key. Nothing here imports TensorFlow.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from fi_core import faults, sites
from fi_core.spec import architecture, campaign, injection, plugins, workloads
from fi_core.spec.errors import BadInput
from fi_formats import names

FORMAT = "fi-check/1"
MAX_INJECTIONS = campaign.MAX_INJECTIONS
"""The largest campaign (injections of one campaign, or of a sequential campaign's schedule)."""

MAX_CAMPAIGN_SEED = 2**63 - 1
PREFIX = names.ID_PREFIX
"""An id prefix: ids are `<prefix><digits>`, so it must not end in a digit, and it must not look
like an option or leave the output folder (`fi_formats.names`)."""

_SOURCE = "config"


def _bad(path: str, reason: str) -> BadInput:
    return BadInput(_SOURCE, path, reason)


def _mapping(value: Any, path: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
        raise _bad(path, "expected a mapping of names")
    return value


def _text(value: Any, path: str) -> str:
    if not isinstance(value, str) or not value:
        raise _bad(path, f"expected a name, got {value!r}")
    return value


def _names(value: Any, path: str) -> list[str] | None:
    """A list of names, or None (meaning: all)."""
    if value is None:
        return None
    if not isinstance(value, Sequence) or isinstance(value, str) or not value:
        raise _bad(path, "expected a non-empty list of names or null")
    return [_text(item, f"{path}[{i}]") for i, item in enumerate(value)]


def _integer(value: Any, path: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _bad(path, f"expected an integer, got {value!r}")
    if not low <= value <= high:
        raise _bad(path, f"{value} is outside [{low}, {high}]")
    return value


def _flag(value: Any, path: str) -> bool:
    if not isinstance(value, bool):
        raise _bad(path, f"expected true or false, got {value!r}")
    return value


def _value_range(value: Any, path: str) -> tuple[float, float] | None:
    if value is None:
        return None
    if (not isinstance(value, Sequence) or isinstance(value, str) or len(value) != 2
            or any(isinstance(v, bool) or not isinstance(v, (int, float)) for v in value)):
        raise _bad(path, "expected [low, high]")
    return float(value[0]), float(value[1])


def _resolve(preset: str, overrides: Mapping[str, Any], path: str,
             reason_prefix: str = "") -> workloads.WorkloadConfig:
    """workloads.resolve, its refusal named by configuration key."""
    try:
        return workloads.resolve(preset, overrides, _SOURCE)
    except BadInput as error:
        if error.key == "workload":
            raise _bad(f"{path}.preset", reason_prefix + error.reason) from None
        if error.key in overrides:
            raise _bad(f"{path}.set.{error.key}", reason_prefix + error.reason) from None
        raise _bad(path, f"{reason_prefix}{error.key}: {error.reason}") from None


def check_workload(name: str, spec: Any) -> dict[str, Any]:
    """A workload: its preset with overrides, and every golden run's seed, as the jobs see them."""
    path = f"workloads.{name}"
    spec = _mapping(spec, path)
    preset = _text(spec.get("preset") or name, f"{path}.preset")
    overrides = dict(_mapping(spec.get("set") or {}, f"{path}.set"))
    config = _resolve(preset, overrides, path)
    golden = _mapping(spec.get("golden") or {}, f"{path}.golden")
    runs = _integer(golden.get("runs", 1), "golden.runs", 1, 1000)
    step = _integer(golden.get("seed_step", 1), "golden.seed_step", 1, 2**32)
    seeds = [config.seed + k * step for k in range(runs)]
    for k, seed in enumerate(seeds[1:], start=1):
        _resolve(preset, {**overrides, "seed": seed}, path, f"golden run {k} (seed {seed}): ")
    return {
        "preset": preset, "dataset": config.dataset, "seed": config.seed,
        "epochs": config.epochs, "steps_per_epoch": config.steps_per_epoch,
        "golden_seeds": seeds, "config": config.to_dict(),
        "overrides": {key: str(value) for key, value in overrides.items()},
    }


def _spec(path: str, spec: Mapping[str, Any], preset: str,
          config: workloads.WorkloadConfig, overrides: Mapping[str, Any]) -> campaign.CampaignSpec:
    stages = _names(spec.get("stages"), f"{path}.stages") or list(architecture.STAGES)
    fmodels = _names(spec.get("fmodels"), f"{path}.fmodels") or list(faults.ARTIFACT_NAMES)
    layers = _names(spec.get("layers"), f"{path}.layers") or []
    ops = _names(spec.get("backward_ops"), f"{path}.backward_ops") or [architecture.GRAD_IN]
    for i, op in enumerate(ops):
        if op not in sites.backward_pass_names():
            raise _bad(f"{path}.backward_ops[{i}]",
                       f"unknown backward operation {op!r} (known: "
                       f"{', '.join(sites.backward_pass_names())})")
    for i, stage in enumerate(stages):
        if stage not in architecture.STAGES:
            raise _bad(f"{path}.stages[{i}]",
                       f"unknown stage {stage!r} (known: {', '.join(architecture.STAGES)})")
    for i, fmodel in enumerate(fmodels):
        if fmodel not in faults.FAULT_MODELS:
            raise _bad(f"{path}.fmodels[{i}]", f"unknown fault model {fmodel!r}")
    return campaign.CampaignSpec(
        workload=preset, config=config, overrides=overrides,
        stages=stages, fmodels=fmodels, layers=layers, backward_ops=ops,
        all_sites=_flag(spec.get("all_sites", False), f"{path}.all_sites"),
        value_range=_value_range(spec.get("value_range"), f"{path}.value_range"),
        min_epoch=_integer(spec.get("min_epoch", 1), f"{path}.min_epoch", 0, 2**31))


def _check_layers(spec: campaign.CampaignSpec, path: str) -> None:
    """Every named layer must be a site of some chosen stage (campaign.check only asks that
    each stage keeps at least one)."""
    for i, layer in enumerate(spec.layers):
        alone = dataclasses.replace(spec, layers=[layer])
        if not any(campaign.candidate_layers(alone, stage) for stage in spec.stages):
            raise _bad(f"{path}.layers[{i}]",
                       f"{layer!r} is not a {' or '.join(spec.stages)} layer of {spec.workload} "
                       f"(fi-core sites --workload {spec.workload} lists them)")


def _check_replay(path: str, files: Any, config: workloads.WorkloadConfig) -> None:
    """Replayed CSVs parse, and describe the campaign's workload (as `inject` will check)."""
    if not isinstance(files, Sequence) or isinstance(files, str):
        raise _bad(f"{path}.csv_dir", "expected a list of CSV files")
    for file in files:
        try:
            hit = injection.parse(Path(_text(file, f"{path}.csv_dir")))
        except BadInput as error:
            raise _bad(f"{path}.csv_dir", str(error)) from None
        field = workloads.structural_mismatch(hit.config, config)
        if field is not None:
            raise _bad(f"{path}.csv_dir", f"{file}: {field}: {getattr(hit.config, field)!r} "
                                          f"differs from the workload's "
                                          f"{getattr(config, field)!r}")


def _check_mitigation(names: Any, path: str) -> None:
    """Known presets, `none` among them (the runs the others are paired with)."""
    from fi_core.mitigation import presets

    given = _names(names, path)
    if given is None:
        return
    for i, name in enumerate(given):
        if name not in presets.PRESETS:
            raise _bad(f"{path}[{i}]", f"unknown mitigation preset {name!r} (known: "
                                       f"{', '.join(presets.PRESETS)})")
    if presets.NONE not in given:
        raise _bad(path, f"must include {presets.NONE} (the runs the other presets are "
                         "paired with)")


def check_campaign(name: str, spec: Any, resolved: Mapping[str, dict[str, Any]]) -> None:
    """A campaign's generation options (or replay CSVs) against its workload."""
    path = f"campaigns.{name}"
    spec = _mapping(spec, path)
    workload = _text(spec.get("workload"), f"{path}.workload")
    if workload not in resolved:
        raise _bad(f"{path}.workload", f"{workload!r} is not defined under workloads")
    facts = resolved[workload]
    config = workloads.WorkloadConfig(**facts["config"])
    _check_mitigation(spec.get("mitigation"), f"{path}.mitigation")
    if "csv_files" in spec:
        _check_replay(path, spec["csv_files"], config)
        return
    _integer(spec.get("n"), f"{path}.n", 1, MAX_INJECTIONS)
    _integer(spec.get("seed", 0), f"{path}.seed", 0, MAX_CAMPAIGN_SEED)
    prefix = spec.get("prefix", "inj_")
    if not isinstance(prefix, str) or not PREFIX.fullmatch(prefix):
        raise _bad(f"{path}.prefix", f"{prefix!r} is not an id prefix (letters, digits, _ and -, "
                                     "starting with a letter or _, not ending in a digit, at "
                                     "most 64 characters)")
    built = _spec(path, spec, facts["preset"], config, facts["overrides"])
    _check_layers(built, path)  # first: it names the list item
    try:
        campaign.check(built)
    except BadInput as error:
        raise _bad(f"{path}.{error.key}", error.reason) from None


def check_request(request: Any) -> dict[str, Any]:
    """The whole verdict: raises BadInput naming the first bad key, else returns the facts."""
    request = _mapping(request, "request")
    for i, name in enumerate(_names(request.get("plugins") or None, "plugins") or []):
        try:
            plugins.load([name], _SOURCE)
        except BadInput as error:
            raise _bad(f"plugins[{i}]", error.reason) from None
    resolved = {name: check_workload(name, spec)
                for name, spec in _mapping(request.get("workloads") or {}, "workloads").items()}
    campaigns = _mapping(request.get("campaigns") or {}, "campaigns")
    for name, spec in campaigns.items():
        check_campaign(name, spec, resolved)
    return {
        "format": FORMAT,
        "id_width": campaign.ID_WIDTH,
        "max_injections": MAX_INJECTIONS,
        "stages": list(architecture.STAGES),
        "fault_models": list(faults.FAULT_MODELS),
        "default_fault_models": list(faults.ARTIFACT_NAMES),
        "workloads": resolved,
    }
