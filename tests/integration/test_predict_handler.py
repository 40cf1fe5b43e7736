"""The predict Lambda with SAM-generated events: the spec's 200 and every error status."""

from __future__ import annotations

import base64
import json

import pytest

from tests.helpers import (
    SPEC_INPUT,
    assert_error,
    assert_prediction,
    invoke,
    load_event,
    make_event,
)


def row(profile: dict) -> list[float]:
    return [profile["total_spent"], profile["total_tracks_bought"], profile["genre_spending_ratio"]]


# --------------------------------------------------------------------------- 200


def test_committed_event_answers_the_spec_shape(predict_handler, local_model):
    event = load_event("predict-genre.json")
    assert json.loads(base64.b64decode(event["body"])) == SPEC_INPUT  # the event is the spec's
    answer = invoke(predict_handler, event)
    assert_prediction(answer, local_model, row(SPEC_INPUT), SPEC_INPUT)
    assert answer.headers["x-model-version"] == local_model.version
    assert answer.headers["content-type"].startswith("application/json")


@pytest.mark.parametrize(
    "payload",
    [
        {"total_spent": 125.75, "total_tracks_bought": 42, "genre_spending_ratio": 0.4},
        {"total_spent": 89.99, "total_tracks_bought": 28, "genre_spending_ratio": 0.7},
        {"total_spent": 0, "total_tracks_bought": 0, "genre_spending_ratio": 1},
        {"total_spent": 3.4e38, "total_tracks_bought": 10**15, "genre_spending_ratio": 0.0},
        {"total_spent": 1.98, "total_tracks_bought": 2, "genre_spending_ratio": 0.5},
    ],
)
def test_probabilities_equal_sklearn_exactly(predict_handler, local_model, payload):
    answer = invoke(predict_handler, make_event(payload))
    expected_profile = {
        "total_spent": float(payload["total_spent"]),
        "total_tracks_bought": payload["total_tracks_bought"],
        "genre_spending_ratio": float(payload["genre_spending_ratio"]),
    }
    assert_prediction(answer, local_model, row(expected_profile), expected_profile)


def test_plain_text_body_is_accepted_like_base64(predict_handler, local_model):
    answer = invoke(predict_handler, make_event(SPEC_INPUT, base64_body=False))
    assert_prediction(answer, local_model, row(SPEC_INPUT), SPEC_INPUT)


@pytest.mark.parametrize(
    ("payload", "profile"),
    [
        ({}, {"total_spent": 0.0, "total_tracks_bought": 0, "genre_spending_ratio": 0.0}),
        (
            {"total_tracks_bought": 7},
            {"total_spent": 0.0, "total_tracks_bought": 7, "genre_spending_ratio": 0.0},
        ),
        (
            {"genre_spending_ratio": 0.25},
            {"total_spent": 0.0, "total_tracks_bought": 0, "genre_spending_ratio": 0.25},
        ),
    ],
)
def test_absent_fields_take_the_spec_defaults(predict_handler, local_model, payload, profile):
    answer = invoke(predict_handler, make_event(payload))
    body = assert_prediction(answer, local_model, row(profile), profile)
    assert isinstance(body["customer_profile"]["total_tracks_bought"], int)


def test_sam_generated_empty_object_event(predict_handler, local_model):
    profile = {"total_spent": 0.0, "total_tracks_bought": 0, "genre_spending_ratio": 0.0}
    answer = invoke(predict_handler, load_event("predict-genre-empty-object.json"))
    assert_prediction(answer, local_model, [0.0, 0, 0.0], profile)


@pytest.mark.parametrize("content_type", ["application/json", "application/json; charset=utf-8"])
def test_json_content_types_are_accepted(predict_handler, local_model, content_type):
    event = make_event(SPEC_INPUT, headers={"Content-Type": content_type})
    assert invoke(predict_handler, event).status == 200


# --------------------------------------------------------------------------- 400


@pytest.mark.parametrize(
    "raw",
    [
        "not json",
        "[1, 2, 3]",
        "null",
        "",
        "   \n\t ",
        '"a string"',
        "42",
        '{"total_spent": 1',
    ],
    ids=["text", "array", "null", "empty", "whitespace", "string", "number", "truncated"],
)
@pytest.mark.parametrize("encoded", [True, False], ids=["base64", "plain"])
def test_bodies_that_are_not_a_json_object_are_400(predict_handler, local_model, raw, encoded):
    answer = invoke(predict_handler, make_event(raw=raw, base64_body=encoded))
    assert_error(answer, 400, "body")


def test_missing_body_is_400(predict_handler, local_model):
    event = make_event()
    event["body"], event["isBase64Encoded"] = None, False
    assert_error(invoke(predict_handler, event), 400, "body")


def test_duplicate_keys_are_400_naming_the_key(predict_handler, local_model):
    raw = '{"total_spent": 1.0, "total_spent": 2.0}'
    body = assert_error(invoke(predict_handler, make_event(raw=raw)), 400, "total_spent")
    assert "duplicate" in body["message"].lower()


@pytest.mark.parametrize(
    ("opener", "closer"), [("[", "]"), ('{"a":', "}")], ids=["array", "object"]
)
def test_too_deep_nesting_is_400(predict_handler, local_model, opener, closer):
    depth = 15 * 1024 // (len(opener) + len(closer))  # far deeper than any recursion limit
    raw = opener * depth + "1" + closer * depth
    assert len(raw.encode()) <= 16 * 1024  # refused for its depth, not its size
    body = assert_error(invoke(predict_handler, make_event(raw=raw)), 400, "body")
    assert "deep" in body["message"]


def test_invalid_base64_is_400(predict_handler, local_model):
    event = make_event()
    event["body"] = "!!!not base64!!!"
    assert_error(invoke(predict_handler, event), 400, "body")


def test_invalid_utf8_in_base64_body_is_400(predict_handler, local_model):
    answer = invoke(predict_handler, make_event(raw=b'{"total_spent": "\xff\xfe"}'))
    body = assert_error(answer, 400, "body")
    assert "UTF-8" in body["message"]


# --------------------------------------------------------------------------- 413 / 415


@pytest.mark.parametrize("encoded", [True, False], ids=["base64", "plain"])
def test_body_over_16_kib_is_413(predict_handler, local_model, encoded):
    raw = json.dumps({"total_spent": 1.0, "pad": "x" * 16 * 1024})
    assert len(raw.encode()) > 16 * 1024
    assert_error(invoke(predict_handler, make_event(raw=raw, base64_body=encoded)), 413, "body")


def test_body_of_exactly_16_kib_is_not_413(predict_handler, local_model):
    prefix = '{"total_spent": 1.0}'
    raw = prefix + " " * (16 * 1024 - len(prefix))
    assert len(raw.encode()) == 16 * 1024
    assert invoke(predict_handler, make_event(raw=raw)).status == 200


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data"]
)
def test_non_json_content_type_is_415(predict_handler, local_model, content_type):
    event = make_event(SPEC_INPUT, headers={"Content-Type": content_type})
    body = assert_error(invoke(predict_handler, event), 415, "Content-Type")
    assert body["errors"][0]["reason"] == content_type


def test_no_content_type_is_fine(predict_handler, local_model):
    event = make_event(SPEC_INPUT)
    assert not any(k.lower() == "content-type" for k in event["headers"])
    assert invoke(predict_handler, event).status == 200


# --------------------------------------------------------------------------- 422


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ('{"total_spent": -1}', "total_spent"),
        ('{"total_spent": -0.01, "total_tracks_bought": 3}', "total_spent"),
        ('{"genre_spending_ratio": 1.01}', "genre_spending_ratio"),
        ('{"genre_spending_ratio": -0.5}', "genre_spending_ratio"),
        ('{"total_tracks_bought": 1.5}', "total_tracks_bought"),
        ('{"total_tracks_bought": -1}', "total_tracks_bought"),
        ('{"total_spent": true}', "total_spent"),
        ('{"total_tracks_bought": false}', "total_tracks_bought"),
        ('{"total_spent": "45.5"}', "total_spent"),
        ('{"total_tracks_bought": "15"}', "total_tracks_bought"),
        ('{"total_spent": NaN}', "total_spent"),
        ('{"genre_spending_ratio": NaN}', "genre_spending_ratio"),
        ('{"total_spent": Infinity}', "total_spent"),
        ('{"total_spent": -Infinity}', "total_spent"),
        ('{"total_spent": 1e999}', "total_spent"),
        ('{"total_spent": 1e39}', "total_spent"),
        ('{"total_spent": null}', "total_spent"),
        ('{"total_tracks_bought": null}', "total_tracks_bought"),
        ('{"genre_spending_ratio": null}', "genre_spending_ratio"),
        ('{"customer_id": null}', "customer_id"),
        ('{"country": null}', "country"),
        ('{"total_spend": 45.5}', "total_spend"),
        ('{"customer_id": 1, "total_spent": 45.5}', "customer_id"),
        ('{"customer_id": 0}', "customer_id"),
        ('{"customer_id": "1"}', "customer_id"),
        ('{"total_spent": [1]}', "total_spent"),
        ('{"total_spent": {"value": 1}}', "total_spent"),
    ],
)
def test_invalid_fields_are_422_naming_the_field(predict_handler, local_model, raw, field):
    body = assert_error(invoke(predict_handler, make_event(raw=raw)), 422, field)
    assert body["message"] == "Invalid request"


def test_unknown_field_says_so(predict_handler, local_model):
    answer = invoke(predict_handler, make_event({"total_spend": 45.5}))
    body = assert_error(answer, 422, "total_spend")
    assert body["errors"] == [{"field": "total_spend", "reason": "unknown field"}]


def test_every_invalid_field_is_reported(predict_handler, local_model):
    raw = '{"total_spent": -1, "genre_spending_ratio": 2, "total_tracks_bought": 1.5}'
    body = assert_error(invoke(predict_handler, make_event(raw=raw)), 422)
    fields = {e["field"] for e in body["errors"]}
    assert fields == {"total_spent", "genre_spending_ratio", "total_tracks_bought"}


def test_country_on_a_spec_model_is_422(predict_handler, local_model):
    answer = invoke(predict_handler, make_event({**SPEC_INPUT, "country": "USA"}))
    assert_error(answer, 422, "country")


# --------------------------------------------------------------------------- 404 / 405


@pytest.mark.parametrize("path", ["/api/unknown", "/", "/api/predict-genre/extra", "/api/predict"])
def test_unknown_route_is_404(predict_handler, local_model, path):
    answer = invoke(predict_handler, make_event(SPEC_INPUT, path=path))
    assert_error(answer, 404, "path")


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "PATCH"])
def test_wrong_method_on_predict_is_405(predict_handler, local_model, method):
    answer = invoke(predict_handler, make_event(SPEC_INPUT, method=method))
    body = assert_error(answer, 405, "method")
    assert "POST" in body["message"]
    assert answer.headers.get("allow") == "POST"  # RFC 9110: a 405 lists what is allowed


def test_sam_generated_get_event_is_405(predict_handler, local_model):
    answer = invoke(predict_handler, load_event("predict-genre-get.json"))
    assert_error(answer, 405, "method")


def test_post_on_health_is_405(predict_handler, local_model):
    answer = invoke(predict_handler, make_event({}, path="/api/health"))
    body = assert_error(answer, 405, "method")
    assert "GET" in body["message"]


# --------------------------------------------------------------------------- customer_id


def test_known_customer_id_answers_with_the_snapshot_profile(predict_handler, local_model):
    import joblib
    import numpy as np

    snapshot = joblib.load(local_model.path.with_name("modelo_genero_entrenado.customers.joblib"))
    from genre_model.contract import unpack_arrays

    arrays = unpack_arrays(snapshot["arrays"])
    ids, features = arrays["customer_id"], arrays["features"]
    for index in (0, len(ids) // 2, len(ids) - 1):
        customer = int(ids[index])
        values = features[index]
        profile = {
            "total_spent": float(values[0]),
            "total_tracks_bought": int(values[1]),
            "genre_spending_ratio": float(values[2]),
            "customer_id": customer,
        }
        answer = invoke(predict_handler, make_event({"customer_id": customer}))
        assert_prediction(answer, local_model, [float(v) for v in values], profile)
        assert np.isfinite(values).all()


def test_sam_generated_customer_event(predict_handler, local_model):
    answer = invoke(predict_handler, load_event("predict-genre-customer.json"))
    assert answer.status == 200, answer.raw
    assert answer.body["customer_profile"]["customer_id"] == 1


@pytest.mark.parametrize("customer", [10**9, 2**63 - 1, 401])
def test_unknown_customer_id_is_404(predict_handler, local_model, customer):
    answer = invoke(predict_handler, make_event({"customer_id": customer}))
    assert_error(answer, 404, "customer_id")


# --------------------------------------------------------------------------- location model


@pytest.fixture
def served_location(monkeypatch, location_model):
    monkeypatch.setenv("MODELO_GENERO_ENTRENADO", str(location_model.path))
    return location_model


def test_location_model_known_country(predict_handler, served_location, genre_logs):
    countries = served_location.pickle["countries"]
    assert "Brazil" in countries
    code = countries.index("Brazil") + 1
    answer = invoke(predict_handler, make_event({**SPEC_INPUT, "country": "Brazil"}))
    profile = {**SPEC_INPUT, "country": "Brazil", "country_encoding": "known"}
    assert_prediction(answer, served_location, [*row(SPEC_INPUT), code], profile)
    assert "Unknown country" not in genre_logs.text


@pytest.mark.parametrize("sent", [" Brazil", "Brazil  ", "\tBrazil\n", "Bra\x00zil"])
def test_country_is_normalised_as_training_normalised_it(predict_handler, served_location, sent):
    """Training strips spaces and control characters from names (contract.clean_name); a
    request's country goes through the same rule, so ' Brazil' is the Brazil it saw."""
    code = served_location.pickle["countries"].index("Brazil") + 1
    answer = invoke(predict_handler, make_event({**SPEC_INPUT, "country": sent}))
    profile = {**SPEC_INPUT, "country": "Brazil", "country_encoding": "known"}
    assert_prediction(answer, served_location, [*row(SPEC_INPUT), code], profile)


def test_location_model_unknown_country_warns_and_uses_code_0(
    predict_handler, served_location, genre_logs
):
    answer = invoke(predict_handler, make_event({**SPEC_INPUT, "country": "Atlantis"}))
    profile = {**SPEC_INPUT, "country": "Atlantis", "country_encoding": "unknown"}
    assert_prediction(answer, served_location, [*row(SPEC_INPUT), 0], profile)
    warnings = [r for r in genre_logs.records if "Unknown country" in r.getMessage()]
    assert warnings
    assert warnings[0].levelname == "WARNING"
    assert "Atlantis" in warnings[0].getMessage()


def test_location_model_without_country_uses_code_0(predict_handler, served_location):
    answer = invoke(predict_handler, make_event(SPEC_INPUT))
    profile = {**SPEC_INPUT, "country": None, "country_encoding": "unknown"}
    assert_prediction(answer, served_location, [*row(SPEC_INPUT), 0], profile)


def test_location_model_by_customer_id_uses_the_stored_country(predict_handler, served_location):
    answer = invoke(predict_handler, make_event({"customer_id": 1}))
    assert answer.status == 200, answer.raw
    profile = answer.body["customer_profile"]
    countries = served_location.pickle["countries"]
    assert profile["country"] in countries
    assert profile["country_encoding"] == "known"
    code = countries.index(profile["country"]) + 1
    expected = {k: profile[k] for k in profile}
    assert_prediction(answer, served_location, [*row(profile), code], expected)


# --------------------------------------------------------------------------- 503


def test_nothing_configured_is_503(predict_handler):
    body = assert_error(invoke(predict_handler, make_event(SPEC_INPUT)), 503, "model")
    assert body["message"] == "Genre model not found"


def test_missing_local_model_is_503(predict_handler, monkeypatch, tmp_path):
    monkeypatch.setenv("MODELO_GENERO_ENTRENADO", str(tmp_path / "absent.pkl"))
    body = assert_error(invoke(predict_handler, make_event(SPEC_INPUT)), 503, "model")
    assert body["message"] == "Genre model not found"


def test_validation_happens_before_the_model_is_needed(predict_handler):
    answer = invoke(predict_handler, make_event({"total_spent": -1}))
    assert_error(answer, 422, "total_spent")
