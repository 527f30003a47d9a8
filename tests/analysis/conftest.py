"""Shared fixtures: synthetic traces that follow fi_formats/trace.schema.json, and the
paper artifact's real traces."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from analysis import synthetic as syn

ARTIFACT = Path(__file__).resolve().parents[2] / "reference" / "artifact"


@pytest.fixture
def artifact_traces() -> Path:
    """The paper artifact's trace directory (kept in the repository)."""
    path = ARTIFACT / "traces"
    assert (path / "fault_free.txt").is_file(), path
    return path


class Campaign:
    """A tmp directory with golden runs and injection traces written on demand."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.traces = root / "traces"
        self.traces.mkdir()
        self.golden = syn.golden_record("golden_a")
        self.golden_path = root / "golden_a.json"
        syn.write_json(self.golden_path, self.golden)

    def add_golden(self, run_id: str, **kw: Any) -> tuple[dict[str, Any], Path]:
        rec = syn.golden_record(run_id, **kw)
        path = self.root / f"{run_id}.json"
        syn.write_json(path, rec)
        return rec, path

    def inject(
        self,
        name: str,
        epoch: int = 5,
        step: int = 3,
        fmt: str = "json",
        golden: dict[str, Any] | None = None,
        **kw: Any,
    ) -> Path:
        rec = syn.injection_record(name, golden or self.golden, epoch, step, **kw)
        path = self.traces / f"{name}.{fmt}"
        (syn.write_json if fmt == "json" else syn.write_text)(path, rec)
        return path


@pytest.fixture
def campaign(tmp_path: Path) -> Campaign:
    return Campaign(tmp_path)
