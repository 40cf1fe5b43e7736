"""One handler, three front doors: REST (v1), HTTP API and function URL (v2) answer alike,
and an invocation that is no proxy event at all gets a 400 in the error shape, never raises."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from tests.helpers import assert_error, invoke, lambda_context, make_event

SPEC = {"total_spent": 125.75, "total_tracks_bought": 42, "genre_spending_ratio": 0.4}


def as_v2(event: dict[str, Any], *, stage: str = "$default", url: bool = False) -> dict[str, Any]:
    """The payload format 2.0 event API Gateway (HTTP API) or a function URL builds for it."""
    path = event["path"]
    headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
    v2 = {
        "version": "2.0",
        "routeKey": "$default" if url else f"{event['httpMethod']} {path}",
        "rawPath": path if stage == "$default" else f"/{stage}{path}",
        "rawQueryString": "&".join(
            f"{k}={v}" for k, v in (event.get("queryStringParameters") or {}).items()
        ),
        "headers": headers,
        "queryStringParameters": event.get("queryStringParameters"),
        "requestContext": {
            "accountId": "123456789012" if not url else "anonymous",
            "apiId": "abc123",
            "domainName": "abc123.lambda-url.us-east-1.on.aws" if url else "abc123.example",
            "http": {
                "method": event["httpMethod"],
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": "test",
            },
            "requestId": "id",
            "routeKey": "$default",
            "stage": stage,
            "time": "01/Dec/2026:00:00:00 +0000",
            "timeEpoch": 0,
        },
        "isBase64Encoded": event.get("isBase64Encoded", False),
    }
    if event.get("body") is not None:
        v2["body"] = event["body"]
    return v2


REQUESTS = {
    "spec 200": lambda: make_event(SPEC),
    "empty object 200": lambda: make_event({}),
    "plain text body": lambda: make_event(SPEC, base64_body=False),
    "invalid JSON 400": lambda: make_event(raw="{nope"),
    "field 422": lambda: make_event({"total_spent": "lots"}),
    "unknown field 422": lambda: make_event({"x": 1}),
    "too large 413": lambda: make_event(raw="[" + " " * 20000 + "]"),
    "form content type 415": lambda: make_event(
        {}, headers={"Content-Type": "application/x-www-form-urlencoded"}
    ),
    "unknown path 404": lambda: make_event({}, path="/api/nope"),
    "wrong method 405": lambda: make_event(None, method="GET"),
    "health": lambda: make_event(None, method="GET", path="/api/health"),
    "model": lambda: make_event(None, method="GET", path="/api/model"),
}


def _comparable(response: dict[str, Any]) -> tuple[int, str, dict[str, str]]:
    headers = {k.lower(): v for k, v in (response.get("headers") or {}).items()}
    for key, values in (response.get("multiValueHeaders") or {}).items():
        headers[key.lower()] = ",".join(values)
    return response["statusCode"], response["body"], headers


@pytest.mark.parametrize("name", sorted(REQUESTS))
@pytest.mark.parametrize("door", ["http-api", "http-api-named-stage", "function-url"])
def test_v2_answers_byte_identical_to_v1(predict_handler, name, door):
    v1 = REQUESTS[name]()
    if v1["body"] is None:
        v1.pop("body")
    v2 = as_v2(
        copy.deepcopy(v1),
        stage="prod" if door == "http-api-named-stage" else "$default",
        url=door == "function-url",
    )
    rest = predict_handler.lambda_handler(v1, lambda_context())
    other = predict_handler.lambda_handler(v2, lambda_context())
    assert "multiValueHeaders" not in other  # payload format 2.0 has none
    assert _comparable(other) == _comparable(rest)
    assert isinstance(json.loads(other["body"]), dict)


CASINGS = ("POST", "post", "Post", "pOsT", "GET", "get", "po\u017ft")
BODIES = {
    "no body": lambda m: make_event(None, method=m),
    "empty object": lambda m: make_event({}, method=m),
    "text/plain": lambda m: make_event({}, method=m, headers={"Content-Type": "text/plain"}),
    "invalid JSON": lambda m: make_event(raw="{nope", method=m),
}


@pytest.mark.parametrize("method", CASINGS)
@pytest.mark.parametrize("body", sorted(BODIES))
def test_method_casing_answers_alike_on_every_door(predict_handler, method, body):
    """A method is case-insensitive: v1 and v2 give one answer, the upper-case one's."""
    v1 = BODIES[body](method)
    if v1["body"] is None:
        v1.pop("body")
    events = [v1, as_v2(copy.deepcopy(v1))]
    if method.isascii():
        events.append(BODIES[body](method.upper()))
        if events[-1]["body"] is None:
            events[-1].pop("body")
    answers = [_comparable(predict_handler.lambda_handler(e, lambda_context())) for e in events]
    assert len(set(map(repr, answers))) == 1
    if not method.isascii():  # a look-alike is no POST, nor any method
        assert answers[0][0] == 400
        assert json.loads(answers[0][1])["errors"] == [
            {"field": "httpMethod", "reason": "not an HTTP method"}
        ]


def test_v2_prediction_is_the_models(predict_handler, local_model):
    answer = invoke(predict_handler, as_v2(make_event(SPEC), url=True))
    assert answer.status == 200
    assert answer.headers["x-model-version"] == local_model.version


ROUTE_BODIES = {
    "single": ("/api/predict-genre", {**SPEC, "explain": True}),
    "single 404": ("/api/predict-genre", {"customer_id": 999_999}),
    "batch": ("/api/predict-genre/batch", {"items": [SPEC, {"customer_id": 999_999}, {"x": 1}]}),
    # over the single route's 16 KiB: the batch route's 1 MiB limit must apply to it too
    "batch over 16 KiB": ("/api/predict-genre/batch", {"items": [SPEC] * 300}),
}


@pytest.mark.parametrize("name", sorted(ROUTE_BODIES))
@pytest.mark.parametrize("slashes", ["/", "///"])
@pytest.mark.parametrize("door", ["rest", "function-url"])
def test_a_trailing_slash_names_the_same_route(predict_handler, local_model, name, slashes, door):
    """API Gateway and the resolver ignore trailing slashes: the answer, its status and its
    headers (X-Model-Version) are the route's own, never the route function's return value
    serialised by the resolver."""
    path, body = ROUTE_BODIES[name]
    events = [make_event(body, path=path), make_event(body, path=path + slashes)]
    if door == "function-url":
        events = [as_v2(event, url=True) for event in events]
    exact, slashed = (predict_handler.lambda_handler(e, lambda_context()) for e in events)
    assert _comparable(slashed) == _comparable(exact)
    assert exact["statusCode"] in {200, 404}
    if exact["statusCode"] == 200:
        assert json.loads(exact["body"])["status"] == "OK"


def _event_with(**changes: Any) -> dict[str, Any]:
    event = make_event({})
    for key, value in changes.items():
        if value is ...:
            event.pop(key)
        else:
            event[key] = value
    return event


def _v2_with(**changes: Any) -> dict[str, Any]:
    event = as_v2(make_event({}))
    for key, value in changes.items():
        event[key] = value
    return event


MALFORMED = {
    "a string": ("event", "not JSON"),
    "a number": ("event", 42),
    "a list": ("event", [1, 2]),
    "null": ("event", None),
    "empty object": ("httpMethod", {}),
    "no httpMethod": ("httpMethod", _event_with(httpMethod=...)),
    "httpMethod a number": ("httpMethod", _event_with(httpMethod=1)),
    "no path": ("path", _event_with(path=...)),
    "relative path": ("path", _event_with(path="api/predict-genre")),
    "body a dict": ("body", _event_with(body={"total_spent": 1})),
    "body a number": ("body", _event_with(body=12)),
    "body a list": ("body", _event_with(body=["x"])),
    "headers a list": ("headers", _event_with(headers=["Content-Type: application/json"])),
    "header value a number": ("headers", _event_with(headers={"Content-Length": 3})),
    "multiValueHeaders a list": ("multiValueHeaders", _event_with(multiValueHeaders=[])),
    "multiValueHeaders values not lists": (
        "multiValueHeaders",
        _event_with(multiValueHeaders={"a": "b"}),
    ),
    "query a string": ("queryStringParameters", _event_with(queryStringParameters="a=b")),
    "isBase64Encoded a string": ("isBase64Encoded", _event_with(isBase64Encoded="false")),
    "requestContext a list": ("requestContext", _event_with(requestContext=[])),
    "v2 without requestContext": ("requestContext.http", _v2_with(requestContext=None)),
    "v2 http a string": ("requestContext.http", _v2_with(requestContext={"http": "GET"})),
    "v2 body a dict": ("body", _v2_with(body={"a": 1})),
    "v2 headers a list": ("headers", _v2_with(headers=[["a", "b"]])),
    "v2 cookies a string": ("cookies", _v2_with(cookies="a=b")),
}


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_malformed_invocation_is_a_400_never_an_exception(predict_handler, name):
    field, event = MALFORMED[name]
    answer = invoke(predict_handler, copy.deepcopy(event))
    body = assert_error(answer, 400, field)
    assert body["message"] == "Malformed API Gateway event"
