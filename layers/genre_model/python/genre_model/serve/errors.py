"""Every error a request can meet, and ``reply``: the one place that maps each to its answer.

A client's fault is an ``ApiError`` (a 4xx with the fields at fault), raised where it is found:
the guard, the JSON parser, the request validator, the route table. The service's refusals
(``service.Refused``), a missing model (``ModelUnavailable``) and an invocation that is no
proxy event (``MalformedEvent``) are domain errors that know
nothing of HTTP; ``reply`` gives each its status and body, for a request and for each batch
item alike. Anything else is a bug: logged with its traceback, answered 500 with no detail.
"""

from __future__ import annotations

import logging

from genre_model.serve.http import MODEL_UNUSABLE, Problems, Reply, error_body
from genre_model.serve.model_cache import ModelUnavailable
from genre_model.serve.proxy_event import MalformedEvent
from genre_model.serve.service import ModelUnusable, NotSupported, Refused, UnknownCustomer

MODEL_NOT_FOUND = "Genre model not found"

logger = logging.getLogger(__name__)


class ApiError(Exception):
    """An error with an HTTP status, a message for the client and the fields at fault."""

    def __init__(
        self,
        status: int,
        message: str,
        errors: Problems | tuple[()] = (),
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.errors = list(errors)
        self.headers = headers or {}


def duplicate_key(key: str) -> ApiError:
    return ApiError(400, "Request body has a duplicate key", [(key, "duplicate key")])


def too_deep() -> ApiError:
    return ApiError(400, "Request body is nested too deeply", [("body", "too deep")])


def number_too_long() -> ApiError:
    return ApiError(400, "Request body has a number too long", [("body", "number too long")])


def invalid_json() -> ApiError:
    return ApiError(400, "Request body is not valid JSON", [("body", "invalid JSON")])


def not_an_object() -> ApiError:
    return ApiError(400, "Request body must be a JSON object", [("body", "not an object")])


def too_large(limit: str) -> ApiError:
    return ApiError(413, f"Request body over {limit}", [("body", "too large")])


def invalid(problems: Problems) -> ApiError:
    """422: the body is a JSON object, but fields break their rules."""
    return ApiError(422, "Invalid request", problems)


# What a client sees of each refusal of the service; an unusable model is the service's fault.
REFUSAL_STATUS: dict[type[Refused], int] = {
    UnknownCustomer: 404,
    NotSupported: 422,
    ModelUnusable: 503,
}


def api_error(exc: Exception) -> ApiError:
    """``exc`` as the ApiError a client sees (``reply`` sends it)."""
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, Refused):
        status = REFUSAL_STATUS[type(exc)]
        message = MODEL_UNUSABLE if status == 503 else exc.message  # 503: the spec's message
        return ApiError(status, message, [(exc.field, exc.reason)])
    if isinstance(exc, MalformedEvent):  # a direct invoke can send anything
        logger.warning("Malformed invocation event: %s", exc)
        return ApiError(400, "Malformed API Gateway event", [(exc.field, exc.reason)])
    if isinstance(exc, ModelUnavailable):
        return ApiError(
            503, MODEL_NOT_FOUND, [("model", "no model is published or it cannot be loaded")]
        )
    logger.error("Unhandled error", exc_info=exc)
    return ApiError(500, "Internal error")


def reply(exc: Exception) -> Reply:
    """The answer to a request (or a batch item) that raised ``exc``."""
    error = api_error(exc)
    return Reply(error.status, error_body(error.message, error.errors), error.headers)
