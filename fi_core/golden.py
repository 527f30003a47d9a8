"""A golden run's folder, read without TensorFlow: its workload and its checkpoints.

Injections are checked against it before any training starts, so that a wrong folder or a
missing checkpoint is one clear line and nothing else.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from fi_core import workloads
from fi_core.errors import BadInput
from fi_core.injection import Injection
from fi_core.workloads import WorkloadConfig

WORKLOAD_FILE = "workload.json"
INITIAL = "initial"


def checkpoint_dir(golden: Path, epoch: int) -> Path:
    """Folder of the checkpoint saved at the end of `epoch` (-1: before training)."""
    return golden / (INITIAL if epoch < 0 else f"epoch_{epoch}")


def read_golden(golden_dir: Path) -> tuple[str, WorkloadConfig]:
    path = golden_dir / WORKLOAD_FILE
    if not path.is_file():
        raise BadInput(str(path), "golden", "no golden run here (missing workload.json)")
    stored = json.loads(path.read_text())
    return stored["workload"], WorkloadConfig(**stored["config"])


def check_against_golden(hits: Sequence[Injection], golden_dir: Path) -> WorkloadConfig:
    """Every CSV must describe the golden run's workload, and its checkpoint must exist."""
    name, config = read_golden(golden_dir)
    for hit in hits:
        field = workloads.structural_mismatch(hit.config, config)
        if field is not None:
            raise BadInput(hit.source, field,
                           f"{getattr(hit.config, field)!r} differs from the golden run's "
                           f"{getattr(config, field)!r} ({golden_dir}, workload {name})")
        folder = checkpoint_dir(golden_dir, hit.epoch - 1)
        if not (folder / "meta.json").is_file():
            raise BadInput(str(folder), "golden checkpoint", "missing")
    return config


