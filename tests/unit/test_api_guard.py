"""guard.body_text, the strict JSON decoder and errors.reply: what is checked before a route."""

from __future__ import annotations

import base64
import json
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from genre_model.serve import api, errors, guard, http, request
from genre_model.serve.errors import ApiError
from genre_model.serve.model_cache import ModelUnavailable
from genre_model.serve.proxy_event import MalformedEvent
from genre_model.serve.service import ModelUnusable, NotSupported, Refused, UnknownCustomer

LIMIT = http.MAX_BODY_BYTES


def text_of(ev: dict) -> str:
    """The body as the single route's guard reads it (16 KiB)."""
    return guard.body_text(ev, LIMIT)


def event(body: str | None, *, encoded: bool = False, method: str = "POST", headers=None) -> dict:
    return {
        "httpMethod": method,
        "path": "/api/predict-genre",
        "body": body,
        "isBase64Encoded": encoded,
        "headers": headers or {},
    }


def rejected(ev: dict) -> tuple[int, dict]:
    with pytest.raises(ApiError) as info:
        text_of(ev)
    reply = errors.reply(info.value)
    body = json.loads(http.encoded(reply)[1])
    assert set(body) == {"status", "message", "errors"}
    assert body["status"] == "ERROR"
    return reply.status, body


def test_limit_is_16_kib():
    assert LIMIT == 16 * 1024


@pytest.mark.parametrize("encoded", [False, True])
def test_size_boundary(encoded):
    def make(size: int) -> dict:
        data = b"x" * size
        text = base64.b64encode(data).decode() if encoded else data.decode()
        return event(text, encoded=encoded)

    assert text_of(make(LIMIT)) == "x" * LIMIT
    status, body = rejected(make(LIMIT + 1))
    assert status == 413
    assert body["errors"] == [{"field": "body", "reason": "too large"}]


def test_size_counts_utf8_bytes_not_characters():
    text = "é" * (LIMIT // 2 + 1)  # 2 bytes each: over the limit in bytes, under in characters
    assert len(text) < LIMIT
    status, _ = rejected(event(text))
    assert status == 413


def test_base64_body_is_decoded():
    payload = '{"total_spent": 1.5}'
    assert text_of(event(base64.b64encode(payload.encode()).decode(), encoded=True)) == (payload)


@pytest.mark.parametrize("body", ["!!!!", "abc", "eyJ=abc", "e30=\n"])
def test_invalid_base64_is_400(body):
    status, result = rejected(event(body, encoded=True))
    assert status == 400
    assert result["errors"] == [{"field": "body", "reason": "invalid base64"}]


@pytest.mark.parametrize("raw", [b"\xff", b'{"a": "\xc3"}', b"\xed\xa0\x80"])
def test_invalid_utf8_is_400(raw):
    status, result = rejected(event(base64.b64encode(raw).decode(), encoded=True))
    assert status == 400
    assert result["errors"] == [{"field": "body", "reason": "invalid UTF-8"}]


@pytest.mark.parametrize(
    "content_type",
    ["application/json", "Application/JSON; charset=utf-8", "application/problem+json"],
)
def test_json_media_types_pass(content_type):
    assert text_of(event("{}", headers={"content-type": content_type})) == "{}"


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "text/json", ";"]
)
def test_other_media_types_are_415(content_type):
    status, result = rejected(event("{}", headers={"Content-Type": content_type}))
    assert status == 415
    assert result["errors"][0]["field"] == "Content-Type"


@pytest.mark.parametrize(
    "coding", ["gzip", "GZIP", "deflate", "br", "zstd", "compress", "x-gzip", "identity, gzip"]
)
@pytest.mark.parametrize("header", ["Content-Encoding", "content-encoding"])
def test_a_compressed_body_is_415_naming_the_header(coding, header):
    """Class: any Content-Encoding but identity, whatever the bytes (even valid UTF-8 JSON,
    even invalid UTF-8 that used to be reported as such): 415 naming the header."""
    for body, encoded in (("{}", False), (base64.b64encode(b"\x1f\x8b\x08\xff").decode(), True)):
        status, result = rejected(event(body, encoded=encoded, headers={header: coding}))
        assert status == 415
        assert result["message"] == "Content-Encoding is not supported: send the body uncompressed"
        assert result["errors"] == [{"field": "Content-Encoding", "reason": coding.lower()}]


@pytest.mark.parametrize("coding", ["identity", "Identity", "", " identity , identity"])
def test_identity_encoding_passes(coding):
    assert text_of(event("{}", headers={"Content-Encoding": coding})) == "{}"


def test_content_type_and_encoding_are_not_checked_for_get():
    headers = {"Content-Type": "text/plain", "Content-Encoding": "gzip"}
    assert text_of(event("", method="GET", headers=headers)) == ""


def test_no_body_is_empty_text():
    assert text_of(event(None)) == ""


def test_strict_json_refuses_duplicate_keys_at_any_depth():
    assert request.strict_json('{"a": {"b": 1}}') == {"a": {"b": 1}}
    with pytest.raises(ApiError) as info:
        request.strict_json('{"a": {"b": 1, "b": 2}}')
    assert info.value.status == 400
    assert info.value.errors == [("b", "duplicate key")]


@pytest.mark.parametrize("text", ["", "{", "nope", '{"a":1}x', "[1,]"])
def test_strict_json_refuses_what_is_not_json(text):
    with pytest.raises(ApiError) as info:
        request.strict_json(text)
    assert (info.value.status, info.value.errors) == (400, [("body", "invalid JSON")])


def test_strict_json_refuses_deep_nesting():
    with pytest.raises(ApiError) as info:
        request.strict_json("[" * 100_000 + "]" * 100_000)
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
@pytest.mark.parametrize("depth", [request.MAX_JSON_DEPTH + 1, 200, 900, 5000])
def test_nesting_beyond_the_limit_is_refused_on_every_python(opener, closer, depth):
    with pytest.raises(ApiError) as caught:
        request.strict_json(opener * depth + "1" + closer * depth)
    assert caught.value.status == 400
    assert caught.value.errors == [("body", "too deep")]


def test_nesting_at_the_limit_is_decoded():
    depth = request.MAX_JSON_DEPTH
    assert request.strict_json("[" * depth + "1" + "]" * depth) is not None


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
    assert isinstance(request.strict_json(text), dict)


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
    reply = errors.reply(refused)
    assert reply.status == status
    assert reply.body == http.error_body(
        message or refused.message, [(refused.field, refused.reason)]
    )


def test_every_kind_of_refusal_has_a_status() -> None:
    kinds = set(Refused.__subclasses__())
    assert kinds == set(errors.REFUSAL_STATUS)


def test_every_other_error_has_its_answer(caplog) -> None:
    """The one map: a missing model is the spec's 503, a malformed event a 400 naming the
    field, and a bug a 500 that tells the client nothing (the log has the traceback)."""
    assert errors.reply(ModelUnavailable("no model")).body == http.error_body(
        errors.MODEL_NOT_FOUND, [("model", "no model is published or it cannot be loaded")]
    )
    malformed = errors.reply(MalformedEvent("path", "not an absolute path"))
    assert (malformed.status, malformed.body["errors"]) == (
        400,
        [{"field": "path", "reason": "not an absolute path"}],
    )
    bug = errors.reply(KeyError("secret detail"))
    assert (bug.status, bug.body) == (500, http.error_body("Internal error", []))
    assert "secret detail" not in json.dumps(bug.body)


def _walked_depth_over(text: str, limit: int) -> bool:
    """The reference: strings removed by the JSON string pattern, brackets walked one by one."""
    depth = 0
    for char in re.sub(r'"(?:[^"\\]|\\.)*"', "", text):
        if char in "[{]}":
            depth += 1 if char in "[{" else -1
            if depth > limit:
                return True
    return False


@settings(max_examples=400, deadline=None, derandomize=True)
@given(
    parts=st.lists(
        st.sampled_from(["[", "]", "{", "}", '"', "\\", '\\"', "a", ",", ' "[[" ', "[" * 5]),
        max_size=60,
    ),
    limit=st.integers(min_value=0, max_value=6),
)
def test_the_fast_depth_check_is_the_walk(parts: list[str], limit: int) -> None:
    """``nested_too_deep``'s shortcuts (quotes split, pairs removed by passes) answer as the
    bracket-by-bracket walk, balanced or not, with escapes or open strings."""
    text = "".join(parts)
    assert request.nested_too_deep(text, limit) == _walked_depth_over(text, limit)
