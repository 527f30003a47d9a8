"""The cross-fitted outcome predictor (analysis.prediction.predictor): no unit's own label in
its prediction, missing and infinite features, the fallbacks, the confusion matrix."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.errors import InputError
from analysis.prediction.design import draw_selection
from analysis.prediction.predictor import confusion_matrix, cross_fit, fold_of

CLASSES = ["masked", "sdc", "non-finite"]


def _units(n: int = 200, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    y = np.where(x > 0.6, 2, np.where(x < -0.4, 0, 1))
    flip = rng.random(n) < 0.15
    y = np.where(flip, rng.integers(0, 3, n), y)
    units = pd.DataFrame({
        "id": [f"r{i:04d}" for i in range(n)], "exact": (y == 2) & (rng.random(n) < 0.3),
        "loss": x, "noise": rng.normal(size=n), "outcome": np.array(CLASSES)[y],
    })
    units = draw_selection(units, 0.5, [], seed=1)
    units["outcome"] = units["outcome"].where(units["labelled"], None)
    return units


def test_a_folds_predictions_do_not_depend_on_its_own_labels():
    units = _units()
    before = cross_fit(units, ["loss", "noise"], CLASSES, 4, seed=3)
    fold = fold_of(units, 4, seed=3)
    train = units["labelled"] & ~units["exact"]
    shuffled = units.copy()
    for k in (0, 1):  # fold 0's labels shuffled, then fold 1's
        rows = np.flatnonzero(train & (fold == k))
        labels = shuffled.loc[rows, "outcome"].to_numpy()
        shuffled.loc[rows, "outcome"] = np.random.default_rng(k).permutation(labels)
        after = cross_fit(shuffled, ["loss", "noise"], CLASSES, 4, seed=3)
        assert np.array_equal(before[fold == k], after[fold == k])
        assert not np.allclose(before[fold != k], after[fold != k])  # the others did change
        shuffled = units.copy()


def test_predictions_are_probabilities_and_informative():
    units = _units(400)
    p = cross_fit(units, ["loss", "noise"], CLASSES, 5, seed=0)
    assert p.shape == (400, 3) and np.all((p >= 0) & (p <= 1))
    assert np.allclose(p.sum(axis=1), 1.0)
    table = confusion_matrix(units, p, CLASSES)
    assert list(table.index) == CLASSES and list(table.columns) == CLASSES
    assert int(table.to_numpy().sum()) == int((units["labelled"] & ~units["exact"]).sum())
    assert np.trace(table.to_numpy()) > 0.6 * table.to_numpy().sum()  # right most of the time
    again = cross_fit(units.iloc[::-1].reset_index(drop=True), ["loss", "noise"], CLASSES, 5, 0)
    assert np.allclose(again[::-1], p)  # the rows' order does not matter


def test_missing_and_infinite_features_are_predicted():
    units = _units(300)
    units.loc[units.index % 7 == 0, "noise"] = np.nan
    units.loc[units.index % 11 == 0, "loss"] = np.inf
    units.loc[units.index % 13 == 0, "loss"] = -np.inf
    units["loss"] = units["loss"].astype(object).where(units.index % 17 != 0, None)
    p = cross_fit(units, ["loss", "noise"], CLASSES, 3, seed=0)
    assert np.all(np.isfinite(p)) and np.allclose(p.sum(axis=1), 1.0)


def test_one_labelled_class_or_none_falls_back():
    units = _units(60)
    units["outcome"] = units["outcome"].where(~units["labelled"], "masked")
    p = cross_fit(units, ["loss"], CLASSES, 3, seed=0)
    assert np.array_equal(p, np.tile([1.0, 0.0, 0.0], (60, 1)))
    none = units.assign(labelled=units["exact"])
    assert np.array_equal(cross_fit(none, ["loss"], CLASSES, 3, seed=0), np.zeros((60, 3)))


def test_the_confusion_matrix_counts_the_labelled_non_exact_units():
    units = pd.DataFrame({
        "id": ["a", "b", "c", "d", "e"], "exact": [False, False, False, True, False],
        "labelled": [True, True, True, True, False],
        "outcome": ["masked", "sdc", "sdc", "sdc", None],
    })
    p = np.array([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7], [0.0, 1.0], [0.5, 0.5]])
    table = confusion_matrix(units, p, ["masked", "sdc"])
    assert table.to_numpy().tolist() == [[1, 0], [1, 1]]


def test_fold_of_keeps_a_group_together_and_uses_every_fold():
    units = pd.DataFrame({"id": [f"u{i}" for i in range(40)],
                          "source": [i // 4 for i in range(40)]})
    fold = fold_of(units, 5, seed=2, group="source")
    assert all(len(set(fold[units["source"] == s])) == 1 for s in range(10))
    assert set(fold) == set(range(5))


def test_bad_arguments_are_refused():
    units = _units(30)
    with pytest.raises(InputError, match="no such feature"):
        cross_fit(units, ["missing"], CLASSES, 3, seed=0)
    with pytest.raises(InputError, match="not one of the classes"):
        cross_fit(units, ["loss"], ["masked", "sdc"], 3, seed=0)
    with pytest.raises(InputError, match="folds"):
        cross_fit(units, ["loss"], CLASSES, 1, seed=0)
    with pytest.raises(InputError, match="numeric"):
        cross_fit(units.assign(loss="high"), ["loss"], CLASSES, 3, seed=0)
