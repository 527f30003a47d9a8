"""The pipeline's side of the Snakemake workflow: the configuration checked and turned into a
plan (which jobs exist, with which arguments), in plain Python that the tests call directly.

`load(config, ask)` is what `workflow/rules/common.smk` runs once per parse: the schema
(`schema.validate`), the cross-references between sections, and the verdicts of the engine and
the analysis (`ask`, normally `asking.subprocess_asker`), giving a `plan.Plan` or raising
`ConfigError` with one line `config: <json path>: <reason>`. Nothing here imports TensorFlow,
fi_core or analysis: the engine and the analysis are asked through their command lines.
"""

from fi_pipeline import asking, commands, errors, jobs, rounds, schema
from fi_pipeline.errors import ConfigError
from fi_pipeline.plan import Plan, load

__all__ = ["ConfigError", "Plan", "asking", "commands", "errors", "jobs", "load", "rounds",
           "schema"]
