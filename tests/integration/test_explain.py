"""explain.py against the shap package (the test oracle, a development dependency only).

The rows are float32-representable: the forest compares float32 inputs (scikit-learn casts X),
while shap compares the float64 it is given; on float32 rows both see the same splits, so any
difference is the explanation's own.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from sklearn.ensemble import RandomForestClassifier

from devtools.synthetic import generate, write_sqlite
from genre_model.config import ForestSettings
from genre_model.contract import Manifest, pack_arrays, unpack_arrays
from genre_model.serve.errors import api_error
from genre_model.serve.explain import (
    METHOD,
    ExplainUnavailable,
    ForestExplainer,
    _leaf_boxes,
    explainer_for,
    shapley_weights,
)
from genre_model.serve.model_cache import LoadedModel
from genre_model.serve.predictor import Predictor, PredictorError
from genre_model.serve.schemas import PredictRequest
from genre_model.serve.service import NotSupported, predict
from genre_model.train.export import export_forest
from genre_model.train.features import build_dataset
from genre_model.train.fit import make_forest
from genre_model.train.sources import SQLiteSource

shap = pytest.importorskip("shap", reason="shap (requirements-dev.txt) is the oracle")

VARIANTS = {
    "spec": ("spec", ForestSettings()),  # the published forest: 100 trees, depth 10
    "location": ("location", ForestSettings(n_estimators=40)),
    "deep": ("spec", ForestSettings(n_estimators=30, max_depth=None, min_samples_split=2)),
    "deep-location": ("location", ForestSettings(n_estimators=20, max_depth=None)),
}
N_RANDOM = 1000


@dataclasses.dataclass(frozen=True)
class Fitted:
    model: RandomForestClassifier
    predictor: Predictor
    rows: np.ndarray


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory):
    return write_sqlite(generate(1500, seed=5), tmp_path_factory.mktemp("x") / "s.sqlite")


@pytest.fixture(scope="module", params=sorted(VARIANTS))
def fitted(request: pytest.FixtureRequest, store) -> Fitted:
    feature_set, forest = VARIANTS[request.param]
    data = build_dataset(SQLiteSource(store).customer_summaries(), feature_set)
    model = make_forest(forest).fit(data.X, data.y)
    predictor = Predictor(
        export_forest(model, [str(c) for c in model.classes_], data.feature_columns, data.countries)
    )
    return Fitted(model, predictor, hostile_rows(model, np.asarray(data.X, dtype=np.float64)))


def hostile_rows(model: RandomForestClassifier, data: np.ndarray) -> np.ndarray:
    """Random rows around the data, the training rows, and rows exactly on split thresholds."""
    rng = np.random.default_rng(3)
    lo, hi = data.min(axis=0), data.max(axis=0)
    rows = [rng.uniform(lo - 1, hi + 1, size=(N_RANDOM, data.shape[1])), data[:300]]
    tree = model.estimators_[0].tree_
    split = tree.children_left != -1
    on = data[rng.integers(0, len(data), size=split.sum())].copy()
    on[np.arange(len(on)), tree.feature[split]] = tree.threshold[split]
    rows.append(on)
    if data.shape[1] == 4:  # countries as the API encodes them: whole numbers, 0 = unknown
        rows[0][:, 3] = rng.integers(0, int(hi[3]) + 2, size=N_RANDOM)
    return np.vstack(rows).astype(np.float32).astype(np.float64)


def test_equals_shap_tree_explainer_and_adds_up(fitted: Fitted):
    explainer = explainer_for(fitted.predictor)
    oracle = shap.TreeExplainer(fitted.model, feature_perturbation="tree_path_dependent")
    expected = np.asarray(oracle.shap_values(fitted.rows))  # (rows, features, classes)
    base = np.asarray(oracle.expected_value)
    assert len(fitted.rows) >= 1000
    for i, row in enumerate(fitted.rows):
        proba = fitted.predictor.predict_one(row.tolist())
        c = int(np.argmax(proba))
        explained = explainer.explain(row.tolist(), fitted.predictor.classes[c])
        phi = np.array([explained.contributions[f] for f in fitted.predictor.feature_columns])
        np.testing.assert_allclose(phi, expected[i, :, c], rtol=0, atol=1e-9)
        assert abs(explained.base_value - base[c]) <= 1e-9
        assert abs(explained.base_value + phi.sum() - proba[c]) <= 1e-12


def test_every_genre_can_be_explained(fitted: Fitted):
    """Not only the predicted one: the method is per class, so check all on a few rows."""
    explainer = explainer_for(fitted.predictor)
    oracle = shap.TreeExplainer(fitted.model, feature_perturbation="tree_path_dependent")
    rows = fitted.rows[:20]
    expected = np.asarray(oracle.shap_values(rows))
    for i, row in enumerate(rows):
        for c, genre in enumerate(fitted.predictor.classes):
            explained = explainer.explain(row.tolist(), genre)
            phi = list(explained.contributions.values())
            np.testing.assert_allclose(phi, expected[i, :, c], rtol=0, atol=1e-9)


def _one_row_one_feature_at_a_time(predictor: Predictor, row: np.ndarray, c: int):
    """The explanation as first written (issue 15), one row at a time: each leaf's weight in
    v(s) multiplied by "inside" or the cover fraction one feature at a time, summed over the
    leaves, then weighted over the subsets: the numbers the API answered before
    ``explain_rows``, kept as the oracle of their bits."""
    n = len(predictor.feature_columns)
    lo, hi, fraction, leaves = _leaf_boxes(predictor.arrays, predictor.depth, n)
    x = np.asarray(row, dtype=np.float32).astype(np.float64)
    weight = np.empty((1 << n, len(leaves)))
    weight[0] = predictor.arrays["value"][leaves][:, c] / predictor.n_trees
    for j in range(n):
        k = 1 << j
        np.multiply(weight[:k], (x[j] > lo[:, j]) & (x[j] <= hi[:, j]), out=weight[k : 2 * k])
        weight[:k] *= fraction[:, j]
    v = weight.sum(axis=1)
    return float(v[0]), (v[:, None] * shapley_weights(n)).sum(axis=0).tolist()


def test_many_rows_at_once_are_each_rows_own_explanation_bit_for_bit(fitted: Fitted):
    """explain_rows (the batch route's) gives every row, whatever its class and block, exactly
    the numbers it gets alone, and those are the first definition's to the last bit."""
    explainer = explainer_for(fitted.predictor)
    rows = fitted.rows[::4]
    rng = np.random.default_rng(11)
    predicted = np.argmax(fitted.predictor.predict_proba(rows), axis=1)
    genres = np.where(rng.random(len(rows)) < 0.8, predicted, rng.integers(0, 3, len(rows)))
    base, phi = explainer.explain_rows(rows, genres)
    assert len(rows) > explainer._block  # several blocks of rows
    for i, (row, c) in enumerate(zip(rows, genres.tolist(), strict=True)):
        alone = explainer.explain(row.tolist(), fitted.predictor.classes[c])
        assert (alone.base_value, list(alone.contributions.values())) == (
            float(base[i]),
            phi[i].tolist(),
        )
        assert (float(base[i]), phi[i].tolist()) == _one_row_one_feature_at_a_time(
            fitted.predictor, row, c
        )


def _without(predictor: Predictor, **changes) -> Predictor:
    """The same forest with its cover array removed (None) or replaced."""
    arrays = dict(unpack_arrays(pack_arrays(predictor.arrays)))
    for name, value in changes.items():
        if value is None:
            del arrays[name]
        else:
            arrays[name] = value
    payload = {
        "format": "genre-model-forest/1",
        "classes": list(predictor.classes),
        "feature_columns": list(predictor.feature_columns),
        "countries": list(predictor.countries),
        "depth": predictor.depth,
        "arrays": pack_arrays(arrays),
    }
    return Predictor(payload)


@pytest.fixture(scope="module")
def spec_fitted(store) -> Fitted:
    data = build_dataset(SQLiteSource(store).customer_summaries(), "spec")
    model = make_forest(ForestSettings(n_estimators=10)).fit(data.X, data.y)
    predictor = Predictor(
        export_forest(model, [str(c) for c in model.classes_], data.feature_columns)
    )
    return Fitted(model, predictor, np.asarray(data.X[:5], dtype=np.float64))


def test_published_without_covers_still_predicts_but_cannot_explain(spec_fitted: Fitted):
    old = _without(spec_fitted.predictor, cover=None)
    assert np.array_equal(
        old.predict_one([10.0, 3, 0.5]), spec_fitted.predictor.predict_one([10.0, 3, 0.5])
    )
    with pytest.raises(ExplainUnavailable, match="covers"):
        explainer_for(old)
    loaded = LoadedModel(old, customers=None, manifest=Manifest("v-old"))  # type: ignore[arg-type]
    plain = predict(PredictRequest(total_spent=10.0), loaded)
    assert "explanation" not in plain
    with pytest.raises(NotSupported) as refused:
        predict(PredictRequest(total_spent=10.0, explain=True), loaded)
    assert refused.value.field == "explain"
    assert "v-old" in refused.value.message
    error = api_error(refused.value)
    assert (error.status, [field for field, _ in error.errors]) == (422, ["explain"])


@pytest.mark.parametrize(
    ("damage", "refusal"),
    [
        (lambda c: c[:-1], PredictorError),
        (lambda c: np.where(np.arange(len(c)) == 3, np.nan, c), PredictorError),
        (lambda c: np.where(np.arange(len(c)) == 5, -1.0, c), PredictorError),
        (lambda c: np.zeros_like(c), ExplainUnavailable),
        (lambda c: np.full_like(c, np.inf), PredictorError),
        (lambda c: c.reshape(1, -1), PredictorError),
    ],
    ids=["short", "nan", "negative", "zero", "inf", "2-d"],
)
def test_damaged_covers_are_refused_not_explained(spec_fitted: Fitted, damage, refusal):
    """Covers that are not one finite non-negative weight per node refuse the whole version when
    it is loaded (contract.validate_forest); all-zero covers load but cannot explain."""
    cover = np.array(spec_fitted.predictor.arrays["cover"])
    with pytest.raises(refusal):
        explainer_for(_without(spec_fitted.predictor, cover=damage(cover)))


def test_a_cyclic_node_table_is_refused(spec_fitted: Fitted):
    """Hash-correct nonsense: a child pointing back at the root must not loop or explain."""
    left = np.array(spec_fitted.predictor.arrays["left"])
    root = int(spec_fitted.predictor.arrays["roots"][1])
    child = left[root]
    assert left[child] != child, "the fixture's second tree must be two levels deep"
    left[child] = root  # the second tree's left grandchild is its root again
    with pytest.raises(PredictorError, match="cycle"):  # refused when the version is loaded
        ForestExplainer(_without(spec_fitted.predictor, left=left))


def test_explanation_json_shape(spec_fitted: Fitted):
    row = spec_fitted.rows[0].tolist()
    proba = spec_fitted.predictor.predict_one(row)
    genre = spec_fitted.predictor.classes[int(np.argmax(proba))]
    body = explainer_for(spec_fitted.predictor).explain(row, genre).as_json()
    assert body["method"] == METHOD == "shap-tree-path-dependent"
    assert body["genre"] == genre
    assert list(body["contributions"]) == list(spec_fitted.predictor.feature_columns)
    assert all(isinstance(v, float) for v in body["contributions"].values())
