# Injection runs. A job is a run of consecutive ids of one campaign (inject.batch CSVs, or the
# campaign split into inject.workers jobs), replayed in one `fi-core inject` process so that
# TensorFlow starts and traces once per job. Its traces go into one folder,
# results/<campaign>/traces/<first id>..<last id>/, the job's output: a run that diverges to
# INF/NaN is a result (exit 0); a crash, kill or preemption fails the job, Snakemake removes
# its folder, and the same command reruns that job only. Generated, replayed (csv_dir) and
# sequential campaigns all run through this one rule.


rule inject:
    input:
        csv=lambda wildcards: inject_job(wildcards).inputs,
        golden=lambda wildcards: first_golden_trace(wildcards.campaign),
        data=lambda wildcards: data_input(PLAN.campaigns[wildcards.campaign].workload),
    output:
        directory("results/{campaign}/traces/{job}"),
    log:
        "logs/inject/{campaign}/{job}.log",
    benchmark:
        "results/benchmarks/inject/{campaign}/{job}.tsv"
    wildcard_constraints:
        campaign=_regex([c for c in PLAN.campaigns if c not in PREDICTED]),
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
        args=lambda wildcards, output: commands.inject(
            PLAN, wildcards.campaign, inject_job(wildcards), output[0]
        ),
    shell:
        "TF_NUM_INTRAOP_THREADS={threads} TF_NUM_INTEROP_THREADS=1 OMP_NUM_THREADS={threads} "
        "python -m fi_core inject {params.args:q} > {log:q} 2>&1"
