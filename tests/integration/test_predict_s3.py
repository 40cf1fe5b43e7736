"""Predict against moto S3: one load per container, refresh, integrity, outages, health/model."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.helpers import (
    BUCKET,
    PREFIX,
    SPEC_INPUT,
    assert_error,
    assert_prediction,
    get_object_keys,
    invoke,
    load_event,
    make_event,
    publish,
    served_version,
    tampered,
)

ROW = [
    SPEC_INPUT["total_spent"],
    SPEC_INPUT["total_tracks_bought"],
    SPEC_INPUT["genre_spending_ratio"],
]
PREDICTOR = "predictor.joblib"


def predict(handler: Any) -> Any:
    return invoke(handler, load_event("predict-genre.json"))


# --------------------------------------------------------------------------- load once


def test_s3_model_answers_the_spec_with_sklearn_probabilities(predict_handler, s3, spec_model):
    publish(s3, spec_model)
    answer = predict(predict_handler)
    assert_prediction(answer, spec_model, ROW, SPEC_INPUT)
    assert served_version(answer) == spec_model.version


def test_many_requests_load_the_predictor_exactly_once(predict_handler, s3, spec_model):
    publish(s3, spec_model)
    keys = get_object_keys()
    answers = [predict(predict_handler) for _ in range(25)]
    assert {served_version(a) for a in answers} == {spec_model.version}
    assert len({json.dumps(a.body, sort_keys=True) for a in answers}) == 1
    version = f"{PREFIX}{spec_model.version}/"
    assert keys.count(f"{version}{PREDICTOR}") == 1
    assert keys == [
        f"{PREFIX}latest.json",
        f"{version}manifest.json",
        f"{version}{PREDICTOR}",
        f"{version}customers.joblib",  # part of the version: loaded and verified with it
    ]  # report.json is read by the first GET /api/model, not before the first answer


def test_refresh_checks_only_the_pointer_while_unchanged(
    predict_handler, s3, spec_model, monkeypatch
):
    monkeypatch.setenv("MODEL_REFRESH_SECONDS", "0")
    publish(s3, spec_model)
    keys = get_object_keys()
    for _ in range(5):
        assert served_version(predict(predict_handler)) == spec_model.version
    assert keys.count(f"{PREFIX}{spec_model.version}/{PREDICTOR}") == 1
    assert keys.count(f"{PREFIX}latest.json") == 5  # conditional GETs answered 304


def test_customer_snapshot_is_loaded_once_with_the_version(predict_handler, s3, spec_model):
    publish(s3, spec_model)
    keys = get_object_keys()
    predict(predict_handler)
    customers = f"{PREFIX}{spec_model.version}/customers.joblib"
    assert keys.count(customers) == 1  # with the predictor, before the first answer
    for customer in (1, 2, 3):
        answer = invoke(predict_handler, make_event({"customer_id": customer}))
        assert answer.status == 200, answer.raw
        assert answer.body["customer_profile"]["customer_id"] == customer
    assert keys.count(customers) == 1


# --------------------------------------------------------------------------- refresh


def test_new_version_is_picked_up_on_refresh(
    predict_handler, s3, spec_model, spec_model_v2, monkeypatch
):
    monkeypatch.setenv("MODEL_REFRESH_SECONDS", "0")
    publish(s3, spec_model)
    assert served_version(predict(predict_handler)) == spec_model.version
    publish(s3, spec_model_v2)
    answer = predict(predict_handler)
    assert served_version(answer) == spec_model_v2.version
    assert_prediction(answer, spec_model_v2, ROW, SPEC_INPUT)


def test_new_version_waits_for_the_refresh_interval(predict_handler, s3, spec_model, spec_model_v2):
    publish(s3, spec_model)  # default MODEL_REFRESH_SECONDS=300
    assert served_version(predict(predict_handler)) == spec_model.version
    publish(s3, spec_model_v2)
    assert served_version(predict(predict_handler)) == spec_model.version


def test_written_but_unpromoted_version_is_not_served(
    predict_handler, s3, spec_model, spec_model_v2, monkeypatch
):
    monkeypatch.setenv("MODEL_REFRESH_SECONDS", "0")
    publish(s3, spec_model)
    publish(s3, spec_model_v2, promote=False)
    assert served_version(predict(predict_handler)) == spec_model.version
    assert served_version(predict(predict_handler)) == spec_model.version


# --------------------------------------------------------------------------- integrity


def test_tampered_predictor_with_nothing_cached_is_503(
    predict_handler, s3, spec_model, genre_logs, capsys
):
    original = spec_model.files()[PREDICTOR]
    publish(s3, spec_model, replace={PREDICTOR: tampered(original)})
    body = assert_error(predict(predict_handler), 503, "model")
    assert body["message"] == "Genre model not found"
    assert "SHA-256 mismatch" in genre_logs.text
    assert "ModelIntegrityFailure" in capsys.readouterr().out  # the EMF metric was flushed
    health = invoke(predict_handler, load_event("health.json"))
    assert health.body["model_loaded"] is False
    assert "integrity check" in health.body["reason"]
    assert BUCKET not in health.raw  # an open probe names no bucket or key


def test_tampered_new_version_keeps_the_cached_one(
    predict_handler, s3, spec_model, spec_model_v2, monkeypatch, genre_logs
):
    monkeypatch.setenv("MODEL_REFRESH_SECONDS", "0")
    publish(s3, spec_model)
    assert served_version(predict(predict_handler)) == spec_model.version
    original = spec_model_v2.files()[PREDICTOR]
    publish(s3, spec_model_v2, replace={PREDICTOR: tampered(original)})
    answer = predict(predict_handler)
    assert served_version(answer) == spec_model.version
    assert_prediction(answer, spec_model, ROW, SPEC_INPUT)
    assert "SHA-256 mismatch" in genre_logs.text
    assert "serving cached version" in genre_logs.text


def test_tampering_the_cached_version_in_place_changes_nothing(
    predict_handler, s3, spec_model, monkeypatch
):
    monkeypatch.setenv("MODEL_REFRESH_SECONDS", "0")
    publish(s3, spec_model)
    before = predict(predict_handler)
    key = f"{PREFIX}{spec_model.version}/{PREDICTOR}"
    s3.put_object(Bucket=BUCKET, Key=key, Body=tampered(spec_model.files()[PREDICTOR]))
    after = predict(predict_handler)
    assert after.body == before.body
    assert served_version(after) == spec_model.version


def test_repaired_predictor_is_loaded_after_a_refused_cold_start(predict_handler, s3, spec_model):
    """A refused load must not be remembered as "pointer seen": fixing the file recovers.

    (``Location.load`` once stored the pointer ETag before the predictor was verified, so the
    next conditional GET answered 304 and the container stayed at 503.)
    """
    original = spec_model.files()[PREDICTOR]
    publish(s3, spec_model, replace={PREDICTOR: tampered(original)})
    assert_error(predict(predict_handler), 503, "model")
    s3.put_object(Bucket=BUCKET, Key=f"{PREFIX}{spec_model.version}/{PREDICTOR}", Body=original)
    answer = predict(predict_handler)
    assert served_version(answer) == spec_model.version


def test_transient_failure_while_loading_a_new_version_is_retried(
    predict_handler, s3, spec_model, spec_model_v2, monkeypatch
):
    """An outage reading predictor.joblib must not pin the old version for good.

    (Same past bug: the new pointer's ETag was remembered although the load failed.) A single
    blip is retried within the refresh (standard-mode retries), so the outage here lasts all
    S3_MAX_ATTEMPTS attempts of one refresh.
    """
    from botocore.exceptions import EndpointConnectionError

    monkeypatch.setenv("MODEL_REFRESH_SECONDS", "0")
    publish(s3, spec_model)
    assert served_version(predict(predict_handler)) == spec_model.version
    publish(s3, spec_model_v2)
    failures = []

    def blip(params: dict, **_: Any) -> None:
        if params["Key"].endswith(f"{spec_model_v2.version}/{PREDICTOR}") and len(failures) < 3:
            failures.append(params["Key"])
            raise EndpointConnectionError(endpoint_url="https://s3.amazonaws.com")

    from genre_model.serve import api

    client = api.model_cache()._location.store.client  # the client predict already holds
    client.meta.events.register("before-parameter-build.s3.GetObject", blip)
    assert served_version(predict(predict_handler)) == spec_model.version  # outage: keep v1
    assert len(failures) == 3  # every attempt of the refresh was made
    assert served_version(predict(predict_handler)) == spec_model_v2.version


# --------------------------------------------------------------------------- 503 and health


def test_nothing_published_is_503(predict_handler, s3):
    body = assert_error(predict(predict_handler), 503, "model")
    assert body["message"] == "Genre model not found"
    info = invoke(predict_handler, load_event("model-info.json"))
    assert_error(info, 503, "model")
    health = invoke(predict_handler, load_event("health.json"))
    assert health.status == 200
    assert health.body == {
        "status": "OK",
        "model_loaded": False,
        "model_version": None,
        "reason": "nothing published yet: train a model first",
    }


def test_published_after_a_503_is_served_on_the_next_request(predict_handler, s3, spec_model):
    assert_error(predict(predict_handler), 503, "model")
    publish(s3, spec_model)
    assert_prediction(predict(predict_handler), spec_model, ROW, SPEC_INPUT)


def test_health_and_model_info(predict_handler, s3, spec_model):
    publish(s3, spec_model)
    health = invoke(predict_handler, load_event("health.json"))
    assert health.status == 200
    assert health.body == {
        "status": "OK",
        "model_loaded": True,
        "model_version": spec_model.version,
        "reason": None,
    }
    info = invoke(predict_handler, load_event("model-info.json"))
    assert info.status == 200, info.raw
    assert info.body["version"] == spec_model.version
    assert info.body["classes"] == spec_model.classes
    assert info.body["feature_set"] == "spec"
    assert info.body["feature_columns"] == [
        "total_spent",
        "total_tracks_bought",
        "genre_spending_ratio",
    ]
    holdout = info.body["metrics"]["holdout"]
    assert 0 < holdout["baseline_accuracy"] < holdout["model_accuracy"] <= 1
    assert holdout["baseline_genre"] in spec_model.classes
    assert info.body["metrics"] == spec_model.manifest["metrics"]
    assert info.body["rows"]["labelled"] == spec_model.manifest["rows"]["labelled"]


def test_model_prefix_is_honoured(predict_handler, s3, spec_model, monkeypatch):
    monkeypatch.setenv("MODEL_PREFIX", "elsewhere/genre")
    publish(s3, spec_model)  # under the default prefix: not where predict looks
    assert_error(predict(predict_handler), 503, "model")
    publish(s3, spec_model, prefix="elsewhere/genre/")
    assert served_version(predict(predict_handler)) == spec_model.version


@pytest.mark.parametrize("kind", ["prefix", "version"])
def test_s3_model_path(predict_handler, s3, spec_model, monkeypatch, kind):
    publish(s3, spec_model, prefix="custom/")
    path = f"s3://{BUCKET}/custom/" + (f"{spec_model.version}/" if kind == "version" else "")
    monkeypatch.delenv("MODEL_BUCKET")
    monkeypatch.setenv("MODELO_GENERO_ENTRENADO", path)
    assert_prediction(predict(predict_handler), spec_model, ROW, SPEC_INPUT)


# --------------------------------------------------------------------------- real endpoint outages


def test_s3_unreachable_at_cold_start_is_503_then_recovers(predict_handler, endpoint, spec_model):
    body = assert_error(predict(predict_handler), 503, "model")
    assert body["message"] == "Genre model not found"
    client = endpoint["start"]()
    publish(client, spec_model)
    assert_prediction(predict(predict_handler), spec_model, ROW, SPEC_INPUT)


def test_s3_unreachable_after_load_keeps_serving(
    predict_handler, endpoint, spec_model, monkeypatch, genre_logs
):
    monkeypatch.setenv("MODEL_REFRESH_SECONDS", "0")
    publish(endpoint["start"](), spec_model)
    first = predict(predict_handler)
    assert_prediction(first, spec_model, ROW, SPEC_INPUT)
    endpoint["stop"]()
    for _ in range(3):
        answer = predict(predict_handler)
        assert answer.body == first.body
        assert served_version(answer) == spec_model.version
    assert "Model refresh failed; serving cached version" in genre_logs.text
    health = invoke(predict_handler, load_event("health.json"))
    assert health.body["model_loaded"] is True
