"""Fault models as compositions of three small parts: operand x pattern x value.

`FAULT_MODELS` holds the artifact's 18 presets; `register` adds a new one without touching the
training loop (the loop only sees positions and a value rule resolved from the CSV).
"""

from fi_core.faults.models import FAULT_MODELS, FaultModel, get, register

__all__ = ["FAULT_MODELS", "FaultModel", "get", "register"]
