"""http.guard and the strict JSON decoder: what the resolver cannot check itself."""

from __future__ import annotations

import base64
import json

import pytest

from genre_model.serve import api, http
from genre_model.serve.http import ApiError
from genre_model.serve.service import ModelUnusable, NotSupported, Refused, UnknownCustomer

LIMIT = http.MAX_BODY_BYTES


def event(body: str | None, *, encoded: bool = False, method: str = "POST", headers=None) -> dict:
    return {
        "httpMethod": method,
        "path": "/api/predict-genre",
        "body": body,
        "isBase64Encoded": encoded,
        "headers": headers or {},
    }


def rejected(result: tuple[dict, dict | None]) -> tuple[int, dict]:
    _, response = result
    assert response is not None
    body = json.loads(response["body"])
    assert set(body) == {"status", "message", "errors"}
    assert body["status"] == "ERROR"
    return response["statusCode"], body


def test_limit_is_16_kib():
    assert LIMIT == 16 * 1024


@pytest.mark.parametrize("encoded", [False, True])
def test_size_boundary(encoded):
    def make(size: int) -> dict:
        data = b"x" * size
        text = base64.b64encode(data).decode() if encoded else data.decode()
        return event(text, encoded=encoded)

    assert http.guard(make(LIMIT))[1] is None
    status, body = rejected(http.guard(make(LIMIT + 1)))
    assert status == 413
    assert body["errors"] == [{"field": "body", "reason": "too large"}]


def test_size_counts_utf8_bytes_not_characters():
    text = "é" * (LIMIT // 2 + 1)  # 2 bytes each: over the limit in bytes, under in characters
    assert len(text) < LIMIT
    status, _ = rejected(http.guard(event(text)))
    assert status == 413


def test_base64_body_is_decoded_for_the_resolver():
    payload = '{"total_spent": 1.5}'
    out, response = http.guard(event(base64.b64encode(payload.encode()).decode(), encoded=True))
    assert response is None
    assert out["body"] == payload
    assert out["isBase64Encoded"] is False


@pytest.mark.parametrize("body", ["!!!!", "abc", "eyJ=abc", "e30=\n"])
def test_invalid_base64_is_400(body):
    status, result = rejected(http.guard(event(body, encoded=True)))
    assert status == 400
    assert result["errors"] == [{"field": "body", "reason": "invalid base64"}]


@pytest.mark.parametrize("raw", [b"\xff", b'{"a": "\xc3"}', b"\xed\xa0\x80"])
def test_invalid_utf8_is_400(raw):
    status, result = rejected(http.guard(event(base64.b64encode(raw).decode(), encoded=True)))
    assert status == 400
    assert result["errors"] == [{"field": "body", "reason": "invalid UTF-8"}]


@pytest.mark.parametrize(
    "content_type",
    ["application/json", "Application/JSON; charset=utf-8", "application/problem+json"],
)
def test_json_media_types_pass(content_type):
    assert http.guard(event("{}", headers={"content-type": content_type}))[1] is None


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "text/json", ";"]
)
def test_other_media_types_are_415(content_type):
    status, result = rejected(http.guard(event("{}", headers={"Content-Type": content_type})))
    assert status == 415
    assert result["errors"][0]["field"] == "Content-Type"


def test_content_type_is_not_checked_for_get():
    assert http.guard(event("", method="GET", headers={"Content-Type": "text/plain"}))[1] is None


def test_no_body_passes_to_the_resolver():
    assert http.guard(event(None)) == (event(None), None)


def test_strict_json_refuses_duplicate_keys_at_any_depth():
    assert http.strict_json('{"a": {"b": 1}}') == {"a": {"b": 1}}
    with pytest.raises(ApiError) as info:
        http.strict_json('{"a": {"b": 1, "b": 2}}')
    assert info.value.status == 400
    assert info.value.errors == [("b", "duplicate key")]


def test_strict_json_refuses_deep_nesting():
    with pytest.raises(ApiError) as info:
        http.strict_json("[" * 100_000 + "]" * 100_000)
    assert info.value.status == 400
    assert info.value.errors == [("body", "too deep")]


def test_reset_forgets_the_cache():
    first = api.model_cache()
    assert api.model_cache() is first
    api.reset()
    assert api.model_cache() is not first


# Nesting depth is checked by the decoder itself, so 3.11 and 3.12+ (whose JSON decoder no longer
# reaches the recursion limit at these depths) refuse exactly the same bodies.
@pytest.mark.parametrize(
    ("opener", "closer"), [("[", "]"), ('{"a":', "}")], ids=["array", "object"]
)
@pytest.mark.parametrize("depth", [http.MAX_JSON_DEPTH + 1, 200, 900, 5000])
def test_nesting_beyond_the_limit_is_refused_on_every_python(opener, closer, depth):
    with pytest.raises(ApiError) as caught:
        http.strict_json(opener * depth + "1" + closer * depth)
    assert caught.value.status == 400
    assert caught.value.errors == [("body", "too deep")]


def test_nesting_at_the_limit_is_decoded():
    depth = http.MAX_JSON_DEPTH
    assert http.strict_json("[" * depth + "1" + "]" * depth) is not None


@pytest.mark.parametrize(
    "text",
    [
        '{"country": "' + "[" * 5000 + '"}',
        '{"country": "\\"' + "{" * 5000 + '"}',
        '{"a": "\\\\", "b": "' + "[" * 100 + '"}',
    ],
    ids=["brackets-in-string", "escaped-quote-then-brackets", "escaped-backslash"],
)
def test_brackets_inside_strings_do_not_count(text):
    assert isinstance(http.strict_json(text), dict)


@pytest.mark.parametrize(
    ("refused", "status", "message"),
    [
        (UnknownCustomer("Customer 7 not found in model v", "customer_id", "unknown"), 404, None),
        (NotSupported("Model v cannot explain predictions", "explain", "omit it"), 422, None),
        (ModelUnusable("Model v gave NaN", "model", "invalid"), 503, http.MODEL_UNUSABLE),
    ],
)
def test_each_refusal_of_the_service_has_its_status_and_names_the_field(
    refused: Refused, status: int, message: str | None
) -> None:
    error = http.refusal(refused)
    assert error.status == status
    assert error.message == (message or refused.message)
    assert error.errors == [(refused.field, refused.reason)]


def test_every_kind_of_refusal_has_a_status() -> None:
    kinds = set(Refused.__subclasses__())
    assert kinds == set(http.REFUSAL_STATUS)
