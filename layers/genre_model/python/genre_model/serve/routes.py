"""The Powertools resolver: GET /api/health, GET /api/model, 404/405 and the OpenAPI document.

Imported by ``api.handle`` on the first request that is not POST /api/predict-genre (that one
is answered by ``api.predict_event`` without it), and by ``api.openapi_document``.
"""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.event_handler.openapi.params import Body

from genre_model.serve import service
from genre_model.serve.api import (
    BATCH_PATH,
    MODEL_NOT_FOUND,
    PREDICT_PATH,
    ROUTES,
    error_body,
    logger,
    model_cache,
    predict_request,
    strict_json,
    unavailable,
    validation_failure,
)
from genre_model.serve.model_cache import ModelUnavailable
from genre_model.serve.schemas import (
    BatchRequest,
    BatchResponse,
    ErrorResponse,
    HealthResponse,
    ModelSummary,
    PredictRequest,
    PredictResponse,
)
from genre_model.serve.service import ApiError

app = APIGatewayRestResolver(enable_validation=True, json_body_deserializer=strict_json)


def error(
    status: int,
    message: str,
    errors: list[tuple[str, str]] = (),
    headers: dict[str, str] | None = None,
) -> Response:
    return Response(
        status_code=status,
        content_type=content_types.APPLICATION_JSON,
        body=error_body(message, errors),
        headers=headers,
    )


def _doc(model: type, description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"model": model}}}


@app.post(
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
)
def predict_genre(request: Annotated[PredictRequest, Body()]) -> Response[dict[str, Any]]:
    body, version = predict_request(request)
    return Response(
        status_code=200,
        content_type=content_types.APPLICATION_JSON,
        body=body,
        headers={"X-Model-Version": version},
    )


@app.post(
    BATCH_PATH,
    summary="Predict for many customers with one model (each item answered as if alone)",
    description=(
        "Each item is a body of POST /api/predict-genre; each result is byte for byte the JSON "
        "object that endpoint answers for it (200 body or error body). Answered by "
        "`batch.batch_event` before routing; this route gives the document and the 405s."
    ),
    responses={
        200: _doc(BatchResponse, "One result per item, in item order"),
        400: _doc(ErrorResponse, "Body is not a JSON object"),
        413: _doc(ErrorResponse, "Body over 1 MiB, or the answer over the Lambda response limit"),
        415: _doc(ErrorResponse, "Content-Type is not JSON"),
        422: _doc(ErrorResponse, "No items list, or too few or too many items"),
        503: _doc(ErrorResponse, MODEL_NOT_FOUND),
    },
)
def predict_genre_batch(request: Annotated[BatchRequest, Body()]) -> Response[dict[str, Any]]:
    from genre_model.serve.batch import batch_event

    answered = batch_event(app.current_event.raw_event)
    return Response(
        status_code=answered["statusCode"],
        content_type=content_types.APPLICATION_JSON,
        body=answered["body"],
        headers=answered["headers"],
    )


@app.get("/api/health", summary="Whether a model is loaded, and which")
def health() -> HealthResponse:
    try:
        model = model_cache().get()
    except ModelUnavailable:
        return HealthResponse(model_loaded=False)
    return HealthResponse(model_loaded=True, model_version=model.version)


@app.get(
    "/api/model",
    summary="The published model: version, classes, features, metrics with the baseline",
    responses={
        200: _doc(ModelSummary, "Model summary"),
        503: _doc(ErrorResponse, MODEL_NOT_FOUND),
    },
)
def model_info() -> Response[dict[str, Any]]:
    try:
        model = model_cache().get()
    except ModelUnavailable:
        raise unavailable() from None
    return Response(
        status_code=200,
        content_type=content_types.APPLICATION_JSON,
        body=service.model_summary(model),
    )


@app.exception_handler(ApiError)
def _api_error(exc: ApiError) -> Response:
    return error(exc.status, exc.message, exc.errors)


@app.exception_handler(RequestValidationError)
def _validation_error(exc: RequestValidationError) -> Response:
    return _api_error(validation_failure(list(exc.errors())))


@app.not_found
def _not_found(exc: NotFoundError) -> Response:
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


@app.exception_handler(Exception)
def _unexpected(exc: Exception) -> Response:
    logger.exception("Unhandled error")
    return error(500, "Internal error", [])


def openapi_document() -> str:
    """The OpenAPI document of this API (committed as docs/openapi.json, checked by a test)."""
    return app.get_openapi_json_schema(
        title="Genre prediction API",
        version="1.0.0",
        summary="Predict a Chinook customer's favourite music genre",
    )
