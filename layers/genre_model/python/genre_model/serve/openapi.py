"""The OpenAPI document (docs/openapi.json, ``make openapi``), derived from the route functions.

Powertools' resolver and pydantic are imported here only: no request imports this module. The
route functions of ``api`` are registered with the resolver as they are, each under the
signature the document shows (``schemas``' models for its body and answer: the runtime checks
the same rules by hand, ``serve.request``), so the document describes the code that answers.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse

from genre_model.serve import api
from genre_model.serve.errors import MODEL_NOT_FOUND
from genre_model.serve.http import BATCH_PATH, PREDICT_PATH
from genre_model.serve.schemas import (
    BatchRequest,
    BatchResponse,
    ErrorResponse,
    HealthResponse,
    ModelSummary,
    PredictRequest,
    PredictResponse,
)


def _doc(model: type, description: str) -> OpenAPIResponse:
    return {"description": description, "content": {"application/json": {"model": model}}}


def documented(route: Callable[..., Any], returns: Any, **body: type) -> Callable[..., Any]:
    """``route`` as the resolver reads it: the same function, its body parameter typed with the
    schema model the document shows and its answer with ``returns``."""

    @functools.wraps(route)
    def as_documented(*args: Any, **kwargs: Any) -> Any:
        return route(*args, **kwargs)

    parameters = [
        inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=model)
        for name, model in body.items()
    ]
    as_documented.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        parameters, return_annotation=returns
    )
    return as_documented


def resolver() -> APIGatewayRestResolver:
    """The resolver with every route registered, as the document describes them."""
    app = APIGatewayRestResolver(enable_validation=True)
    app.post(
        PREDICT_PATH,
        summary="Predict a customer's favourite genre",
        responses={
            200: _doc(PredictResponse, "Prediction"),
            400: _doc(ErrorResponse, "Body is not a JSON object"),
            404: _doc(ErrorResponse, "Unknown customer_id"),
            413: _doc(ErrorResponse, "Body over 16 KiB"),
            415: _doc(ErrorResponse, "Content-Type is not JSON"),
            422: _doc(ErrorResponse, "Invalid field"),
            503: _doc(ErrorResponse, MODEL_NOT_FOUND),
        },
    )(documented(api.predict_genre, Any, request=PredictRequest))
    app.post(
        BATCH_PATH,
        summary="Predict for many customers with one model (each item answered as if alone)",
        description=(
            "Each item is a body of POST /api/predict-genre; each result is byte for byte the "
            "JSON object that endpoint answers for it (200 body or error body)."
        ),
        responses={
            200: _doc(BatchResponse, "One result per item, in item order"),
            400: _doc(ErrorResponse, "Body is not a JSON object"),
            413: _doc(
                ErrorResponse, "Body over 1 MiB, or the answer over the Lambda response limit"
            ),
            415: _doc(ErrorResponse, "Content-Type is not JSON"),
            422: _doc(ErrorResponse, "No items list, or too few or too many items"),
            503: _doc(ErrorResponse, MODEL_NOT_FOUND),
        },
    )(documented(api.predict_genre_batch, Any, request=BatchRequest))
    app.get("/api/health", summary="Whether a model is loaded, and which")(
        documented(api.health, HealthResponse)
    )
    app.get(
        "/api/model",
        summary="The published model: version, classes, features, metrics with the baseline",
        responses={
            200: _doc(ModelSummary, "Model summary"),
            503: _doc(ErrorResponse, MODEL_NOT_FOUND),
        },
    )(documented(api.model_info, dict[str, Any]))
    return app


def openapi_document() -> str:
    """The OpenAPI document of this API (committed as docs/openapi.json, checked by a test)."""
    return resolver().get_openapi_json_schema(
        title="Genre prediction API",
        version="1.0.0",
        summary="Predict a Chinook customer's favourite music genre",
    )
