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
        workload=_regex(PLAN.workloads),
        seed=r"\d+",
    priority: golden_priority
    conda:
        "../../envs/fi_core.yaml"
    threads: PLAN.config["golden"]["resources"]["threads"]
    resources:
        mem_mb=PLAN.config["golden"]["resources"]["mem_mb"],
        runtime=PLAN.config["golden"]["resources"]["runtime"],
        gpu=PLAN.config["golden"]["resources"]["gpu"],
        tpu=PLAN.config["golden"]["resources"]["tpu"],
    params:
        out="results/golden/{workload}/seed_{seed}",
        args=lambda wildcards: commands.golden(
            PLAN,
            wildcards.workload,
            int(wildcards.seed),
            f"results/golden/{wildcards.workload}/seed_{wildcards.seed}",
        ),
    shell:
        "rm -rf {params.out:q} && mkdir -p {params.out:q} && "
        "TF_NUM_INTRAOP_THREADS={threads} TF_NUM_INTEROP_THREADS=1 OMP_NUM_THREADS={threads} "
        "python -m fi_core golden {params.args:q} > {log:q} 2>&1"
