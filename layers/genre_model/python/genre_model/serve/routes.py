"""The Powertools resolver: the route functions of ``api`` registered once, with their document.

It answers GET /api/health, GET /api/model, every 404/405, and gives the OpenAPI document. The
two POST routes are registered here too, as the very functions ``handler`` calls before routing
(so the document describes the code that answers), but the resolver never reaches them:
``handler`` sends every POST to those routes, trailing slashes included, to them first.
Imported by the first request that is not one of those POSTs, and by ``openapi_document``.
"""

from __future__ import annotations

import logging
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse

from genre_model.serve import api
from genre_model.serve.http import (
    BATCH_PATH,
    MODEL_NOT_FOUND,
    PREDICT_PATH,
    ROUTES,
    ApiError,
    Problems,
    error_body,
    strict_json,
    validation_failure,
)
from genre_model.serve.schemas import BatchResponse, ErrorResponse, ModelSummary, PredictResponse

logger = logging.getLogger(__name__)
app = APIGatewayRestResolver(enable_validation=True, json_body_deserializer=strict_json)


def error(
    status: int, message: str, errors: Problems, headers: dict[str, str] | None = None
) -> Response[dict[str, Any]]:
    return Response(
        status_code=status,
        content_type=content_types.APPLICATION_JSON,
        body=error_body(message, errors),
        headers=headers,
    )


def _doc(model: type, description: str) -> OpenAPIResponse:
    return {"description": description, "content": {"application/json": {"model": model}}}


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
)(api.predict_genre)
app.post(
    BATCH_PATH,
    summary="Predict for many customers with one model (each item answered as if alone)",
    description=(
        "Each item is a body of POST /api/predict-genre; each result is byte for byte the JSON "
        "object that endpoint answers for it (200 body or error body)."
    ),
    responses={
        200: _doc(BatchResponse, "One result per item, in item order"),
        400: _doc(ErrorResponse, "Body is not a JSON object"),
        413: _doc(ErrorResponse, "Body over 1 MiB, or the answer over the Lambda response limit"),
        415: _doc(ErrorResponse, "Content-Type is not JSON"),
        422: _doc(ErrorResponse, "No items list, or too few or too many items"),
        503: _doc(ErrorResponse, MODEL_NOT_FOUND),
    },
)(api.predict_genre_batch)
app.get("/api/health", summary="Whether a model is loaded, and which")(api.health)
app.get(
    "/api/model",
    summary="The published model: version, classes, features, metrics with the baseline",
    responses={
        200: _doc(ModelSummary, "Model summary"),
        503: _doc(ErrorResponse, MODEL_NOT_FOUND),
    },
)(api.model_info)


def _api_error(exc: ApiError) -> Response[dict[str, Any]]:
    return error(exc.status, exc.message, exc.errors)


def _validation_error(exc: RequestValidationError) -> Response[dict[str, Any]]:
    return _api_error(validation_failure(list(exc.errors())))


@app.not_found
def _not_found(exc: NotFoundError) -> Response[dict[str, Any]]:
    path = app.current_event.path
    if path in ROUTES:
        allowed = ", ".join(sorted(ROUTES[path]))
        return error(
            405,
            f"Method not allowed; use {allowed}",
            [("method", f"allowed: {allowed}")],
            headers={"Allow": allowed},  # RFC 9110 requires it on a 405
        )
    return error(404, "Not found", [("path", "unknown route")])


def _unexpected(exc: Exception) -> Response[dict[str, Any]]:
    logger.exception("Unhandled error")
    return error(500, "Internal error", [])


# Registered by call, not as decorators: Powertools' decorator is untyped and would untype them.
app.exception_handler(ApiError)(_api_error)
app.exception_handler(RequestValidationError)(_validation_error)
app.exception_handler(Exception)(_unexpected)


def openapi_document() -> str:
    """The OpenAPI document of this API (committed as docs/openapi.json, checked by a test)."""
    return app.get_openapi_json_schema(
        title="Genre prediction API",
        version="1.0.0",
        summary="Predict a Chinook customer's favourite music genre",
    )
