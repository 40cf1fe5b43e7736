"""The predict function's entry: any proxy event in, one API Gateway proxy response out.

Both POST routes are dispatched here straight to their route functions in ``api`` (strict JSON,
``PredictRequest`` validation, the same error bodies); Powertools' routing, validation middleware
and response encoder cost about 150 µs per request, and importing the resolver is the largest
item of a cold start. Every other request goes to the resolver in ``routes``, imported by the
first one that needs it.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from genre_model.serve import api, proxy_event
from genre_model.serve.http import (
    BATCH_PATH,
    PREDICT_PATH,
    ApiError,
    ProxyResponse,
    Reply,
    guard,
    invalid_json,
    proxy,
    proxy_error,
    route_path,
    strict_json,
    validated,
)
from genre_model.serve.schemas import PredictRequest

logger = logging.getLogger(__name__)


def handle(event: Any, context: Any) -> ProxyResponse:
    """What the Lambda handler and the local server both call: v1 or v2 in, the same answer out."""
    try:
        rest = proxy_event.to_rest(event)
    except proxy_event.MalformedEvent as exc:
        logger.warning("Malformed invocation event: %s", exc)
        return proxy_error(ApiError(400, "Malformed API Gateway event", [(exc.field, exc.reason)]))
    answer = _answer(rest, context)
    return proxy_event.to_v2_response(answer) if proxy_event.is_v2(event) else answer


def _predict(body: str) -> Reply:
    try:
        value = strict_json(body)
    except json.JSONDecodeError:
        raise invalid_json() from None
    return api.predict_genre(validated(PredictRequest, value))


def _answer(event: dict[str, Any], context: Any) -> ProxyResponse:
    """Guard, then answer a checked v1 event."""
    event, rejected = guard(event)
    if rejected is not None:
        return rejected
    route = route_path(event["path"])
    if event["httpMethod"] == "POST" and route in (PREDICT_PATH, BATCH_PATH):
        body = event.get("body") or ""
        try:
            if route == PREDICT_PATH:
                return proxy(_predict(body))
            from genre_model.serve import batch  # the first batch request imports it

            return proxy(api.predict_genre_batch(batch.parse(body)))
        except ApiError as exc:
            return proxy_error(exc)
    from genre_model.serve.routes import app

    return app.resolve(event, context)
