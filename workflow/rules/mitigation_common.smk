# Helpers of workflow/rules/mitigation.smk (campaigns with a `mitigation:` key; the presets were
# checked by the engine when the configuration was loaded): the paths of their traces and of
# the observe runs.


MITIGATED = PLAN.mitigated()
MITIGATION_PRESETS = sorted({p for c in MITIGATED for p in PLAN.mitigations(c)})
OBSERVED_WORKLOADS = sorted({PLAN.campaigns[c].workload for c in MITIGATED})


def mitigated_dirs(campaign, preset):
    """The trace folders of a preset's runs: none's are the campaign's own jobs."""
    if preset == "none":
        return job_dirs(campaign)
    return [
        f"results/{campaign}/mitigated/{preset}/{job.label}"
        for job in PLAN.jobs(campaign)
    ]


def mitigation_trace_dirs(campaign):
    """Every preset's trace folders of a campaign."""
    return [
        path
        for preset in PLAN.mitigations(campaign)
        for path in mitigated_dirs(campaign, preset)
    ]


def observe_dir(workload, preset):
    return f"results/observe/{workload}/{preset}"


def observe_files(campaign, preset):
    workload = PLAN.campaigns[campaign].workload
    return [
        f"{observe_dir(workload, preset)}/seed_{s}.json"
        for s in PLAN.workloads[workload].seeds
    ]


def first_observed(wildcards):
    """The observe run that primes an injection run's detectors: the first golden run's."""
    return observe_files(wildcards.campaign, wildcards.preset)[0]


def mitigation_outputs(name):
    if not PLAN.mitigations(name):
        return []
    return [
        f"results/{name}/mitigation.csv",
        f"results/{name}/mitigation.md",
        f"results/{name}/mitigation.png",
    ]
