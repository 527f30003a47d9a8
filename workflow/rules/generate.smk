# A campaign's injection CSVs, drawn by `fi-core generate` with the paper's method (uniformly
# random epoch >= min_epoch, step, replica, fault model, and a forward layer or a backward
# `_grad_in` layer). The same configuration gives byte-identical CSVs. The number of CSVs is
# known when the workflow is parsed (n, or from the margin), so the ids are too.


rule generate:
    output:
        directory("results/{campaign}/csv"),
    log:
        "logs/generate/{campaign}.log",
    wildcard_constraints:
        campaign=_regex(GENERATED),
    conda:
        "../../envs/fi_core.yaml"
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        args=lambda wildcards: generate_args(wildcards.campaign),
        plugins=plugin_args(),
    shell:
        "python -m fi_core generate{params.plugins} {params.args} --out {output} > {log} 2>&1"
