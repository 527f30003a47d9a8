# From traces to the results table, the outcome rates with confidence intervals, and the figures
# (the analysis package's command line), for each campaign and each study (several campaigns in
# one table, e.g. one per workload).


rule trace_list:
    # The trace folders of a result set, one per line, for `fi-analysis collect @<list>`: a
    # study's thousands of folders would not fit on one shell command line (128 KiB).
    input:
        traces=lambda wildcards: result_traces(wildcards.campaign),
    output:
        "results/{campaign}/traces.list",
    log:
        "logs/trace_list/{campaign}.log",
    wildcard_constraints:
        campaign=_regex([*PLAN.campaigns, *PLAN.studies]),
    run:
        write_lines(output[0], input.traces)


rule collect:
    input:
        traces=lambda wildcards: result_traces(wildcards.campaign),
        listed="results/{campaign}/traces.list",
        golden=lambda wildcards: result_goldens(wildcards.campaign),
    output:
        table="results/{campaign}/results.parquet",
        curves="results/{campaign}/curves.parquet",
    log:
        "logs/collect/{campaign}.log",
    wildcard_constraints:
        campaign=_regex([*PLAN.campaigns, *PLAN.studies]),
    conda:
        "../../envs/analysis.yaml"
    threads: PLAN.config["analysis"]["resources"]["threads"]
    resources:
        mem_mb=PLAN.config["analysis"]["resources"]["mem_mb"],
        runtime=PLAN.config["analysis"]["resources"]["runtime"],
    params:
        args=lambda wildcards, input, output, threads: commands.collect(
            PLAN,
            [f"@{input.listed}"],
            input.golden,
            output.table,
            output.curves,
            threads,
        ),
    shell:
        "python -m analysis collect {params.args:q} > {log:q} 2>&1"


rule rates:
    input:
        table="results/{campaign}/results.parquet",
    output:
        csv=report(
            "results/{campaign}/rates/{name}.csv",
            caption="../report/rates.rst",
            category="{campaign}",
            subcategory="Outcome rates",
            labels={"table": "{name}", "format": "csv"},
        ),
        md="results/{campaign}/rates/{name}.md",
    log:
        "logs/rates/{campaign}/{name}.log",
    wildcard_constraints:
        name=_regex(PLAN.config["analysis"]["rates"]),
    conda:
        "../../envs/analysis.yaml"
    resources:
        mem_mb=PLAN.config["analysis"]["resources"]["mem_mb"],
        runtime=PLAN.config["analysis"]["resources"]["runtime"],
    params:
        # by, method, confidence: for the report's caption (../report/rates.rst)
        by=lambda wildcards: ",".join(PLAN.config["analysis"]["rates"][wildcards.name]),
        method=PLAN.config["analysis"]["method"],
        confidence=PLAN.config["analysis"]["confidence"],
        args=lambda wildcards, input, output: commands.rates(
            PLAN, wildcards.name, input.table, output.csv, output.md
        ),
    shell:
        "python -m analysis rates {params.args:q} > {log:q} 2>&1"


rule summary:
    input:
        table="results/{campaign}/results.parquet",
    output:
        report(
            "results/{campaign}/summary.md",
            caption="../report/summary.rst",
            category="{campaign}",
            subcategory="Outcome rates",
            labels={"table": "summary", "format": "md"},
        ),
    log:
        "logs/summary/{campaign}.log",
    conda:
        "../../envs/analysis.yaml"
    resources:
        mem_mb=PLAN.config["analysis"]["resources"]["mem_mb"],
        runtime=PLAN.config["analysis"]["resources"]["runtime"],
    params:
        # by, confidence: for the report's caption (../report/summary.rst)
        by=",".join(PLAN.config["analysis"]["summary_by"]),
        confidence=PLAN.config["analysis"]["confidence"],
        args=lambda wildcards, input, output: commands.summary(
            PLAN, input.table, output[0]
        ),
    shell:
        "python -m analysis summary {params.args:q} > {log:q} 2>&1"


rule figures:
    input:
        table="results/{campaign}/results.parquet",
        curves="results/{campaign}/curves.parquet",
        golden=lambda wildcards: result_goldens(wildcards.campaign),
    output:
        report(
            directory("results/{campaign}/figures"),
            patterns=["{figure}.png"],
            caption="../report/figures.rst",
            category="{campaign}",
            subcategory="Figures",
        ),
    log:
        "logs/figures/{campaign}.log",
    conda:
        "../../envs/analysis.yaml"
    resources:
        mem_mb=PLAN.config["analysis"]["resources"]["mem_mb"],
        runtime=PLAN.config["analysis"]["resources"]["runtime"],
    params:
        captions=figure_captions(),
        args=lambda wildcards, input, output: commands.figures(
            PLAN, input.table, input.curves, input.golden, output[0], artifact_traces()
        ),
    shell:
        "python -m analysis figures {params.args:q} > {log:q} 2>&1"
