# From traces to the results table, the outcome rates with confidence intervals, and the figures
# (the analysis package's command line), for each campaign and each study (several campaigns in
# one table, e.g. one per workload).


rule collect:
    input:
        traces=lambda wildcards: result_traces(wildcards.campaign),
        golden=lambda wildcards: result_goldens(wildcards.campaign),
    output:
        table="results/{campaign}/results.parquet",
        curves="results/{campaign}/curves.parquet",
    log:
        "logs/collect/{campaign}.log",
    conda:
        "../../envs/analysis.yaml"
    threads: config["analysis"]["resources"]["threads"]
    resources:
        mem_mb=config["analysis"]["resources"]["mem_mb"],
        runtime=config["analysis"]["resources"]["runtime"],
    params:
        thresholds=threshold_args(),
    shell:
        "python -m analysis collect {input.traces} --golden {input.golden} "
        "--out {output.table} --curves {output.curves} --jobs {threads} "
        "{params.thresholds} > {log} 2>&1"


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
        name=_regex(config["analysis"]["rates"]),
    conda:
        "../../envs/analysis.yaml"
    resources:
        mem_mb=config["analysis"]["resources"]["mem_mb"],
        runtime=config["analysis"]["resources"]["runtime"],
    params:
        by=lambda wildcards: ",".join(config["analysis"]["rates"][wildcards.name]),
        method=config["analysis"]["method"],
        confidence=config["analysis"]["confidence"],
    shell:
        "python -m analysis rates --table {input.table} --by {params.by} "
        "--out {output.csv} --markdown {output.md} "
        "--method {params.method} --confidence {params.confidence} > {log} 2>&1"


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
        mem_mb=config["analysis"]["resources"]["mem_mb"],
        runtime=config["analysis"]["resources"]["runtime"],
    params:
        by=",".join(config["analysis"]["summary_by"]),
        confidence=config["analysis"]["confidence"],
    shell:
        "python -m analysis summary --table {input.table} --by {params.by} "
        "--confidence {params.confidence} --out {output} > {log} 2>&1"


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
        mem_mb=config["analysis"]["resources"]["mem_mb"],
        runtime=config["analysis"]["resources"]["runtime"],
    params:
        artifact=artifact_traces_arg(),
        captions=figure_captions(),
        confidence=config["analysis"]["confidence"],
    shell:
        "python -m analysis figures --table {input.table} --curves {input.curves} "
        "--golden {input.golden} --out-dir {output} --confidence {params.confidence} "
        "{params.artifact} > {log} 2>&1"
