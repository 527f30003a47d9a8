# A campaign's injection CSVs, drawn by `fi-core generate` with the paper's method (uniformly
# random epoch >= min_epoch, step, replica, fault model, and a forward layer or a backward
# `_grad_in` layer). The same configuration gives byte-identical CSVs, and experiment i depends
# only on (seed, i), so a larger n keeps the first CSVs. A sequential campaign draws each
# stratum apart (its stages and fault models, its own prefix and seed), up to one look's size.


rule generate:
    output:
        directory("results/{campaign}/csv"),
    log:
        "logs/generate/{campaign}.log",
    wildcard_constraints:
        campaign=_regex(PLAN.of_kind(GENERATED)),
    conda:
        "../../envs/fi_core.yaml"
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        args=lambda wildcards, output: commands.generate(
            PLAN, wildcards.campaign, output[0]
        ),
    shell:
        "python -m fi_core generate {params.args:q} > {log:q} 2>&1"


rule generate_stratum:
    output:
        directory("results/{campaign}/strata/{stratum}/look_{look}"),
    log:
        "logs/generate/{campaign}/{stratum}/look_{look}.log",
    wildcard_constraints:
        campaign=_regex(PLAN.of_kind(SEQUENTIAL)),
        stratum=r"s\d+",
        look=r"[1-9]\d*",
    conda:
        "../../envs/fi_core.yaml"
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        args=lambda wildcards, output: commands.generate(
            PLAN,
            wildcards.campaign,
            output[0],
            PLAN.stratum(wildcards.campaign, wildcards.stratum),
            PLAN.campaigns[wildcards.campaign].schedule.sizes[int(wildcards.look) - 1],
        ),
    shell:
        "python -m fi_core generate {params.args:q} > {log:q} 2>&1"
