# Injection runs. One job per batch of CSVs (inject.batch), so TensorFlow's start-up and tracing
# are paid once per batch; each CSV gives results/<campaign>/traces/<id>.{txt,json}, written
# atomically by fi_core. A run that diverges to INF/NaN is a result (exit 0); a crash, kill or
# preemption fails the job, Snakemake removes its outputs, and the same command reruns it.


rule inject:
    input:
        csv="results/{campaign}/csv",
        golden=lambda wildcards: golden_traces(campaign_workload(wildcards.campaign))[0],
        data=lambda wildcards: data_input(campaign_workload(wildcards.campaign)),
    output:
        json=expand(
            "results/{{campaign}}/traces/{{batch}}{suffix}.json", suffix=SUFFIXES
        ),
        text=expand(
            "results/{{campaign}}/traces/{{batch}}{suffix}.txt", suffix=SUFFIXES
        ),
    log:
        "logs/inject/{campaign}/{batch}.log",
    benchmark:
        "results/benchmarks/inject/{campaign}/{batch}.tsv"
    wildcard_constraints:
        campaign=_regex(GENERATED),
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
        out="results/{campaign}/traces",
        engine=engine_args(),
        plugins=plugin_args(),
    shell:
        "TF_NUM_INTRAOP_THREADS={threads} TF_NUM_INTEROP_THREADS=1 OMP_NUM_THREADS={threads} "
        "python -m fi_core inject{params.plugins} {params.files} --golden {params.golden} "
        "--out-dir {params.out} {params.data} {params.engine} > {log} 2>&1"


rule replay:
    input:
        csv=lambda wildcards: f"{CAMPAIGNS[wildcards.campaign]['csv_dir']}/{wildcards.id}.csv",
        golden=lambda wildcards: golden_traces(campaign_workload(wildcards.campaign))[0],
        data=lambda wildcards: data_input(campaign_workload(wildcards.campaign)),
    output:
        json="results/{campaign}/traces/{id}.json",
        text="results/{campaign}/traces/{id}.txt",
    log:
        "logs/replay/{campaign}/{id}.log",
    benchmark:
        "results/benchmarks/replay/{campaign}/{id}.tsv"
    wildcard_constraints:
        campaign=_regex(REPLAYED),
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
        out="results/{campaign}/traces",
        engine=engine_args(),
        plugins=plugin_args(),
    shell:
        "TF_NUM_INTRAOP_THREADS={threads} TF_NUM_INTEROP_THREADS=1 OMP_NUM_THREADS={threads} "
        "python -m fi_core inject{params.plugins} --file {input.csv} --golden {params.golden} "
        "--out-dir {params.out} {params.data} {params.engine} > {log} 2>&1"
