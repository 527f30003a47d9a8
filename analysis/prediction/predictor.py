"""The outcome predictor: a small gradient-boosted classifier, cross-fitted over the units.

Prediction-powered intervals stay valid for any predictor as long as a unit's prediction does
not depend on its own label, so predictions are cross-fitted: the units are split into K folds
at random, and a fold is predicted by a model trained on the labelled non-exact units of the
other folds (the exact ones ended before the horizon and are not like the units to predict;
their outcome is known and their prediction unused). Features may be missing (NaN: the
boosted trees route them as a value of their own); infinities (a loss that overflowed at the
horizon says something) become the largest finite numbers of their sign.

scikit-learn is imported on first use: the rest of the analysis does without it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from analysis.errors import InputError
from analysis.prediction.columns import EXACT, ID, LABELLED, OUTCOME
from analysis.strict import integer

if TYPE_CHECKING:
    import pandas as pd

WHERE = "predictor"
SEED_HIGH = 2**32 - 1


def default_model(seed: int) -> Any:
    """Boosted trees sized for ~50-2000 units: few leaves, small leaves, no early stopping
    (whose validation split would take labelled runs away and vary with the data's order)."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    return HistGradientBoostingClassifier(
        max_iter=60, learning_rate=0.1, max_leaf_nodes=8, min_samples_leaf=5,
        l2_regularization=1.0, early_stopping=False, random_state=seed,
    )


def feature_matrix(units: pd.DataFrame, features: Sequence[str]) -> np.ndarray:
    """The features as floats: NaN stays, +/-inf becomes the largest finite float of its sign."""
    missing = [c for c in features if c not in units.columns]
    if missing:
        raise InputError(WHERE, missing[0], "no such feature column in the units table")
    try:
        x = units[list(features)].to_numpy(dtype=np.float64, na_value=np.nan)
    except (TypeError, ValueError) as exc:
        raise InputError(WHERE, "features", f"every feature must be numeric ({exc})") from None
    big = np.finfo(np.float64).max
    return np.where(np.isposinf(x), big, np.where(np.isneginf(x), -big, x))


def fold_of(units: pd.DataFrame, folds: int, seed: int, group: str | None = None) -> np.ndarray:
    """Each unit's fold in 0..folds-1: a seeded shuffle of the units (in id order, so the table's
    order does not matter) dealt round-robin. Units with the same ``group`` value share a fold
    (e.g. copies of one run in a bootstrap sample, which must not predict each other)."""
    folds = integer(folds, WHERE, "folds", low=2, high=10**6)
    seed = integer(seed, WHERE, "seed", low=0, high=SEED_HIGH)
    keys = units[group if group is not None else ID].astype(str).to_numpy()
    distinct, inverse = np.unique(keys, return_inverse=True)  # sorted: order-free
    dealt = np.empty(len(distinct), dtype=np.int64)
    dealt[np.random.default_rng(seed).permutation(len(distinct))] = np.arange(len(distinct)) % folds
    return dealt[inverse]


def _fit_predict(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, n_classes: int,
                 make_model: Callable[[int], Any], seed: int) -> np.ndarray:
    """Class probabilities [len(x_test), n_classes] from a model fitted on the training rows;
    with one class among them, that class's frequency (1); with none, zeros (the estimate is
    then the classical one)."""
    out = np.zeros((len(x_test), n_classes))
    present = np.unique(y_train)
    if len(present) == 0 or len(x_test) == 0:
        return out
    if len(present) == 1:
        out[:, present[0]] = 1.0
        return out
    model = make_model(seed)
    model.fit(x_train, y_train)
    out[:, np.asarray(model.classes_, dtype=np.int64)] = model.predict_proba(x_test)
    return out


def class_codes(units: pd.DataFrame, classes: Sequence[str], rows: np.ndarray) -> np.ndarray:
    """The class index of each of ``rows`` (labelled units), refusing unknown outcomes."""
    if OUTCOME not in units.columns:
        raise InputError(WHERE, OUTCOME, "no such column in the units table")
    index = {c: i for i, c in enumerate(classes)}
    values = units[OUTCOME].to_numpy()[rows]
    unknown = [v for v in values if v not in index]
    if unknown:
        raise InputError(WHERE, OUTCOME,
                         f"{unknown[0]!r} is not one of the classes {list(classes)}")
    return np.array([index[v] for v in values], dtype=np.int64)


def cross_fit(
    units: pd.DataFrame,
    features: list[str],
    classes: list[str],
    folds: int,
    seed: int,
    *,
    group: str | None = None,
    make_model: Callable[[int], Any] = default_model,
) -> np.ndarray:
    """Cross-fitted class probabilities [N, len(classes)], rows in the units' order.

    Fold k is predicted by a model trained on the labelled non-exact units outside fold k.
    ``make_model(seed)`` builds an unfitted scikit-learn classifier (the default: boosted trees).
    """
    for column in (EXACT, LABELLED):
        if column not in units.columns:
            raise InputError(WHERE, column, "no such column in the units table")
    if len(set(classes)) != len(classes) or not classes:
        raise InputError(WHERE, "classes", "need one or more distinct outcome classes")
    x = feature_matrix(units, features)
    training = units[LABELLED].to_numpy(dtype=bool) & ~units[EXACT].to_numpy(dtype=bool)
    y = np.full(len(units), -1, dtype=np.int64)
    y[training] = class_codes(units, classes, np.flatnonzero(training))
    fold = fold_of(units, folds, seed, group)
    out = np.zeros((len(units), len(classes)))
    for k in range(folds):
        test = fold == k
        train = training & ~test
        out[test] = _fit_predict(x[train], y[train], x[test], len(classes), make_model,
                                 (seed + k) % (SEED_HIGH + 1))
    return out


def confusion_matrix(units: pd.DataFrame, predictions: np.ndarray,
                     classes: list[str]) -> pd.DataFrame:
    """Counts of the labelled non-exact units: rows the true class, columns the predicted one
    (the most probable). Shows where the predictor errs; the exact units are left out (their
    outcome is known, their prediction unused)."""
    import pandas as pd

    rows = np.flatnonzero(units[LABELLED].to_numpy(dtype=bool) & ~units[EXACT].to_numpy(dtype=bool))
    true = class_codes(units, classes, rows)
    guess = np.asarray(predictions)[rows].argmax(axis=1)
    counts = np.zeros((len(classes), len(classes)), dtype=np.int64)
    np.add.at(counts, (true, guess), 1)
    return pd.DataFrame(counts, index=pd.Index(classes, name="true"),
                        columns=pd.Index(classes, name="predicted"))
