# Sequential campaigns: rounds of injections until every stratum's intervals are narrow enough.
# After round r, the checkpoint `decide` collects the traces of rounds 1..r and asks the
# analysis (`fi-analysis sequential`) which strata reached the target at the schedule's level;
# the strata left open get round r + 1 (their next look's size), the others stop receiving
# injections. All rounds run in one `snakemake` invocation (a dry run shows round 1 only).


rule round_list:
    # The trace folders of rounds 1..r, one per line (see rule trace_list).
    input:
        traces=round_traces,
    output:
        "results/{campaign}/rounds/round_{round}.list",
    log:
        "logs/round_list/{campaign}/round_{round}.log",
    wildcard_constraints:
        campaign=_regex(PLAN.of_kind(SEQUENTIAL)),
        round=r"[1-9]\d*",
    run:
        write_lines(output[0], input.traces)


checkpoint decide:
    input:
        traces=round_traces,
        listed="results/{campaign}/rounds/round_{round}.list",
        golden=lambda wildcards: result_goldens(wildcards.campaign),
    output:
        json="results/{campaign}/rounds/round_{round}.json",
        table="results/{campaign}/rounds/round_{round}.parquet",
    log:
        "logs/decide/{campaign}/round_{round}.log",
    wildcard_constraints:
        campaign=_regex(PLAN.of_kind(SEQUENTIAL)),
        round=r"[1-9]\d*",
    conda:
        "../../envs/analysis.yaml"
    threads: PLAN.config["analysis"]["resources"]["threads"]
    resources:
        mem_mb=PLAN.config["analysis"]["resources"]["mem_mb"],
        runtime=PLAN.config["analysis"]["resources"]["runtime"],
    params:
        collect=lambda wildcards, input, output, threads: commands.collect(
            PLAN, [f"@{input.listed}"], input.golden, output.table, None, threads
        ),
        decide=lambda wildcards, output: commands.sequential(
            PLAN, wildcards.campaign, output.table, output.json
        ),
    shell:
        "(python -m analysis collect {params.collect:q} && "
        "python -m analysis sequential {params.decide:q}) > {log:q} 2>&1"


rule sequential_report:
    input:
        table="results/{campaign}/results.parquet",
    output:
        json="results/{campaign}/sequential.json",
        csv="results/{campaign}/sequential.csv",
        md=report(
            "results/{campaign}/sequential.md",
            caption="../report/sequential.rst",
            category="{campaign}",
            subcategory="Outcome rates",
            labels={"table": "sequential", "format": "md"},
        ),
    log:
        "logs/sequential/{campaign}.log",
    wildcard_constraints:
        campaign=_regex(PLAN.of_kind(SEQUENTIAL)),
    conda:
        "../../envs/analysis.yaml"
    resources:
        mem_mb=PLAN.config["analysis"]["resources"]["mem_mb"],
        runtime=PLAN.config["analysis"]["resources"]["runtime"],
    params:
        args=lambda wildcards, input, output: commands.sequential(
            PLAN, wildcards.campaign, input.table, output.json, output.csv, output.md
        ),
    shell:
        "python -m analysis sequential {params.args:q} > {log:q} 2>&1"
