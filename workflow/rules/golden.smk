# Fault-free runs: K seeds per workload. The first seed's checkpoints (epoch_<e>/) are where the
# injection runs start from; the K traces give the outcome classifier its fault-free band.


rule golden:
    input:
        data=lambda wildcards: data_input(wildcards.workload),
    output:
        trace="results/golden/{workload}/seed_{seed}/trace.json",
        text="results/golden/{workload}/seed_{seed}/trace.txt",
        workload="results/golden/{workload}/seed_{seed}/workload.json",
    log:
        "logs/golden/{workload}/seed_{seed}.log",
    benchmark:
        "results/benchmarks/golden/{workload}/seed_{seed}.tsv"
    wildcard_constraints:
        workload=_regex(WORKLOADS),
        seed=r"\d+",
    priority: golden_priority
    conda:
        "../../envs/fi_core.yaml"
    threads: config["golden"]["resources"]["threads"]
    resources:
        mem_mb=config["golden"]["resources"]["mem_mb"],
        runtime=config["golden"]["resources"]["runtime"],
        gpu=config["golden"]["resources"]["gpu"],
        tpu=config["golden"]["resources"]["tpu"],
    params:
        out="results/golden/{workload}/seed_{seed}",
        preset=lambda wildcards: workload_preset(wildcards.workload),
        sets=lambda wildcards: set_args(wildcards.workload, seed=wildcards.seed),
        data=lambda wildcards: data_arg(wildcards.workload),
        engine=engine_args(),
        plugins=plugin_args(),
    shell:
        "rm -rf {params.out} && mkdir -p {params.out} && "
        "TF_NUM_INTRAOP_THREADS={threads} TF_NUM_INTEROP_THREADS=1 OMP_NUM_THREADS={threads} "
        "python -m fi_core golden{params.plugins} --workload {params.preset} {params.sets} "
        "--out {params.out} {params.data} {params.engine} > {log} 2>&1"
