# Datasets that are not embedded: fetched with gdown (a Google Drive id or a plain URL), verified
# against the configured checksum, and extracted into resources/datasets/<name>/ in one atomic
# rename, so a failure leaves nothing behind.


rule download:
    output:
        directory("resources/datasets/{dataset}"),
    log:
        "logs/download/{dataset}.log",
    wildcard_constraints:
        dataset=_regex(PLAN.config["datasets"]),
    conda:
        "../../envs/download.yaml"
    params:
        spec=lambda wildcards: PLAN.config["datasets"][wildcards.dataset],
    script:
        "../scripts/download.py"
