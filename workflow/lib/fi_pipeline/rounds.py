"""Sequential campaigns: strata, and the rounds that follow from the decisions so far.

A sequential campaign gives a target half-width instead of `n`. Its strata are the campaign's
stages and/or fault models (`target.by`); each stratum draws its own CSVs (`fi-core generate`
restricted to the stratum, with its own id prefix and seed), so a stratum that is done stops
receiving injections. The analysis fixes the schedule before any injection (the stratum sizes
of the K looks, `fi-analysis check-config`) and, after each round, says which strata reached
the target (`fi-analysis sequential`). This module only turns those answers into rounds:

- round 1 gives every stratum the first look's size;
- after round r a stratum stops when the analysis says its target is reached, or at the last
  look; every other stratum grows to the next look's size in round r + 1;
- the campaign is finished when no stratum is left open.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from fi_pipeline.errors import ConfigError
from fi_pipeline.jobs import Job, id_width, split


@dataclass(frozen=True)
class Stratum:
    """One stratum: which stages and fault models it draws, under which prefix and seed."""

    tag: str  # s00, s01, ...: its folder under results/<campaign>/strata/
    key: Mapping[str, str]  # e.g. {"stage": "fwrd_inject"}: its group in the results table
    stages: tuple[str, ...]
    fmodels: tuple[str, ...] | None  # None: every fault model the campaign draws
    prefix: str
    seed: int


@dataclass(frozen=True)
class Schedule:
    """The analysis's schedule: stratum sizes of the looks, and their confidence level."""

    sizes: tuple[int, ...]
    level: float


@dataclass
class Round:
    """One round: the new id range of every stratum that is still open."""

    number: int
    ranges: dict[str, tuple[int, int]] = field(default_factory=dict)  # tag -> [start, stop)


def derived_seed(seed: int, key: Mapping[str, str]) -> int:
    """A stratum's seed: a stable function of the campaign seed and the stratum."""
    text = f"{seed}/" + "/".join(f"{k}={v}" for k, v in sorted(key.items()))
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:7], "big")


def strata(spec: Mapping[str, Any], fault_models: Sequence[str]) -> tuple[Stratum, ...]:
    """The strata of a sequential campaign, in a fixed order."""
    by = spec["target"]["by"]
    stages = list(spec["stages"])
    fmodels = list(spec["fmodels"] or fault_models)
    axes = [[("stage", s) for s in stages] if "stage" in by else [(None, None)],
            [("fmodel", f) for f in fmodels] if "fmodel" in by else [(None, None)]]
    combos = list(itertools.product(*axes))
    digits = max(2, len(str(len(combos) - 1)))
    out = []
    for index, ((_, stage), (_, fmodel)) in enumerate(combos):
        key = {k: v for k, v in (("stage", stage), ("fmodel", fmodel)) if k is not None and v}
        tag = f"s{index:0{digits}d}"
        out.append(Stratum(
            tag=tag, key=key,
            stages=(stage,) if stage else tuple(stages),
            fmodels=(fmodel,) if fmodel else (tuple(spec["fmodels"]) if spec["fmodels"] else None),
            prefix=f"{spec['prefix']}{tag}_", seed=derived_seed(spec["seed"], key)))
    return tuple(out)


def _reached(decision: Mapping[str, Any], stratum: Stratum) -> bool:
    """Whether the analysis says this stratum's target is reached."""
    try:
        return any(entry["key"] == dict(stratum.key) and entry["reached"] is True
                   for entry in decision["strata"])
    except (KeyError, TypeError):
        raise ConfigError("(workflow)", "a round's decision record is not what "
                                        "fi-analysis sequential writes") from None


def rounds(all_strata: Sequence[Stratum], schedule: Schedule,
           decisions: Sequence[Mapping[str, Any]]) -> list[Round]:
    """The rounds so far: round r + 1 exists when decision r leaves a stratum open. The list has
    len(decisions) + 1 rounds while the campaign goes on, len(decisions) once it is finished."""
    sizes = schedule.sizes
    first = Round(1, {s.tag: (0, sizes[0]) for s in all_strata})
    out, open_tags = [first], {s.tag for s in all_strata}
    for r, decision in enumerate(decisions, start=1):
        if r >= len(sizes):
            open_tags = set()
        else:
            open_tags = {s.tag for s in all_strata
                         if s.tag in open_tags and not _reached(decision, s)}
        if not open_tags:
            return out
        out.append(Round(r + 1, {tag: (sizes[r - 1], sizes[r]) for tag in sorted(open_tags)}))
    return out


def finished(all_strata: Sequence[Stratum], schedule: Schedule,
             decisions: Sequence[Mapping[str, Any]]) -> bool:
    return len(rounds(all_strata, schedule, decisions)) == len(decisions)


def csv_dir(campaign: str, stratum: Stratum, look: int) -> str:
    """Where `fi-core generate` writes a stratum's CSVs up to a look's size."""
    return f"results/{campaign}/strata/{stratum.tag}/look_{look}"


def round_jobs(campaign: str, all_strata: Sequence[Stratum], schedule: Schedule, rnd: Round,
               min_width: int, batch: int, workers: int | None) -> list[Job]:
    """The inject jobs of one round: the open strata's new ids, in stratum order, cut into jobs
    (`workers` jobs per round, or jobs of `batch`; a job may span strata)."""
    ids, csvs, folders = [], [], []
    width = id_width(min_width, schedule.sizes[rnd.number - 1])
    for stratum in all_strata:
        if stratum.tag not in rnd.ranges:
            continue
        start, stop = rnd.ranges[stratum.tag]
        folder = csv_dir(campaign, stratum, rnd.number)
        for i in range(start, stop):
            ids.append(f"{stratum.prefix}{i:0{width}d}")
            csvs.append(f"{folder}/{ids[-1]}.csv")
            folders.append(folder)
    return split(ids, csvs, folders, batch, workers)
