"""The route table: (method, route) -> the body limit and the entry that answers the request.

``find`` names a request's ``Route``: the body limit of its path (a batch's 1 MiB, 16 KiB
otherwise) and the entry that parses that body and answers it. A trailing slash names the same
route. A request no entry answers gets one that raises the 405 (a route's other methods) or the
404, after the body's checks, as any entry raises its own errors; ``errors.reply`` answers them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from genre_model.config import Settings
from genre_model.serve import api, batch
from genre_model.serve.errors import ApiError
from genre_model.serve.http import (
    BATCH_PATH,
    MAX_BATCH_BODY_BYTES,
    MAX_BODY_BYTES,
    PREDICT_PATH,
    ROUTES,
    Reply,
)
from genre_model.serve.request import checked_body

Entry = Callable[[str, Settings], Reply]


@dataclass(frozen=True, slots=True)
class Route:
    """What a request's method and path decide: its body limit in bytes and its entry."""

    max_body_bytes: int
    entry: Entry


def _predict(text: str, settings: Settings) -> Reply:
    body = checked_body(text)
    return api.predict_genre(body)


def _batch(text: str, settings: Settings) -> Reply:
    items = batch.parse(text, settings.max_batch_items)
    return api.predict_genre_batch(items)


def _health(text: str, settings: Settings) -> Reply:
    return api.health()


def _model(text: str, settings: Settings) -> Reply:
    return api.model_info()


ENTRIES: dict[tuple[str, str], Entry] = {
    ("POST", PREDICT_PATH): _predict,
    ("POST", BATCH_PATH): _batch,
    ("GET", "/api/health"): _health,
    ("GET", "/api/model"): _model,
}


def route_path(path: str) -> str:
    """The route a request path names: API Gateway ignores trailing slashes, so
    ``/api/predict-genre/`` is answered (size-limited, 405'd) as the route itself."""
    return path.rstrip("/") or "/"


def _refusal(route: str) -> Entry:
    """The entry of a request no route answers: 405 with ``Allow`` for a route's other
    methods, 404 for any other path."""
    if route in ROUTES:
        allowed = ", ".join(sorted(ROUTES[route]))
        error = ApiError(
            405,
            f"Method not allowed; use {allowed}",
            [("method", f"allowed: {allowed}")],
            headers={"Allow": allowed},  # RFC 9110 requires it on a 405
        )
    else:
        error = ApiError(404, "Not found", [("path", "unknown route")])

    def refuse(text: str, settings: Settings) -> Reply:
        raise error

    return refuse


def find(method: str, path: str) -> Route:
    """The route answering ``method`` on ``path``."""
    route = route_path(path)
    limit = MAX_BATCH_BODY_BYTES if route == BATCH_PATH else MAX_BODY_BYTES
    return Route(limit, ENTRIES.get((method, route)) or _refusal(route))
