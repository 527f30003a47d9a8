# Configuration handling and the helpers the rules share. Everything here runs when Snakemake
# parses the workflow; nothing imports TensorFlow or fi_core: what the engine knows (workloads,
# their datasets and seeds, the id width) comes from `fi-core describe --json`, asked once.

import copy
import importlib.util
import json
import math
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

from snakemake.utils import validate

validate(config, "../schemas/config.schema.yaml", set_default=True)
# The schema's defaults are shared objects; give every campaign and workload its own copy.
config.update(copy.deepcopy(dict(config)))

# Every rule runs `python -m fi_core` / `python -m analysis` from this checkout, also inside the
# conda environments of --software-deployment-method conda (which do not install the project).
# When the Python running Snakemake has the project's dependencies (`.venv/bin/snakemake`
# without activating .venv), its `python` is the one the rules find first.
_path = os.environ.get("PATH", "")
if all(importlib.util.find_spec(m) for m in ("tensorflow", "pandas")):
    _path = os.pathsep.join([str(Path(sys.executable).parent), _path])
os.environ.update(
    PYTHONPATH=os.pathsep.join(
        p for p in [workflow.basedir, os.environ.get("PYTHONPATH", "")] if p
    ),
    PATH=_path,
)


class ConfigError(Exception):
    """A configuration that the schema accepts but the workflow cannot run."""


def _ask_engine():
    """The engine's facts: `fi-core describe --json`, run with the Python the jobs use."""
    python = shutil.which("python", path=_path) or sys.executable
    try:
        result = subprocess.run(
            [python, "-m", "fi_core", "describe", "--json"]
            + [arg for name in config["plugins"] for arg in ("--plugin", name)],
            capture_output=True,
            text=True,
            timeout=300,
        )
    except OSError as err:
        raise ConfigError(
            f"cannot run the engine ({python} -m fi_core): {err}"
        ) from err
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or ["no output"])[-1]
        raise ConfigError(f"fi-core describe failed: {last}")
    return json.loads(result.stdout)


ENGINE = _ask_engine()
WORKLOADS = config["workloads"]
CAMPAIGNS = config["campaigns"]
STUDIES = config["studies"]
DATASETS = config["datasets"]
BATCH = config["inject"]["batch"]
# A batch is the ids that share all but their last DIGITS digits (batch 10: inj_0004 covers
# inj_00040 .. inj_00049), so one inject job can declare its CSVs' traces as outputs.
DIGITS = len(str(BATCH)) - 1
SUFFIXES = [f"{k:0{DIGITS}d}" for k in range(BATCH)] if DIGITS else [""]
ID_WIDTH = ENGINE["id_width"]


def _check_config():
    for name in config["run"]:
        if name not in CAMPAIGNS and name not in STUDIES:
            raise ConfigError(
                f"run: {name!r} is not defined under campaigns or studies"
            )
    for name, spec in WORKLOADS.items():
        preset = spec.get("preset") or name
        if preset not in ENGINE["workloads"]:
            known = ", ".join(ENGINE["workloads"])
            raise ConfigError(
                f"workloads.{name}.preset: unknown fi_core workload {preset!r} (known: {known})"
            )
    for name, study in STUDIES.items():
        if name in CAMPAIGNS:
            raise ConfigError(f"studies.{name}: a campaign has the same name")
        for campaign in study["campaigns"]:
            if campaign not in CAMPAIGNS:
                raise ConfigError(
                    f"studies.{name}.campaigns: {campaign!r} is not defined under campaigns"
                )
    for name, campaign in CAMPAIGNS.items():
        if campaign["workload"] not in WORKLOADS:
            raise ConfigError(
                f"campaigns.{name}.workload: {campaign['workload']!r} is not defined under workloads"
            )
        if campaign.get("csv_dir") and not any(Path(campaign["csv_dir"]).glob("*.csv")):
            raise ConfigError(
                f"campaigns.{name}.csv_dir: {campaign['csv_dir']!r} is not a folder of CSVs"
            )


_check_config()


def _regex(names):
    """A wildcard constraint that matches exactly these names (or nothing)."""
    return "|".join(re.escape(n) for n in sorted(names)) or "(?!)"


GENERATED = [c for c in CAMPAIGNS if not CAMPAIGNS[c].get("csv_dir")]
REPLAYED = [c for c in CAMPAIGNS if CAMPAIGNS[c].get("csv_dir")]


# ---------------------------------------------------------------- workloads and golden runs


def workload_preset(workload):
    return WORKLOADS[workload].get("preset") or workload


def preset_facts(workload):
    """What fi_core says about the workload's preset (dataset, seed, ...)."""
    return ENGINE["workloads"][workload_preset(workload)]


def workload_dataset(workload):
    spec = WORKLOADS[workload]
    return (
        spec["set"].get("dataset")
        or spec.get("dataset")
        or preset_facts(workload)["dataset"]
    )


def golden_seeds(workload):
    spec = WORKLOADS[workload]
    first = int(spec["set"].get("seed", preset_facts(workload)["seed"]))
    runs = spec.get("golden_runs") or config["golden"]["runs"]
    step = config["golden"]["seed_step"]
    return [first + k * step for k in range(runs)]


def golden_dir(workload, seed=None):
    seed = golden_seeds(workload)[0] if seed is None else seed
    return f"results/golden/{workload}/seed_{seed}"


def golden_priority(wildcards):
    """The golden run whose checkpoints the injections start from runs before the others."""
    return 1 if int(wildcards.seed) == golden_seeds(wildcards.workload)[0] else 0


def golden_traces(workload):
    return [f"{golden_dir(workload, s)}/trace.json" for s in golden_seeds(workload)]


def _set_value(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def set_args(workload, **extra):
    fields = dict(WORKLOADS[workload]["set"], **extra)
    return " ".join(f"--set {k}={_set_value(v)}" for k, v in fields.items())


def dataset_dir(workload):
    """The folder fi_core gets as --data-dir, or None for an embedded dataset."""
    dataset = workload_dataset(workload)
    return f"resources/datasets/{dataset}" if dataset in DATASETS else None


def data_input(workload):
    path = dataset_dir(workload)
    return [path] if path else []


def data_arg(workload):
    path = dataset_dir(workload)
    return f"--data-dir {path}" if path else ""


# ---------------------------------------------------------------- campaigns and injection ids


def sample_size(margin, confidence, population=None):
    """Injections for a target margin of error (the analysis package's formula)."""
    try:
        from analysis.stats import sample_size as _sample_size
    except ImportError as err:
        raise ConfigError(
            "a campaign gives `margin`, which needs analysis.stats.sample_size "
            f"(install the project: python3 run.py setup): {err}"
        ) from err
    return int(_sample_size(margin, confidence, population=population, p=0.5))


def campaign_size(campaign):
    """Injections of a generated campaign: n, or from the margin, rounded up to the batch."""
    spec = CAMPAIGNS[campaign]
    if spec.get("n"):
        n = spec["n"]
    else:
        n = sample_size(spec["margin"], spec["confidence"], spec["population"])
    return BATCH * math.ceil(n / BATCH)


def campaign_ids(campaign):
    spec = CAMPAIGNS[campaign]
    if spec.get("csv_dir"):
        return sorted(p.stem for p in Path(spec["csv_dir"]).glob("*.csv"))
    n = campaign_size(campaign)
    width = max(ID_WIDTH, len(str(n - 1)))
    return [f"{spec['prefix']}{i:0{width}d}" for i in range(n)]


def campaign_batches(campaign):
    ids = campaign_ids(campaign)
    if DIGITS == 0:
        return ids
    return sorted({i[:-DIGITS] for i in ids})


def campaign_workload(campaign):
    return CAMPAIGNS[campaign]["workload"]


def trace_files(campaign, ext="json"):
    """The campaign's traces (with a `mitigation:` key, those without mitigation)."""
    folder = "traces/none" if CAMPAIGNS[campaign].get("mitigation") else "traces"
    return [f"results/{campaign}/{folder}/{i}.{ext}" for i in campaign_ids(campaign)]


# ---------------------------------------------------------------- results: campaigns and studies
# The analysis rules work on a "result set": a campaign, or a study that puts several campaigns
# (for example one per workload) into one table, so that rates and figures compare them.


def result_campaigns(name):
    return STUDIES[name]["campaigns"] if name in STUDIES else [name]


def result_traces(name):
    return [path for c in result_campaigns(name) for path in trace_files(c)]


def result_goldens(name):
    workloads = dict.fromkeys(campaign_workload(c) for c in result_campaigns(name))
    return [path for w in workloads for path in golden_traces(w)]


def generate_args(campaign):
    """Options of `fi-core generate` for a generated campaign."""
    spec = CAMPAIGNS[campaign]
    workload = campaign_workload(campaign)
    args = [
        f"--workload {workload_preset(workload)}",
        set_args(workload),
        f"--n {campaign_size(campaign)}",
        f"--seed {spec['seed']}",
        f"--stages {','.join(spec['stages'])}",
        f"--min-epoch {spec['min_epoch']}",
        f"--prefix {spec['prefix']}",
    ]
    if spec["fmodels"]:
        args.append(f"--fmodels {','.join(spec['fmodels'])}")
    if spec["layers"]:
        args.append(f"--layers {','.join(spec['layers'])}")
    if spec["backward_ops"]:
        args.append(f"--backward-ops {','.join(spec['backward_ops'])}")
    if spec["all_sites"]:
        args.append("--all-sites")
    if spec["value_range"]:
        lo, hi = spec["value_range"]
        args.append(f"--value-range {lo!r},{hi!r}")
    return " ".join(a for a in args if a)


def figure_captions():
    """The analysis package's caption of each figure, for the report (empty without it)."""
    try:
        from analysis.captions import CAPTIONS
    except ImportError:
        return {}
    return dict(CAPTIONS)


def artifact_traces_arg():
    """--artifact-traces for the figures, when the configured folder exists here."""
    path = config["analysis"]["artifact_traces"]
    return f"--artifact-traces {path}" if path and Path(path).is_dir() else ""


def inject_runtime(wildcards, attempt):
    """Minutes an inject job may run: per CSV times the batch (more on a retry)."""
    return config["inject"]["resources"]["runtime"] * BATCH * attempt


def replay_runtime(wildcards, attempt):
    return config["inject"]["resources"]["runtime"] * attempt


def plugin_args():
    """` --plugin MODULE` per configured plugin, quoted (placed right after the subcommand)."""
    return "".join(f" --plugin {shlex.quote(name)}" for name in config["plugins"])


def engine_args():
    """Options of `fi-core golden` / `fi-core inject` that place the replicas."""
    engine = config["engine"]
    args = f"--strategy {engine['strategy']}"
    if engine["tpu"]:
        args += f" --tpu {engine['tpu']}"
    return args


def threshold_args():
    names = {
        "short_term_steps": "--short-term-steps",
        "tol_min": "--tol-min",
        "chance_margin": "--chance-margin",
        "immediate_backward_steps": "--immediate-backward-steps",
    }
    values = config["analysis"]["thresholds"]
    return " ".join(
        f"{opt} {values[k]}" for k, opt in names.items() if values[k] is not None
    )


# ---------------------------------------------------------------- targets


def campaign_outputs(campaign):
    outputs = [
        f"results/{campaign}/results.parquet",
        f"results/{campaign}/curves.parquet",
        f"results/{campaign}/summary.md",
        f"results/{campaign}/figures",
    ]
    for name in config["analysis"]["rates"]:
        outputs += [
            f"results/{campaign}/rates/{name}.csv",
            f"results/{campaign}/rates/{name}.md",
        ]
    return outputs + mitigation_outputs(campaign)  # mitigation_common.smk


def all_outputs():
    return [path for name in config["run"] for path in campaign_outputs(name)]
