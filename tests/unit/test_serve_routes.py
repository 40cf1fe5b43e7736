"""The route table: a path names its route with or without trailing slashes, for a 405 as for an
answer; any other path is a 404. With a fake loaded model, through ``handler.handle``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from genre_model.serve import handler, routes
from genre_model.serve.http import BATCH_PATH, ROUTES
from tests.helpers import fake_model, serving

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "get", "post")
SLASHES = ("", "/", "//", "///")


@pytest.fixture(autouse=True)
def model() -> Iterator[Any]:
    with serving(fake_model()) as loaded:
        yield loaded


def answer(method: str, path: str) -> tuple[int, dict, dict]:
    body = None  # a valid body for the route's POST
    if method.upper() not in {"GET", "HEAD"}:
        body = '{"items":[{}]}' if path.rstrip("/") == BATCH_PATH else "{}"
    event = {"httpMethod": method, "path": path, "body": body, "headers": {}}
    response = handler.handle(event, None)
    return response["statusCode"], json.loads(response["body"]), response["headers"]


def test_the_table_serves_exactly_the_declared_routes() -> None:
    declared = {(method, path) for path, methods in ROUTES.items() for method in methods}
    assert set(routes.ENTRIES) == declared


@pytest.mark.parametrize("route", sorted(ROUTES))
@pytest.mark.parametrize("slash", SLASHES)
@pytest.mark.parametrize("method", METHODS)
def test_a_trailing_slash_names_the_route_for_every_answer(route, slash, method) -> None:
    """Class 9: whatever the method, ``route/`` is answered as ``route`` (405 with Allow)."""
    assert answer(method, route + slash) == answer(method, route)
    status, body, headers = answer(method, route + slash)
    if method.upper() in ROUTES[route]:
        assert status == 200, body
    else:
        allowed = ", ".join(sorted(ROUTES[route]))
        assert status == 405
        assert headers["Allow"] == allowed
        assert body["errors"] == [{"field": "method", "reason": f"allowed: {allowed}"}]


@pytest.mark.parametrize(
    "path", ["/", "/api", "/api/", "/api/predict", "/api//health", "/nope/", "/API/health"]
)
@pytest.mark.parametrize("method", ["GET", "POST", "DELETE"])
def test_any_other_path_is_404(path, method) -> None:
    status, body, _ = answer(method, path)
    assert status == 404
    assert body["errors"] == [{"field": "path", "reason": "unknown route"}]


def test_health_and_model_answer_from_the_loaded_version(model) -> None:
    status, body, _ = answer("GET", "/api/health")
    assert (status, body) == (
        200,
        {"status": "OK", "model_loaded": True, "model_version": model.version, "reason": None},
    )
    status, body, _ = answer("GET", "/api/model/")
    assert status == 200
    assert body["version"] == model.version
    assert body["classes"] == list(model.predictor.classes)


def sized(method: str, path: str, size: int) -> tuple[int, dict]:
    event = {"httpMethod": method, "path": path, "body": "x" * size, "headers": {}}
    response = handler.handle(event, None)
    return response["statusCode"], json.loads(response["body"])


@pytest.mark.parametrize(
    ("path", "limit", "label"),
    [
        ("/api/predict-genre", 16 * 1024, "16 KiB"),
        ("/api/predict-genre/", 16 * 1024, "16 KiB"),
        (BATCH_PATH, 1024 * 1024, "1 MiB"),
        (BATCH_PATH + "//", 1024 * 1024, "1 MiB"),
        ("/api/health", 16 * 1024, "16 KiB"),
        ("/nope", 16 * 1024, "16 KiB"),
    ],
)
@pytest.mark.parametrize("method", ["POST", "GET", "PUT"])
def test_a_body_is_measured_against_its_paths_limit_before_the_route_answers(
    path, limit, label, method
) -> None:
    """The limit is the path's, whatever the method: one byte over it is a 413 naming it, for a
    404 or a 405 too; at the limit the route answers (a POST's 400 for this text, a GET's 200
    with the body ignored, or its 404/405)."""
    status, body = sized(method, path, limit + 1)
    assert (status, body["message"]) == (413, f"Request body over {label}")
    assert body["errors"] == [{"field": "body", "reason": "too large"}]
    status, body = sized(method, path, limit)
    assert status != 413
    route = routes.route_path(path)
    if route not in ROUTES:
        assert status == 404
    elif method not in ROUTES[route]:
        assert status == 405
    elif method == "GET":
        assert status == 200
    else:
        assert (status, body["errors"]) == (400, [{"field": "body", "reason": "invalid JSON"}])
