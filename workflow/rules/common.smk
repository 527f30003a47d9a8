# The configuration, checked once per parse and turned into a plan (workflow/lib/fi_pipeline):
# the schema, the references between sections, then the verdicts of the engine
# (`fi-core check-config`) and of the analysis (`fi-analysis check-config`), asked through their
# command lines with the Python the jobs use. A bad configuration stops here with one line,
# `config: <json path>: <reason>`, exit status 2: nothing runs. Nothing here imports
# TensorFlow, fi_core or analysis.

import importlib.util
import json
import os
import re
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(workflow.basedir) / "workflow" / "lib"))

import fi_pipeline
from fi_pipeline import commands, rounds, stale_lock
from fi_pipeline.asking import subprocess_asker
from fi_pipeline.plan import GENERATED, SEQUENTIAL

# A lock left by a killed run of this folder is removed when that run is provably gone
# (fi_pipeline/stale_lock.py); every real run records itself beside its lock when it starts.
_stale = stale_lock.clear_if_stale()
if _stale:
    print(_stale, file=sys.stderr)


onstart:
    if not workflow.dryrun:
        stale_lock.record_owner()


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

try:
    PLAN = fi_pipeline.load(
        config,
        subprocess_asker(
            shutil.which("python", path=_path) or sys.executable, env=os.environ
        ),
    )
except fi_pipeline.ConfigError as error:
    print(error, file=sys.stderr)
    sys.exit(2)
config.update(PLAN.config)


def _regex(names):
    """A wildcard constraint that matches exactly these names (or nothing)."""
    return "|".join(re.escape(n) for n in sorted(names)) or "(?!)"


JOB = r"[A-Za-z0-9_-]+\.\.[A-Za-z0-9_-]+"  # <first id>..<last id>

# ---------------------------------------------------------------- workloads and golden runs


def golden_priority(wildcards):
    """The golden run whose checkpoints the injections start from runs before the others."""
    return (
        1 if int(wildcards.seed) == PLAN.workloads[wildcards.workload].seeds[0] else 0
    )


def data_input(workload):
    folder = PLAN.workloads[workload].data_dir
    return [folder] if folder else []


def first_golden_trace(campaign):
    return PLAN.golden_traces(PLAN.campaigns[campaign].workload)[0]


# ---------------------------------------------------------------- sequential campaigns


def _decision(campaign, number):
    """Decision `number` of a sequential campaign (Snakemake makes it first if needed)."""
    path = checkpoints.decide.get(campaign=campaign, round=number).output.json
    return json.loads(Path(path).read_text())


def decisions(campaign, count=None):
    """The first `count` decisions of a sequential campaign; all of them when None."""
    c = PLAN.campaigns[campaign]
    out = []
    while count is None or len(out) < count:
        if count is None and rounds.finished(c.strata, c.schedule, out):
            break
        out.append(_decision(campaign, len(out) + 1))
    return out


def inject_job(wildcards):
    """The job named by the wildcards; of a sequential campaign, found round by round."""
    c = PLAN.campaigns[wildcards.campaign]
    if c.kind != SEQUENTIAL:
        return PLAN.job(wildcards.campaign, wildcards.job)
    made = []
    while True:
        for job in PLAN.jobs(wildcards.campaign, made):
            if job.label == wildcards.job:
                return job
        if rounds.finished(c.strata, c.schedule, made):
            return PLAN.job(wildcards.campaign, wildcards.job, made)  # refuses it
        made.append(_decision(wildcards.campaign, len(made) + 1))


def round_traces(wildcards):
    """A decision's input: the traces of its round and of the rounds before."""
    made = decisions(wildcards.campaign, int(wildcards.round) - 1)
    return job_dirs(wildcards.campaign, made)


# ---------------------------------------------------------------- prediction-powered campaigns

PREDICTED = [name for name in PLAN.campaigns if PLAN.predicted(name)]


def horizon_dirs(campaign):
    """The horizon folders of a prediction-powered campaign's jobs."""
    return [f"results/{campaign}/horizon/{job.label}" for job in PLAN.jobs(campaign)]


# ---------------------------------------------------------------- results: campaigns and studies
# The analysis rules work on a "result set": a campaign, or a study that puts several campaigns
# (for example one per workload) into one table, so that rates and figures compare them.


def job_dirs(campaign, made=None):
    """The trace folders of a campaign's jobs (of a sequential one: of every round)."""
    if made is None and PLAN.campaigns[campaign].kind == SEQUENTIAL:
        made = decisions(campaign)
    return [
        f"results/{campaign}/traces/{job.label}"
        for job in PLAN.jobs(campaign, made or ())
    ]


def result_traces(name):
    return [path for c in PLAN.result_campaigns(name) for path in job_dirs(c)]


def result_goldens(name):
    workloads = dict.fromkeys(
        PLAN.campaigns[c].workload for c in PLAN.result_campaigns(name)
    )
    return [path for w in workloads for path in PLAN.golden_traces(w)]


def write_lines(path, lines):
    """A list file for `fi-analysis ... @<path>`: one argument per line."""
    Path(path).write_text("".join(f"{line}\n" for line in lines))


def figure_captions():
    """The analysis package's caption of each figure, for the report (empty without it)."""
    try:
        from analysis.captions import CAPTIONS
    except ImportError:
        return {}
    return dict(CAPTIONS)


def artifact_traces():
    """The artifact's traces for the figures, when the configured folder exists here."""
    path = PLAN.config["analysis"]["artifact_traces"]
    return path if path and Path(path).is_dir() else None


def inject_runtime(wildcards, attempt):
    """Minutes an inject job may run: per CSV times its CSVs (more on a retry)."""
    per_csv = PLAN.config["inject"]["resources"]["runtime"]
    return per_csv * len(inject_job(wildcards).csvs) * attempt


# ---------------------------------------------------------------- targets


def campaign_outputs(name):
    outputs = [f"results/{name}/results.parquet", f"results/{name}/curves.parquet"]
    if name in PREDICTED:  # its table holds the labelled runs, not a random sample
        return outputs + [
            f"results/{name}/prediction/{file}"
            for file in ("rates.csv", "rates.md", "confusion.md", "units.parquet")
        ]
    outputs += [f"results/{name}/summary.md", f"results/{name}/figures"]
    for table in PLAN.config["analysis"]["rates"]:
        outputs += [
            f"results/{name}/rates/{table}.csv",
            f"results/{name}/rates/{table}.md",
        ]
    if name in PLAN.campaigns and PLAN.campaigns[name].kind == SEQUENTIAL:
        outputs += [f"results/{name}/sequential.{ext}" for ext in ("json", "csv", "md")]
    return outputs + mitigation_outputs(name)  # mitigation_common.smk


def all_outputs():
    return [path for name in PLAN.config["run"] for path in campaign_outputs(name)]
