# The fault-injection campaign pipeline: golden runs, injection CSVs, injection runs, and the
# results table, outcome rates, figures and report. Run `snakemake --cores N` (see README.md);
# the configuration is config/config.yaml, checked when the workflow is parsed (the schema
# workflow/schemas/config.schema.yaml, then the engine and the analysis: workflow/rules/common.smk).


configfile: "config/config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/download.smk"
include: "workflow/rules/golden.smk"
include: "workflow/rules/generate.smk"
include: "workflow/rules/inject.smk"
include: "workflow/rules/sequential.smk"
include: "workflow/rules/prediction.smk"
include: "workflow/rules/mitigation.smk"
include: "workflow/rules/analysis.smk"


report: "workflow/report/workflow.rst"


localrules:
    all,
    download,
    trace_list,
    round_list,
    horizon_list,


rule all:
    default_target: True
    input:
        all_outputs(),
