"""The route table: (method, route) -> the entry that parses its own body and answers it.

``find`` names the entry for a request, or raises the 404/405 (a trailing slash names the same
route, for a 405 as for an answer). Each entry reads its body with ``request`` (or ``batch``)
and calls its route function in ``api``; whatever it raises, ``errors.reply`` answers.
"""

from __future__ import annotations

from collections.abc import Callable

from genre_model.config import Settings
from genre_model.serve import api, batch
from genre_model.serve.errors import ApiError
from genre_model.serve.http import BATCH_PATH, PREDICT_PATH, ROUTES, Reply, route_path
from genre_model.serve.request import checked_body

Entry = Callable[[str, Settings], Reply]


def _predict(text: str, settings: Settings) -> Reply:
    return api.predict_genre(checked_body(text))


def _batch(text: str, settings: Settings) -> Reply:
    return api.predict_genre_batch(batch.parse(text, settings.max_batch_items))


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


def find(method: str, path: str) -> Entry:
    """The entry answering ``method`` on ``path``; 405 (with ``Allow``) for a route's other
    methods, 404 for any other path."""
    route = route_path(path)
    entry = ENTRIES.get((method, route))
    if entry is not None:
        return entry
    if route in ROUTES:
        allowed = ", ".join(sorted(ROUTES[route]))
        raise ApiError(
            405,
            f"Method not allowed; use {allowed}",
            [("method", f"allowed: {allowed}")],
            headers={"Allow": allowed},  # RFC 9110 requires it on a 405
        )
    raise ApiError(404, "Not found", [("path", "unknown route")])
