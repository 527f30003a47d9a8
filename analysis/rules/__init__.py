"""Outcome rules: the built-in ones, and the way a plugin adds its own.

A rule is one file. It declares what it reads and takes, and registers itself when imported::

    from analysis.rules import EPS, Feature, Rule, Threshold, register_rule

    FACTOR = Threshold("loss_spike_factor", float, 10.0, "LossSpike: ... (default 10)",
                       low=1.0, high=1e6, meaning="...")
    PEAK = Feature("peak_loss_ratio", dtype="float64", description="...",
                   compute=lambda trace, golden: ...)  # per run, when the table is collected
    register_rule(Rule("LossSpike", 4.5, "...",
                       lambda f, t: f.peak_loss_ratio >= t.loss_spike_factor,
                       precedence=55, features=(PEAK,), thresholds=(FACTOR,)))

`fi-analysis --plugin MODULE` (every command; or FI_ANALYSIS_PLUGINS=a,b; the pipeline's
`analysis.plugins`) imports it first: its threshold is an option (`--loss-spike-factor`) and a
key of `analysis.thresholds`, its feature a column of the results table, its label a column of
the rates tables. docs/analysis.md, "Outcome rules", has the whole contract.
"""

from analysis.rules import accuracy, common, nonfinite, rejoined  # noqa: F401 (the built-ins)
from analysis.rules.features import Features
from analysis.rules.registry import (
    EPS,
    MAX_STEPS,
    Feature,
    Rule,
    Threshold,
    register_derived,
    register_feature,
    register_rule,
    register_threshold,
)
from analysis.rules.thresholds import Thresholds

__all__ = [
    "EPS",
    "MAX_STEPS",
    "Feature",
    "Features",
    "Rule",
    "Threshold",
    "Thresholds",
    "register_derived",
    "register_feature",
    "register_rule",
    "register_threshold",
]
