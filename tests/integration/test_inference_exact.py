"""The numpy predictor equals scikit-learn's predict_proba bit for bit, on the trained model."""

from __future__ import annotations

import numpy as np
import pytest

from genre_model.serve.predictor import Predictor, PredictorError
from tests.helpers import TrainedModel


def predictor_of(model: TrainedModel) -> Predictor:
    return Predictor.from_bytes(model.files()["predictor.joblib"])


def rows_for(model: TrainedModel, n: int = 300) -> np.ndarray:
    rng = np.random.default_rng(0)
    width = len(model.manifest["feature_columns"])
    rows = np.column_stack(
        [
            rng.uniform(0, 200, n),
            rng.integers(0, 120, n).astype(float),
            rng.uniform(0, 1, n),
            *([rng.integers(0, len(model.manifest["countries"]) + 1, n)] if width == 4 else []),
        ]
    )
    # Values exactly on the split thresholds: where a float32/float64 slip would show.
    trees = model.estimator.estimators_
    on_threshold = []
    for tree in trees[:5]:
        for feature, threshold in zip(tree.tree_.feature, tree.tree_.threshold, strict=True):
            if feature >= 0:
                row = rows[len(on_threshold) % n].copy()
                row[feature] = threshold
                on_threshold.append(row)
    return np.vstack([rows, *on_threshold])


@pytest.mark.parametrize("name", ["spec_model", "location_model"])
def test_predict_proba_is_exact(name, request):
    model = request.getfixturevalue(name)
    predictor = predictor_of(model)
    assert predictor.classes == tuple(model.classes)
    rows = rows_for(model)
    ours = predictor.predict_proba(rows)
    theirs = model.estimator.predict_proba(rows)
    assert ours.shape == theirs.shape
    assert np.array_equal(ours, theirs)


def test_predict_one_equals_the_batch(spec_model):
    predictor = predictor_of(spec_model)
    rows = rows_for(spec_model, 50)
    batch = predictor.predict_proba(rows)
    for row, expected in zip(rows, batch, strict=True):
        assert np.array_equal(predictor.predict_one(row.tolist()), expected)


def test_wrong_width_is_refused(spec_model):
    with pytest.raises(PredictorError):
        predictor_of(spec_model).predict_proba([[1.0, 2.0]])


def test_unknown_format_is_refused():
    with pytest.raises(PredictorError, match="format"):
        Predictor({"format": "something-else/9"})


@pytest.mark.parametrize("max_depth", [1, 4, 12, 13, None])
def test_both_layouts_are_exact_at_every_depth(max_depth):
    """Depth <= 12 walks the complete-tree layout, deeper forests the slot layout: both equal
    scikit-learn bit for bit, on 1,000+ rows including every split threshold of a tree."""
    from sklearn.ensemble import RandomForestClassifier

    from genre_model.contract import SPEC_FEATURES
    from genre_model.serve.predictor import COMPLETE_LAYOUT_MAX_DEPTH, ROW_BLOCK
    from genre_model.train.export import export_forest

    rng = np.random.default_rng(max_depth or 0)
    X = np.column_stack(
        [rng.uniform(0, 200, 3000), rng.integers(0, 120, 3000), rng.uniform(0, 1, 3000)]
    )
    y = np.where(X[:, 0] > 100, 0, rng.integers(0, 6, 3000))
    model = RandomForestClassifier(
        n_estimators=15, max_depth=max_depth, min_samples_split=2, random_state=1
    ).fit(X, y)
    predictor = Predictor(export_forest(model, [str(c) for c in model.classes_], SPEC_FEATURES))
    assert (predictor.depth <= COMPLETE_LAYOUT_MAX_DEPTH) == (max_depth in (1, 4, 12))
    tree = model.estimators_[0].tree_
    split = tree.children_left != -1
    on = X[: split.sum()].copy()
    on[np.arange(len(on)), tree.feature[split]] = tree.threshold[split]
    rows = np.vstack([rng.uniform(-1, 201, (1000, 3)), on, np.nextafter(on, np.inf)])
    rows = np.vstack([rows, [[3.4e38, 1e15, 1.0], [0.0, 0.0, 0.0]]])
    assert np.array_equal(predictor.predict_proba(rows), model.predict_proba(rows))
    for row in rows[:50]:
        assert np.array_equal(predictor.predict_one(row.tolist()), model.predict_proba([row])[0])
    assert predictor.predict_proba(rows[:0]).shape == (0, len(model.classes_))
    many = np.vstack([rows] * 3)  # several row blocks, the last one partial
    assert len(many) % ROW_BLOCK
    assert np.array_equal(predictor.predict_proba(many), model.predict_proba(many))
