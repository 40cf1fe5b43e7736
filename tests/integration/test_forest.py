"""Forest export + numpy inference: equal to scikit-learn's predict_proba, bit for bit."""

from __future__ import annotations

import io
import pickle

import joblib
import numpy as np
import pytest
from sklearn.ensemble import RandomForestClassifier

from devtools.synthetic import generate, write_sqlite
from genre_model.config import ForestSettings
from genre_model.contract import FORMAT, MODEL_FILE, PREDICTOR_FILE
from genre_model.serve.predictor import Predictor, PredictorError
from genre_model.train.export import export_forest
from genre_model.train.features import Dataset, build_dataset
from genre_model.train.fit import make_forest, train
from genre_model.train.pipeline import artifact_files
from genre_model.train.sources import SQLiteSource

F32_MAX = float(np.finfo(np.float32).max)  # ~3.4e38

# scikit-learn's finiteness check sums float32 inputs near 3e38, which overflows harmlessly.
pytestmark = pytest.mark.filterwarnings("ignore:invalid value encountered in reduce:RuntimeWarning")


def dataset(tmp_path_factory: pytest.TempPathFactory, feature_set: str) -> Dataset:
    path = write_sqlite(generate(1500, seed=11), tmp_path_factory.mktemp("f") / "s.sqlite")
    return build_dataset(SQLiteSource(path).customer_summaries(), feature_set)


@pytest.fixture(scope="module", params=["spec", "location"])
def fitted(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Dataset, RandomForestClassifier]:
    ds = dataset(tmp_path_factory, request.param)
    forest = ForestSettings()  # the default, published forest: 100 trees, depth 10
    assert forest.n_estimators == 100
    return ds, make_forest(forest).fit(ds.X, ds.y)


def hard_inputs(
    model: RandomForestClassifier, data: np.ndarray, n_random: int = 6000
) -> np.ndarray:
    """Random rows around the data plus rows sitting exactly on (and next to) split thresholds."""
    rng = np.random.default_rng(123)
    n_features = data.shape[1]
    lo, hi = data.min(axis=0), data.max(axis=0)
    random_rows = rng.uniform(lo - 1, hi + 1, size=(n_random, n_features))
    samples = [random_rows, data]
    thresholds: list[tuple[int, float]] = []
    for est in model.estimators_:
        tree = est.tree_
        split = tree.children_left != -1
        thresholds += zip(tree.feature[split].tolist(), tree.threshold[split].tolist(), strict=True)
    roots = np.cumsum([0] + [int((e.tree_.children_left != -1).sum()) for e in model.estimators_])
    picks = rng.choice(len(thresholds), size=min(len(thresholds), 2500), replace=False)
    picks = np.union1d(picks, roots[:-1])  # every tree's root split among them
    base = data[rng.integers(0, len(data), size=len(picks))].copy()
    on, below, above, as32 = base.copy(), base.copy(), base.copy(), base.copy()
    for row, i in enumerate(picks):
        feature, threshold = thresholds[i]
        on[row, feature] = threshold
        t32 = np.float32(threshold)
        as32[row, feature] = float(t32)
        below[row, feature] = float(np.nextafter(t32, np.float32(-np.inf)))
        above[row, feature] = float(np.nextafter(t32, np.float32(np.inf)))
    samples += [on, below, above, as32]
    extremes = [0.0, -0.0, 1e-45, F32_MAX, 3e38, -3e38, 1e30, 1e10, -1.0, 0.5]
    special = rng.choice(extremes, size=(1000, n_features))
    samples += [special, np.zeros((10, n_features)), np.full((10, n_features), 3e38)]
    return np.vstack(samples)


def test_threshold_rows_really_sit_on_thresholds(fitted) -> None:
    ds, model = fitted
    tree = model.estimators_[0].tree_
    split = tree.children_left != -1
    rows = hard_inputs(model, ds.X)
    values = set(rows[:, tree.feature[split][0]].tolist())
    assert tree.threshold[split][0] in values


def test_predict_proba_is_exact(fitted) -> None:
    ds, model = fitted
    predictor = Predictor(export_forest(model, model.classes_, ds.feature_columns, ds.countries))
    X = hard_inputs(model, ds.X)
    assert len(X) >= 10_000
    assert np.abs(X).max() >= 3e38
    assert (X == 0).any()
    expected = model.predict_proba(X)
    got = predictor.predict_proba(X)
    assert got.shape == expected.shape
    assert np.abs(got - expected).max() == 0
    assert np.array_equal(got, expected)
    assert predictor.classes == tuple(str(c) for c in model.classes_)
    assert predictor.n_trees == 100


def test_predict_one_is_exact(fitted) -> None:
    ds, model = fitted
    predictor = Predictor(export_forest(model, model.classes_, ds.feature_columns, ds.countries))
    X = hard_inputs(model, ds.X)
    expected = model.predict_proba(X)
    worst = 0.0
    for x, want in zip(X, expected, strict=True):
        got = predictor.predict_one(x)
        worst = max(worst, float(np.abs(got - want).max()))
    assert worst == 0


def test_list_input_and_wrong_width(fitted) -> None:
    ds, model = fitted
    predictor = Predictor(export_forest(model, model.classes_, ds.feature_columns, ds.countries))
    row = ds.X[0].tolist()
    assert np.array_equal(predictor.predict_proba([row]), model.predict_proba([row]))
    with pytest.raises(PredictorError, match="features"):
        predictor.predict_proba([[*row, 1.0]])


def test_payload_is_plain_pickle_of_builtins(fitted) -> None:
    ds, model = fitted
    payload = export_forest(model, model.classes_, ds.feature_columns, ds.countries)
    assert payload["format"] == FORMAT
    assert payload["feature_columns"] == list(ds.feature_columns)
    assert payload["countries"] == list(ds.countries)
    assert payload["depth"] == max(e.tree_.max_depth for e in model.estimators_)
    restored = Predictor.from_bytes(pickle.dumps(payload))
    assert np.array_equal(restored.predict_proba(ds.X), model.predict_proba(ds.X))
    with pytest.raises(PredictorError, match="format"):
        Predictor({**payload, "format": "other/9"})


def test_model_joblib_and_predictor_joblib(tmp_path_factory: pytest.TempPathFactory) -> None:
    ds = dataset(tmp_path_factory, "spec")
    result = train(ds, ForestSettings(n_estimators=10))
    files = artifact_files(result, ds, "20260101T000000Z-abcdef")
    saved = joblib.load(io.BytesIO(files[MODEL_FILE]))
    assert {"model", "label_encoders", "feature_columns", "genre_classes"} <= set(saved)
    model, encoder = saved["model"], saved["label_encoders"]["genre"]
    genres = sorted(set(ds.y))
    assert list(encoder.classes_) == genres == saved["genre_classes"]
    assert list(model.classes_) == list(range(len(genres)))  # fitted on the encoder's codes
    assert saved["feature_columns"] == list(ds.feature_columns)
    assert saved["version"] == "20260101T000000Z-abcdef"
    assert np.array_equal(model.predict_proba(ds.X), result.model.predict_proba(ds.X))
    # the codes name the genres the data says: every customer's own genre is predicted often
    predicted = encoder.inverse_transform(model.predict(ds.X))
    assert np.mean(predicted == ds.y) > 0.5
    predictor = Predictor(joblib.load(io.BytesIO(files[PREDICTOR_FILE])))
    assert predictor.classes == tuple(genres)
    assert np.array_equal(predictor.predict_proba(ds.X), model.predict_proba(ds.X))


def test_forest_on_codes_grows_the_trees_a_fit_on_names_grows(fitted) -> None:
    """The published forest is fitted on genre codes; its probabilities are a name fit's."""
    ds, by_name = fitted
    genres = [str(c) for c in by_name.classes_]
    by_code = make_forest(ForestSettings()).fit(ds.X, np.searchsorted(genres, ds.y))
    X = hard_inputs(by_code, ds.X, n_random=2000)
    assert np.array_equal(by_code.predict_proba(X), by_name.predict_proba(X))
    predictor = Predictor(export_forest(by_code, genres, ds.feature_columns, ds.countries))
    assert predictor.classes == tuple(genres)
    assert np.array_equal(predictor.predict_proba(X), by_name.predict_proba(X))
    with pytest.raises(ValueError, match="genre names"):
        export_forest(by_code, genres[:-1], ds.feature_columns)


def test_pickled_forest_answers_the_same_every_call(tmp_path_factory) -> None:
    """Fitted with RF_N_JOBS=-1, pickled with n_jobs reset: scikit-learn's own predict_proba on
    the file adds the trees in one order, call after call, equal to the numpy predictor."""
    ds = dataset(tmp_path_factory, "spec")
    result = train(ds, ForestSettings(n_estimators=100, n_jobs=-1))
    files = artifact_files(result, ds, "20260101T000000Z-abcdef")
    model = joblib.load(io.BytesIO(files[MODEL_FILE]))["model"]
    assert model.n_jobs is None
    X = hard_inputs(model, ds.X, n_random=20_000)
    first, second = model.predict_proba(X), model.predict_proba(X)
    assert np.array_equal(first, second)
    predictor = Predictor(joblib.load(io.BytesIO(files[PREDICTOR_FILE])))
    assert np.array_equal(predictor.predict_proba(X), first)
