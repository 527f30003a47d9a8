"""The selection of a prediction-powered campaign (analysis.prediction.design): reproducible,
exact units always in, the fractions respected, bad arguments refused."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.errors import InputError
from analysis.prediction.design import draw_selection


def _units(n: int = 2000) -> pd.DataFrame:
    rng = np.random.default_rng(5)
    return pd.DataFrame({
        "id": [f"run{i:05d}" for i in range(n)],
        "exact": rng.random(n) < 0.2,
        "stage": rng.choice(["forward", "backward"], n),
    })


def test_the_same_seed_draws_the_same_selection_whatever_the_rows_order():
    units = _units()
    a = draw_selection(units, 0.3, [], seed=11)
    b = draw_selection(units.sample(frac=1.0, random_state=3), 0.3, [], seed=11)
    assert a["labelled"].equals(b.set_index("id").loc[a["id"], "labelled"].reset_index(drop=True))
    other = draw_selection(units, 0.3, [], seed=12)
    assert not a["labelled"].equals(other["labelled"])  # the seed matters
    assert list(a.columns) == [*units.columns, "probability", "labelled"]
    assert "probability" not in units.columns  # the input is not changed


def test_exact_units_are_always_labelled_with_probability_one():
    units = _units()
    out = draw_selection(units, 0.05, [], seed=0)
    exact = out[out["exact"]]
    assert exact["labelled"].all() and (exact["probability"] == 1.0).all()
    rest = out[~out["exact"]]
    assert (rest["probability"] == 0.05).all()
    assert 0 < rest["labelled"].mean() < 0.15


def test_per_stratum_fractions_are_respected_on_average():
    units = _units(4000)
    fractions = {"forward": 0.1, "backward": 0.5}
    shares = {"forward": [], "backward": []}
    for seed in range(20):
        out = draw_selection(units, fractions, ["stage"], seed=seed)
        rest = out[~out["exact"]]
        for stage, g in rest.groupby("stage"):
            assert (g["probability"] == fractions[stage]).all()
            shares[stage].append(g["labelled"].mean())
    for stage, fraction in fractions.items():
        assert np.mean(shares[stage]) == pytest.approx(fraction, abs=0.01)


def test_fraction_one_labels_every_unit():
    assert draw_selection(_units(), 1.0, [], seed=0)["labelled"].all()


@pytest.mark.parametrize(
    ("fraction", "strata", "reason"),
    [
        (0.0, [], "must be in (0, 1]"),
        (1.5, [], "must be in (0, 1]"),
        (float("nan"), [], "finite"),
        ("0.2", [], "expected a number"),
        (0.2, ["layer"], "no such column"),
        ({"forward": 0.2}, ["stage"], "no fraction for stratum 'backward'"),
        ({"forward": 0.2, "backward": 0.0}, ["stage"], "must be in (0, 1]"),
        ({"forward": 0.2}, [], "needs strata columns"),
    ],
)
def test_bad_fractions_and_strata_are_refused_in_one_line(fraction, strata, reason):
    with pytest.raises(InputError) as err:
        draw_selection(_units(50), fraction, strata, seed=0)
    assert reason in str(err.value) and "\n" not in str(err.value)


def test_repeated_ids_and_a_non_boolean_exact_column_are_refused():
    units = _units(10)
    with pytest.raises(InputError, match="own id"):
        draw_selection(units.assign(id="same"), 0.5, [], seed=0)
    with pytest.raises(InputError, match="boolean"):
        draw_selection(units.assign(exact=1), 0.5, [], seed=0)
    with pytest.raises(InputError, match="seed"):
        draw_selection(units, 0.5, [], seed=-1)
