# Campaigns with and without mitigation on the same CSVs (docs/mitigation.md). A campaign with
# `mitigation: [none, paper, ...]` runs its usual jobs (none: results/<campaign>/traces/) and
# the same jobs once per other preset (results/<campaign>/mitigated/<preset>/<job>/). Each
# preset, none too, also replays the golden runs with its detectors observing
# (results/observe/<workload>/<preset>/seed_<s>.json): what fires there is a false positive,
# their step time against none's is the preset's overhead, and the first seed's record primes
# the detectors of the injection runs. The campaign's results table, rates and figures are its
# runs without mitigation; the comparison is results/<campaign>/mitigation.{csv,md,png}, from a
# table of every preset's runs.


include: "mitigation_common.smk"


rule observe:
    input:
        golden="results/golden/{workload}/seed_{seed}/trace.json",
        data=lambda wildcards: data_input(wildcards.workload),
    output:
        json="results/observe/{workload}/{preset}/seed_{seed}.json",
        text="results/observe/{workload}/{preset}/seed_{seed}.txt",
    log:
        "logs/observe/{workload}/{preset}/seed_{seed}.log",
    benchmark:
        "results/benchmarks/observe/{workload}/{preset}/seed_{seed}.tsv"
    wildcard_constraints:
        workload=_regex(OBSERVED_WORKLOADS),
        preset=_regex(MITIGATION_PRESETS),
        seed=r"\d+",
    conda:
        "../../envs/fi_core.yaml"
    threads: PLAN.config["golden"]["resources"]["threads"]
    resources:
        mem_mb=PLAN.config["golden"]["resources"]["mem_mb"],
        runtime=PLAN.config["golden"]["resources"]["runtime"],
        gpu=PLAN.config["golden"]["resources"]["gpu"],
        tpu=PLAN.config["golden"]["resources"]["tpu"],
    params:
        args=lambda wildcards: commands.observe(
            PLAN,
            wildcards.workload,
            int(wildcards.seed),
            wildcards.preset,
            observe_dir(wildcards.workload, wildcards.preset),
        ),
    shell:
        "TF_NUM_INTRAOP_THREADS={threads} TF_NUM_INTEROP_THREADS=1 OMP_NUM_THREADS={threads} "
        "python -m fi_core observe {params.args:q} > {log:q} 2>&1"


rule inject_mitigated:
    input:
        csv=lambda wildcards: inject_job(wildcards).inputs,
        golden=lambda wildcards: first_golden_trace(wildcards.campaign),
        observed=first_observed,
        data=lambda wildcards: data_input(PLAN.campaigns[wildcards.campaign].workload),
    output:
        directory("results/{campaign}/mitigated/{preset}/{job}"),
    log:
        "logs/inject/{campaign}/{preset}/{job}.log",
    benchmark:
        "results/benchmarks/inject/{campaign}/{preset}/{job}.tsv"
    wildcard_constraints:
        campaign=_regex(MITIGATED),
        preset=_regex(p for p in MITIGATION_PRESETS if p != "none"),
        job=JOB,
    conda:
        "../../envs/fi_core.yaml"
    threads: PLAN.config["inject"]["resources"]["threads"]
    resources:
        mem_mb=PLAN.config["inject"]["resources"]["mem_mb"],
        runtime=inject_runtime,
        gpu=PLAN.config["inject"]["resources"]["gpu"],
        tpu=PLAN.config["inject"]["resources"]["tpu"],
    params:
        args=lambda wildcards, input, output: commands.inject_mitigated(
            PLAN,
            wildcards.campaign,
            inject_job(wildcards),
            wildcards.preset,
            input.observed,
            output[0],
        ),
    shell:
        "TF_NUM_INTRAOP_THREADS={threads} TF_NUM_INTEROP_THREADS=1 OMP_NUM_THREADS={threads} "
        "python -m fi_core inject {params.args:q} > {log:q} 2>&1"


rule mitigation_trace_list:
    # Every preset's trace folders, one per line, for `fi-analysis collect @<list>`.
    input:
        traces=lambda wildcards: mitigation_trace_dirs(wildcards.campaign),
    output:
        "results/{campaign}/mitigation.list",
    log:
        "logs/mitigation/{campaign}/list.log",
    wildcard_constraints:
        campaign=_regex(MITIGATED),
    run:
        write_lines(output[0], input.traces)


rule mitigation_collect:
    input:
        traces=lambda wildcards: mitigation_trace_dirs(wildcards.campaign),
        listed="results/{campaign}/mitigation.list",
        golden=lambda wildcards: result_goldens(wildcards.campaign),
    output:
        table="results/{campaign}/mitigation.parquet",
    log:
        "logs/mitigation/{campaign}/collect.log",
    wildcard_constraints:
        campaign=_regex(MITIGATED),
    conda:
        "../../envs/analysis.yaml"
    threads: PLAN.config["analysis"]["resources"]["threads"]
    resources:
        mem_mb=PLAN.config["analysis"]["resources"]["mem_mb"],
        runtime=PLAN.config["analysis"]["resources"]["runtime"],
    params:
        args=lambda wildcards, input, output, threads: commands.collect(
            PLAN, [f"@{input.listed}"], input.golden, output.table, None, threads
        ),
    shell:
        "python -m analysis collect {params.args:q} > {log:q} 2>&1"


rule mitigation_table:
    input:
        table="results/{campaign}/mitigation.parquet",
        observe=lambda wildcards: [
            path
            for preset in PLAN.mitigations(wildcards.campaign)
            for path in observe_files(wildcards.campaign, preset)
        ],
    output:
        csv=report(
            "results/{campaign}/mitigation.csv",
            caption="../report/mitigation.rst",
            category="{campaign}",
            subcategory="Mitigation",
            labels={"table": "mitigation", "format": "csv"},
        ),
        md="results/{campaign}/mitigation.md",
        figure=report(
            "results/{campaign}/mitigation.png",
            caption="../report/mitigation_figure.rst",
            category="{campaign}",
            subcategory="Mitigation",
            labels={"figure": "outcomes by mitigation"},
        ),
        pdf="results/{campaign}/mitigation.pdf",
    log:
        "logs/mitigation/{campaign}/table.log",
    wildcard_constraints:
        campaign=_regex(MITIGATED),
    conda:
        "../../envs/analysis.yaml"
    resources:
        mem_mb=PLAN.config["analysis"]["resources"]["mem_mb"],
        runtime=PLAN.config["analysis"]["resources"]["runtime"],
    params:
        args=lambda wildcards, input, output: commands.mitigation(
            PLAN, input.table, input.observe, output.csv, output.md, output.figure
        ),
    shell:
        "python -m analysis mitigation {params.args:q} > {log:q} 2>&1"
