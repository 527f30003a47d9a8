"""Runs stopped at their horizon and continued (`--horizon`, `--continue-from`): a continued
run's trace is the uninterrupted run's byte for byte, a run that ends by itself before its
horizon is written as usual, the features describe the state, and a saved state that is not
this run's is refused in one line."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

import fi_formats.horizon
from fi_core.commands import cli
from fi_core.engine import data, train
from fi_core.replay import runs
from fi_core.spec import injection, workloads
from fi_core.store import horizon
from fi_core.store.golden import checkpoint_dir
from tests.fi_core.hostile import one_line

CONFIG = workloads.resolve("resnet18_small", {"epochs": "3"})  # conftest's micro_golden
BASE = {
    "model": "resnet18", "target_worker": "1", "target_epoch": "1", "target_step": "3",
    "learning_rate": "0.001", "seed": "123", "workload": "resnet18_small", "epochs": "3",
}
CSVS = {
    # forward: a large value in one conv output element
    "inj_fwrd": {"stage": "fwrd_inject", "fmodel": "INPUT", "inj_pos": "4/1/2/7",
                 "target_layer": "basicblock_2_basic_0_conv2", "inj_values": "2000.5"},
    # backward: a gradient of a conv's input
    "inj_bkwd": {"stage": "bkwd_inject", "fmodel": "INPUT", "inj_pos": "2/1/3/5",
                 "target_layer": "basicblock_1_basic_0_conv2_grad_in", "inj_values": "3e3"},
    # diverges in its injection step: ends by itself, before the horizon
    "inj_nan": {"stage": "fwrd_inject", "fmodel": "INPUT", "inj_pos": "4/1/2/7",
                "target_layer": "basicblock_2_basic_0_conv2", "inj_values": "1e38"},
}


def write_csvs(folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for label, rows in CSVS.items():
        path = folder / f"{label}.csv"
        injection.write(path, {key: [value] for key, value in {**BASE, **rows}.items()})
        paths.append(path)
    return paths


def inject(csvs: list[Path], golden: Path, out: Path, *extra: str) -> int:
    files = [arg for csv in csvs for arg in ("--file", str(csv))]
    return cli.main(["inject", *files, "--golden", str(golden), "--out-dir", str(out), *extra])


def record(path: Path) -> dict:
    found = json.loads(path.read_text())
    found.pop("wall_time_s")
    return found


@pytest.fixture(scope="module")
def campaign(micro_golden, tmp_path_factory) -> dict[str, Path]:
    """The CSVs replayed uninterrupted, stopped at horizon 1, and the stopped ones continued."""
    base = tmp_path_factory.mktemp("horizon")
    csvs = write_csvs(base / "csv")
    runs.inject(csvs, micro_golden, base / "reference")
    assert inject(csvs, micro_golden, base / "stopped", "--horizon", "1",
                  "--state-dir", str(base / "state")) == 0
    stopped = [csv for csv in csvs if horizon.record_path(base / "stopped", csv.stem).is_file()
               and json.loads(horizon.record_path(base / "stopped", csv.stem).read_text())[
                   "ended"] == horizon.STOPPED]
    assert inject(stopped, micro_golden, base / "continued", "--continue-from",
                  str(base / "state")) == 0
    return {"base": base, "golden": micro_golden, "csvs": csvs, "stopped": stopped}


def test_a_continued_run_is_the_uninterrupted_run_byte_for_byte(campaign):
    base = campaign["base"]
    assert [csv.stem for csv in campaign["stopped"]] == ["inj_fwrd", "inj_bkwd"]
    for csv in campaign["stopped"]:
        label = csv.stem
        reference, continued = base / "reference", base / "continued"
        assert (continued / f"{label}.txt").read_bytes() == (
            reference / f"{label}.txt").read_bytes()
        assert record(continued / f"{label}.json") == record(reference / f"{label}.json")
        assert not (base / "stopped" / f"{label}.json").exists()  # no trace of a stopped run


def test_a_run_that_ends_before_its_horizon_is_written_as_usual(campaign):
    base = campaign["base"]
    ended = json.loads(horizon.record_path(base / "stopped", "inj_nan").read_text())
    assert ended["ended"] == runs.NONFINITE and ended["state"] is None
    assert ended["features"] is None
    assert (base / "stopped" / "inj_nan.txt").read_bytes() == (
        base / "reference" / "inj_nan.txt").read_bytes()
    assert not (base / "state" / "inj_nan").exists()


def test_the_horizon_record_holds_the_features_against_the_golden_state(campaign):
    base, golden = campaign["base"], campaign["golden"]
    found = json.loads(horizon.record_path(base / "stopped", "inj_fwrd").read_text())
    assert found["format"] == horizon.FORMAT and found["epoch"] == 1 and found["horizon"] == 1
    assert found["steps_trained"] == 10 and found["evaluations"] == 1
    assert fi_formats.horizon.check(found) is None
    features = found["features"]
    assert set(features) == set(fi_formats.horizon.FEATURES)
    golden_epoch = json.loads((golden / "trace.json").read_text())["epochs"][1]
    run_epoch = record(base / "reference" / "inj_fwrd.json")["epochs"][0]
    assert features["golden_test_accuracy"] == golden_epoch["test_accuracy"]
    assert features["test_accuracy"] == run_epoch["test_accuracy"]
    assert features["test_loss"] == run_epoch["test_loss"]
    for group in ("weights", "adam_m", "adam_v", "statistics"):
        assert 0 < features[f"{group}_distance"] < math.inf, group
        assert 0 < features[f"{group}_max_diff"] <= features[f"{group}_max_abs"] * 2, group
    # the weights' distance, recomputed from the saved state and the golden checkpoint
    trainer = train.Trainer(CONFIG, data.load(CONFIG))
    trainer.restore(base / "state" / "inj_fwrd" / horizon.CHECKPOINT)
    run = np.concatenate([v.numpy().ravel() for v in trainer.variables]).astype(np.float64)
    trainer.restore(checkpoint_dir(golden, 1))
    gold = np.concatenate([v.numpy().ravel() for v in trainer.variables]).astype(np.float64)
    expected = np.linalg.norm(run - gold) / np.linalg.norm(gold)
    assert features["weights_distance"] == pytest.approx(expected, rel=1e-9)
    assert features["weights_max_diff"] == pytest.approx(np.max(np.abs(run - gold)), rel=1e-12)


def test_features_at_a_horizon_leave_the_trace_as_it_was(campaign, tmp_path):
    csv = campaign["csvs"][0]
    assert inject([csv], campaign["golden"], tmp_path, "--features-at", "1") == 0
    reference = campaign["base"] / "reference"
    assert (tmp_path / "inj_fwrd.txt").read_bytes() == (reference / "inj_fwrd.txt").read_bytes()
    features = json.loads(horizon.record_path(tmp_path, "inj_fwrd").read_text())
    stopped = json.loads(horizon.record_path(campaign["base"] / "stopped",
                                             "inj_fwrd").read_text())
    assert features["ended"] == runs.FINISHED
    assert features["features"] == stopped["features"]


def refused(capsys, code: int) -> str:
    assert code != 0
    return one_line(capsys.readouterr().err)


def test_a_state_that_is_not_this_runs_is_refused(campaign, capsys, tmp_path):
    base, golden = campaign["base"], campaign["golden"]
    fwrd, bkwd = campaign["stopped"]
    other = tmp_path / "state"
    other.mkdir()
    (base / "state" / "inj_bkwd").rename(other / "inj_fwrd")  # another run's state
    try:
        line = refused(capsys, inject([fwrd], golden, tmp_path / "out", "--continue-from",
                                      str(other)))
        assert "--continue-from" in line and "csvs" in line
        line = refused(capsys, inject([bkwd], golden, tmp_path / "out", "--continue-from",
                                      str(other)))
        assert "holds no run of this CSV" in line
    finally:
        (other / "inj_fwrd").rename(base / "state" / "inj_bkwd")
    saved = base / "state" / "inj_fwrd" / horizon.CHECKPOINT
    victim = next(p for p in sorted(saved.iterdir()) if p.name.startswith("ckpt.data"))
    original = victim.read_bytes()
    victim.write_bytes(original[:-1] + bytes([original[-1] ^ 1]))
    try:
        line = refused(capsys, inject([fwrd], golden, tmp_path / "out", "--continue-from",
                                      str(base / "state")))
        assert "damaged or replaced" in line
    finally:
        victim.write_bytes(original)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("extra, words", [
    (("--horizon", "1"), "--horizon and --state-dir go together"),
    (("--horizon", "0", "--state-dir", "S"), "is not an epoch count"),
    (("--features-at", "1", "--mitigation", "guard"), "--mitigation"),
    (("--features-at", "1", "--partial-dir", "P"), "--partial-dir"),
    (("--state-dir", "S"), "is for --horizon only"),
])
def test_horizon_options_are_checked_before_anything_runs(campaign, capsys, tmp_path, extra,
                                                          words):
    extra = tuple(str(tmp_path / e) if e in ("S", "P") else e for e in extra)
    line = refused(capsys, inject(campaign["csvs"][:1], campaign["golden"], tmp_path / "out",
                                  *extra))
    assert words in line
    assert not (tmp_path / "out").exists() and not (tmp_path / "S").exists()
