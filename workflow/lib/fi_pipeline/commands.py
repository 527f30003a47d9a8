"""The arguments of every command the rules run, as lists of strings.

The rules pass them with Snakemake's `{params.args:q}`, which quotes each element for the shell,
so no value from the configuration, a CSV's name or a wildcard is ever read by the shell as
anything but one argument. Values are also checked (schema, engine, analysis) before they get
here; the quoting does not rely on it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import PurePosixPath
from typing import Any

from fi_pipeline import rounds, schema
from fi_pipeline.jobs import Job
from fi_pipeline.plan import Plan


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _pairs(option: str, items: Iterable[str]) -> list[str]:
    return [arg for item in items for arg in (option, item)]


def set_args(overrides: Mapping[str, Any], **extra: Any) -> list[str]:
    fields = dict(overrides, **extra)
    return _pairs("--set", [f"{k}={_value(v)}" for k, v in fields.items()])


def engine_args(plan: Plan) -> list[str]:
    """Where fi_core runs the replicas of golden and injection runs."""
    engine = plan.config["engine"]
    return ["--strategy", engine["strategy"], *(["--tpu", engine["tpu"]] if engine["tpu"] else [])]


def data_args(plan: Plan, workload: str) -> list[str]:
    folder = plan.workloads[workload].data_dir
    return ["--data-dir", folder] if folder else []


def plugin_args(plan: Plan) -> list[str]:
    """`--plugin MODULE` per configured plugin: every fi_core command imports them first."""
    return _pairs("--plugin", plan.config["plugins"])


def golden(plan: Plan, workload: str, seed: int, out: str) -> list[str]:
    w = plan.workloads[workload]
    return [*plugin_args(plan), "--workload", w.preset, *set_args(w.overrides, seed=seed),
            "--out", out, *data_args(plan, workload), *engine_args(plan)]


def generate(plan: Plan, campaign: str, out: str, stratum: rounds.Stratum | None = None,
             n: int | None = None) -> list[str]:
    """`fi-core generate` of a campaign, or of one stratum of a sequential campaign."""
    c = plan.campaigns[campaign]
    spec, w = c.spec, plan.workloads[c.workload]
    stages = stratum.stages if stratum else spec["stages"]
    fmodels = (stratum.fmodels if stratum else spec["fmodels"]) or None
    args = [*plugin_args(plan), "--workload", w.preset, *set_args(w.overrides),
            "--n", str(n if n is not None else c.n),
            "--seed", str(stratum.seed if stratum else spec["seed"]),
            "--stages", ",".join(stages), "--min-epoch", str(spec["min_epoch"]),
            "--prefix", stratum.prefix if stratum else spec["prefix"]]
    if fmodels:
        args += ["--fmodels", ",".join(fmodels)]
    if spec["layers"]:
        args += ["--layers", ",".join(spec["layers"])]
    if spec["backward_ops"]:
        args += ["--backward-ops", ",".join(spec["backward_ops"])]
    if spec["all_sites"]:
        args.append("--all-sites")
    if spec["value_range"]:
        low, high = spec["value_range"]
        args += ["--value-range", f"{float(low)!r},{float(high)!r}"]
    return [*args, "--out", out]


def partial_dir(campaign: str, out: str) -> str:
    """Where a job's runs are written first (`fi-core inject --partial-dir`): under
    `results/<campaign>/partial/`, outside the folder Snakemake removes when the job fails, so
    that its rerun trains only the CSVs that did not finish."""
    root = PurePosixPath("results", campaign)
    path = PurePosixPath(out)
    rest = path.relative_to(root) if path.is_relative_to(root) else PurePosixPath(path.name)
    return str(root / "partial" / rest)


def inject(plan: Plan, campaign: str, job: Job, out: str) -> list[str]:
    workload = plan.campaigns[campaign].workload
    return [*plugin_args(plan), *_pairs("--file", job.csvs),
            "--golden", plan.golden_dir(workload), "--out-dir", out,
            "--partial-dir", partial_dir(campaign, out),
            *data_args(plan, workload), *engine_args(plan)]


def inject_mitigated(plan: Plan, campaign: str, job: Job, preset: str, observed: str,
                     out: str) -> list[str]:
    """`fi-core inject` of a job's CSVs with a mitigation preset, its detectors primed by the
    observe run of the first golden run."""
    return [*inject(plan, campaign, job, out), "--mitigation", preset, "--observed", observed]


def observe(plan: Plan, workload: str, seed: int, preset: str, out: str) -> list[str]:
    """`fi-core observe`: a golden run replayed with a preset's detectors observing."""
    return [*plugin_args(plan), "--golden", plan.golden_dir(workload, seed),
            "--mitigation", preset, "--out-dir", out, *data_args(plan, workload),
            *engine_args(plan)]


def mitigation(plan: Plan, table: str, observed: Iterable[str], csv: str, markdown: str,
               figure: str) -> list[str]:
    return ["--table", table, "--observe", *observed, "--out", csv, "--markdown", markdown,
            "--figure", figure, "--confidence", _value(plan.config["analysis"]["confidence"]),
            *analysis_plugin_args(plan)]


def analysis_plugin_args(plan: Plan) -> list[str]:
    """`--plugin MODULE` per `analysis.plugins` entry, last on every fi-analysis command."""
    return _pairs("--plugin", plan.config["analysis"].get("plugins") or [])


def thresholds(plan: Plan) -> list[str]:
    """`--<key with dashes> VALUE` per threshold set (the analysis names its options so):
    the built-ins in the schema's order, then a plugin's in the configuration's."""
    values = plan.config["analysis"]["thresholds"]
    keys = [*schema.builtin_thresholds(), *(k for k in values if k not in
                                            schema.builtin_thresholds())]
    return [arg for key in keys if values.get(key) is not None
            for arg in ("--" + key.replace("_", "-"), _value(values[key]))]


def collect(plan: Plan, traces: Iterable[str], goldens: Iterable[str], table: str,
            curves: str | None, jobs: int) -> list[str]:
    args = [*traces, "--golden", *goldens, "--out", table]
    if curves:
        args += ["--curves", curves]
    return [*args, "--jobs", str(jobs), *thresholds(plan), *analysis_plugin_args(plan)]


def rates(plan: Plan, name: str, table: str, csv: str, markdown: str) -> list[str]:
    analysis = plan.config["analysis"]
    return ["--table", table, "--by", ",".join(analysis["rates"][name]), "--out", csv,
            "--markdown", markdown, "--method", analysis["method"],
            "--confidence", _value(analysis["confidence"]), *analysis_plugin_args(plan)]


def summary(plan: Plan, table: str, out: str) -> list[str]:
    analysis = plan.config["analysis"]
    return ["--table", table, "--by", ",".join(analysis["summary_by"]),
            "--confidence", _value(analysis["confidence"]), "--out", out,
            *analysis_plugin_args(plan)]


def figures(plan: Plan, table: str, curves: str, goldens: Iterable[str], out: str,
            artifact_traces: str | None) -> list[str]:
    args = ["--table", table, "--curves", curves, "--golden", *goldens, "--out-dir", out,
            "--confidence", _value(plan.config["analysis"]["confidence"])]
    if artifact_traces:
        args += ["--artifact-traces", artifact_traces]
    return [*args, *analysis_plugin_args(plan)]


def sequential(plan: Plan, campaign: str, table: str, out: str, csv: str | None = None,
               markdown: str | None = None) -> list[str]:
    target = plan.campaigns[campaign].spec["target"]
    args = ["--table", table, "--by", ",".join(target["by"]),
            "--half-width", _value(target["half_width"]),
            "--confidence", _value(target["confidence"]), "--looks", str(target["looks"]),
            "--out", out]
    if csv:
        args += ["--csv", csv]
    if markdown:
        args += ["--markdown", markdown]
    return [*args, *analysis_plugin_args(plan)]


# ---------------------------------------------------------------- prediction-powered campaigns


def inject_horizon(plan: Plan, campaign: str, job: Job, out: str, state: str) -> list[str]:
    """`fi-core inject` of a job's CSVs to their horizon, each stopped run's state saved."""
    workload = plan.campaigns[campaign].workload
    horizon = plan.campaigns[campaign].spec["prediction"]["horizon"]
    return [*plugin_args(plan), *_pairs("--file", job.csvs),
            "--golden", plan.golden_dir(workload), "--out-dir", out,
            "--horizon", str(horizon), "--state-dir", state,
            *data_args(plan, workload), *engine_args(plan)]


def inject_continue(plan: Plan, campaign: str, state: str, out: str) -> list[str]:
    """`fi-core inject --continue-from` of a job, without its `--file`s: the selected runs are
    known when the job runs (workflow/scripts/inject_continue.py adds them)."""
    workload = plan.campaigns[campaign].workload
    return [*plugin_args(plan), "--golden", plan.golden_dir(workload),
            "--out-dir", out, "--continue-from", state, *data_args(plan, workload),
            *engine_args(plan)]


def prediction_select(plan: Plan, campaign: str, listed: str, out: str) -> list[str]:
    spec = plan.campaigns[campaign].spec["prediction"]
    return [f"@{listed}", "--fraction", _value(spec["label_fraction"]),
            "--far-fraction", _value(spec["far_fraction"]),
            "--far-distance", _value(spec["far_distance"]), "--seed", str(spec["seed"]),
            "--out", out, *analysis_plugin_args(plan)]


def prediction_rates(plan: Plan, campaign: str, listed: str, selection: str, table: str,
                     out_dir: str) -> list[str]:
    """Rates per outcome overall and per `analysis.rates` grouping, both intervals."""
    spec = plan.campaigns[campaign].spec["prediction"]
    analysis = plan.config["analysis"]
    groupings = _pairs("--by", [",".join(by) for by in analysis["rates"].values()])
    return [f"@{listed}", "--selection", selection, "--table", table, *groupings,
            "--folds", str(spec["folds"]), "--seed", str(spec["seed"]),
            "--confidence", _value(analysis["confidence"]), "--out-dir", out_dir,
            *analysis_plugin_args(plan)]
