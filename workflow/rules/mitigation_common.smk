# Helpers of workflow/rules/mitigation.smk (campaigns with a `mitigation:` key): the presets of
# a campaign, checked against the engine's, and the paths of their traces and observe runs.


MITIGATED = [c for c in CAMPAIGNS if CAMPAIGNS[c].get("mitigation")]
MITIGATION_PRESETS = sorted({p for c in MITIGATED for p in CAMPAIGNS[c]["mitigation"]})


def _check_mitigation():
    known = ENGINE.get("mitigations", {})
    for name in MITIGATED:
        presets = CAMPAIGNS[name]["mitigation"]
        for preset in presets:
            if preset not in known:
                raise ConfigError(
                    f"campaigns.{name}.mitigation: unknown preset {preset!r} "
                    f"(known: {', '.join(known)})"
                )
        if "none" not in presets:
            raise ConfigError(
                f"campaigns.{name}.mitigation: must include none "
                "(the runs the other presets are paired with)"
            )


_check_mitigation()


def mitigation_presets(campaign):
    """The presets of a campaign (none for a study or a campaign without the key)."""
    if campaign not in CAMPAIGNS:
        return []
    return CAMPAIGNS[campaign].get("mitigation") or []


def mitigated_traces(campaign, preset, ext="json"):
    return [
        f"results/{campaign}/traces/{preset}/{i}.{ext}" for i in campaign_ids(campaign)
    ]


def observe_dir(workload, preset):
    return f"results/observe/{workload}/{preset}"


def observe_files(campaign, preset):
    workload = campaign_workload(campaign)
    return [
        f"{observe_dir(workload, preset)}/seed_{s}.json" for s in golden_seeds(workload)
    ]


def observed(wildcards):
    """The observe run that primes an injection run's detectors (none: nothing)."""
    if wildcards.preset == "none":
        return []
    return observe_files(wildcards.campaign, wildcards.preset)[:1]


def mitigation_args(wildcards, input):
    if wildcards.preset == "none":
        return ""
    return (
        f"--mitigation {shlex.quote(wildcards.preset)} "
        f"--observed {shlex.quote(str(input.observed))}"
    )


def mitigation_outputs(campaign):
    if not mitigation_presets(campaign):
        return []
    return [
        f"results/{campaign}/mitigation.csv",
        f"results/{campaign}/mitigation.md",
        f"results/{campaign}/mitigation.png",
    ]
