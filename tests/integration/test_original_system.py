"""The container version's prediction code reads our pickle and answers exactly as our API does.

``original_predict_genre`` is that system's access pattern as the audit of issue 14 describes it
(the spec shows no code): joblib-load the file at ``MODELO_GENERO_ENTRENADO``, take
``model_data['model']`` and ``model_data['label_encoders']['genre']``, ``model.predict`` one row
of the three spec features, turn the code into a genre with ``inverse_transform``, and name the
``predict_proba`` columns in the encoder's class order. It keeps that code's shape
(a broad ``except`` turned into a message), not this project's style, on purpose.
"""

from __future__ import annotations

import io
import os

import joblib
import numpy as np
import pytest

from genre_model.config import ForestSettings
from genre_model.contract import MODEL_FILE, PREDICTOR_FILE, Manifest
from genre_model.store.local import LocalModelPath
from genre_model.train.export import export_forest
from genre_model.train.features import build_dataset
from genre_model.train.fit import make_forest
from genre_model.train.sources import SQLiteSource
from tests.helpers import TrainedModel, invoke, make_event


def original_predict_genre(customer_data: dict) -> dict:
    """The original system's ``/api/predict-genre`` body, unmodified in what it reads."""
    model_path = os.getenv("MODELO_GENERO_ENTRENADO", "/app/assets/modelo_genero_entrenado.pkl")
    if not os.path.exists(model_path):
        return {"status": "ERROR", "message": "Genre model not found"}
    try:
        model_data = joblib.load(model_path)
        model = model_data["model"]
        label_encoder = model_data["label_encoders"]["genre"]

        total_spent = float(customer_data.get("total_spent", 0.0))
        total_tracks_bought = int(customer_data.get("total_tracks_bought", 0))
        genre_spending_ratio = float(customer_data.get("genre_spending_ratio", 0.0))

        features = [[total_spent, total_tracks_bought, genre_spending_ratio]]
        prediction = model.predict(features)[0]
        probabilities = model.predict_proba(features)[0]

        predicted_genre = label_encoder.inverse_transform([prediction])[0]
        confidence = float(max(probabilities))
        all_probabilities = {
            label_encoder.classes_[i]: float(prob) for i, prob in enumerate(probabilities)
        }
        return {
            "status": "OK",
            "prediction": {
                "genre": predicted_genre,
                "confidence": confidence,
                "all_probabilities": all_probabilities,
            },
            "customer_profile": {
                "total_spent": total_spent,
                "total_tracks_bought": total_tracks_bought,
                "genre_spending_ratio": genre_spending_ratio,
            },
        }
    except Exception as e:  # the original system's own error handling
        return {"status": "ERROR", "message": f"Prediction failed: {e!s}"}


def many_inputs(model: TrainedModel, n: int = 150) -> list[dict]:
    """Random valid requests, the spec's examples, and values exactly on the forest's splits."""
    rng = np.random.default_rng(14)
    requests = [
        {"total_spent": 45.5, "total_tracks_bought": 15, "genre_spending_ratio": 0.6},
        {"total_spent": 125.75, "total_tracks_bought": 42, "genre_spending_ratio": 0.4},
        {"total_spent": 89.99, "total_tracks_bought": 28, "genre_spending_ratio": 0.7},
        {"total_spent": 0.0, "total_tracks_bought": 0, "genre_spending_ratio": 0.0},
    ]
    for _ in range(n):
        requests.append(
            {
                "total_spent": float(rng.choice([rng.uniform(0, 80), rng.uniform(30, 55)])),
                "total_tracks_bought": int(rng.choice([38, rng.integers(0, 60)])),
                "genre_spending_ratio": float(rng.uniform(0, 1)),
            }
        )
    names = ("total_spent", "total_tracks_bought", "genre_spending_ratio")
    for tree in model.estimator.estimators_[:3]:
        split = tree.tree_.children_left != -1
        for feature, threshold in list(
            zip(tree.tree_.feature[split], tree.tree_.threshold[split], strict=True)
        )[:15]:
            request = dict(requests[len(requests) % n])
            if names[feature] == "total_tracks_bought":
                request[names[feature]] = int(np.floor(threshold))
            else:
                request[names[feature]] = min(max(float(threshold), 0.0), 1e6)
            if names[feature] == "genre_spending_ratio":
                request[names[feature]] = min(request[names[feature]], 1.0)
            requests.append(request)
    return requests


def test_original_code_reads_our_pickle_and_answers_as_our_api(
    predict_handler, local_model: TrainedModel
) -> None:
    assert os.environ["MODELO_GENERO_ENTRENADO"] == str(local_model.path)
    requests = many_inputs(local_model)
    assert len(requests) > 150
    genres_seen = set()
    for request in requests:
        theirs = original_predict_genre(request)
        assert theirs["status"] == "OK", theirs
        ours = invoke(predict_handler, make_event(request))
        assert ours.status == 200, ours.raw
        mine = ours.body["prediction"]
        assert mine["genre"] == theirs["prediction"]["genre"]
        assert mine["confidence"] == theirs["prediction"]["confidence"]  # bit for bit
        assert mine["all_probabilities"] == theirs["prediction"]["all_probabilities"]
        assert list(theirs["prediction"]["all_probabilities"]) == local_model.classes
        assert ours.body["customer_profile"] == theirs["customer_profile"]
        genres_seen.add(mine["genre"])
    assert len(genres_seen) >= 3  # the inputs reach different leaves, not one answer


def test_original_code_fails_on_a_pickle_without_label_encoders(
    monkeypatch: pytest.MonkeyPatch, tmp_path, local_model: TrainedModel
) -> None:
    """What it did before: the message the issue quotes (so the test above tests something)."""
    old = {k: v for k, v in local_model.pickle.items() if k != "label_encoders"}
    path = tmp_path / "old.pkl"
    joblib.dump(old, path)
    monkeypatch.setenv("MODELO_GENERO_ENTRENADO", str(path))
    answer = original_predict_genre({"total_spent": 45.5})
    assert answer == {"status": "ERROR", "message": "Prediction failed: 'label_encoders'"}


def _dump(value: object) -> bytes:
    buffer = io.BytesIO()
    joblib.dump(value, buffer)
    return buffer.getvalue()


def test_a_version_published_in_the_old_format_still_serves(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path,
    predict_handler,
    predict_sqlite,
    spec_model: TrainedModel,
) -> None:
    """Versions already in S3 or on disk (string classes, no label_encoders) keep answering."""
    ds = build_dataset(SQLiteSource(predict_sqlite).customer_summaries())
    forest = make_forest(ForestSettings(n_estimators=20)).fit(ds.X, ds.y)  # string classes
    files = {name: data for name, data in spec_model.files().items() if name != "manifest.json"}
    files[MODEL_FILE] = _dump(
        {
            "model": forest,
            "feature_columns": list(ds.feature_columns),
            "genre_classes": [str(c) for c in forest.classes_],
            "countries": [],
            "version": "20250101T000000Z-01d01d",
        }
    )
    files[PREDICTOR_FILE] = _dump(export_forest(forest, forest.classes_, ds.feature_columns))
    manifest = Manifest.from_json({**spec_model.manifest, "version": "20250101T000000Z-01d01d"})
    local = LocalModelPath(tmp_path / "modelo_genero_entrenado.pkl")
    local.registry.write_version(manifest, files)
    local.registry.promote("20250101T000000Z-01d01d")
    monkeypatch.setenv("MODELO_GENERO_ENTRENADO", str(local.path))

    for request in many_inputs(spec_model, n=40):
        answer = invoke(predict_handler, make_event(request))
        assert answer.status == 200, answer.raw
        assert answer.headers["x-model-version"] == "20250101T000000Z-01d01d"
        row = [[request[k] for k in ds.feature_columns]]
        expected = dict(zip(forest.classes_, forest.predict_proba(row)[0].tolist(), strict=True))
        assert answer.body["prediction"]["all_probabilities"] == expected
        assert answer.body["prediction"]["genre"] == forest.predict(row)[0]
