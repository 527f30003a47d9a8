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


def test_range_line_and_test_loss_stop(campaign) -> None:
    """A run of elements is one `Range is` line; a non-finite valid loss ends the run with
    the NaN line and is recorded as the first non-finite value, a test loss."""
    rec = syn.injection_record(
        "r", campaign.golden, 3, 2, value_range=(64, 1087), nonfinite_test_at=5
    )
    text = syn.text_trace(rec)
    assert "Range is (0, 0, 2, 0) to (0, 4, 1, 31), 1024 elements" in text
    last = text.splitlines()[-2:]
    assert (
        last[0].startswith("End of epoch: 5/20") and "valid loss: nan, valid accuracy:" in last[0]
    )
    assert last[1] == "Encounter NaN! Terminate training!"
    t = parse_text("r.txt", text.encode())
    assert t.problems == []
    inj = t.injection
    assert inj is not None and inj.positions == [] and inj.count == 1024
    assert (inj.range_first, inj.range_last) == (64, 1087)
    assert (
        inj.injected_summary is not None
        and inj.injected_summary.max_abs == rec["injection"]["injected_summary"]["max_abs"]
    )
    assert (t.first_nonfinite, t.nonfinite_metric) == ((5, 11), "test_loss")
    assert t.curves is not None and t.curves.epoch[-1] == 5


def test_range_line_needs_the_shape_and_fits_it(campaign) -> None:
    rec = syn.injection_record("r", campaign.golden, 3, 2, value_range=(0, 10))
    text = syn.text_trace(rec)
    no_shape = "".join(ln for ln in text.splitlines(True) if not ln.startswith("Shape for"))
    assert (
        "without the 'Shape for target layer'" in parse_text("a.txt", no_shape.encode()).problems[0]
    )
    outside = text.replace("to (0, 0, 0, 10)", "to (0, 0, 99, 10)")
    assert "not a position in shape" in parse_text("b.txt", outside.encode()).problems[0]


def test_nan_stop_needs_a_nonfinite_loss(campaign) -> None:
    text = syn.text_trace(syn.injection_record("r", campaign.golden, 3, 2, nonfinite_test_at=5))
    finite = text.replace("valid loss: nan", "valid loss: 0.5")
    t = parse_text("r.txt", finite.encode())
    assert any("without a non-finite step loss or valid loss" in p for p in t.problems)


def test_old_trace_that_trained_on_after_a_nonfinite_test_loss(campaign) -> None:
    """fi_core before the fix kept training after a NaN test loss: read as the artifact would
    have stopped, at the first non-finite test loss."""
    rec = syn.injection_record("old", campaign.golden, 3, 2)
    text = syn.text_trace(rec).replace(
        "End of epoch: 6/20, train loss: ", "End of epoch: 6/20, train loss: "
    )
    lines = text.splitlines()
    lines = [
        ln.replace("valid loss: 1.", "valid loss: nan ").replace("nan ", "nan")
        if ln.startswith("End of epoch: 6/")
        else ln
        for ln in lines
    ]
    lines = [
        ln.split(", valid loss:")[0] + ", valid loss: nan, valid accuracy: 0.5"
        if ln.startswith("End of epoch: 6/")
        else ln
        for ln in lines
    ]
    t = parse_text("old.txt", ("\n".join(lines) + "\n").encode())
    assert t.problems == []
    assert (t.first_nonfinite, t.nonfinite_metric) == ((6, 11), "test_loss")


def test_numbers_are_ascii_and_in_range(campaign) -> None:
    good = syn.text_trace(syn.injection_record("n", campaign.golden, 3, 2))
    for bad, reason in (
        (good.replace("Epoch: 3/20, step: 4/12", "Epoch: 3/20, step: 1_0/12"), "malformed step"),
        (good.replace("Epoch: 3/20, step: 4/12", "Epoch: 3/20, step: \u0664/12"), "malformed step"),
        (good.replace("Epoch: 3/20, step: 4/12", "Epoch: 3/20, step: 40/12"), "step 40 of 0..11"),
        (good.replace("Epoch: 3/20, step: 4/12", "Epoch: 3/20, step: 4/0"), "steps per epoch"),
        (good.replace("Inject to step: 2", "Inject to step: 99999999999"), "not a whole"),
        (good.replace("Inject to epoch: 3", "Inject to epoch: 4000000"), "larger than"),
        (good.replace("accuracy: 0.8", "accuracy: 1.8", 1), "not in [0, 1]"),
    ):
        assert bad != good, reason
        t = parse_text("n.txt", bad.encode())
        assert t.problems and any(reason in p for p in t.problems), (reason, t.problems)


def test_binary_and_foreign_encodings_are_refused_in_one_problem(tmp_path: Path, campaign) -> None:
    text = syn.text_trace(syn.injection_record("e", campaign.golden, 3, 2))
    for data, reason in (
        (text.encode("utf-16"), "UTF-16 text"),
        (text.encode("utf-16-le"), "NUL byte at byte 1"),
        ((text + "Inject layer: café\n").encode("latin-1"), "not UTF-8 text"),
        (bytes(range(256)) * 64, "NUL byte at byte 0"),
    ):
        t = parse_text("e.txt", data)
        assert t.problems == [f"e.txt: {reason}" + t.problems[0][len(f"e.txt: {reason}") :]]
        assert reason in t.problems[0] and t.n_problems == 1
    # A UTF-8 byte-order mark is fine.
    assert parse_text("bom.txt", b"\xef\xbb\xbf" + text.encode()).problems == []


def test_garbage_stops_early_and_keeps_few_problems(campaign) -> None:
    junk = "".join(f"line {i} of a log that is not a trace\n" for i in range(100_000))
    t = parse_text("junk.txt", junk.encode())
    assert t.n_problems == 101 and len(t.problems) == 5
    assert t.problems[0] == (
        "junk.txt:100: not a trace? stopped reading after 100 lines not in the format"
    )
    huge = ("Epoch: " + "9" * 5_000_000 + "\n").encode()  # one 5 MB line
    t = parse_text("huge.txt", huge)
    assert t.problems and len(t.problems[0]) < 500
