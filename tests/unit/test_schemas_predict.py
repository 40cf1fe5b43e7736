"""PredictRequest: strict JSON numbers, spec defaults, unknown fields and nulls refused."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from genre_model.serve.schemas import PredictRequest, PredictResponse


def parse(raw: str) -> PredictRequest:
    return PredictRequest.model_validate_json(raw)


def test_defaults_are_the_spec_ones():
    request = parse("{}")
    assert (request.total_spent, request.total_tracks_bought, request.genre_spending_ratio) == (
        0.0,
        0,
        0.0,
    )
    assert request.country is None
    assert request.customer_id is None
    assert request.model_fields_set == set()


def test_spec_request_parses():
    request = parse(
        '{"total_spent": 45.50, "total_tracks_bought": 15, "genre_spending_ratio": 0.6}'
    )
    assert request.total_spent == 45.5
    assert request.total_tracks_bought == 15
    assert isinstance(request.total_tracks_bought, int)
    assert request.genre_spending_ratio == 0.6


def test_integer_total_spent_is_a_float():
    request = parse('{"total_spent": 45}')
    assert request.total_spent == 45.0
    assert isinstance(request.total_spent, float)


@pytest.mark.parametrize(
    ("raw", "field", "kind"),
    [
        ('{"total_spent": -1}', "total_spent", "greater_than_equal"),
        ('{"genre_spending_ratio": 1.5}', "genre_spending_ratio", "less_than_equal"),
        ('{"total_tracks_bought": 1.5}', "total_tracks_bought", "int_type"),
        ('{"total_spent": true}', "total_spent", "float_type"),
        ('{"total_spent": "1"}', "total_spent", "float_type"),
        ('{"total_spent": NaN}', "total_spent", "finite_number"),
        ('{"total_spent": null}', "total_spent", "float_type"),
        ('{"country": null}', "country", "string_type"),
        ('{"country": ""}', "country", "string_too_short"),
        ('{"total_spend": 1}', "total_spend", "extra_forbidden"),
        ('{"customer_id": -3}', "customer_id", "greater_than_equal"),
    ],
)
def test_invalid_values_are_refused(raw, field, kind):
    with pytest.raises(ValidationError) as info:
        parse(raw)
    errors = info.value.errors()
    assert [(e["loc"], e["type"]) for e in errors] == [((field,), kind)]


@pytest.mark.parametrize("other", ["total_spent", "total_tracks_bought", "country"])
def test_customer_id_excludes_features(other):
    value = '"USA"' if other == "country" else "1"
    with pytest.raises(ValidationError) as info:
        parse(f'{{"customer_id": 5, "{other}": {value}}}')
    (error,) = info.value.errors()
    assert error["type"] == "customer_id_exclusive"
    assert other in error["msg"]


def test_customer_id_alone_is_valid():
    assert parse('{"customer_id": 5}').customer_id == 5


def test_response_model_accepts_the_spec_example():
    example = {
        "status": "OK",
        "prediction": {
            "genre": "Rock",
            "confidence": 0.85,
            "all_probabilities": {"Rock": 0.85, "Pop": 0.10, "Jazz": 0.03, "Classical": 0.02},
        },
        "customer_profile": {
            "total_spent": 45.50,
            "total_tracks_bought": 15,
            "genre_spending_ratio": 0.6,
        },
    }
    parsed = PredictResponse.model_validate(example)
    assert parsed.model_dump(exclude_none=True) == example
