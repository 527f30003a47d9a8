"""The text parser on the artifact's real traces, on our own text traces, and on damage."""

from __future__ import annotations

import math
from pathlib import Path

from analysis import synthetic as syn
from analysis.parse_text import parse_text
from analysis.tracefiles import load_trace


def test_artifact_fault_free(artifact_traces: Path) -> None:
    t = parse_text(str(artifact_traces / "fault_free.txt"))
    assert t.problems == []
    assert t.kind == "golden"
    assert (t.epochs, t.steps_per_epoch, t.num_classes) == (80, 49, 10)
    assert t.start_epoch == 30  # the file covers epochs 30-79 only
    assert t.golden_checkpoint_path == "ISCA_AE_CKPT/epoch_29"
    assert t.curves is not None
    assert t.curves.epoch[0] == 30 and t.curves.epoch[-1] == 79 and t.curves.epoch.size == 50
    assert t.curves.step_loss.size == 50 * 49
    assert t.curves.train_accuracy[-1] == 0.89357
    assert t.curves.test_accuracy[-1] == 0.83220
    assert t.first_nonfinite is None


def test_artifact_immediate_trace(artifact_traces: Path) -> None:
    t = parse_text(str(artifact_traces / "replay_inj_immediate_infs_nans.txt"))
    assert t.problems == []
    assert t.kind == "injection"
    inj = t.injection
    assert inj is not None
    assert (inj.epoch, inj.step, inj.replica) == (19, 38, 1)
    assert inj.layer == "basicblock_2_basic_0_conv2"
    assert inj.stage == "fwrd_inject" and not inj.is_backward
    assert inj.shape == [128, 8, 8, 128]
    assert inj.positions == [[107, 3, 3, 85]]
    assert inj.golden_values == [1.0707132816314697]
    assert inj.injected_values == [2.86871514043344e24]
    assert t.first_nonfinite == (19, 38)
    assert t.curves is not None and math.isnan(t.curves.step_loss[-1])
    assert t.curves.epoch.size == 0


def test_own_text_trace_round_trip(campaign) -> None:
    path = campaign.inject(
        "inj_b", epoch=4, step=7, fmt="txt", stage="bkwd_inject", nonfinite_at=(4, 8)
    )
    t = load_trace(str(path))
    assert t.problems == []
    assert t.injection is not None and t.injection.is_backward
    assert t.injection.stage == "bkwd_inject"  # derived from the _grad_in layer name
    assert t.first_nonfinite == (4, 8)
    assert (t.epochs, t.steps_per_epoch) == (20, 12)


def test_truncated_trace_is_reported_with_line(tmp_path: Path, campaign) -> None:
    full = syn.text_trace(syn.injection_record("x", campaign.golden, 3, 2))
    lines = full.splitlines(keepends=True)
    path = tmp_path / "cut.txt"
    path.write_text("".join(lines[:40]))  # killed in the middle of training
    t = parse_text(str(path))
    assert not t.complete
    assert any(p.startswith(f"{path}:40: truncated") for p in t.problems), t.problems


def test_cut_mid_line_is_reported(tmp_path: Path, campaign) -> None:
    full = syn.text_trace(campaign.golden)
    path = tmp_path / "cut.txt"
    path.write_text(full[: len(full) - 20])  # last line cut, no final newline
    t = parse_text(str(path))
    assert not t.complete
    n_lines = full[: len(full) - 20].count("\n") + 1
    assert any(p.startswith(f"{path}:{n_lines}:") for p in t.problems), t.problems


def test_garbage_lines_are_reported_not_dropped(tmp_path: Path, campaign) -> None:
    lines = syn.text_trace(campaign.golden).splitlines()
    lines.insert(10, "W0000 tensorflow warning: something")
    lines.insert(20, "Epoch: 1/20, step: x/12, loss: 0.5, accuracy: 0.5")
    path = tmp_path / "garbage.txt"
    path.write_text("\n".join(lines) + "\n")
    t = parse_text(str(path))
    assert not t.complete
    assert any(p.startswith(f"{path}:11: unrecognised line") for p in t.problems), t.problems
    assert any(p.startswith(f"{path}:21:") for p in t.problems), t.problems
    assert t.curves is not None and t.curves.epoch.size == 20  # the rest is still read


def test_blank_lines_are_fine(tmp_path: Path, campaign) -> None:
    text = syn.text_trace(campaign.golden).replace("\nEnd of epoch: 3/", "\n\nEnd of epoch: 3/")
    path = tmp_path / "blank.txt"
    path.write_text(text + "\n")
    assert parse_text(str(path)).problems == []


def test_empty_and_missing_files(tmp_path: Path) -> None:
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    assert parse_text(str(empty)).problems == [f"{empty}: empty trace"]
    missing = load_trace(str(tmp_path / "missing.txt"))
    assert not missing.complete and "cannot read" in missing.problems[0]


def test_injection_block_must_precede_injection_step(tmp_path: Path, campaign) -> None:
    text = syn.text_trace(syn.injection_record("x", campaign.golden, 3, 2))
    text = text.replace("Inject to step: 2", "Inject to step: 5")
    path = tmp_path / "moved.txt"
    path.write_text(text)
    t = parse_text(str(path))
    assert any("not the injection step 3/5" in p for p in t.problems), t.problems
