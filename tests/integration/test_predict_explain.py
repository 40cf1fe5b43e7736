"""``"explain": true`` through the Lambda handler; without it, the answer is unchanged."""

from __future__ import annotations

import pytest

from tests.helpers import SPEC_INPUT, assert_error, invoke, make_event


@pytest.mark.parametrize(
    "body",
    [SPEC_INPUT, {}, {"customer_id": 1}, {"total_spent": 3.4e38, "total_tracks_bought": 10**15}],
)
def test_explanation_adds_up_to_the_confidence(predict_handler, local_model, body):
    plain = invoke(predict_handler, make_event(body))
    explained = invoke(predict_handler, make_event({**body, "explain": True}))
    assert plain.status == explained.status == 200
    explanation = explained.body.pop("explanation")
    assert explained.body == plain.body  # the rest of the answer is exactly the plain one
    assert explanation["method"] == "shap-tree-path-dependent"
    assert explanation["genre"] == plain.body["prediction"]["genre"]
    assert list(explanation["contributions"]) == list(local_model.manifest["feature_columns"])
    total = explanation["base_value"] + sum(explanation["contributions"].values())
    assert abs(total - plain.body["prediction"]["confidence"]) <= 1e-12


def test_without_explain_the_answer_is_byte_identical(predict_handler, local_model):
    absent = invoke(predict_handler, make_event(SPEC_INPUT))
    false = invoke(predict_handler, make_event({**SPEC_INPUT, "explain": False}))
    assert absent.raw == false.raw
    assert list(absent.body) == ["status", "prediction", "customer_profile"]


def test_location_model_explains_the_country(predict_handler, location_model, monkeypatch):
    monkeypatch.setenv("MODELO_GENERO_ENTRENADO", str(location_model.path))
    answer = invoke(predict_handler, make_event({"country": "Brazil", "explain": True}))
    assert answer.status == 200, answer.raw
    assert "country_code" in answer.body["explanation"]["contributions"]


@pytest.mark.parametrize("value", ["1", "0", "null", '"true"', "[]", "{}"])
def test_explain_must_be_a_json_boolean(predict_handler, local_model, value):
    answer = invoke(predict_handler, make_event(raw=f'{{"explain": {value}}}'))
    assert_error(answer, 422, "explain")
