"""The predict API: ONE error shape, and the hot path that answers POST /api/predict-genre.

Every error a client can cause becomes ``{"status": "ERROR", "message", "errors": [{"field",
"reason"}]}`` with a 4xx; what the resolver cannot see (body size, base64, UTF-8, content type)
is checked by ``guard`` before routing. Nothing a client sends can produce a 5xx or a traceback.
The Powertools resolver serving every other route lives in ``routes`` and is imported by the
first request that needs it, so the predict path's cold start never pays for it.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import re
from typing import Any

from pydantic import ValidationError

from genre_model.config import settings
from genre_model.serve import proxy_event, service
from genre_model.serve.model_cache import LoadedModel, ModelCache, ModelUnavailable
from genre_model.serve.schemas import PredictRequest
from genre_model.serve.service import MODEL_UNUSABLE, ApiError

APPLICATION_JSON = "application/json"

MAX_BODY_BYTES = 16 * 1024
MAX_BATCH_BODY_BYTES = 1024 * 1024
PREDICT_PATH = "/api/predict-genre"
BATCH_PATH = "/api/predict-genre/batch"
ROUTES = {
    PREDICT_PATH: {"POST"},
    BATCH_PATH: {"POST"},
    "/api/health": {"GET"},
    "/api/model": {"GET"},
}
MODEL_NOT_FOUND = "Genre model not found"
# Deeper than any body the API accepts (they are flat objects), far below any recursion limit:
# checked by us, not left to RecursionError, whose depth differs between Python 3.11 and 3.12+.
MAX_JSON_DEPTH = 32
_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_JSON_BRACKET = re.compile(r"[\[\]{}]")

logger = logging.getLogger(__name__)


class _Integrity:
    """Counts refused artifacts as a CloudWatch metric (Powertools Metrics shares one buffer)."""

    def __call__(self, detail: str) -> None:
        from aws_lambda_powertools import Metrics
        from aws_lambda_powertools.metrics import MetricUnit

        Metrics().add_metric(name="ModelIntegrityFailure", unit=MetricUnit.Count, value=1)


_cache: ModelCache | None = None


def new_model_cache() -> ModelCache:
    """A cache with its own store, client and connections (none shared with another cache)."""
    return ModelCache(settings(), on_integrity_failure=_Integrity())


def model_cache() -> ModelCache:
    """The container's model cache, created on first use."""
    global _cache
    if _cache is None:
        _cache = new_model_cache()
    return _cache


def install_cache(cache: ModelCache) -> None:
    """Serve from ``cache`` from the next request on (one assignment: requests see old or new)."""
    global _cache
    _cache = cache


def reset() -> None:
    """Forget the cached model and settings (tests)."""
    global _cache
    _cache = None
    settings.cache_clear()


def duplicate_key(key: str) -> ApiError:
    return ApiError(400, "Request body has a duplicate key", [(key, "duplicate key")])


def too_deep() -> ApiError:
    return ApiError(400, "Request body is nested too deeply", [("body", "too deep")])


def number_too_long() -> ApiError:
    return ApiError(400, "Request body has a number too long", [("body", "number too long")])


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


def strict_json(text: str) -> Any:
    """json.loads that refuses duplicate keys and absurd nesting instead of guessing."""

    def no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        seen: dict[str, Any] = {}
        for key, value in pairs:
            if key in seen:
                raise duplicate_key(key)
            seen[key] = value
        return seen

    if nested_too_deep(text):
        raise too_deep()
    try:
        return json.loads(text, object_pairs_hook=no_duplicates)
    except json.JSONDecodeError:
        raise
    except ValueError:  # e.g. an integer beyond Python's 4,300-digit conversion limit
        raise number_too_long() from None


def error_body(message: str, errors: list[tuple[str, str]]) -> dict[str, Any]:
    return {
        "status": "ERROR",
        "message": message,
        "errors": [{"field": f, "reason": r} for f, r in errors],
    }


def unavailable() -> ApiError:
    return ApiError(
        503, MODEL_NOT_FOUND, [("model", "no model is published or it cannot be loaded")]
    )


def cached_model() -> LoadedModel:
    """The model to answer with, or the 503 a client sees when there is none."""
    try:
        return model_cache().get()
    except ModelUnavailable:
        raise unavailable() from None


def predict_request(request: PredictRequest) -> tuple[dict[str, Any], str]:
    model = cached_model()
    return service.predict(request, model), model.version


def parse_request(value: Any) -> PredictRequest:
    """A parsed body as a request, or the ApiError the client sees (single or batch item)."""
    try:
        return PredictRequest.model_validate(value)
    except ValidationError as exc:
        raise validation_failure(exc.errors()) from None


def answer(value: Any) -> tuple[int, dict[str, Any], str | None]:
    """One parsed predict body -> (status, JSON body, model version)."""
    try:
        request = parse_request(value)
        model = cached_model()
        return 200, service.predict(request, model), model.version
    except ApiError as exc:
        return exc.status, error_body(exc.message, exc.errors), None


_BODY_SHAPE_ERRORS = {"json_invalid", "model_attributes_type", "model_type", "dict_type", "missing"}


def validation_failure(problems: list[dict[str, Any]]) -> ApiError:
    """pydantic errors as ours: 400 when the body is not a JSON object, else 422 per field."""
    for problem in problems:
        loc = tuple(problem.get("loc", ()))
        if problem.get("type") == "json_invalid":
            return ApiError(400, "Request body is not valid JSON", [("body", "invalid JSON")])
        if loc in {("body",), ()} and problem.get("type") in _BODY_SHAPE_ERRORS:
            return ApiError(400, "Request body must be a JSON object", [("body", "not an object")])
    details = []
    for problem in problems:
        loc = [str(p) for p in problem.get("loc", ()) if p != "body"]
        kind = problem.get("type", "")
        field = "customer_id" if kind == "customer_id_exclusive" else ".".join(loc) or "body"
        reason = "unknown field" if kind == "extra_forbidden" else problem.get("msg", "invalid")
        details.append((field, reason))
    return ApiError(422, "Invalid request", details)


def _header(event: dict, name: str) -> str | None:
    for key, value in (event.get("headers") or {}).items():
        if key.lower() == name:
            return value
    return None


def compact(body: Any) -> str:
    """The JSON text of every answer (a batch result is byte for byte its single answer); strict,
    so NaN or Infinity is an error, never sent."""
    return json.dumps(body, separators=(",", ":"), allow_nan=False)


def _proxy(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> dict:
    """An API Gateway proxy response, for answers given without the router."""
    try:
        text = compact(body)
    except ValueError:  # a non-finite number in the answer: the model is at fault, not the client
        logger.error("Response with a non-finite number refused (HTTP %s)", status)
        status, headers = 503, None
        text = compact(
            error_body(MODEL_UNUSABLE, [("model", "the model produced an invalid answer")])
        )
    return proxy_text(status, text, headers)


def proxy_text(status: int, text: str, headers: dict[str, str] | None = None) -> dict:
    return {
        "statusCode": status,
        "headers": {"Content-Type": APPLICATION_JSON, **(headers or {})},
        "body": text,
        "isBase64Encoded": False,
    }


def _proxy_error(status: int, message: str, errors: list[tuple[str, str]]) -> dict:
    return _proxy(status, error_body(message, errors))


def guard(event: dict) -> tuple[dict, dict | None]:
    """Checks the resolver cannot do itself: size, base64, UTF-8, content type.

    Returns the event to resolve (body decoded to text) or the error response to send.
    """
    body = event.get("body")
    if body is None:
        return event, None
    batch = event.get("path") == BATCH_PATH
    limit = MAX_BATCH_BODY_BYTES if batch else MAX_BODY_BYTES
    too_large = (
        413,
        f"Request body over {'1 MiB' if batch else '16 KiB'}",
        [("body", "too large")],
    )
    if len(body) > limit * 4 // 3 + 4:
        return event, _proxy_error(*too_large)
    base64_encoded = bool(event.get("isBase64Encoded"))
    if base64_encoded:
        try:
            raw = base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            return event, _proxy_error(
                400, "Request body is not valid base64", [("body", "invalid base64")]
            )
    else:
        raw = body.encode("utf-8", "surrogatepass")
    if len(raw) > limit:
        return event, _proxy_error(*too_large)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return event, _proxy_error(
            400, "Request body is not valid UTF-8", [("body", "invalid UTF-8")]
        )
    content_type = _header(event, "content-type")
    if content_type and event.get("httpMethod") == "POST":
        media = content_type.split(";", 1)[0].strip().lower()
        if media != "application/json" and not media.endswith("+json"):
            return event, _proxy_error(
                415, "Content-Type must be application/json", [("Content-Type", media or "empty")]
            )
    if base64_encoded:
        event = {**event, "body": text, "isBase64Encoded": False}
    return event, None


def predict_event(event: dict) -> dict:
    """POST /api/predict-genre without the router: same model, same validation, same errors.

    The hot path. Powertools' routing, validation middleware and response encoder cost about
    150 µs per request here; this does the same work (strict JSON, ``PredictRequest``,
    ``validation_failure``) in a fraction of that. Everything else goes through ``app``.
    """
    try:
        value = strict_json(event.get("body") or "")
    except json.JSONDecodeError:
        return _proxy_error(400, "Request body is not valid JSON", [("body", "invalid JSON")])
    except ApiError as exc:
        return _proxy_error(exc.status, exc.message, exc.errors)
    status, body, version = answer(value)
    return _proxy(status, body, {"X-Model-Version": version} if version else None)


def handle(event: Any, context: Any) -> dict:
    """What the Lambda handler and the local server both call: v1 or v2 in, the same answer out."""
    try:
        rest = proxy_event.to_rest(event)
    except proxy_event.MalformedEvent as exc:
        logger.warning("Malformed invocation event: %s", exc)
        return _proxy_error(400, "Malformed API Gateway event", [(exc.field, exc.reason)])
    answer = _answer(rest, context)
    return proxy_event.to_v2_response(answer) if proxy_event.is_v2(event) else answer


def _answer(event: dict, context: Any) -> dict:
    """Guard, then answer a checked v1 event."""
    event, rejected = guard(event)
    if rejected is not None:
        return rejected
    if event.get("path") == PREDICT_PATH and event.get("httpMethod") == "POST":
        return predict_event(event)
    if event.get("path") == BATCH_PATH and event.get("httpMethod") == "POST":
        from genre_model.serve.batch import batch_event

        return batch_event(event)
    from genre_model.serve.routes import app

    return app.resolve(event, context)
