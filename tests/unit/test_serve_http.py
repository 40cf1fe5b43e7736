"""What a client reads of every answer, through ``handler.handle`` with a fake loaded model: one
proxy response shape (JSON, compact, headers only, never base64), the batch body's 1 MiB limit
from both sides, and a model whose answer holds a non-finite number: docs/api.md's 503 "Genre
model unusable" naming ``model``, for the single endpoint and for each batch item alone, and for
any answer the encoder refuses."""

from __future__ import annotations

import base64
import json
import logging
import math
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from genre_model.serve import handler
from genre_model.serve.http import BATCH_PATH, PREDICT_PATH, Reply, respond
from tests.helpers import SPEC_INPUT, fake_model, serving

MIB = 1024 * 1024
UNUSABLE = {
    "status": "ERROR",
    "message": "Genre model unusable",
    "errors": [{"field": "model", "reason": "the model produced an invalid answer"}],
}


@pytest.fixture
def model() -> Iterator[Any]:
    with serving(fake_model()) as loaded:
        yield loaded


def call(method: str, path: str, body: str | None = None, *, b64: bool = False) -> dict:
    if b64 and body is not None:
        body = base64.b64encode(body.encode()).decode()
    event = {
        "httpMethod": method,
        "path": path,
        "body": body,
        "isBase64Encoded": b64,
        "headers": {"Content-Type": "application/json"},
    }
    return handler.handle(event, None)


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("POST", PREDICT_PATH, json.dumps(SPEC_INPUT), 200),
        ("POST", BATCH_PATH, json.dumps({"items": [SPEC_INPUT, {"customer_id": 99}]}), 200),
        ("GET", "/api/health", None, 200),
        ("GET", "/api/model", None, 200),
        ("POST", PREDICT_PATH, '{"total_spent": -1}', 422),
        ("POST", PREDICT_PATH, '{"customer_id": 99}', 404),
        ("GET", PREDICT_PATH, None, 405),
        ("GET", "/api/predict-genre/X", None, 404),  # a segment past a route is no route
        ("POST", PREDICT_PATH, "{", 400),
        ("POST", PREDICT_PATH, "x" * (16 * 1024 + 1), 413),
    ],
)
def test_every_answer_is_one_compact_json_text_never_base64(
    model: Any, method: str, path: str, body: str | None, status: int
) -> None:
    response = call(method, path, body)
    assert set(response) == {"statusCode", "headers", "body", "isBase64Encoded"}
    assert response["statusCode"] == status
    assert response["isBase64Encoded"] is False
    assert response["headers"]["Content-Type"] == "application/json"
    text = response["body"]
    assert text == json.dumps(json.loads(text), separators=(",", ":"))  # compact, as a batch's
    if path == PREDICT_PATH and status == 200:
        assert response["headers"]["X-Model-Version"] == model.version
    if status == 405:
        assert response["headers"]["Allow"] == "POST"
        assert json.loads(text) == {
            "status": "ERROR",
            "message": "Method not allowed; use POST",
            "errors": [{"field": "method", "reason": "allowed: POST"}],
        }


@pytest.mark.parametrize("b64", [False, True], ids=["text", "base64"])
def test_a_batch_body_of_exactly_1_mib_is_read_and_one_byte_more_is_a_413(
    model: Any, b64: bool
) -> None:
    def body(size: int) -> str:
        head = json.dumps({"items": [SPEC_INPUT]})[:-1]
        return head + " " * (size - len(head) - 1) + "}"

    assert len(body(MIB)) == MIB
    answered = call("POST", BATCH_PATH, body(MIB), b64=b64)
    assert answered["statusCode"] == 200, answered["body"]
    assert json.loads(answered["body"])["results"][0]["status"] == "OK"
    refused = call("POST", BATCH_PATH, body(MIB + 1), b64=b64)
    assert (refused["statusCode"], json.loads(refused["body"])) == (
        413,
        {
            "status": "ERROR",
            "message": "Request body over 1 MiB",
            "errors": [{"field": "body", "reason": "too large"}],
        },
    )


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_a_non_finite_number_in_any_answer_is_the_documented_503(
    value: float, caplog: pytest.LogCaptureFixture
) -> None:
    """The last step of every route: whatever a route answers, a non-finite number (which the
    contract's checks should make impossible) is never sent as JSON that is not JSON."""
    reply = Reply(200, {"status": "OK", "confidence": value}, {"X-Model-Version": "v1"})
    with caplog.at_level(logging.ERROR):
        response = respond(reply)
    assert response["statusCode"] == 503
    assert json.loads(response["body"], parse_constant=pytest.fail) == UNUSABLE
    assert response["headers"] == {"Content-Type": "application/json"}  # not the reply's
    logged = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert logged == ["Response with a non-finite number refused (HTTP 200)"]


@pytest.mark.parametrize("value", [math.nan, math.inf])
def test_a_model_answering_non_finite_probabilities_is_a_503_per_request_and_per_item(
    model: Any, value: float, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(rows: Any) -> np.ndarray:
        return np.full((len(rows), len(model.predictor.classes)), value)

    object.__setattr__(model.predictor, "predict_one", lambda row: broken([row])[0])
    object.__setattr__(model.predictor, "predict_proba", broken)
    with caplog.at_level(logging.ERROR):
        single = call("POST", PREDICT_PATH, json.dumps(SPEC_INPUT))
    assert (single["statusCode"], json.loads(single["body"])) == (503, UNUSABLE)
    assert f"Model {model.version} produced non-finite probabilities" in caplog.text
    items = [SPEC_INPUT, {"customer_id": 1}, {"customer_id": 99}]
    batch = call("POST", BATCH_PATH, json.dumps({"items": items}))
    assert batch["statusCode"] == 200
    results = json.loads(batch["body"])["results"]
    assert results[:2] == [UNUSABLE, UNUSABLE]
    assert results[2]["errors"] == [{"field": "customer_id", "reason": "unknown customer"}]
