# The fault-injection campaign pipeline: golden runs, injection CSVs, injection runs, and the
# results table, outcome rates, figures and report. Run `snakemake --cores N` (see README.md);
# the configuration is config/config.yaml, checked against workflow/schemas/config.schema.yaml.


configfile: "config/config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/download.smk"
include: "workflow/rules/golden.smk"
include: "workflow/rules/generate.smk"
include: "workflow/rules/inject.smk"
include: "workflow/rules/mitigation.smk"
include: "workflow/rules/analysis.smk"


report: "workflow/report/workflow.rst"


localrules:
    all,
    download,


rule all:
    default_target: True
    input:
        all_outputs(),
