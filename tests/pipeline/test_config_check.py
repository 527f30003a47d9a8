"""The workflow's configuration check, in-process: the function the Snakefile runs
(`fi_pipeline.load`), with the engine's and the analysis's own check functions (what
`fi-core check-config` / `fi-analysis check-config` run). Every refusal is one line that
names the key; everything a job would refuse is refused here, before anything runs."""

from __future__ import annotations

import copy
import datetime
import json
import subprocess
import sys

import pytest
import yaml

from .pipeline_helpers import (
    DEFAULT_CONFIG,
    REPO,
    fi_pipeline,
    in_process_asker,
    load_plan,
    subprocess_env,
)

ConfigError = fi_pipeline.ConfigError
jobs, rounds = fi_pipeline.jobs, fi_pipeline.rounds

BASE = yaml.safe_load(DEFAULT_CONFIG.read_text())


def merged(base: dict, change: dict) -> dict:
    """Snakemake's way of laying a --configfile over another: mappings merge, the rest
    replaces."""
    out = copy.deepcopy(base)
    for key, value in change.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merged(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def refusal(config: dict, cwd=None) -> str:
    with pytest.raises(ConfigError) as caught:
        load_plan(config, cwd)
    line = str(caught.value)
    assert "\n" not in line and line.startswith("config: "), line
    return line


def campaign(**spec) -> dict:
    return merged(BASE, {"campaigns": {"default": spec}})


SEQ = {"half_width": 0.2, "looks": 3, "by": ["stage"]}

REFUSED = [
    # the schema: types, ranges, names that could reach a path or a command line
    (campaign(n=0), "campaigns.default.n"),
    (campaign(seed=1.9), "campaigns.default.seed"),
    (campaign(seed=True), "campaigns.default.seed"),
    (campaign(seed="3"), "campaigns.default.seed"),
    (campaign(prefix="run1"), "campaigns.default.prefix"),
    (campaign(prefix="-x_"), "campaigns.default.prefix"),
    (campaign(prefix="../x_"), "campaigns.default.prefix"),
    (campaign(layers=["conv1$(touch X)"]), "campaigns.default.layers[0]"),
    (campaign(fmodels=["RD`id`"]), "campaigns.default.fmodels[0]"),
    (campaign(n=5, margin=0.1), "campaigns.default"),
    (campaign(colour="blue"), "campaigns.default.colour"),
    (merged(BASE, {"campaigns": {"a;b": {"workload": "resnet18_small", "n": 1}}}), "campaigns"),
    (merged(BASE, {"workloads": {"resnet18_small": {"set": {"optimizer": "adam; rm -rf"}}}}),
     "workloads.resnet18_small.set.optimizer"),
    (merged(BASE, {"workloads": {"resnet18_small": {"set": {"Bad": 3}}}}),
     "workloads.resnet18_small.set"),
    (merged(BASE, {"workloads": {"resnet18_small": {"preset": "x y"}}}),
     "workloads.resnet18_small.preset"),
    (merged(BASE, {"engine": {"tpu": "`id`"}}), "engine.tpu"),
    (merged(BASE, {"analysis": {"summary_by": ["a b"]}}), "analysis.summary_by[0]"),
    (merged(BASE, {"analysis": {"artifact_traces": "../elsewhere"}}), "analysis.artifact_traces"),
    (merged(BASE, {"inject": {"batch": 0}}), "inject.batch"),
    (merged(BASE, {"inject": {"batch": 2.5}}), "inject.batch"),
    (merged(BASE, {"inject": {"workers": 0}}), "inject.workers"),
    (merged(BASE, {"golden": {"runs": 1000}}), "golden.runs"),
    (merged(BASE, {"run": ["nope"]}), "run[0]"),
    (merged(BASE, {"studies": {"s": {"campaigns": ["nope"]}}}), "studies.s.campaigns[0]"),
    (merged(BASE, {"studies": {"default": {"campaigns": ["default"]}}}), "studies.default"),
    (campaign(workload="nowhere"), "campaigns.default.workload"),
    (campaign(csv_dir="a b", n=None), "campaigns.default.csv_dir"),
    (campaign(value_range=[float("inf"), 1.0]), "campaigns.default.value_range[0]"),
    (merged(BASE, {"analysis": {"confidence": float("nan")}}), "analysis.confidence"),
    (merged(BASE, {"analysis": {"thresholds": {"tol_min": "0.1"}}}),
     "analysis.thresholds.tol_min"),
    (merged(BASE, {"campaigns": {"default": {"when": datetime.date(2024, 1, 1)}}}),
     "campaigns.default.when"),
    (merged(BASE, {"campaigns": {"default": {1: 2}}}), "campaigns.default"),
    # the engine: presets, fields and their bounds, layers, fault models, stages, epochs
    (merged(BASE, {"workloads": {"resnet18_small": {"preset": "resnet99"}}}),
     "workloads.resnet18_small.preset"),
    (merged(BASE, {"workloads": {"resnet18_small": {"set": {"colour": "red"}}}}),
     "workloads.resnet18_small.set.colour"),
    (merged(BASE, {"workloads": {"resnet18_small": {"set": {"seed": 1.9}}}}),
     "workloads.resnet18_small.set.seed"),
    (merged(BASE, {"workloads": {"resnet18_small": {"set": {"image_size": 100000}}}}),
     "workloads.resnet18_small.set.image_size"),
    (merged(BASE, {"workloads": {"resnet18_small": {"set": {"epochs": 10**9}}}}),
     "workloads.resnet18_small.set.epochs"),
    (merged(BASE, {"workloads": {"resnet18_small": {"set": {"batch_per_replica": 100000}}}}),
     "workloads.resnet18_small.set.batch_per_replica"),
    (merged(BASE, {"workloads": {"resnet18_small": {"set": {"dataset": "imagenet"}}}}),
     "workloads.resnet18_small.set.dataset"),
    (merged(BASE, {"workloads": {"resnet18_small": {"set": {"seed": 2**62}}}}),
     "workloads.resnet18_small"),  # the golden runs' seeds 2**62 + 1, + 2 are out of range
    (campaign(fmodels=["NOPE"]), "campaigns.default.fmodels[0]"),
    (campaign(stages=["sideways"]), "campaigns.default.stages[0]"),
    (campaign(backward_ops=["grad_x"]), "campaigns.default.backward_ops[0]"),
    (campaign(layers=["conv1", "conv99"]), "campaigns.default.layers[1]"),
    (campaign(stages=["fwrd_inject"], layers=["conv1_grad_in"]), "campaigns.default.layers"),
    (campaign(min_epoch=20), "campaigns.default.min_epoch"),
    (campaign(value_range=[1e18, 1e16]), "campaigns.default.value_range"),
    (campaign(value_range=[0.0, 1e39]), "campaigns.default.value_range"),
    (campaign(n=10**7 + 1), "campaigns.default.n"),
    (campaign(n=10**100), "campaigns.default.n"),
    (campaign(seed=2**64), "campaigns.default.seed"),
    # the analysis: columns, method, thresholds, sizes
    (merged(BASE, {"analysis": {"method": "bootstrap"}}), "analysis.method"),
    (merged(BASE, {"analysis": {"rates": {"x": ["stage", "colour"]}}}), "analysis.rates.x[1]"),
    (merged(BASE, {"analysis": {"summary_by": ["colour"]}}), "analysis.summary_by[0]"),
    (merged(BASE, {"analysis": {"thresholds": {"tol_min": 2}}}), "analysis.thresholds.tol_min"),
    (merged(BASE, {"analysis": {"thresholds": {"chance_margin": 1.5}}}),
     "analysis.thresholds.chance_margin"),
    (campaign(n=None, margin=0.0001), "campaigns.default.margin"),
    (campaign(n=None, margin=1e-300), "campaigns.default.margin"),
    (campaign(n=None, target={"half_width": 0.001}), "campaigns.default.target.half_width"),
    (campaign(n=None, target={"half_width": 0.6}), "campaigns.default.target.half_width"),
    (campaign(n=None, target={"half_width": 0.1, "by": ["replica"]}),
     "campaigns.default.target.by[0]"),
    # prediction-powered campaigns
    (campaign(prediction={"horizon": 1, "label_fraction": 0}),
     "campaigns.default.prediction.label_fraction"),
    (campaign(prediction={"horizon": 0, "label_fraction": 0.2}),
     "campaigns.default.prediction.horizon"),
    (campaign(prediction={"horizon": 1}), "campaigns.default.prediction"),
    (campaign(prediction={"horizon": 1, "label_fraction": 0.2, "by": ["stage"]}),
     "campaigns.default.prediction.by"),
    (campaign(prediction={"horizon": 1, "label_fraction": 0.2, "far_distance": -1}),
     "campaigns.default.prediction.far_distance"),
    (campaign(prediction={"horizon": 1, "label_fraction": 0.2}, mitigation=["none", "guard"]),
     "campaigns.default.prediction"),
    (campaign(n=None, prediction={"horizon": 1, "label_fraction": 0.2}, target=SEQ),
     "campaigns.default.prediction"),
    # the pipeline: sizes the machine running Snakemake can hold
    (campaign(n=None, margin=0.001, confidence=0.9999999), "inject.workers"),
    (merged(campaign(n=10**6), {"inject": {"batch": 1, "workers": None}}), "inject.batch"),
    (campaign(n=10**5), "inject.workers"),  # two jobs of 50,000 CSVs: a command too long
    (merged(campaign(n=10**4), {"inject": {"batch": 5000, "workers": None}}), "inject.batch"),
    (campaign(n=None, target={"half_width": 0.005, "confidence": 0.999999, "looks": 20,
                              "by": ["stage", "fmodel"]}), "campaigns.default.target"),
]


def _without_none(config: dict) -> dict:
    """campaign(n=None) drops the base's n: a margin, a target or a csv_dir replaces it."""
    spec = config["campaigns"].get("default")
    if isinstance(spec, dict) and "n" in spec and spec["n"] is None:
        del spec["n"]
    return config


@pytest.mark.parametrize(("config", "key"), REFUSED)
def test_refused_in_one_line_naming_the_key(config, key):
    line = refusal(_without_none(config))
    assert line.startswith(f"config: {key}: ") or line.startswith(f"config: {key}"), line


def test_the_default_campaign_is_planned():
    plan = load_plan(BASE)
    default = plan.campaigns["default"]
    assert default.kind == "generated" and default.n == 60
    assert [job.label for job in default.jobs] == ["inj_00000..inj_00029",
                                                   "inj_00030..inj_00059"]
    assert plan.workloads["resnet18_small"].seeds == (123, 124, 125)
    assert plan.golden_dir("resnet18_small") == "results/golden/resnet18_small/seed_123"


@pytest.mark.parametrize("split", [{"batch": 1}, {"batch": 7}, {"batch": 1000},
                                   {"workers": 2}, {"workers": 7}])
def test_ids_do_not_depend_on_how_jobs_are_cut(split):
    plan = load_plan(merged(BASE, {"inject": {"batch": 10, "workers": None, **split}}))
    cut = plan.campaigns["default"].jobs
    ids = [i for job in cut for i in job.ids]
    assert ids == [f"inj_{i:05d}" for i in range(60)]
    assert [f for job in cut for f in job.csvs] == [f"results/default/csv/{i}.csv" for i in ids]
    sizes = [len(job.ids) for job in cut]
    if "workers" in split:
        assert len(cut) == split["workers"] and max(sizes) - min(sizes) <= 1
    else:
        assert all(s == split["batch"] for s in sizes[:-1]) and sizes[-1] <= split["batch"]


def test_job_sizes_cover_every_count():
    for total in range(0, 40):
        for batch in (1, 3, 10, 64):
            assert sum(jobs.sizes(total, batch, None)) == total
            assert len(jobs.sizes(total, batch, None)) == jobs.count(total, batch, None)
        for workers in (1, 2, 5, 64):
            got = jobs.sizes(total, 10, workers)
            assert sum(got) == total and len(got) == jobs.count(total, 10, workers)


def test_replay_folders_are_read_and_their_names_checked(tmp_path):
    folder = tmp_path / "replay"
    folder.mkdir()
    source = (REPO / "injections" / "artifact" / "resnet18" / "inj_masked.csv").read_text()
    paper = {"workloads": {"resnet18": {"preset": "resnet18"}}}
    config = merged(merged(BASE, paper), {"campaigns": {"r": {"workload": "resnet18",
                                                              "csv_dir": "replay"}}})
    assert "is not a folder of CSVs" in refusal(config, tmp_path)
    (folder / "b_2.csv").write_text(source)
    (folder / "a-1.csv").write_text(source)
    (folder / "notes.txt").write_text("not a CSV: ignored")
    plan = load_plan(config, tmp_path)
    assert [f for job in plan.campaigns["r"].jobs for f in job.csvs] == [
        "replay/a-1.csv", "replay/b_2.csv"]
    assert [i for job in plan.campaigns["r"].jobs for i in job.ids] == ["a-1", "b_2"]
    for hostile in ["$(touch PWNED).csv", "a b.csv", "x;y.csv", "q'uote.csv", "`id`.csv",
                    ".hidden.csv", "two.dots.csv", "-rf.csv"]:
        (folder / hostile).write_text(source)
        line = refusal(config, tmp_path)
        assert line.startswith("config: campaigns.r.csv_dir: file name "), line
        (folder / hostile).unlink()
    (folder / "c.csv").write_text("model,resnet18\nstage,sideways\n")
    assert refusal(config, tmp_path).startswith("config: campaigns.r.csv_dir: replay/c.csv: ")
    (folder / "c.csv").unlink()
    config["campaigns"]["r"]["workload"] = "resnet18_small"  # digits, not the CSVs' cifar10
    assert "differs from the workload's" in refusal(config, tmp_path)
    assert not (tmp_path / "PWNED").exists()


def test_sequential_strata_have_their_own_prefix_and_seed():
    target = {"half_width": 0.2, "looks": 3, "by": ["stage", "fmodel"]}
    plan = load_plan(_without_none(campaign(n=None, seed=5, fmodels=["RD", "ZERO"],
                                            target=target)))
    c = plan.campaigns["default"]
    assert [dict(s.key) for s in c.strata] == [
        {"stage": st, "fmodel": fm} for st in ("fwrd_inject", "bkwd_inject")
        for fm in ("RD", "ZERO")]
    assert len({s.prefix for s in c.strata}) == len({s.seed for s in c.strata}) == 4
    again = load_plan(_without_none(campaign(n=None, seed=5, fmodels=["RD", "ZERO"],
                                             target=target)))
    assert [s.seed for s in again.campaigns["default"].strata] == [s.seed for s in c.strata]
    assert list(c.schedule.sizes) == sorted(c.schedule.sizes) and len(c.schedule.sizes) == 3


def _decision(all_strata, reached):
    return {"strata": [{"key": dict(s.key), "reached": s.tag in reached} for s in all_strata]}


def test_rounds_follow_the_decisions():
    plan = load_plan(_without_none(campaign(n=None, target=SEQ)))
    c = plan.campaigns["default"]
    sizes = c.schedule.sizes
    first = rounds.rounds(c.strata, c.schedule, [])
    assert [r.ranges for r in first] == [{"s00": (0, sizes[0]), "s01": (0, sizes[0])}]
    one_done = [_decision(c.strata, {"s00"})]
    later = rounds.rounds(c.strata, c.schedule, one_done)
    assert later[1].ranges == {"s01": (sizes[0], sizes[1])}  # s00 gets no more injections
    assert not rounds.finished(c.strata, c.schedule, one_done)
    both = [*one_done, _decision(c.strata, {"s01"})]
    assert rounds.finished(c.strata, c.schedule, both)
    never = [_decision(c.strata, set())] * len(sizes)
    assert len(rounds.rounds(c.strata, c.schedule, never)) == len(sizes)  # the last look stops
    assert rounds.finished(c.strata, c.schedule, never)
    ids = [i for job in plan.jobs("default", one_done) for i in job.ids]
    assert len(ids) == len(set(ids)) == 2 * sizes[0] + sizes[1] - sizes[0]
    with pytest.raises(ConfigError):
        rounds.rounds(c.strata, c.schedule, [{"strata": "garbage"}])


def test_the_commands_answer_the_same_through_their_command_lines():
    """One real round trip through `fi-core check-config` and `fi-analysis check-config`: the
    same facts, and the same refusal line, as the in-process calls."""
    ask = fi_pipeline.asking.subprocess_asker(sys.executable, env=subprocess_env())
    request = {"workloads": {"w": {"preset": "resnet18_small"}},
               "campaigns": {"c": {"workload": "w", "n": 3, "layers": ["conv1"]}}}
    assert ask("fi_core", request) == in_process_asker("fi_core", request)
    request["campaigns"]["c"]["layers"] = ["conv1$(touch PWNED)"]
    with pytest.raises(ConfigError) as by_process:
        ask("fi_core", request)
    with pytest.raises(ConfigError) as in_process:
        in_process_asker("fi_core", request)
    assert str(by_process.value) == str(in_process.value)
    analysis = {"analysis": {"rates": {"x": ["stage"]}}, "campaigns": {"c": {"margin": 0.1}}}
    assert ask("analysis", analysis)["sizes"] == {"c": 97}


@pytest.mark.parametrize("text", ["[1", "[" * 100_000, "\xff\xfe", '{"campaigns": 5}'])
def test_check_config_commands_refuse_bad_requests_in_one_line(text):
    for tool in ("fi_core", "analysis"):
        result = subprocess.run([sys.executable, "-m", tool, "check-config"], input=text,
                                capture_output=True, text=True, env=subprocess_env(),
                                timeout=120)
        assert result.returncode == 2, (tool, result.stderr)
        assert len(result.stderr.strip().splitlines()) == 1, (tool, result.stderr)
        assert "Traceback" not in result.stderr


def test_set_bounds_are_the_engines_own():
    """`--set image_size=100000` is refused by fi-core itself, before anything is allocated."""
    result = subprocess.run(
        [sys.executable, "-m", "fi_core", "sites", "--set", "image_size=100000"],
        capture_output=True, text=True, env=subprocess_env(), timeout=120)
    assert result.returncode == 2
    assert result.stderr.strip() == "--set: image_size: 100000 is outside [4, 1024]"
    result = subprocess.run(
        [sys.executable, "-m", "fi_core", "sites", "--workload", "resnet18",
         "--set", "image_size=256"], capture_output=True, text=True, env=subprocess_env(),
        timeout=120)
    assert result.returncode == 2 and "GiB" in result.stderr  # the resized CIFAR-10


def test_facts_are_plain_json():
    plan = load_plan(BASE)
    json.dumps(plan.config)
