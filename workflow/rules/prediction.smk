# Prediction-powered campaigns (a campaign with a `prediction:` key; docs/pipeline.md). Every
# CSV is trained to its horizon (inject_horizon: results/<c>/horizon/<job>/, each stopped run's
# state in results/<c>/horizon_state/<job>/); the analysis draws which runs go on
# (prediction_select: results/<c>/prediction/selection.csv, fixed before any run goes on);
# inject_continue trains those to the end and puts every labelled run's trace pair (the exact
# ones and the continued ones) into results/<c>/traces/<job>/, where collect reads them as
# usual; prediction_rates combines the predictions of all runs with the labels.


rule inject_horizon:
    input:
        csv=lambda wildcards: inject_job(wildcards).inputs,
        golden=lambda wildcards: first_golden_trace(wildcards.campaign),
        data=lambda wildcards: data_input(PLAN.campaigns[wildcards.campaign].workload),
    output:
        records=directory("results/{campaign}/horizon/{job}"),
        state=directory("results/{campaign}/horizon_state/{job}"),
    log:
        "logs/inject_horizon/{campaign}/{job}.log",
    benchmark:
        "results/benchmarks/inject_horizon/{campaign}/{job}.tsv"
    wildcard_constraints:
        campaign=_regex(PREDICTED),
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
        args=lambda wildcards, output: commands.inject_horizon(
            PLAN,
            wildcards.campaign,
            inject_job(wildcards),
            output.records,
            output.state,
        ),
    shell:
        "TF_NUM_INTRAOP_THREADS={threads} TF_NUM_INTEROP_THREADS=1 OMP_NUM_THREADS={threads} "
        "python -m fi_core inject {params.args:q} > {log:q} 2>&1"


rule horizon_list:
    # The horizon folders of a campaign, one per line (see rule trace_list).
    input:
        horizon=lambda wildcards: horizon_dirs(wildcards.campaign),
    output:
        "results/{campaign}/prediction/horizon.list",
    log:
        "logs/horizon_list/{campaign}.log",
    wildcard_constraints:
        campaign=_regex(PREDICTED),
    run:
        write_lines(output[0], input.horizon)


rule prediction_select:
    input:
        horizon=lambda wildcards: horizon_dirs(wildcards.campaign),
        listed="results/{campaign}/prediction/horizon.list",
    output:
        "results/{campaign}/prediction/selection.csv",
    log:
        "logs/prediction_select/{campaign}.log",
    wildcard_constraints:
        campaign=_regex(PREDICTED),
    conda:
        "../../envs/analysis.yaml"
    resources:
        mem_mb=PLAN.config["analysis"]["resources"]["mem_mb"],
        runtime=PLAN.config["analysis"]["resources"]["runtime"],
    params:
        args=lambda wildcards, input, output: commands.prediction_select(
            PLAN, wildcards.campaign, input.listed, output[0]
        ),
    shell:
        "python -m analysis prediction-select {params.args:q} > {log:q} 2>&1"


rule inject_continue:
    input:
        selection="results/{campaign}/prediction/selection.csv",
        horizon="results/{campaign}/horizon/{job}",
        state="results/{campaign}/horizon_state/{job}",
        golden=lambda wildcards: first_golden_trace(wildcards.campaign),
        data=lambda wildcards: data_input(PLAN.campaigns[wildcards.campaign].workload),
    output:
        directory("results/{campaign}/traces/{job}"),
    log:
        "logs/inject_continue/{campaign}/{job}.log",
    benchmark:
        "results/benchmarks/inject_continue/{campaign}/{job}.tsv"
    wildcard_constraints:
        campaign=_regex(PREDICTED),
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
        ids=lambda wildcards: list(inject_job(wildcards).ids),
        csvs=lambda wildcards: list(inject_job(wildcards).csvs),
        args=lambda wildcards, input, output: commands.inject_continue(
            PLAN, wildcards.campaign, input.state, output[0]
        ),
    script:
        "../scripts/inject_continue.py"


rule prediction_rates:
    input:
        horizon=lambda wildcards: horizon_dirs(wildcards.campaign),
        listed="results/{campaign}/prediction/horizon.list",
        selection="results/{campaign}/prediction/selection.csv",
        table="results/{campaign}/results.parquet",
    output:
        rates=report(
            "results/{campaign}/prediction/rates.csv",
            caption="../report/prediction.rst",
            category="{campaign}",
            subcategory="Outcome rates",
            labels={"table": "prediction-powered rates", "format": "csv"},
        ),
        md=report(
            "results/{campaign}/prediction/rates.md",
            caption="../report/prediction.rst",
            category="{campaign}",
            subcategory="Outcome rates",
            labels={"table": "prediction-powered rates", "format": "md"},
        ),
        confusion=report(
            "results/{campaign}/prediction/confusion.md",
            caption="../report/prediction_confusion.rst",
            category="{campaign}",
            subcategory="Outcome rates",
            labels={"table": "predictor's confusion matrix", "format": "md"},
        ),
        confusion_csv="results/{campaign}/prediction/confusion.csv",
        units="results/{campaign}/prediction/units.parquet",
    log:
        "logs/prediction_rates/{campaign}.log",
    wildcard_constraints:
        campaign=_regex(PREDICTED),
    conda:
        "../../envs/analysis.yaml"
    resources:
        mem_mb=PLAN.config["analysis"]["resources"]["mem_mb"],
        runtime=PLAN.config["analysis"]["resources"]["runtime"],
    params:
        args=lambda wildcards, input, output: commands.prediction_rates(
            PLAN,
            wildcards.campaign,
            input.listed,
            input.selection,
            input.table,
            os.path.dirname(output.rates),
        ),
    shell:
        "python -m analysis prediction-rates {params.args:q} > {log:q} 2>&1"
