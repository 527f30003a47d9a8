"""Fault models as compositions of three small parts: operand x pattern x value rule.

`FAULT_MODELS` holds the artifact's 18 presets (and any a plugin registers); `register` adds a
fault model, `rules.register_rule` a value rule, each without touching the engine: the training
loop only sees the elements a CSV selects and the registered rule it names.
"""

from fi_core.faults import rules
from fi_core.faults.models import ARTIFACT_NAMES, FAULT_MODELS, FaultModel, get, register
from fi_core.faults.patterns import Selection
from fi_core.faults.rules import RULES, Field, RuleInputs, ValueRule, register_rule

__all__ = ["ARTIFACT_NAMES", "FAULT_MODELS", "RULES", "FaultModel", "Field", "RuleInputs",
           "Selection", "ValueRule", "get", "register", "register_rule", "rules"]
