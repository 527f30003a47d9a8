"""What the engine knows, for the pipeline and for people: workloads, fault models, id width,
mitigation presets.

The workflow asks the engine (`fi-core describe --json`) instead of keeping copies of these
facts, so a new workload file or a registered fault model is known everywhere at once. Nothing
here imports TensorFlow.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from fi_core import faults, sites
from fi_core.mitigation import presets
from fi_core.spec import architecture, campaign, workloads
from fi_core.spec.workloads import WorkloadConfig

FORMAT = "fi-describe/1"


def workload_facts(config: WorkloadConfig) -> dict[str, Any]:
    """One preset: its configuration and what follows from it."""
    return {
        "network": config.network, "model": config.model, "dataset": config.dataset,
        "seed": config.seed, "epochs": config.epochs,
        "steps_per_epoch": config.steps_per_epoch, "replicas": config.replicas,
        "config": config.to_dict(),
        "sites": len(architecture.sites_of(config)),
        "forward_layers": architecture.forward_layers(config),
        "backward_layers": architecture.backward_layers(config),
    }


def describe() -> dict[str, Any]:
    fields = {f.name: str(f.type) for f in dataclasses.fields(WorkloadConfig)}
    return {
        "format": FORMAT,
        "id_width": campaign.ID_WIDTH,
        "stages": list(architecture.STAGES),
        "backward_ops": list(sites.backward_pass_names()),
        "fault_models": {name: {"operand": model.operand}
                         for name, model in faults.FAULT_MODELS.items()},
        "workloads": {name: workload_facts(config)
                      for name, config in workloads.PRESETS.items()},
        "overridable": {name: fields[name] for name in workloads.OVERRIDABLE},
        "mitigations": {name: {"description": preset.description,
                               "recovery": preset.recovery}
                        for name, preset in presets.PRESETS.items()},
    }
