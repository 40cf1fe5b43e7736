"""Turn a validated request into the spec's answer, using the cached model."""

from __future__ import annotations

import logging
import math
from typing import Any

from genre_model.contract import clean_name
from genre_model.serve.explain import ExplainUnavailable, explainer_for
from genre_model.serve.http import MODEL_UNUSABLE, ApiError
from genre_model.serve.model_cache import LoadedModel
from genre_model.serve.schemas import PredictRequest

logger = logging.getLogger(__name__)


def features(request: PredictRequest, model: LoadedModel) -> tuple[list[float], dict[str, Any]]:
    """Feature row in the model's column order, and the profile echoed back to the client."""
    if request.customer_id is not None:
        found = model.customers.lookup(request.customer_id)
        if found is None:
            raise ApiError(
                404,
                f"Customer {request.customer_id} not found in model {model.version}",
                [("customer_id", "unknown customer")],
            )
        values, country = found
        profile: dict[str, Any] = {
            "total_spent": float(values[0]),
            "total_tracks_bought": int(values[1]),
            "genre_spending_ratio": float(values[2]),
            "customer_id": request.customer_id,
        }
    else:
        country = clean_name(request.country)
        profile = {
            "total_spent": request.total_spent,
            "total_tracks_bought": request.total_tracks_bought,
            "genre_spending_ratio": request.genre_spending_ratio,
        }
    predictor = model.predictor
    row = [profile["total_spent"], profile["total_tracks_bought"], profile["genre_spending_ratio"]]
    if "country_code" in predictor.feature_columns:
        code = predictor.countries.get(country, 0) if country else 0
        if country and code == 0:
            logger.warning("Unknown country %r: using the default encoding", country)
        row.append(code)
        profile["country"] = country
        profile["country_encoding"] = "known" if code else "unknown"
    elif request.country is not None:
        raise ApiError(
            422,
            f"Model {model.version} was not trained with location features",
            [("country", "not used by this model; omit it")],
        )
    return row, profile


def predict(request: PredictRequest, model: LoadedModel) -> dict[str, Any]:
    """The spec's response: genre, its confidence, every genre's probability (highest first)."""
    row, profile = features(request, model)
    return respond(request, model, row, profile, model.predictor.predict_one(row).tolist())


def respond(
    request: PredictRequest,
    model: LoadedModel,
    row: list[float],
    profile: dict[str, Any],
    probabilities: list[float],
) -> dict[str, Any]:
    """The answer for a row whose probabilities are known (one by one, or a batch's)."""
    if not all(math.isfinite(p) for p in probabilities):  # JSON has no NaN: never send one
        logger.error("Model %s produced non-finite probabilities for %s", model.version, row)
        raise ApiError(503, MODEL_UNUSABLE, [("model", "the model produced an invalid answer")])
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
    """The SHAP explanation of ``genre`` for ``row``, or a 422 naming ``explain`` when the
    version cannot give one (published before covers were exported, or damaged)."""
    try:
        return explainer_for(model.predictor).explain(row, genre).as_json()
    except ExplainUnavailable as exc:
        logger.warning("Model %s cannot explain: %s", model.version, exc)
        raise ApiError(
            422,
            f"Model {model.version} cannot explain predictions",
            [("explain", f"{exc}; omit explain")],
        ) from None


def model_summary(model: LoadedModel) -> dict[str, Any]:
    m = model.manifest
    return {
        "version": m["version"],
        "created": m.get("created", ""),
        "classes": m.get("classes", []),
        "feature_set": m.get("feature_set", "spec"),
        "feature_columns": m.get("feature_columns", []),
        "rows": m.get("rows", {}),
        "metrics": m.get("metrics", {}),
    }
