"""From a configuration to a plan: the workloads, golden runs, campaigns and their jobs.

`load` checks everything a job would refuse before any job exists: the schema, the references
between sections, the replay folders' file names, then the analysis's verdict (method, columns,
thresholds, margin sizes, sequential schedules) and the engine's (presets, overrides and their
bounds, layers, fault models, stages, epochs, value ranges, campaign sizes, replayed CSVs).
"""

from __future__ import annotations

import itertools
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from fi_pipeline import rounds, schema
from fi_pipeline.asking import Asker
from fi_pipeline.errors import ConfigError, shown
from fi_pipeline.jobs import (
    MAX_COMMAND,
    MAX_JOBS,
    Job,
    command_length,
    count,
    id_width,
    largest,
    split,
)

GENERATED, REPLAYED, SEQUENTIAL = "generated", "replayed", "sequential"
CSV_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,127}\.csv")
"""A replayed CSV's file name: its stem becomes an id, a trace name and a job name."""


@dataclass(frozen=True)
class Workload:
    name: str
    preset: str
    dataset: str
    seeds: tuple[int, ...]  # the golden runs; the first one's checkpoints are resumed
    overrides: Mapping[str, Any]  # `set`, passed as --set field=value
    data_dir: str | None  # resources/datasets/<dataset> when it is downloaded


@dataclass(frozen=True)
class Campaign:
    name: str
    kind: str
    workload: str
    spec: Mapping[str, Any]
    n: int | None = None  # generated: injections
    jobs: tuple[Job, ...] = ()  # generated and replayed
    strata: tuple[rounds.Stratum, ...] = ()  # sequential
    schedule: rounds.Schedule | None = None  # sequential


@dataclass(frozen=True)
class Plan:
    config: Mapping[str, Any]
    id_width: int
    workloads: Mapping[str, Workload]
    campaigns: Mapping[str, Campaign]
    studies: Mapping[str, Sequence[str]]

    def of_kind(self, kind: str) -> list[str]:
        return [name for name, c in self.campaigns.items() if c.kind == kind]

    def mitigations(self, campaign: str) -> list[str]:
        """A campaign's mitigation presets (none first), or [] (a study: [])."""
        c = self.campaigns.get(campaign)
        return list(c.spec.get("mitigation") or []) if c is not None else []

    def predicted(self, campaign: str) -> bool:
        """Whether a campaign is prediction-powered (a `prediction:` key)."""
        c = self.campaigns.get(campaign)
        return bool(c is not None and c.spec.get("prediction"))

    def mitigated(self) -> list[str]:
        """The campaigns with a `mitigation:` key."""
        return [name for name in self.campaigns if self.mitigations(name)]

    def result_campaigns(self, name: str) -> list[str]:
        """A result set: a campaign, or a study's campaigns."""
        return list(self.studies[name]) if name in self.studies else [name]

    def golden_dir(self, workload: str, seed: int | None = None) -> str:
        seed = self.workloads[workload].seeds[0] if seed is None else seed
        return f"results/golden/{workload}/seed_{seed}"

    def golden_traces(self, workload: str) -> list[str]:
        return [f"{self.golden_dir(workload, s)}/trace.json"
                for s in self.workloads[workload].seeds]

    def job(self, campaign: str, label: str,
            decisions: Sequence[Mapping[str, Any]] = ()) -> Job:
        """A job by name (of a sequential campaign: among the rounds the decisions open)."""
        for job in self.jobs(campaign, decisions):
            if job.label == label:
                return job
        raise ConfigError(["campaigns", campaign], f"no inject job {shown(label)}")

    def jobs(self, campaign: str, decisions: Sequence[Mapping[str, Any]] = ()) -> list[Job]:
        """Every job of a campaign (of a sequential one: of the rounds so far)."""
        c = self.campaigns[campaign]
        if c.kind != SEQUENTIAL:
            return list(c.jobs)
        return [job for rnd in rounds.rounds(c.strata, c.schedule, decisions)
                for job in self.round_jobs(campaign, rnd)]

    def round_jobs(self, campaign: str, rnd: rounds.Round) -> list[Job]:
        c = self.campaigns[campaign]
        inject = self.config["inject"]
        return rounds.round_jobs(campaign, c.strata, c.schedule, rnd, self.id_width,
                                 inject["batch"], inject["workers"])

    def stratum(self, campaign: str, tag: str) -> rounds.Stratum:
        for stratum in self.campaigns[campaign].strata:
            if stratum.tag == tag:
                return stratum
        raise ConfigError(["campaigns", campaign], f"no stratum {shown(tag)}")


# ---------------------------------------------------------------- checks of the configuration


def _kind(spec: Mapping[str, Any]) -> str:
    if "csv_dir" in spec:
        return REPLAYED
    return SEQUENTIAL if "target" in spec else GENERATED


def _cross_check(data: Mapping[str, Any]) -> None:
    """References between sections (names only; the schema checked their characters)."""
    campaigns, studies, workloads = data["campaigns"], data["studies"], data["workloads"]
    for i, name in enumerate(data["run"]):
        if name not in campaigns and name not in studies:
            raise ConfigError(["run", i], f"{shown(name)} is not defined under campaigns "
                                          "or studies")
    for name, study in studies.items():
        if name in campaigns:
            raise ConfigError(["studies", name], "a campaign has the same name")
        for i, campaign in enumerate(study["campaigns"]):
            if campaign not in campaigns:
                raise ConfigError(["studies", name, "campaigns", i],
                                  f"{shown(campaign)} is not defined under campaigns")
    for name, spec in campaigns.items():
        if spec["workload"] not in workloads:
            raise ConfigError(["campaigns", name, "workload"],
                              f"{shown(spec['workload'])} is not defined under workloads")
        if spec.get("prediction") and (spec.get("mitigation") or "target" in spec):
            raise ConfigError(["campaigns", name, "prediction"],
                              "not with mitigation or target: a prediction-powered campaign "
                              "stops its runs at a horizon that neither keeps")
        if spec.get("mitigation") and "target" in spec:
            raise ConfigError(["campaigns", name, "mitigation"],
                              "not for a sequential campaign (its rounds stop on the runs "
                              "without mitigation): give n, margin or csv_dir")


def csv_files(name: str, folder: str) -> list[str]:
    """The CSVs a replay campaign's folder holds, sorted; any *.csv with another name is
    refused (its name would become an id, a file name and part of a command)."""
    path = ["campaigns", name, "csv_dir"]
    try:
        entries = sorted(e.name for e in os.scandir(folder) if e.name.endswith(".csv"))
    except NotADirectoryError:
        raise ConfigError(path, f"{shown(folder)} is not a folder") from None
    except OSError as error:
        raise ConfigError(path, f"cannot read {shown(folder)}: {error.strerror}") from None
    for entry in entries:
        if not CSV_NAME.fullmatch(entry):
            raise ConfigError(path, f"file name {shown(entry)} is not <letters, digits, _ and "
                                    "->.csv (rename it)")
    if not entries:
        raise ConfigError(path, f"{shown(folder)} is not a folder of CSVs")
    return [f"{folder.rstrip('/')}/{entry}" for entry in entries]


_GENERATION_KEYS = ("seed", "stages", "fmodels", "layers", "backward_ops", "all_sites",
                    "value_range", "min_epoch", "prefix")


def _analysis_request(data: Mapping[str, Any]) -> dict[str, Any]:
    section = {k: v for k, v in data["analysis"].items() if k not in ("resources",
                                                                    "artifact_traces")}
    campaigns: dict[str, Any] = {}
    for name, spec in data["campaigns"].items():
        if "margin" in spec:
            campaigns[name] = {k: spec[k] for k in ("margin", "confidence", "population")}
        elif "target" in spec:
            campaigns[name] = {"target": spec["target"]}
    return {"analysis": section, "campaigns": campaigns}


def _engine_request(data: Mapping[str, Any], sizes: Mapping[str, int],
                    replays: Mapping[str, list[str]]) -> dict[str, Any]:
    golden = data["golden"]
    workloads = {
        name: {"preset": spec.get("preset") or name, "set": spec["set"],
               "golden": {"runs": spec.get("golden_runs") or golden["runs"],
                          "seed_step": golden["seed_step"]}}
        for name, spec in data["workloads"].items()
    }
    campaigns: dict[str, Any] = {}
    for name, spec in data["campaigns"].items():
        if name in replays:
            campaigns[name] = {"workload": spec["workload"], "csv_files": replays[name]}
        else:
            campaigns[name] = {"workload": spec["workload"], "n": sizes[name],
                               **{k: spec[k] for k in _GENERATION_KEYS}}
        if spec.get("mitigation"):
            campaigns[name]["mitigation"] = list(spec["mitigation"])
    return {"plugins": list(data["plugins"]), "workloads": workloads, "campaigns": campaigns}


def _schedule(facts: Mapping[str, Any], name: str) -> rounds.Schedule:
    try:
        plan = facts["schedules"][name]
        return rounds.Schedule(tuple(int(n) for n in plan["sizes"]), float(plan["level"]))
    except (KeyError, TypeError, ValueError):
        raise ConfigError("(workflow)", f"the analysis gave no schedule for {name}") from None


def _sizes(data: Mapping[str, Any], facts: Mapping[str, Any]) -> dict[str, int]:
    """Injections per generated campaign; per stratum at most, for a sequential one."""
    out = {}
    for name, spec in data["campaigns"].items():
        if "n" in spec:
            out[name] = spec["n"]
        elif "margin" in spec:
            out[name] = int(facts["sizes"][name])
        elif "target" in spec:
            out[name] = _schedule(facts, name).sizes[-1]
    return out


def _workloads(data: Mapping[str, Any], engine: Mapping[str, Any]) -> dict[str, Workload]:
    out = {}
    for name, spec in data["workloads"].items():
        facts = engine["workloads"][name]
        dataset = spec["set"].get("dataset") or spec.get("dataset") or facts["dataset"]
        out[name] = Workload(
            name=name, preset=facts["preset"], dataset=dataset,
            seeds=tuple(int(s) for s in facts["golden_seeds"]), overrides=dict(spec["set"]),
            data_dir=f"resources/datasets/{dataset}" if dataset in data["datasets"] else None)
    return out


def _job_count(spec: Mapping[str, Any], inject: Mapping[str, Any], size: int,
               analysis: Mapping[str, Any], name: str, strata: int) -> tuple[int, int]:
    """Jobs a campaign makes (of a sequential one: at most, over all its rounds), and the
    CSVs of its largest job."""
    batch, workers = inject["batch"], inject["workers"]
    if "target" not in spec:
        return count(size, batch, workers), largest(size, batch, workers)
    looks = list(itertools.pairwise((0, *_schedule(analysis, name).sizes)))
    return (sum(count((stop - start) * strata, batch, workers) for start, stop in looks),
            max(largest((stop - start) * strata, batch, workers) for start, stop in looks))


def _longest_csv_path(name: str, spec: Mapping[str, Any], size: int,
                      replay: list[str] | None) -> int:
    if replay is not None:
        return max(len(f) for f in replay)
    if "target" in spec:  # results/<c>/strata/sNN/look_K/<prefix>sNN_<digits>.csv
        return len(f"results/{name}/strata/s000/look_20/{spec['prefix']}s000_") + 4 + max(
            5, len(str(size)))
    return len(f"results/{name}/csv/{spec['prefix']}") + 4 + max(5, len(str(size)))


def _check_job_count(data: Mapping[str, Any], sizes: Mapping[str, int],
                     analysis: Mapping[str, Any], engine: Mapping[str, Any],
                     replays: Mapping[str, list[str]]) -> None:
    """Before any id exists: campaigns within the engine's largest size, jobs within MAX_JOBS,
    every inject command within MAX_COMMAND characters."""
    total = 0
    split_key = ["inject", "workers" if data["inject"]["workers"] else "batch"]
    for name, spec in data["campaigns"].items():
        strata = (len(rounds.strata(spec, engine["default_fault_models"]))
                  if "target" in spec else 1)
        if strata * sizes[name] > int(engine["max_injections"]):
            raise ConfigError(["campaigns", name, "target"],
                              f"{strata} strata of up to {sizes[name]} injections exceed the "
                              f"largest campaign ({engine['max_injections']})")
        jobs, biggest = _job_count(spec, data["inject"], sizes[name], analysis, name, strata)
        total += jobs
        if total > MAX_JOBS:
            raise ConfigError(["inject", "batch"],
                              f"the campaigns would make more than {MAX_JOBS} inject jobs "
                              f"(campaign {name} reaches {total}): raise inject.batch, set "
                              "inject.workers, or make the campaigns smaller")
        longest = _longest_csv_path(name, spec, sizes[name], replays.get(name))
        if command_length(biggest, longest) > MAX_COMMAND:
            raise ConfigError(split_key, f"a job of campaign {name} would replay {biggest} "
                                         f"CSVs, a command line longer than {MAX_COMMAND} "
                                         "characters: use more workers or a smaller batch")


def _campaign(name: str, spec: Mapping[str, Any], data: Mapping[str, Any],
              engine: Mapping[str, Any], analysis: Mapping[str, Any], size: int | None,
              replay: list[str] | None) -> Campaign:
    inject, width = data["inject"], int(engine["id_width"])
    kind = _kind(spec)
    if kind == REPLAYED:
        ids = [os.path.basename(f)[: -len(".csv")] for f in replay]
        jobs = split(ids, replay, replay, inject["batch"], inject["workers"])
        return Campaign(name, kind, spec["workload"], spec, len(ids), tuple(jobs))
    if kind == GENERATED:
        digits = id_width(width, size)
        ids = [f"{spec['prefix']}{i:0{digits}d}" for i in range(size)]
        folder = f"results/{name}/csv"
        jobs = split(ids, [f"{folder}/{i}.csv" for i in ids], [folder] * len(ids),
                     inject["batch"], inject["workers"])
        return Campaign(name, kind, spec["workload"], spec, size, tuple(jobs))
    schedule = _schedule(analysis, name)
    all_strata = rounds.strata(spec, engine["default_fault_models"])
    return Campaign(name, kind, spec["workload"], spec, strata=all_strata, schedule=schedule)


def _ask_engine(ask: Asker, data: Mapping[str, Any], sizes: Mapping[str, int],
                replays: Mapping[str, list[str]]) -> dict[str, Any]:
    """The engine's verdict; a size it refuses is said of the key that gave it."""
    try:
        return ask("fi_core", _engine_request(data, sizes, replays))
    except ConfigError as error:
        for name, spec in data["campaigns"].items():
            given = "margin" if "margin" in spec else "target" if "target" in spec else None
            head = f"config: campaigns.{name}.n: "
            if given and str(error).startswith(head):
                raise ConfigError(["campaigns", name, given],
                                  f"gives {sizes[name]} injections"
                                  f"{' per stratum' if given == 'target' else ''}: "
                                  f"{str(error)[len(head):]}") from None
        raise


def load(config: Any, ask: Asker) -> Plan:
    """The checked plan of a configuration, or ConfigError (one line naming the key)."""
    data = schema.validate(config)
    _cross_check(data)
    replays = {name: csv_files(name, spec["csv_dir"])
               for name, spec in data["campaigns"].items() if "csv_dir" in spec}
    analysis = ask("analysis", _analysis_request(data))
    sizes = {**_sizes(data, analysis), **{name: len(files) for name, files in replays.items()}}
    engine = _ask_engine(ask, data, sizes, replays)
    _check_job_count(data, sizes, analysis, engine, replays)
    campaigns = {name: _campaign(name, spec, data, engine, analysis, sizes.get(name),
                                 replays.get(name))
                 for name, spec in data["campaigns"].items()}
    return Plan(config=data, id_width=int(engine["id_width"]),
                workloads=_workloads(data, engine), campaigns=campaigns,
                studies={name: list(s["campaigns"]) for name, s in data["studies"].items()})
