"""Injection CSVs: the artifact's files validate, bad files get one clear line and exit 2,
generated campaigns round-trip and are reproducible. No TensorFlow is needed here."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from fi_core import faults
from fi_core.spec import campaign, injection, workloads
from fi_core.spec.errors import BadInput

ROOT = Path(__file__).resolve().parents[2]
ARTIFACT_CSVS = ROOT / "injections" / "artifact"
RESNET_CSVS = sorted(p for p in ARTIFACT_CSVS.glob("resnet18*/*.csv"))


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "fi_core", *args], capture_output=True,
                          text=True, timeout=120)


@pytest.mark.parametrize("path", RESNET_CSVS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_artifact_resnet18_csv_validates(path):
    hit = injection.parse(path)
    assert hit.value_kind == "explicit"
    assert len(hit.positions) == len(hit.floats) == hit.count
    assert run_cli("validate", str(path)).returncode == 0


def test_artifact_operand_shapes_match_the_artifact_tables():
    """Shapes from the artifact's WORKLOADS.md table and its replay trace."""
    expected = {
        "resnet18/inj_immediate_infs_nans.csv": (128, 8, 8, 128),
        "resnet18/inj_slow_degrade.csv": (128, 4, 4, 512),
        "resnet18/inj_masked.csv": (3, 3, 512, 512),
        "resnet18_nobn/inj_short_term_infs_nans.csv": (128, 6, 6, 256),
        "resnet18_nobn/inj_slow_degrade.csv": (3, 3, 128, 128),
        "resnet18_sgd/inj_immediate_infs_nans.csv": (128, 10, 10, 256),
        "resnet18_sgd/inj_sharp_degrade.csv": (3, 3, 64, 64),
    }
    for name, shape in expected.items():
        assert injection.parse(ARTIFACT_CSVS / name).shape == shape


def _artifact_rows() -> dict[str, list[str]]:
    return injection.read_rows(ARTIFACT_CSVS / "resnet18" / "inj_immediate_infs_nans.csv")


BAD = [
    ("missing key", lambda r: r.pop("target_step"), "target_step", "missing"),
    ("unknown fault model", lambda r: r.update(fmodel=["FLIP3"]), "fmodel", "unknown fault"),
    ("unknown layer", lambda r: r.update(target_layer=["conv9"]), "target_layer", "not a"),
    ("backward layer in forward stage",
     lambda r: r.update(target_layer=["conv1_grad_in"]), "target_layer", "not a fwrd_inject"),
    ("position of the wrong rank", lambda r: r.update(inj_pos=["107/3/3"]), "inj_pos", "rank"),
    ("position out of bounds", lambda r: r.update(inj_pos=["107/8/3/85"]), "inj_pos",
     "out of bounds"),
    ("replica out of range", lambda r: r.update(target_worker=["8"]), "target_worker",
     "out of range"),
    ("epoch out of range", lambda r: r.update(target_epoch=["80"]), "target_epoch",
     "out of range"),
    ("unparsable value", lambda r: r.update(inj_values=["1.2.3"]), "inj_values", "not a finite"),
    ("non-finite value", lambda r: r.update(inj_values=["inf"]), "inj_values", "not a finite"),
    ("nan value", lambda r: r.update(inj_values=["NaN"]), "inj_values", "not a finite"),
    ("underscore in a value", lambda r: r.update(inj_values=["1_0.5"]), "inj_values",
     "not a finite"),
    ("non-ASCII digits in a value", lambda r: r.update(inj_values=["\u0661.5"]), "inj_values",
     "not a finite"),
    ("underscore in an integer", lambda r: r.update(target_step=["1_9"]), "target_step",
     "not an integer"),
    ("Arabic-Indic digits", lambda r: r.update(target_step=["\u0661\u0662"]), "target_step",
     "not an integer"),
    ("space inside a position", lambda r: r.update(inj_pos=["107/ 3 /3/85"]), "inj_pos",
     "not integers"),
    ("underscore in a workload field", lambda r: r.update(seed=["1_23"]), "seed",
     "expected a int"),
    ("repeated position", lambda r: r.update(inj_pos=["1/2/3/4", "1/2/3/4"],
                                             inj_values=["1.0", "2.0"]),
     "inj_pos", "appears twice"),
    ("positions and a range", lambda r: r.update(inj_range=["0", "15"]), "inj_pos",
     "exactly one of inj_pos, inj_range"),
    ("range beyond the operand", lambda r: (r.pop("inj_pos"), r.update(
        inj_range=["0", str(128 * 8 * 8 * 128)], inj_copy_seed=["1"]), r.pop("inj_values")),
     "inj_range", "out of range"),
    ("inverted range", lambda r: (r.pop("inj_pos"), r.pop("inj_values"), r.update(
        inj_range=["32", "16"], inj_copy_seed=["1"])), "inj_range", "before first"),
    ("explicit values for a range", lambda r: (r.pop("inj_pos"), r.update(
        inj_range=["0", "0"])), "inj_values", "use inj_pos"),
    ("two value rules", lambda r: r.update(inj_bits=["3"]), "inj_values", "exactly one of"),
    ("a seed with two values", lambda r: (r.pop("inj_values"), r.update(
        inj_random_seed=["1", "2"])), "inj_random_seed", "expected 1 values"),
    ("inverted uniform range", lambda r: (r.pop("inj_values"), r.update(
        inj_uniform=["1", "5.0", "2.0"])), "inj_uniform", "not below"),
    ("value beyond fp32", lambda r: r.update(inj_values=["1e39"]), "inj_values", "not a finite"),
    ("count mismatch", lambda r: r.update(inj_values=["1.0", "2.0"]), "inj_values",
     "2 values for 1 positions"),
    ("unknown key", lambda r: r.update(colour=["red"]), "colour", "unknown key"),
    ("unknown stage", lambda r: r.update(stage=["sideways"]), "stage", "not fwrd_inject"),
    ("bad bit index", lambda r: (r.pop("inj_values"), r.update(inj_bits=["32"])), "inj_bits",
     "out of range"),
]


@pytest.mark.parametrize(("label", "edit", "key", "reason"), BAD, ids=[b[0] for b in BAD])
def test_bad_csv_gets_one_line_and_exit_2(tmp_path, label, edit, key, reason):
    rows = _artifact_rows()
    edit(rows)
    path = tmp_path / "bad.csv"
    injection.write(path, rows)
    with pytest.raises(BadInput) as caught:
        injection.parse(path)
    assert caught.value.key == key
    assert reason in caught.value.reason
    result = run_cli("validate", str(path))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"{path}: {key}: ")


def test_missing_file_and_empty_file(tmp_path):
    result = run_cli("validate", str(tmp_path / "nope.csv"))
    assert result.returncode == 2 and "nope.csv: file:" in result.stderr
    (tmp_path / "empty.csv").write_text("")
    result = run_cli("validate", str(tmp_path / "empty.csv"))
    assert result.returncode == 2 and "empty.csv: file: empty" in result.stderr


def test_render_round_trips_the_artifact_text():
    for path in RESNET_CSVS:
        assert injection.render(injection.read_rows(path)) == path.read_text().replace(
            "\r\n", "\n")


def _spec(**changes) -> campaign.CampaignSpec:
    config = workloads.resolve("resnet18_small", {"epochs": "5"})
    return campaign.CampaignSpec("resnet18_small", config, {"epochs": "5"}, **changes)


def test_campaign_is_reproducible_and_every_csv_validates(tmp_path):
    a = campaign.generate(_spec(), 60, seed=7, out=tmp_path / "a")
    b = campaign.generate(_spec(), 60, seed=7, out=tmp_path / "b")
    assert [p.read_bytes() for p in a] == [p.read_bytes() for p in b]
    c = campaign.generate(_spec(), 60, seed=8, out=tmp_path / "c")
    assert [p.read_bytes() for p in a] != [p.read_bytes() for p in c]
    hits = [injection.parse(p) for p in a]
    assert {h.stage for h in hits} == {"fwrd_inject", "bkwd_inject"}
    assert all(h.epoch >= 1 for h in hits)
    assert all(h.pass_ != "grad_wt" for h in hits)  # the paper draws `_grad_in` layers
    assert len({h.fmodel for h in hits}) > 10
    assert run_cli("validate", *map(str, a)).returncode == 0


def test_patterns_are_aligned_runs():
    rng = np.random.default_rng(0)
    shape = (4, 3, 5, 7)  # 420 elements: not a multiple of 16 or 64
    for model, group in (("N16_RD", 16), ("N64_INPUT", 64)):
        for _ in range(50):
            selection = faults.get(model).pattern(shape, rng)
            flat = np.ravel_multi_index(selection.positions.T, shape)
            assert flat[0] % group == 0
            assert np.array_equal(flat, np.arange(flat[0], flat[0] + group))
            assert flat[-1] < 420 // group * group  # never the partial group at the end
    for _ in range(50):
        run = faults.get("RD_GLB").pattern(shape, rng)
        assert run.is_run and run.first % 16 == 0 and (run.last + 1) % 16 == 0
        assert run.first < run.last < (420 // 16 - 1) * 16  # never the last whole group


def test_value_rules_draw_what_they_promise():
    rng = np.random.default_rng(1)
    many = faults.Selection((2, 10, 10, 2), positions=np.zeros((200, 4), np.int64))
    rd = faults.get("RD").value.draw(rng, many)
    values = np.array([float(v) for v in rd], np.float32)
    assert np.all(np.isfinite(values)) and len(set(rd)) > 190
    assert float(np.max(np.abs(values))) > 1e30  # random bit patterns reach huge magnitudes
    bits = [int(b) for b in faults.get("RBFLIP").value.draw(rng, many)]
    assert min(bits) >= 0 and max(bits) <= 31 and len(set(bits)) == 32
    sources = faults.get("RD_CORRECT").value.draw(rng, many)
    assert len(sources) == 200 and all(len(s.split("/")) == 4 for s in sources)
    two = faults.Selection((2,), positions=np.zeros((2, 1), np.int64))
    assert faults.get("ZERO").value.draw(rng, two) == ["0.0", "0.0"]
    run = faults.Selection((4096,), first=0, last=4095)
    for name in ("RD_GLB", "RD_CORRECT_GLB", "N64_INPUT_GLB", "N64_WT_GLB"):
        (seed,) = faults.get(name).value.draw(rng, run)  # one seed, however long the run
        assert 0 <= int(seed) < 2**63


def test_worst_case_value_range(tmp_path):
    paths = campaign.generate(_spec(value_range=(1e16, 1e18)), 40, seed=3, out=tmp_path)
    kinds = set()
    for hit in map(injection.parse, paths):
        kinds.add(hit.value_kind)
        if hit.value_kind == "explicit":
            assert np.all((hit.floats >= 1e16 * (1 - 1e-7)) & (hit.floats <= 1e18))
        else:  # a _GLB run: a seed and the range
            assert hit.value_kind == "uniform" and hit.span is not None
            assert np.allclose(hit.floats, [1e16, 1e18], rtol=1e-7)
    assert kinds == {"explicit", "uniform"}


def test_all_eighteen_presets_compose_three_parts():
    assert len(faults.FAULT_MODELS) == 18
    operands = {name: model.operand for name, model in faults.FAULT_MODELS.items()}
    assert operands["INPUT"] == operands["N64_INPUT_GLB"] == "input"
    assert operands["WT_16"] == operands["N64_WT"] == "weight"
    assert operands["RD"] == operands["ZERO"] == operands["RD_CORRECT_GLB"] == "output"


def test_a_new_fault_model_needs_no_engine_change(tmp_path):
    from fi_core.faults import patterns
    from fi_core.faults.value_rules import explicit

    faults.register(faults.FaultModel("TEST_ZERO_RUN", "weight", patterns.aligned_run(4),
                                      explicit.zero()))
    try:
        paths = campaign.generate(_spec(fmodels=("TEST_ZERO_RUN",)), 3, seed=1, out=tmp_path)
        hit = injection.parse(paths[0])
        assert hit.operand == "weight" and len(hit.positions) == 4
        assert np.all(hit.floats == 0.0)
    finally:
        del faults.FAULT_MODELS["TEST_ZERO_RUN"]


@pytest.mark.parametrize(("setting", "line"), [
    ("width=wide", "--set: width: expected a finite float, got 'wide'"),
    ("colour=red", "--set: colour: not a workload field"),
    ("replicas=0", "--set: replicas: must be at least 1"),
])
def test_bad_workload_setting_is_refused_before_training(tmp_path, setting, line):
    out = tmp_path / "golden"
    result = run_cli("golden", "--set", setting, "--out", str(out))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(line)
    assert not out.exists()
