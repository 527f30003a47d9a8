"""Grouped rates, the Markdown and CSV tables, the summary, and group comparisons."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest

from analysis.errors import InputError
from analysis.groups import compare_groups, grouped_rates, outcome_counts
from analysis.outcomes import IMMEDIATE, INCOMPLETE, MASKED, OUTCOMES, SLOW_DEGRADE
from analysis.stats import proportion_ci
from analysis.tables import rates_markdown, summary_markdown, write_csv


def table() -> pd.DataFrame:
    rows = (
        [("w1", "fwrd_inject", "RD", 0, 3, MASKED)] * 90
        + [("w1", "fwrd_inject", "RD", 1, 12, IMMEDIATE)] * 8
        + [("w1", "fwrd_inject", "ZERO", 2, 25, SLOW_DEGRADE)] * 2
        + [("w1", "bkwd_inject", "ZERO", 3, 7, MASKED)] * 40
        + [("w1", "bkwd_inject", "ZERO", 3, 7, INCOMPLETE)] * 3
        + [(None, None, None, None, None, INCOMPLETE)] * 2  # unreadable traces
    )
    return pd.DataFrame(
        rows, columns=["workload", "stage", "fmodel", "replica", "inj_epoch", "outcome"]
    ).astype({"replica": "Int32", "inj_epoch": "Int32"})


def test_grouped_rates_counts_and_intervals() -> None:
    log = io.StringIO()
    rates = grouped_rates(table(), ["workload", "stage"], log=log)
    assert "2 incomplete run(s) without workload, stage" in log.getvalue()
    assert len(rates) == 2 * len(OUTCOMES)
    fw = rates[(rates["stage"] == "fwrd_inject")].set_index("outcome")
    assert fw.loc[MASKED, "k"] == 90 and fw.loc[MASKED, "n"] == 100
    assert fw.loc[IMMEDIATE, "rate"] == pytest.approx(0.08)
    assert (fw.loc[IMMEDIATE, "ci_low"], fw.loc[IMMEDIATE, "ci_high"]) == pytest.approx(
        proportion_ci(8, 100)
    )
    bw = rates[(rates["stage"] == "bkwd_inject")].set_index("outcome")
    assert bw.loc[MASKED, "n"] == 40 and bw.loc[MASKED, "n_incomplete"] == 3
    assert not rates.isna().any().any()


def test_methods_and_confidence_are_used() -> None:
    rates = grouped_rates(table(), ["fmodel"], "clopper-pearson", 0.9, log=io.StringIO())
    row = rates[(rates["fmodel"] == "RD") & (rates["outcome"] == IMMEDIATE)].iloc[0]
    assert (row["ci_low"], row["ci_high"]) == pytest.approx(
        proportion_ci(8, 98, "clopper-pearson", 0.9)
    )
    assert set(rates["method"]) == {"clopper-pearson"} and set(rates["confidence"]) == {0.9}


def test_epoch_bucket_and_integer_keys() -> None:
    rates = grouped_rates(table(), ["epoch_bucket"], epoch_bucket_width=10, log=io.StringIO())
    assert list(dict.fromkeys(rates["epoch_bucket"])) == ["00-09", "10-19", "20-29"]
    rates = grouped_rates(table(), ["replica"], log=io.StringIO())
    assert list(dict.fromkeys(rates["replica"])) == [0, 1, 2, 3]
    with pytest.raises(InputError, match="epoch-bucket-width"):
        grouped_rates(table(), ["epoch_bucket"], epoch_bucket_width=0)


def test_group_with_n_zero_is_an_error_or_skipped() -> None:
    df = pd.concat(
        [
            table(),
            pd.DataFrame([("w2", "fwrd_inject", "RD", 0, 1, INCOMPLETE)], columns=table().columns),
        ]
    )
    with pytest.raises(InputError) as err:
        grouped_rates(df, ["workload"], log=io.StringIO())
    assert str(err.value).startswith("group workload=w2: n: is 0")
    log = io.StringIO()
    rates = grouped_rates(df, ["workload"], skip_empty=True, log=log)
    assert set(rates["workload"]) == {"w1"} and "left out" in log.getvalue()


def test_empty_and_bad_tables() -> None:
    with pytest.raises(InputError, match="empty campaign"):
        outcome_counts(table().iloc[:0], ["workload"])
    with pytest.raises(InputError, match="no such column"):
        outcome_counts(table(), ["nope"])
    bad = table().assign(outcome="Exploded")
    with pytest.raises(InputError, match="unknown outcome"):
        outcome_counts(bad, ["workload"])
    only_incomplete = table()[table()["outcome"] == INCOMPLETE]
    with pytest.raises(InputError):
        grouped_rates(only_incomplete, ["stage"], log=io.StringIO())


def test_markdown_and_csv(tmp_path) -> None:
    rates = grouped_rates(table(), ["workload", "stage"], log=io.StringIO())
    md = rates_markdown(rates, ["workload", "stage"])
    lines = md.splitlines()
    header = next(line for line in lines if line.startswith("| workload"))
    assert header == "| workload | stage | n | " + " | ".join(OUTCOMES) + " | incomplete |"
    assert "| w1 | fwrd_inject | 100 | 90.00 (82.56-94.48) | 8.00 (4.11-15.00) |" in md
    assert "2 incomplete run(s) could not be attributed" in md
    write_csv(rates, str(tmp_path / "r.csv"))
    back = pd.read_csv(tmp_path / "r.csv")
    assert list(back.columns) == [
        "workload",
        "stage",
        "outcome",
        "k",
        "n",
        "rate",
        "ci_low",
        "ci_high",
        "method",
        "confidence",
        "n_incomplete",
    ]
    assert not back.isna().any().any()
    assert [p.name for p in tmp_path.iterdir()] == ["r.csv"]  # no temporary file left


def test_summary_has_wilson_and_goodman() -> None:
    md = summary_markdown(table(), 0.95)
    assert "## workload w1, stage fwrd_inject" in md
    assert "140 complete runs, 5 incomplete" in md
    assert "| outcome | k | rate % | Wilson % | Goodman (simultaneous) % |" in md
    assert "| Masked | 90 | 90.00 | 82.56-94.48 |" in md


def test_compare_groups() -> None:
    tab, result = compare_groups(table(), ["stage"], outcome=MASKED)
    assert result.method == "fisher-exact"
    assert list(tab["group"]) == ["bkwd_inject", "fwrd_inject"]
    assert list(tab[MASKED]) == [40, 90]
    _, result = compare_groups(table(), ["fmodel"])
    assert (result.method, result.dof) == ("chi-square", 2)  # 2 groups x 3 outcomes seen
    with pytest.raises(InputError, match="no group"):
        compare_groups(table(), ["fmodel"], groups=["RD", "XX"])
    assert not np.isnan(result.p_value)
