"""Sequential campaigns (analysis.sequential): the schedule of looks, per-stratum intervals and
decisions, the intervals' validity under the stopping rule, and the command's refusals."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from analysis.config_check import check_request
from analysis.errors import InputError
from analysis.outcomes import IMMEDIATE, MASKED, OUTCOMES
from analysis.sequential import (
    _widest_half_width,
    estimate,
    long_table,
    markdown,
    record,
    schedule,
    worst_case_n,
)
from analysis.stats import proportion_ci, sample_size


@pytest.mark.parametrize(("half_width", "looks"), [(0.1, 4), (0.2, 3), (0.05, 1), (0.4, 2)])
def test_the_last_look_is_the_smallest_size_that_always_meets_the_target(half_width, looks):
    plan = schedule(half_width, 0.95, looks)
    assert plan.level == pytest.approx(1 - 0.05 / looks)
    assert plan.sizes == sorted(set(plan.sizes)) and len(plan.sizes) <= looks
    last = plan.sizes[-1]
    assert last == worst_case_n(half_width, plan.level)
    assert _widest_half_width(last, plan.level) <= half_width
    assert _widest_half_width(last - 1, plan.level) > half_width
    # Every count at the last look meets the target, not only n/2.
    k = np.arange(last + 1)
    from analysis.stats import proportion_ci_array

    low, high = proportion_ci_array(k, np.full(k.shape, last), "clopper-pearson", plan.level)
    assert np.max(high - low) / 2 <= half_width
    if looks == 1:
        assert last >= sample_size(half_width, 0.95)  # exact is wider than the normal formula


def table(rows: list[tuple[str, str, int]]) -> pd.DataFrame:
    out = [(stage, outcome) for stage, outcome, count in rows for _ in range(count)]
    return pd.DataFrame(out, columns=["stage", "outcome"])


def test_strata_get_intervals_at_the_schedules_level_and_a_decision():
    plan = schedule(0.2, 0.95, 2)
    df = table([("fwrd_inject", MASKED, 17), ("bkwd_inject", MASKED, 9),
                ("bkwd_inject", IMMEDIATE, 8), ("bkwd_inject", "Incomplete", 2)])
    strata = estimate(df, ["stage"], 0.2, plan).set_index("stage")
    fw, bw = strata.loc["fwrd_inject"], strata.loc["bkwd_inject"]
    assert fw["n"] == 17 and bw["n"] == 17 and bw["n_incomplete"] == 2
    low, high = proportion_ci(9, 17, "clopper-pearson", plan.level)
    assert bw["intervals"][MASKED][1:] == pytest.approx([low, high])
    assert bw["half_width"] == pytest.approx(max(
        (h - lo) / 2 for _, lo, h in bw["intervals"].values()))
    assert fw["reached"] and not bw["reached"]  # all Masked is narrow; 9 of 17 is not
    assert set(fw["intervals"]) == set(OUTCOMES)
    data = record(strata.reset_index(), ["stage"], 0.2, 0.95, plan)
    assert data["format"] == "fi-sequential/1" and data["looks"] == plan.sizes
    assert {s["key"]["stage"]: s["reached"] for s in data["strata"]} == {
        "fwrd_inject": True, "bkwd_inject": False}
    rows = long_table(strata.reset_index(), ["stage"], plan)
    assert len(rows) == 2 * len(OUTCOMES) and set(rows["confidence"]) == {plan.level}
    text = markdown(strata.reset_index(), ["stage"], 0.2, 0.95, plan)
    assert "| bkwd_inject | 17 |" in text and "not reached" in text


def test_stopped_intervals_cover_at_the_stated_confidence():
    """Monte Carlo: strata stopped by the rule still cover their rate at >= 95 %."""
    rng = np.random.default_rng(11)
    plan = schedule(0.15, 0.95, 3)
    from analysis.stats import proportion_ci_array

    for p in (0.5, 0.85, 0.97):
        reps = 4000
        draws = rng.random((reps, plan.sizes[-1])) < p
        covered = np.zeros(reps, dtype=bool)
        stopped = np.zeros(reps, dtype=bool)
        for n in plan.sizes:
            k = draws[:, :n].sum(axis=1)
            low, high = proportion_ci_array(k, np.full(reps, n), "clopper-pearson", plan.level)
            # Masked and its complement have the same interval width: one indicator suffices.
            stop = ~stopped & (((high - low) / 2 <= 0.15) | (n == plan.sizes[-1]))
            covered[stop] = (low[stop] <= p) & (p <= high[stop])
            stopped |= stop
        assert stopped.all()
        assert covered.mean() >= 0.95 - 3 * np.sqrt(0.05 * 0.95 / reps), p


def test_bad_arguments_are_refused():
    with pytest.raises(InputError):
        schedule(0.001, 0.95, 4)
    with pytest.raises(InputError):
        schedule(0.1, 1.0, 4)
    with pytest.raises(InputError):
        schedule(0.1, 0.95, 0)


def test_check_config_gives_the_schedule_and_names_bad_keys():
    facts = check_request({"campaigns": {"s": {"target": {"half_width": 0.1, "looks": 4}}}})
    assert facts["schedules"]["s"] == {"sizes": [41, 82, 123, 163], "level": 0.9875}
    with pytest.raises(InputError) as caught:
        check_request({"campaigns": {"s": {"target": {"half_width": 0.1, "looks": 99}}}})
    assert str(caught.value).startswith("config: campaigns.s.target.looks: ")


def test_the_command_refuses_in_one_line(tmp_path):
    run = [sys.executable, "-m", "analysis", "sequential", "--table", str(tmp_path / "no.parquet"),
           "--by", "stage", "--half-width", "0.1", "--out", str(tmp_path / "d.json")]
    result = subprocess.run(run, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1
    result = subprocess.run([*run[:-4], "--half-width", "0.9", "--out", str(tmp_path / "d.json")],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "--half-width" in result.stderr
    assert not (tmp_path / "d.json").exists()
