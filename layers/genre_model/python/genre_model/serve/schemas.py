"""The predict API's request and response models: the OpenAPI document's source of truth.

Only the document imports them (``serve.openapi``): requests are checked by ``serve.request``,
held to ``PredictRequest``'s errors by a property test. Strict on purpose: numbers must be
finite JSON numbers (no booleans, no numeric strings, no NaN/Infinity), ``total_tracks_bought``
a whole number, unknown fields are rejected so a typo never predicts silently on defaults, and
an explicit ``null`` is rejected (defaults apply only when a field is absent).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from genre_model.contract import (  # the limits a stored customer snapshot is checked against
    MAX_COUNTRY_LENGTH,
    MAX_CUSTOMER_ID,
    MAX_FEATURE_VALUE,
    MAX_RATIO,
    MAX_TRACKS,
    MIN_CUSTOMER_ID,
    clean_name,
)
from genre_model.serve.request import FEATURE_FIELDS

_STRICT = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)


class PredictRequest(BaseModel):
    """A customer profile, or a known ``customer_id`` whose stored profile is used."""

    model_config = ConfigDict(
        **_STRICT,
        json_schema_extra={
            "examples": [
                {"total_spent": 45.5, "total_tracks_bought": 15, "genre_spending_ratio": 0.6}
            ]
        },
    )

    total_spent: float = Field(
        0.0, ge=0, le=MAX_FEATURE_VALUE, description="Total amount spent by the customer"
    )
    total_tracks_bought: int = Field(
        0, ge=0, le=MAX_TRACKS, description="Total tracks purchased (a whole number)"
    )
    genre_spending_ratio: float = Field(
        0.0, ge=0, le=MAX_RATIO, description="Share of spending on the preferred genre (0.0-1.0)"
    )
    country: str = Field(
        None,  # type: ignore[assignment]  # absent -> None; an explicit null is rejected
        min_length=1,
        description="Customer's country; only for models trained with the location features",
        # At most this many characters once surrounding spaces and control characters are
        # removed (``_country_length``), as the service reads it.
        json_schema_extra={"maxLength": MAX_COUNTRY_LENGTH},
    )
    customer_id: int = Field(
        None,  # type: ignore[assignment]  # absent -> None; an explicit null is rejected
        ge=MIN_CUSTOMER_ID,
        le=MAX_CUSTOMER_ID,
        description="Predict for a known customer from the training snapshot, instead of features",
    )
    explain: bool = Field(
        False,
        description="Add the exact SHAP values (tree path-dependent) of the predicted genre",
    )

    @field_validator("country")
    @classmethod
    def _country_length(cls, value: str) -> str:
        if len(clean_name(value) or "") > MAX_COUNTRY_LENGTH:
            raise PydanticCustomError(
                "string_too_long",
                "String should have at most {max_length} characters",
                {"max_length": MAX_COUNTRY_LENGTH},
            )
        return value

    @model_validator(mode="after")
    def _customer_or_features(self) -> PredictRequest:
        if self.customer_id is not None:
            given = sorted(set(FEATURE_FIELDS) & self.model_fields_set)
            if given:
                raise PydanticCustomError(
                    "customer_id_exclusive",
                    "customer_id cannot be combined with {fields}",
                    {"fields": ", ".join(given)},
                )
        return self


class Prediction(BaseModel):
    genre: str
    confidence: float = Field(description="Probability of the predicted genre")
    all_probabilities: dict[str, float] = Field(
        description="Every genre the model knows, highest first"
    )


class CustomerProfile(BaseModel):
    total_spent: float
    total_tracks_bought: int
    genre_spending_ratio: float
    customer_id: int | None = None
    country: str | None = None
    country_encoding: Literal["known", "unknown"] | None = Field(
        None, description="Whether the country was seen in training or got the default encoding"
    )


class Explanation(BaseModel):
    method: Literal["shap-tree-path-dependent"]
    genre: str = Field(description="The predicted genre, whose probability is explained")
    base_value: float = Field(description="The forest's expected probability of that genre")
    contributions: dict[str, float] = Field(
        description="Per feature column; base_value + their sum == prediction.confidence"
    )


class PredictResponse(BaseModel):
    status: Literal["OK"] = "OK"
    prediction: Prediction
    customer_profile: CustomerProfile
    explanation: Explanation | None = Field(None, description='Only when "explain": true')


class ErrorDetail(BaseModel):
    field: str
    reason: str


class ErrorResponse(BaseModel):
    status: Literal["ERROR"] = "ERROR"
    message: str
    errors: list[ErrorDetail] = []


class BatchRequest(BaseModel):
    """For the OpenAPI document: each item is judged alone, exactly as the single endpoint does."""

    model_config = ConfigDict(extra="forbid")

    items: list[Any] = Field(
        min_length=1,
        description="Bodies of POST /api/predict-genre (PredictRequest), 1 to MAX_BATCH_ITEMS",
        json_schema_extra={
            "items": {
                "anyOf": [
                    {"$ref": "#/components/schemas/PredictRequest"},
                    {"description": "Any other JSON value: its result is the error body"},
                ]
            }
        },
    )


class BatchResponse(BaseModel):
    status: Literal["OK"] = "OK"
    results: list[PredictResponse | ErrorResponse] = Field(
        description="In item order, each the JSON object the single endpoint answers for it"
    )


class HealthResponse(BaseModel):
    status: Literal["OK"] = "OK"
    model_loaded: bool
    model_version: str | None = None
    reason: str | None = None  # why no model is loaded (no bucket, path or key named)


class ModelSummary(BaseModel):
    version: str
    created: str
    classes: list[str]
    feature_set: str
    feature_columns: list[str]
    rows: dict[str, int]
    metrics: dict[str, Any]
    headline: dict[str, Any] | None = Field(
        None, description="report.json's headline figures (model beside the baseline)"
    )
    headline_unavailable: str | None = Field(None, description="why there is no headline")
