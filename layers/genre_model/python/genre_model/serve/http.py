"""The API's HTTP vocabulary and its last step: routes, limits, ``Reply`` and the proxy response.

Every route function answers a ``Reply`` (status, JSON body, headers); ``respond`` turns it into
the proxy response, one shape that API Gateway REST, HTTP APIs and function URLs (payload format
2.0) all read: ``headers`` only, no ``multiValueHeaders``, so the three doors answer alike.
Imports no other module of the serve wing: every step of a request may use it.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any

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
MODEL_UNUSABLE = "Genre model unusable"

Problems = list[tuple[str, str]]
ProxyResponse = dict[str, Any]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Reply:
    """What a route function answers: a status, a JSON body and extra headers. A ``str`` body is
    JSON text already (a batch assembles its results byte for byte)."""

    status: int
    body: dict[str, Any] | str
    headers: dict[str, str] = field(default_factory=dict)


def error_body(message: str, errors: Problems) -> dict[str, Any]:
    """The API's one error shape."""
    return {
        "status": "ERROR",
        "message": message,
        "errors": [{"field": f, "reason": r} for f, r in errors],
    }


def compact(body: Any) -> str:
    """The JSON text of every answer (a batch result is byte for byte its single answer); strict,
    so NaN or Infinity is an error, never sent."""
    return json.dumps(body, separators=(",", ":"), allow_nan=False)


def encoded(reply: Reply) -> tuple[Reply, str]:
    """``reply`` and its JSON text; a non-finite number in its body is the model's fault: a 503
    (without the reply's headers), never an invalid JSON text."""
    try:
        return reply, reply.body if isinstance(reply.body, str) else compact(reply.body)
    except ValueError:
        logger.error("Response with a non-finite number refused (HTTP %s)", reply.status)
        problem = error_body(MODEL_UNUSABLE, [("model", "the model produced an invalid answer")])
        return Reply(503, problem), compact(problem)


def respond(reply: Reply) -> ProxyResponse:
    """``reply`` as the proxy response."""
    reply, text = encoded(reply)
    return {
        "statusCode": reply.status,
        "headers": {"Content-Type": APPLICATION_JSON, **reply.headers},
        "body": text,
        "isBase64Encoded": False,
    }
