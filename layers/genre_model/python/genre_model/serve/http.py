"""The API's one error shape and its HTTP plumbing, shared by the fast dispatch and the resolver.

Every error a client can cause becomes ``{"status": "ERROR", "message", "errors": [{"field",
"reason"}]}`` with a 4xx (``ApiError``); what the resolver cannot see (body size, base64, UTF-8,
content type) is checked by ``guard`` before routing; bodies are parsed by ``strict_json``, which
refuses what ``json.loads`` would guess at. Nothing here imports Powertools: the predict path
answers without it.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import BaseModel, GetCoreSchemaHandler, ValidationError
from pydantic_core import core_schema

from genre_model.serve.service import ModelUnusable, NotSupported, Refused, UnknownCustomer

APPLICATION_JSON = "application/json"
MAX_BODY_BYTES = 16 * 1024
MAX_BATCH_BODY_BYTES = 1024 * 1024
PREDICT_PATH = "/api/predict-genre"
BATCH_PATH = "/api/predict-genre/batch"
# Every route and its methods: the 405s, the template's paths and the document agree on these.
ROUTES = {
    PREDICT_PATH: {"POST"},
    BATCH_PATH: {"POST"},
    "/api/health": {"GET"},
    "/api/model": {"GET"},
}
MODEL_NOT_FOUND = "Genre model not found"
MODEL_UNUSABLE = "Genre model unusable"
# Deeper than any body the API accepts (they are flat objects), far below any recursion limit:
# checked by us, not left to RecursionError, whose depth differs between Python 3.11 and 3.12+.
MAX_JSON_DEPTH = 32
_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_JSON_BRACKET = re.compile(r"[\[\]{}]")
_BODY_SHAPE_ERRORS = {"json_invalid", "model_attributes_type", "model_type", "dict_type", "missing"}

Problems = list[tuple[str, str]]
ProxyResponse = dict[str, Any]
M = TypeVar("M", bound=BaseModel)

logger = logging.getLogger(__name__)


class ApiError(Exception):
    """An error with an HTTP status, a message for the client and the fields at fault."""

    def __init__(self, status: int, message: str, errors: Problems | tuple[()] = ()) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.errors = list(errors)


@dataclass(frozen=True)
class Reply:
    """What a route function answers: a status, a JSON body and extra headers. Plain data, so
    the fast dispatch sends it without the resolver and the resolver without a second route.
    A ``str`` body is JSON text already (a batch assembles its results byte for byte)."""

    status: int
    body: dict[str, Any] | str
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        """In a route's signature (the resolver reads it) a Reply stands for its body, which each
        route documents with its ``responses``: no schema of its own in the OpenAPI document."""
        return core_schema.any_schema()


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


# What a client sees of each refusal of the service; an unusable model is the service's fault.
REFUSAL_STATUS: dict[type[Refused], int] = {
    UnknownCustomer: 404,
    NotSupported: 422,
    ModelUnusable: 503,
}


def refusal(exc: Refused) -> ApiError:
    """The service's refusal as an API error naming the field (503: the spec's message)."""
    status = REFUSAL_STATUS[type(exc)]
    return ApiError(
        status, MODEL_UNUSABLE if status == 503 else exc.message, [(exc.field, exc.reason)]
    )


def unavailable() -> ApiError:
    return ApiError(
        503, MODEL_NOT_FOUND, [("model", "no model is published or it cannot be loaded")]
    )


def nested_too_deep(text: str, limit: int = MAX_JSON_DEPTH) -> bool:
    """True when arrays/objects in ``text`` nest deeper than ``limit`` (brackets inside strings
    do not count). Costs two ``str.count`` calls for any body with few brackets."""
    if text.count("[") + text.count("{") <= limit:
        return False
    depth = 0
    for bracket in _JSON_BRACKET.findall(_JSON_STRING.sub("", text)):
        depth += 1 if bracket in "[{" else -1
        if depth > limit:
            return True
    return False


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise duplicate_key(key)
        seen[key] = value
    return seen


def strict_json(text: str) -> Any:
    """json.loads that refuses duplicate keys and absurd nesting instead of guessing
    (``json.JSONDecodeError`` for text that is not JSON at all)."""
    if nested_too_deep(text):
        raise too_deep()
    try:
        return json.loads(text, object_pairs_hook=_no_duplicates)
    except json.JSONDecodeError:
        raise
    except ValueError:  # e.g. an integer beyond Python's 4,300-digit conversion limit
        raise number_too_long() from None


def validation_failure(problems: Sequence[Mapping[str, Any]]) -> ApiError:
    """pydantic errors as ours: 400 when the body is not a JSON object, else 422 per field."""
    for problem in problems:
        loc = tuple(problem.get("loc", ()))
        if problem.get("type") == "json_invalid":
            return invalid_json()
        if loc in {("body",), ()} and problem.get("type") in _BODY_SHAPE_ERRORS:
            return not_an_object()
    details = []
    for problem in problems:
        path = [str(p) for p in problem.get("loc", ()) if p != "body"]
        kind = problem.get("type", "")
        name = "customer_id" if kind == "customer_id_exclusive" else ".".join(path) or "body"
        reason = "unknown field" if kind == "extra_forbidden" else problem.get("msg", "invalid")
        details.append((name, reason))
    return ApiError(422, "Invalid request", details)


def validated(model: type[M], value: Any) -> M:
    """A parsed body as ``model``, or the ApiError the client sees (single or batch item)."""
    try:
        return model.model_validate(value)
    except ValidationError as exc:
        raise validation_failure(exc.errors()) from None


def error_body(message: str, errors: Problems) -> dict[str, Any]:
    return {
        "status": "ERROR",
        "message": message,
        "errors": [{"field": f, "reason": r} for f, r in errors],
    }


def compact(body: Any) -> str:
    """The JSON text of every answer (a batch result is byte for byte its single answer); strict,
    so NaN or Infinity is an error, never sent."""
    return json.dumps(body, separators=(",", ":"), allow_nan=False)


def proxy_text(status: int, text: str, headers: dict[str, str] | None = None) -> ProxyResponse:
    """An API Gateway proxy response carrying JSON ``text``."""
    return {
        "statusCode": status,
        "headers": {"Content-Type": APPLICATION_JSON, **(headers or {})},
        "body": text,
        "isBase64Encoded": False,
    }


def proxy(reply: Reply) -> ProxyResponse:
    """``reply`` as a proxy response; a non-finite number in it is the model's fault: a 503."""
    try:
        text = reply.body if isinstance(reply.body, str) else compact(reply.body)
    except ValueError:
        logger.error("Response with a non-finite number refused (HTTP %s)", reply.status)
        problem = error_body(MODEL_UNUSABLE, [("model", "the model produced an invalid answer")])
        return proxy_text(503, compact(problem))
    return proxy_text(reply.status, text, reply.headers)


def proxy_error(exc: ApiError) -> ProxyResponse:
    return proxy(Reply(exc.status, error_body(exc.message, exc.errors)))


def route_path(path: object) -> str:
    """The route a request path names: API Gateway and the resolver both ignore trailing
    slashes, so ``/api/predict-genre/`` must be answered (and size-limited) as the route itself."""
    return str(path).rstrip("/") or "/"


def _header(event: dict[str, Any], name: str) -> str | None:
    for key, value in (event.get("headers") or {}).items():
        if key.lower() == name:
            return str(value)
    return None


def _body_text(event: dict[str, Any], body: str) -> str:
    """The body as text within its route's size limit, or the ApiError to send."""
    batch = route_path(event.get("path")) == BATCH_PATH
    limit = MAX_BATCH_BODY_BYTES if batch else MAX_BODY_BYTES
    too_large = ApiError(
        413, f"Request body over {'1 MiB' if batch else '16 KiB'}", [("body", "too large")]
    )
    if len(body) > limit * 4 // 3 + 4:
        raise too_large
    if event.get("isBase64Encoded"):
        try:
            raw = base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            raise ApiError(
                400, "Request body is not valid base64", [("body", "invalid base64")]
            ) from None
    else:
        raw = body.encode("utf-8", "surrogatepass")
    if len(raw) > limit:
        raise too_large
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ApiError(
            400, "Request body is not valid UTF-8", [("body", "invalid UTF-8")]
        ) from None


def guard(event: dict[str, Any]) -> tuple[dict[str, Any], ProxyResponse | None]:
    """Checks the resolver cannot do itself: size, base64, UTF-8, content type.

    Returns the event to resolve (body decoded to text) or the error response to send.
    """
    body = event.get("body")
    if body is None:
        return event, None
    try:
        text = _body_text(event, body)
    except ApiError as exc:
        return event, proxy_error(exc)
    content_type = _header(event, "content-type")
    if content_type and event.get("httpMethod") == "POST":
        media = content_type.split(";", 1)[0].strip().lower()
        if media != APPLICATION_JSON and not media.endswith("+json"):
            return event, proxy_error(
                ApiError(
                    415,
                    "Content-Type must be application/json",
                    [("Content-Type", media or "empty")],
                )
            )
    if event.get("isBase64Encoded"):
        event = {**event, "body": text, "isBase64Encoded": False}
    return event, None
