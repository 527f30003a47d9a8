"""The rates table of a prediction-powered campaign (analysis.prediction.estimate) and the
simulated campaigns on a fully run one (analysis.prediction.resample)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from analysis.errors import InputError
from analysis.prediction.design import draw_selection
from analysis.prediction.estimate import COLUMNS, rates, rates_markdown
from analysis.prediction.ppi import class_rates
from analysis.prediction.resample import best_fraction, simulate

CLASSES = ["masked", "sdc", "non-finite"]


def _full(n: int, seed: int) -> pd.DataFrame:
    """A fully run campaign: a horizon feature, a 3-class outcome, exact runs, costs."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    logits = np.stack([2 * x, np.zeros(n), -2 * x], axis=1)
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    y = (rng.random(n)[:, None] > p.cumsum(axis=1)).sum(axis=1)
    exact = (y == 2) & (rng.random(n) < 0.5)
    return pd.DataFrame({
        "id": [f"r{i:04d}" for i in range(n)], "exact": exact, "loss": x,
        "stage": rng.choice(["forward", "backward"], n), "outcome": np.array(CLASSES)[y],
        "cost_horizon": np.where(exact, 0.5, 1.0), "cost_rest": np.where(exact, 0.0, 9.0),
    })


def _campaign(n: int = 300) -> tuple[pd.DataFrame, np.ndarray]:
    units = draw_selection(_full(n, 0), 0.3, [], seed=4)
    units["outcome"] = units["outcome"].where(units["labelled"], None)
    rng = np.random.default_rng(1)
    predictions = rng.dirichlet(np.ones(3), size=n)
    return units, predictions


def test_the_rates_table_has_the_overall_rows_first_then_every_stratum():
    units, predictions = _campaign()
    table = rates(units, predictions, CLASSES, [["stage"]], 0.9)
    assert list(table.columns) == COLUMNS
    assert list(table["by"]) == ["all"] * 3 + ["stage"] * 6
    assert list(table["stratum"]) == ["all"] * 3 + ["backward"] * 3 + ["forward"] * 3
    assert list(table["outcome"]) == CLASSES * 3
    assert (table["confidence"] == 0.9).all()
    mask = (units["stage"] == "forward").to_numpy()
    labelled = units["labelled"].to_numpy()
    y = np.where(labelled, units["outcome"].to_numpy() == "sdc", np.nan)[mask]
    ppi, classical = class_rates(y, predictions[mask, 1], labelled[mask],
                                 units["probability"].to_numpy()[mask],
                                 units["exact"].to_numpy()[mask], 0.9)
    row = table[(table["stratum"] == "forward") & (table["outcome"] == "sdc")].iloc[0]
    assert (row["rate"], row["low"], row["high"], row["lam"]) == (ppi.rate, ppi.low, ppi.high,
                                                                  ppi.lam)
    assert (row["classical_low"], row["classical_high"]) == (classical.low, classical.high)
    assert row["n_units"] == mask.sum() and row["n_exact"] == units["exact"][mask].sum()


def test_the_markdown_has_one_row_per_rate_and_says_what_the_columns_are():
    units, predictions = _campaign()
    table = rates(units, predictions, CLASSES, [["stage"]])
    text = rates_markdown(table)
    assert "| by | stratum | outcome | n | labelled | exact |" in text
    assert "95% confidence" in text and "ESS" in text
    first = table.iloc[0]
    assert (f"| all | all | masked | 300 | {first['n_labelled']} | {first['n_exact']} | "
            f"{100 * first['rate']:.2f} ({100 * first['low']:.2f}-{100 * first['high']:.2f})"
            in text)
    assert text.count("\n| ") == len(table) + 2  # the header, its rule, the rows


def test_a_class_never_labelled_is_marked_widened_in_the_markdown():
    units, predictions = _campaign()
    units["outcome"] = units["outcome"].replace("non-finite", "sdc")
    table = rates(units, predictions, CLASSES, None)
    assert bool(table.loc[table["outcome"] == "non-finite", "widened"].iloc[0])
    assert "* widened" in rates_markdown(table)


def test_bad_tables_are_refused():
    units, predictions = _campaign()
    with pytest.raises(InputError, match="shape"):
        rates(units, predictions[:, :2], CLASSES)
    with pytest.raises(InputError, match="no such column"):
        rates(units, predictions, CLASSES, [["layer"]])
    with pytest.raises(InputError, match="not one of the classes"):
        rates(units, predictions[:, :2], CLASSES[:2])


def _logistic(seed: int) -> LogisticRegression:
    return LogisticRegression(random_state=seed)


def test_simulated_campaigns_cover_the_truth_and_cost_what_the_design_says():
    table = _full(300, 7)
    sim = simulate(table, ["loss"], CLASSES, 0.2, reps=120, seed=0, folds=3,
                   make_model=_logistic)
    per = sim.per_class.set_index("outcome")
    assert list(per.index) == CLASSES
    assert per["truth"].to_dict() == table["outcome"].value_counts(normalize=True).to_dict()
    assert (per["coverage"] >= 0.88).all(), per
    assert sim.coverage == per["coverage"].min()
    # The expected cost per unit: the horizon, plus the rest for a fifth of the non-exact runs.
    share = table["exact"].mean()  # bootstrap samples: about the table's share
    ppi = share * 0.5 + (1 - share) * (1.0 + 0.2 * 9.0)
    full = share * 0.5 + (1 - share) * 10.0
    assert sim.cost_ratio == pytest.approx(ppi / full, rel=0.02)
    assert np.allclose(per["x"], per["var_ratio"] * sim.cost_ratio)
    assert sim.x == per["x"].max() and sim.worst_class == per["x"].idxmax()
    # The informative predictor narrows the monotone classes below the classical width.
    assert (per.loc[["masked", "non-finite"], "width"]
            < per.loc[["masked", "non-finite"], "classical_width"]).all()
    assert (per["full_width"] < per["width"]).all()  # running everything is narrower still


def test_best_fraction_picks_the_smallest_cost_among_the_fractions_that_cover():
    table = _full(200, 3)
    best, runs = best_fraction(table, ["loss"], CLASSES, fractions=(0.1, 0.4), reps=30,
                               seed=1, folds=3, make_model=_logistic)
    assert [r.fraction for r in runs] == [0.1, 0.4]
    valid = [r for r in runs if r.coverage >= 0.95 - 3 * r.coverage_mc_se]
    assert best == (min(valid, key=lambda r: r.x).fraction if valid else 0.4)
    with pytest.raises(InputError, match="cost"):
        simulate(table.assign(cost_rest=-1.0), ["loss"], CLASSES, 0.2, 2, 0)
