"""Each outcome class, with synthetic curves at and just across each threshold.

The golden run ends at train 0.90 / test 0.85; 12 steps per epoch, 20 epochs, 10 classes, so
tol = 0.02 (one golden run) and chance level = 0.1 + 0.05 = 0.15.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis.collect import classify
from analysis.outcomes import (
    ALL_LABELS,
    IMMEDIATE,
    INCOMPLETE,
    LATE,
    LOW_TEST,
    MASKED,
    OUTCOMES,
    RULES,
    SHARP_DEGRADE,
    SHORT_TERM,
    SLOW_DEGRADE,
    Thresholds,
    classify_frame,
)


def outcome(
    campaign, thresholds: Thresholds | None = None, goldens: list[Path] | None = None, **kw
) -> str:
    path = campaign.inject(f"inj_{len(list(campaign.traces.iterdir())):03d}", **kw)
    golden = [str(g) for g in (goldens or [campaign.golden_path])]
    (result,) = list(classify([str(path)], golden, thresholds, jobs=1, log=io.StringIO()))
    assert result[0] == str(path)
    return result[1]


def test_labels_are_exactly_the_agreed_ones() -> None:
    assert set(ALL_LABELS) == {
        "Masked",
        "Immediate INFs/NaNs",
        "Short-term INFs/NaNs",
        "Late INFs/NaNs",
        "SharpDegrade",
        "SlowDegrade",
        "LowTestAccuracy",
        "Incomplete",
    }
    assert [r.label for r in RULES] == [
        MASKED,  # rejoined the golden state
        IMMEDIATE,
        SHORT_TERM,
        LATE,
        SHARP_DEGRADE,
        MASKED,
        LOW_TEST,
        SLOW_DEGRADE,
    ]
    assert OUTCOMES[0] == MASKED and INCOMPLETE not in OUTCOMES
    assert len(OUTCOMES) == len(set(OUTCOMES)) == 7


# --- INFs/NaNs ------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["json", "txt"])
def test_immediate_in_the_injection_step(campaign, fmt: str) -> None:
    assert outcome(campaign, epoch=5, step=3, nonfinite_at=(5, 3), fmt=fmt) == IMMEDIATE


def test_forward_fault_one_step_later_is_short_term(campaign) -> None:
    assert outcome(campaign, epoch=5, step=3, nonfinite_at=(5, 4)) == SHORT_TERM


@pytest.mark.parametrize("fmt", ["json", "txt"])
def test_backward_fault_next_step_is_immediate(campaign, fmt: str) -> None:
    kw = {"stage": "bkwd_inject", "epoch": 5, "step": 11, "fmt": fmt}
    assert outcome(campaign, nonfinite_at=(6, 0), **kw) == IMMEDIATE  # across the epoch end
    assert outcome(campaign, nonfinite_at=(6, 1), **kw) == SHORT_TERM


def test_immediate_backward_steps_option(campaign) -> None:
    kw = {"stage": "bkwd_inject", "epoch": 5, "step": 3}
    assert (
        outcome(campaign, Thresholds(immediate_backward_steps=0), nonfinite_at=(5, 4), **kw)
        == SHORT_TERM
    )
    assert (
        outcome(campaign, Thresholds(immediate_backward_steps=3), nonfinite_at=(5, 6), **kw)
        == IMMEDIATE
    )
    assert (
        outcome(campaign, Thresholds(immediate_backward_steps=3), nonfinite_at=(5, 7), **kw)
        == SHORT_TERM
    )


def test_short_term_window_is_one_epoch_of_steps(campaign) -> None:
    assert outcome(campaign, epoch=5, step=3, nonfinite_at=(6, 3)) == SHORT_TERM  # 12 steps
    assert outcome(campaign, epoch=5, step=3, nonfinite_at=(6, 4)) == LATE  # 13 steps
    assert outcome(campaign, epoch=5, step=3, nonfinite_at=(15, 0)) == LATE


@pytest.mark.parametrize("fmt", ["json", "txt"])
def test_nonfinite_test_loss_is_an_inf_nan_outcome(campaign, fmt: str) -> None:
    """The artifact stops at a non-finite validation loss too: Short-term or Late by the
    timing rules (from the injection step to the epoch's last step), never Immediate (it is
    seen at the evaluation after the step) and never LowTestAccuracy."""
    kw = {"epoch": 5, "fmt": fmt, "test": {e: 0.1 for e in range(5, 20)}}
    assert outcome(campaign, step=11, nonfinite_test_at=5, **kw) == SHORT_TERM  # delay 0
    assert outcome(campaign, step=3, nonfinite_test_at=5, **kw) == SHORT_TERM  # delay 8
    assert outcome(campaign, step=3, nonfinite_test_at=6, **kw) == LATE  # delay 20 > 12
    assert outcome(campaign, step=3, **kw) == LOW_TEST  # the same run without the NaN


def test_short_term_steps_option(campaign) -> None:
    t = Thresholds(short_term_steps=5)
    assert outcome(campaign, t, epoch=5, step=3, nonfinite_at=(5, 8)) == SHORT_TERM
    assert outcome(campaign, t, epoch=5, step=3, nonfinite_at=(5, 9)) == LATE


# --- finite runs ----------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["json", "txt"])
def test_masked_at_and_across_the_train_tolerance(campaign, fmt: str) -> None:
    assert outcome(campaign, train={-1: 0.90}, fmt=fmt) == MASKED
    assert outcome(campaign, train={-1: 0.88}, fmt=fmt) == MASKED  # exactly golden - 0.02
    assert outcome(campaign, train={-1: 0.87999}, fmt=fmt) == SLOW_DEGRADE
    assert outcome(campaign, train={-1: 0.97}, fmt=fmt) == MASKED  # better than golden


def test_low_test_accuracy_at_and_across_the_test_tolerance(campaign) -> None:
    assert outcome(campaign, test={-1: 0.83}) == MASKED  # exactly golden - 0.02
    assert outcome(campaign, test={-1: 0.82999}) == LOW_TEST
    assert outcome(campaign, train={-1: 0.88}, test={-1: 0.5}) == LOW_TEST


def test_tol_min_option(campaign) -> None:
    assert outcome(campaign, Thresholds(tol_min=0.05), train={-1: 0.85}) == MASKED
    assert outcome(campaign, Thresholds(tol_min=0.05), train={-1: 0.84999}) == SLOW_DEGRADE


def test_tolerance_widens_to_the_golden_spread(campaign) -> None:
    # Two golden runs of the same configuration (seeds differ): train spread 0.05, test 0.03.
    _, other = campaign.add_golden(
        "golden_b", final_train=0.95, final_test=0.88, config={"seed": 124}
    )
    goldens = [campaign.golden_path, other]
    assert outcome(campaign, goldens=goldens, train={-1: 0.85}) == MASKED
    assert outcome(campaign, goldens=goldens, train={-1: 0.84999}) == SLOW_DEGRADE
    assert outcome(campaign, goldens=goldens, test={-1: 0.82}) == MASKED
    assert outcome(campaign, goldens=goldens, test={-1: 0.81999}) == LOW_TEST


def test_golden_of_another_configuration_does_not_widen_the_band(campaign) -> None:
    _, other = campaign.add_golden("golden_c", final_train=0.60, config={"width": 0.5})
    goldens = [campaign.golden_path, other]
    assert outcome(campaign, goldens=goldens, train={-1: 0.87999}) == SLOW_DEGRADE


def sharp(epoch: int, start: int, value: float, end: float | None = None) -> dict[int, float]:
    curve = {e: value for e in range(start, 20)}
    if end is not None:
        curve[19] = end
    return curve


@pytest.mark.parametrize("fmt", ["json", "txt"])
def test_sharp_degrade_at_and_across_chance(campaign, fmt: str) -> None:
    assert outcome(campaign, epoch=5, train=sharp(5, 5, 0.12), fmt=fmt) == SHARP_DEGRADE
    assert outcome(campaign, epoch=5, train=sharp(5, 5, 0.15), fmt=fmt) == SHARP_DEGRADE
    assert outcome(campaign, epoch=5, train=sharp(5, 5, 0.15001), fmt=fmt) == SLOW_DEGRADE


def test_sharp_degrade_within_one_epoch_of_the_injection(campaign) -> None:
    assert outcome(campaign, epoch=5, train=sharp(5, 6, 0.1)) == SHARP_DEGRADE  # next epoch
    assert outcome(campaign, epoch=5, train=sharp(5, 7, 0.1)) == SLOW_DEGRADE  # too late


def test_sharp_degrade_must_still_be_there_at_the_end(campaign) -> None:
    assert outcome(campaign, epoch=5, train=sharp(5, 5, 0.1, end=0.16)) == SLOW_DEGRADE
    assert outcome(campaign, epoch=5, train=sharp(5, 5, 0.1, end=0.89)) == MASKED


def test_chance_margin_option(campaign) -> None:
    t = Thresholds(chance_margin=0.1)
    assert outcome(campaign, t, epoch=5, train=sharp(5, 5, 0.2)) == SHARP_DEGRADE
    assert outcome(campaign, t, epoch=5, train=sharp(5, 5, 0.20001)) == SLOW_DEGRADE


def test_incomplete_trace(campaign) -> None:
    path = campaign.inject("inj_cut")
    path.write_text(path.read_text()[:500])
    (result,) = classify([str(path)], [str(campaign.golden_path)], jobs=1, log=io.StringIO())
    assert result == (str(path), INCOMPLETE)


def test_thresholds_are_validated() -> None:
    for kw in (
        {"tol_min": -0.1},
        {"tol_min": 1.0},
        {"chance_margin": 1.5},
        {"short_term_steps": -1},
        {"immediate_backward_steps": -1},
    ):
        with pytest.raises(ValueError):
            Thresholds(**kw)


def test_vectorised_classification_matches_one_by_one() -> None:
    """classify_frame on a hand-made table: one row per class, in one call."""
    nan = np.nan
    rows = [  # delay, backward, final train, final test, early min train, complete
        (0, False, nan, nan, nan, True, IMMEDIATE),
        (1, True, nan, nan, nan, True, IMMEDIATE),
        (12, False, nan, nan, nan, True, SHORT_TERM),
        (13, False, nan, nan, nan, True, LATE),
        (nan, False, 0.12, 0.1, 0.11, True, SHARP_DEGRADE),
        (nan, False, 0.89, 0.84, 0.9, True, MASKED),
        (nan, False, 0.89, 0.70, 0.9, True, LOW_TEST),
        (nan, False, 0.50, 0.50, 0.9, True, SLOW_DEGRADE),
        (nan, False, nan, nan, nan, False, INCOMPLETE),
    ]
    df = pd.DataFrame(
        {
            "nonfinite_delay_steps": [r[0] for r in rows],
            "first_nonfinite_epoch": [5 if not np.isnan(r[0]) else nan for r in rows],
            "is_backward": [r[1] for r in rows],
            "final_train_accuracy": [r[2] for r in rows],
            "final_test_accuracy": [r[3] for r in rows],
            "early_min_train_accuracy": [r[4] for r in rows],
            "complete": [r[5] for r in rows],
            "steps_per_epoch": 12,
            "num_classes": 10,
            "ref_train_accuracy": 0.9,
            "ref_test_accuracy": 0.85,
            "band_spread_train": 0.0,
            "band_spread_test": 0.0,
        }
    )
    assert list(classify_frame(df)) == [r[6] for r in rows]
    # The optional features: a test-loss NaN is never Immediate; a run that rejoined the
    # golden state is Masked whatever else its row says.
    metric = ["test_loss", "train_loss"] + [None] * (len(rows) - 2)
    rejoined = [nan] * (len(rows) - 1) + [nan]
    rejoined[7] = 8  # the SlowDegrade row
    with_optional = df.assign(nonfinite_metric=metric, rejoined_epoch=rejoined)
    expected = [SHORT_TERM, IMMEDIATE, *(r[6] for r in rows[2:])]
    expected[7] = MASKED
    assert list(classify_frame(with_optional)) == expected
    with pytest.raises(ValueError, match="missing column"):
        classify_frame(df.drop(columns=["num_classes"]))
