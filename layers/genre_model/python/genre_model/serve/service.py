"""Turn a validated request into the spec's answer, using the cached model.

What this model cannot answer is raised as a ``Refused`` naming the field and the reason;
``errors.reply`` decides what a client sees (status and body), nothing here knows HTTP.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from genre_model.contract import (
    COUNTRY_FEATURE,
    FEATURE_LIMITS,
    SPEC_FEATURES,
    UNKNOWN_COUNTRY_CODE,
    clean_name,
    country_code,
)
from genre_model.serve import drift
from genre_model.serve.explain import ExplainUnavailable, explainer_for

if TYPE_CHECKING:
    from genre_model.serve.model_cache import LoadedModel

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class PredictBody:
    """What the service answers: a body checked by ``request.predict_body`` (the fields and
    defaults of ``schemas.PredictRequest``)."""

    total_spent: float = 0.0
    total_tracks_bought: int = 0
    genre_spending_ratio: float = 0.0
    country: str | None = None
    customer_id: int | None = None
    explain: bool = False


class Refused(Exception):
    """The request is valid but this model cannot answer it: ``field`` and ``reason`` say why."""

    def __init__(self, message: str, field: str, reason: str) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.reason = reason


class UnknownCustomer(Refused):
    """``customer_id`` is not in the served version's customer snapshot."""


class NotSupported(Refused):
    """The request asks for what this version cannot give (location features, explanations)."""


class ModelUnusable(Refused):
    """The version produced an answer that must not be sent (a non-finite probability)."""


def features(request: PredictBody, model: LoadedModel) -> tuple[list[float], dict[str, Any]]:
    """Feature row in the model's column order, and the profile echoed back to the client."""
    customer_id: int | None = request.customer_id  # typed int in schemas; None when absent
    country: str | None
    if customer_id is not None:
        found = model.customers.lookup(customer_id)
        if found is None:
            raise UnknownCustomer(
                f"Customer {customer_id} not found in model {model.version}",
                "customer_id",
                "unknown customer",
            )
        values, country = found  # the snapshot's columns are SPEC_FEATURES (validated)
        profile: dict[str, Any] = {
            column: int(v) if FEATURE_LIMITS[column][1] else float(v)  # whole numbers as ints
            for column, v in zip(SPEC_FEATURES, values.tolist(), strict=True)
        }
        profile["customer_id"] = customer_id
    else:
        country = clean_name(request.country)
        profile = {column: getattr(request, column) for column in SPEC_FEATURES}
    predictor = model.predictor
    encoded: dict[str, float] = {column: profile[column] for column in SPEC_FEATURES}
    if COUNTRY_FEATURE in predictor.feature_columns:
        code = country_code(predictor.countries, country)
        if country and code == UNKNOWN_COUNTRY_CODE:
            logger.warning("Unknown country %r: using the default encoding", country)
        encoded[COUNTRY_FEATURE] = code
        profile["country"] = country
        profile["country_encoding"] = "unknown" if code == UNKNOWN_COUNTRY_CODE else "known"
    elif request.country is not None:
        raise NotSupported(
            f"Model {model.version} was not trained with location features",
            "country",
            "not used by this model; omit it",
        )
    row = [encoded[column] for column in predictor.feature_columns]
    drift.observe(model, row)
    return row, profile


def predict(request: PredictBody, model: LoadedModel) -> dict[str, Any]:
    """The spec's response: genre, its confidence, every genre's probability (highest first)."""
    row, profile = features(request, model)
    return respond(request, model, row, profile, model.predictor.predict_one(row).tolist())


def respond(
    request: PredictBody,
    model: LoadedModel,
    row: list[float],
    profile: dict[str, Any],
    probabilities: list[float],
) -> dict[str, Any]:
    """The answer for a row whose probabilities are known (one by one, or a batch's)."""
    if not all(math.isfinite(p) for p in probabilities):  # JSON has no NaN: never send one
        logger.error("Model %s produced non-finite probabilities for %s", model.version, row)
        raise ModelUnusable(
            f"Model {model.version} produced non-finite probabilities",
            "model",
            "the model produced an invalid answer",
        )
    ranked = sorted(zip(model.predictor.classes, probabilities, strict=True), key=lambda kv: -kv[1])
    answer = {
        "status": "OK",
        "prediction": {
            "genre": ranked[0][0],
            "confidence": ranked[0][1],
            "all_probabilities": dict(ranked),
        },
        "customer_profile": profile,
    }
    if request.explain:
        answer["explanation"] = explain(model, row, ranked[0][0])
    return answer


def explain(model: LoadedModel, row: list[float], genre: str) -> dict[str, Any]:
    """The SHAP explanation of ``genre`` for ``row``; ``NotSupported`` naming ``explain`` when
    the version cannot give one (published before covers were exported, or damaged)."""
    try:
        return explainer_for(model.predictor).explain(row, genre).as_json()
    except ExplainUnavailable as exc:
        logger.warning("Model %s cannot explain: %s", model.version, exc)
        raise NotSupported(
            f"Model {model.version} cannot explain predictions", "explain", f"{exc}; omit explain"
        ) from None


def model_summary(model: LoadedModel) -> dict[str, Any]:
    """``GET /api/model`` (``schemas.ModelSummary``): what the manifest says of the version."""
    m, headline = model.manifest, model.headline
    return {
        "version": m.version,
        "created": m.created,
        "classes": list(m.classes),
        "feature_set": m.feature_set,
        "feature_columns": list(m.feature_columns),
        "rows": m.rows,
        "metrics": m.metrics,
        "headline": None if isinstance(headline, str) else headline.to_json(),
        "headline_unavailable": headline if isinstance(headline, str) else None,
    }
