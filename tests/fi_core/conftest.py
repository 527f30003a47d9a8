"""Fixtures shared by the engine's test modules."""

from __future__ import annotations

from pathlib import Path

import pytest

MICRO = {"epochs": "3"}
"""The small workload cut to 3 epochs of 10 steps: every training test's size."""


@pytest.fixture(scope="session")
def micro_golden(tmp_path_factory) -> Path:
    """One golden run of the micro workload (seed 123), shared by every module that needs it."""
    from fi_core.replay import runs
    from fi_core.spec import workloads

    out = tmp_path_factory.mktemp("golden") / "seed_123"
    runs.golden("resnet18_small", workloads.resolve("resnet18_small", MICRO), out)
    return out
