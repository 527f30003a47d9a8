# Campaigns with and without mitigation on the same CSVs (docs/mitigation.md). A campaign with
# `mitigation: [none, paper, ...]` replays every CSV once per preset into
# results/<campaign>/traces/<preset>/; each preset also replays the golden runs with its
# detectors observing (results/observe/<workload>/<preset>/seed_<s>.json): what fires there is
# a false positive, their step time against none's is the preset's overhead, and the first
# seed's record primes the detectors of the injection runs.
# The campaign's results table, rates and figures are its runs without mitigation (none); the
# comparison is results/<campaign>/mitigation.{csv,md,png}, from a table of every preset's runs.


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
        workload=_regex(WORKLOADS),
        preset=_regex(MITIGATION_PRESETS),
        seed=r"\d+",
    conda:
        "../../envs/fi_core.yaml"
    threads: config["golden"]["resources"]["threads"]
    resources:
        mem_mb=config["golden"]["resources"]["mem_mb"],
        runtime=config["golden"]["resources"]["runtime"],
        gpu=config["golden"]["resources"]["gpu"],
        tpu=config["golden"]["resources"]["tpu"],
    params:
        golden=lambda wildcards, input: os.path.dirname(input.golden),
        out=lambda wildcards: observe_dir(wildcards.workload, wildcards.preset),
        data=lambda wildcards: data_arg(wildcards.workload),
        engine=engine_args(),
        plugins=plugin_args(),
    shell:
        "TF_NUM_INTRAOP_THREADS={threads} TF_NUM_INTEROP_THREADS=1 OMP_NUM_THREADS={threads} "
        "python -m fi_core observe{params.plugins} --golden {params.golden} "
        "--mitigation {wildcards.preset} --out-dir {params.out} {params.data} "
        "{params.engine} > {log} 2>&1"


rule inject_mitigation:
    input:
        csv="results/{campaign}/csv",
        golden=lambda wildcards: golden_traces(campaign_workload(wildcards.campaign))[0],
        observed=observed,
        data=lambda wildcards: data_input(campaign_workload(wildcards.campaign)),
    output:
        json=expand(
            "results/{{campaign}}/traces/{{preset}}/{{batch}}{suffix}.json",
            suffix=SUFFIXES,
        ),
        text=expand(
            "results/{{campaign}}/traces/{{preset}}/{{batch}}{suffix}.txt",
            suffix=SUFFIXES,
        ),
    log:
        "logs/inject/{campaign}/{preset}/{batch}.log",
    benchmark:
        "results/benchmarks/inject/{campaign}/{preset}/{batch}.tsv"
    wildcard_constraints:
        campaign=_regex(c for c in GENERATED if c in MITIGATED),
        preset=_regex(MITIGATION_PRESETS),
        batch="[^/]+",
    conda:
        "../../envs/fi_core.yaml"
    threads: config["inject"]["resources"]["threads"]
    resources:
        mem_mb=config["inject"]["resources"]["mem_mb"],
        runtime=inject_runtime,
        gpu=config["inject"]["resources"]["gpu"],
        tpu=config["inject"]["resources"]["tpu"],
    params:
        files=lambda wildcards: " ".join(
            f"--file results/{wildcards.campaign}/csv/{wildcards.batch}{s}.csv"
            for s in SUFFIXES
        ),
        golden=lambda wildcards: golden_dir(campaign_workload(wildcards.campaign)),
        data=lambda wildcards: data_arg(campaign_workload(wildcards.campaign)),
        mitigation=mitigation_args,
        out="results/{campaign}/traces/{preset}",
        engine=engine_args(),
        plugins=plugin_args(),
    shell:
        "TF_NUM_INTRAOP_THREADS={threads} TF_NUM_INTEROP_THREADS=1 OMP_NUM_THREADS={threads} "
        "python -m fi_core inject{params.plugins} {params.files} --golden {params.golden} "
        "--out-dir {params.out} {params.mitigation} {params.data} {params.engine} "
        "> {log} 2>&1"


rule replay_mitigation:
    input:
        csv=lambda wildcards: f"{CAMPAIGNS[wildcards.campaign]['csv_dir']}/{wildcards.id}.csv",
        golden=lambda wildcards: golden_traces(campaign_workload(wildcards.campaign))[0],
        observed=observed,
        data=lambda wildcards: data_input(campaign_workload(wildcards.campaign)),
    output:
        json="results/{campaign}/traces/{preset}/{id}.json",
        text="results/{campaign}/traces/{preset}/{id}.txt",
    log:
        "logs/replay/{campaign}/{preset}/{id}.log",
    benchmark:
        "results/benchmarks/replay/{campaign}/{preset}/{id}.tsv"
    wildcard_constraints:
        campaign=_regex(c for c in REPLAYED if c in MITIGATED),
        preset=_regex(MITIGATION_PRESETS),
        id="[^/]+",
    conda:
        "../../envs/fi_core.yaml"
    threads: config["inject"]["resources"]["threads"]
    resources:
        mem_mb=config["inject"]["resources"]["mem_mb"],
        runtime=replay_runtime,
        gpu=config["inject"]["resources"]["gpu"],
        tpu=config["inject"]["resources"]["tpu"],
    params:
        golden=lambda wildcards: golden_dir(campaign_workload(wildcards.campaign)),
        data=lambda wildcards: data_arg(campaign_workload(wildcards.campaign)),
        mitigation=mitigation_args,
        out="results/{campaign}/traces/{preset}",
        engine=engine_args(),
        plugins=plugin_args(),
    shell:
        "TF_NUM_INTRAOP_THREADS={threads} TF_NUM_INTEROP_THREADS=1 OMP_NUM_THREADS={threads} "
        "python -m fi_core inject{params.plugins} --file {input.csv:q} --golden {params.golden} "
        "--out-dir {params.out} {params.mitigation} {params.data} {params.engine} "
        "> {log} 2>&1"


rule mitigation_collect:
    input:
        traces=lambda wildcards: [
            path
            for preset in mitigation_presets(wildcards.campaign)
            for path in mitigated_traces(wildcards.campaign, preset)
        ],
        golden=lambda wildcards: result_goldens(wildcards.campaign),
    output:
        table="results/{campaign}/mitigation.parquet",
    log:
        "logs/mitigation/{campaign}/collect.log",
    wildcard_constraints:
        campaign=_regex(MITIGATED),
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
        "--out {output.table} --jobs {threads} {params.thresholds} > {log} 2>&1"


rule mitigation_table:
    input:
        table="results/{campaign}/mitigation.parquet",
        observe=lambda wildcards: [
            path
            for preset in mitigation_presets(wildcards.campaign)
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
        mem_mb=config["analysis"]["resources"]["mem_mb"],
        runtime=config["analysis"]["resources"]["runtime"],
    params:
        confidence=config["analysis"]["confidence"],
    shell:
        "python -m analysis mitigation --table {input.table} --observe {input.observe} "
        "--out {output.csv} --markdown {output.md} --figure {output.figure} "
        "--confidence {params.confidence} > {log} 2>&1"
