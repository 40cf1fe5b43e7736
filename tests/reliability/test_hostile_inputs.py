"""Hostile and malformed requests, table-driven, through the real handler and the local server.

Every case must get a 4xx in the one documented error shape naming the field at fault, never a
5xx, never a stack trace; and the cached model must answer the next good request identically.
Each body case runs three ways: as API Gateway delivers text, base64-encoded (binary media
types), and over HTTP through ``devtools.server``.
"""

from __future__ import annotations

import base64
import json
import socket
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.helpers import (
    JSON,
    PREDICT,
    Answer,
    LocalServer,
    assert_error,
    good_answer,
    invoke,
    lambda_context,
)

PASSWORDISH = "' OR 1=1; DROP TABLE customer; --"
SCRIPT = "<script>alert(document.cookie)</script>"


@dataclass(frozen=True)
class Case:
    id: str
    body: bytes | None
    status: int
    field: str
    method: str = "POST"
    path: str = PREDICT
    headers: dict[str, str] = field(default_factory=lambda: dict(JSON))


def js(value: Any) -> bytes:
    return json.dumps(value).encode()


def _field_cases() -> list[Case]:
    """Every feature field and customer_id with every wrong type or value: 422 naming it."""
    bad: dict[str, list[tuple[str, Any]]] = {
        "total_spent": [
            ("string", "12.5"),
            ("bool", True),
            ("null", None),
            ("array", [1]),
            ("object", {"amount": 1}),
            ("negative", -0.01),
            ("huge", 3.5e38),
            ("sql", PASSWORDISH),
            ("script", SCRIPT),
        ],
        "total_tracks_bought": [
            ("fraction", 1.5),
            ("float_whole", 15.0),
            ("string", "15"),
            ("bool", False),
            ("negative", -1),
            ("huge", 10**16),
            ("null", None),
            ("exponent", 1e2),
        ],
        "genre_spending_ratio": [
            ("above_one", 1.0000001),
            ("below_zero", -0.1),
            ("two", 2),
            ("string", "0.5"),
            ("bool", True),
            ("null", None),
            ("nested", {"value": 0.5}),
        ],
        "customer_id": [
            ("string", "1"),
            ("fraction", 1.5),
            ("float_whole", 1.0),
            ("true", True),
            ("false", False),
            ("null", None),
            ("array", [1]),
            ("object", {"id": 1}),
            ("negative", -1),
            ("zero", 0),
            ("int64_overflow", 2**63),
            ("huge", 10**30),
            ("exponent_string", "1e3"),
            ("sql", "1 OR 1=1"),
            ("script", SCRIPT),
        ],
        "country": [
            ("number", 7),
            ("empty", ""),
            ("too_long", "x" * 65),
            ("null", None),
            ("sql", PASSWORDISH),  # valid string, but this model has no location features
        ],
    }
    cases = [
        Case(f"{name}-{label}", js({name: value}), 422, name)
        for name, values in bad.items()
        for label, value in values
    ]
    raw_numbers = {"NaN": b"NaN", "Infinity": b"Infinity", "minus_Infinity": b"-Infinity"}
    raw_numbers["1e309"] = b"1e309"
    for label, literal in raw_numbers.items():
        for name in ("total_spent", "genre_spending_ratio"):
            cases.append(
                Case(f"{name}-{label}", b'{"%s": %s}' % (name.encode(), literal), 422, name)
            )
    cases.append(Case("customer_id-NaN", b'{"customer_id": NaN}', 422, "customer_id"))
    cases.append(Case("customer_id-unknown", js({"customer_id": 10**9}), 404, "customer_id"))
    cases.append(
        Case(
            "customer_id-with-features",
            js({"customer_id": 1, "total_spent": 3}),
            422,
            "customer_id",
        )
    )
    return cases


def _body_cases() -> list[Case]:
    deep = b"[" * 5000 + b"]" * 5000
    return [
        Case("unknown-field-typo", js({"total_spend": 10}), 422, "total_spend"),
        Case("unknown-field-case", js({"Total_Spent": 10}), 422, "Total_Spent"),
        Case("unknown-field-proto", js({"__proto__": {"admin": True}}), 422, "__proto__"),
        Case("unknown-field-sql-name", js({PASSWORDISH: 1}), 422, PASSWORDISH),
        Case("unknown-field-script-name", js({SCRIPT: 1}), 422, SCRIPT),
        Case("unknown-field-nul", b'{"\\u0000": 1}', 422, "\x00"),
        Case("duplicate-key", b'{"total_spent": 1, "total_spent": 2}', 400, "total_spent"),
        Case("duplicate-unknown-key", b'{"a": 1, "a": 1}', 400, "a"),
        Case("array-body", js([SPEC_LIKE]), 400, "body"),
        Case("string-body", js("total_spent=1"), 400, "body"),
        Case("number-body", b"42", 400, "body"),
        Case("null-body", b"null", 400, "body"),
        Case("true-body", b"true", 400, "body"),
        Case("empty-body", b"", 400, "body"),
        Case("whitespace-body", b" \t\r\n ", 400, "body"),
        Case("truncated-json", b'{"total_spent": 1', 400, "body"),
        Case("trailing-garbage", b"{}}", 400, "body"),
        Case("trailing-comma", b'{"total_spent": 1,}', 400, "body"),
        Case("single-quotes", b"{'total_spent': 1}", 400, "body"),
        Case("comment", b'{"total_spent": 1 /* x */}', 400, "body"),
        Case("utf8-bom", b"\xef\xbb\xbf{}", 400, "body"),
        Case("invalid-utf8", b'{"country": "\xff\xfe"}', 400, "body"),
        Case("overlong-utf8", b'{"country": "\xc0\xaf"}', 400, "body"),
        Case("utf16-body", '{"total_spent": 1}'.encode("utf-16"), 400, "body"),
        Case("deep-nesting", deep, 400, "body"),
        Case("nested-in-field", b'{"total_spent": ' + deep + b"}", 400, "body"),
        Case("over-16k", js({"country": "x" * 17_000}), 413, "body"),
        Case("one-megabyte", b'{"pad": "' + b"a" * (1024 * 1024 - 11) + b'"}', 413, "body"),
        Case(
            "form-encoded",
            b"total_spent=1",
            415,
            "Content-Type",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        ),
        Case(
            "text-plain", js(SPEC_LIKE), 415, "Content-Type", headers={"Content-Type": "text/plain"}
        ),
        Case(
            "multipart",
            b"--x--",
            415,
            "Content-Type",
            headers={"Content-Type": "multipart/form-data; boundary=x"},
        ),
        Case(
            "jsonp",
            js(SPEC_LIKE),
            415,
            "Content-Type",
            headers={"Content-Type": "application/jsonp"},
        ),
        Case("xml", b"<a/>", 415, "Content-Type", headers={"Content-Type": "application/xml"}),
        Case(
            "content-type-script",
            js(SPEC_LIKE),
            415,
            "Content-Type",
            headers={"Content-Type": SCRIPT},
        ),
    ]


SPEC_LIKE = {"total_spent": 45.5, "total_tracks_bought": 15, "genre_spending_ratio": 0.6}


def _route_cases() -> list[Case]:
    methods = ["GET", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "CONNECTX"]
    cases = [Case(f"method-{m}", None, 405, "method", method=m, headers={}) for m in methods]
    cases.append(Case("method-PUT-with-body", js(SPEC_LIKE), 405, "method", method="PUT"))
    cases.append(Case("health-POST", b"{}", 405, "method", path="/api/health"))
    paths = [
        "/api/predict-genre/../health",
        "/API/PREDICT-GENRE",
        "/api/%70redict-genre",
        "/api/predict-genre%00",
        "/api/predict-genre;.json",
        "/../../etc/passwd",
        "/api/predict-genre/%2e%2e/model",
        "/api/" + "a" * 4000,
        "/api/predict-genre.php",
        "/",
    ]
    for i, path in enumerate(paths):
        cases.append(Case(f"path-{i}", js(SPEC_LIKE), 404, "path", path=path))
    return cases


CASES = _field_cases() + _body_cases() + _route_cases()
BODY_CASES = [c for c in CASES if c.body is not None and c.method == "POST"]
HANDLER_ONLY = [
    # (id, body as API Gateway hands it, isBase64Encoded, field)
    ("base64-broken-alphabet", "!!!notbase64", True, "body"),
    ("base64-missing-padding", "e30", True, "body"),
    ("base64-of-invalid-utf8", base64.b64encode(b"\xff\xfe\xfd").decode(), True, "body"),
    ("base64-of-array", base64.b64encode(b"[]").decode(), True, "body"),
    ("base64-with-newlines", "e3\n0=", True, "body"),
    ("lone-surrogate-text", '{"country": "\ud800"}', False, "body"),
]


def test_the_table_is_big_enough() -> None:
    ids = [c.id for c in CASES]
    assert len(set(ids)) == len(ids)
    assert len(CASES) >= 60
    assert all(400 <= c.status < 500 for c in CASES)


def _assert_clean(answer: Answer, case_status: int, field_name: str) -> None:
    assert answer.status < 500, answer.raw
    assert "Traceback" not in answer.raw
    assert 'File "' not in answer.raw
    assert_error(answer, case_status, field_name)


def _event(case: Case, *, b64: bool) -> dict:
    from devtools.server import to_event

    event = to_event(case.method, case.path, dict(case.headers), case.body)
    if b64 and case.body is not None:
        event["body"] = base64.b64encode(case.body).decode("ascii")
        event["isBase64Encoded"] = True
    return event


def _then_good_is_unchanged(handler: Any, before: Answer) -> None:
    after = good_answer(handler)
    assert after.status == 200, after.raw
    assert after.raw == before.raw
    assert after.headers["x-model-version"] == before.headers["x-model-version"]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_hostile_request_through_the_handler(case: Case, predict_handler, local_model, capsys):
    before = good_answer(predict_handler)
    _assert_clean(invoke(predict_handler, _event(case, b64=False)), case.status, case.field)
    _then_good_is_unchanged(predict_handler, before)
    out = capsys.readouterr()
    assert "Traceback" not in out.out + out.err


@pytest.mark.parametrize("case", BODY_CASES, ids=lambda c: c.id)
def test_hostile_body_base64_encoded(case: Case, predict_handler, local_model):
    before = good_answer(predict_handler)
    _assert_clean(invoke(predict_handler, _event(case, b64=True)), case.status, case.field)
    _then_good_is_unchanged(predict_handler, before)


@pytest.mark.parametrize(("name", "body", "encoded", "field_name"), HANDLER_ONLY)
def test_broken_encodings_through_the_handler(
    name, body, encoded, field_name, predict_handler, local_model
):
    from devtools.server import to_event

    before = good_answer(predict_handler)
    event = to_event("POST", PREDICT, dict(JSON), None)
    event["body"], event["isBase64Encoded"] = body, encoded
    result = predict_handler.lambda_handler(event, lambda_context())
    answer = Answer(int(result["statusCode"]), json.loads(result["body"]), result["body"], {})
    _assert_clean(answer, 400, field_name)
    _then_good_is_unchanged(predict_handler, before)


def _over_http(server: LocalServer, case: Case) -> Answer:
    reply = server.request(case.method, case.path, case.body, dict(case.headers))
    text = reply.raw.decode("utf-8", "replace")
    assert reply.headers.get("content-type", "").startswith("application/json"), text
    return Answer(reply.status, json.loads(text), text, reply.headers)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_hostile_request_through_the_local_server(case: Case, server: LocalServer):
    good = server.request("POST", PREDICT, js(SPEC_LIKE), dict(JSON))
    assert good.status == 200
    _assert_clean(_over_http(server, case), case.status, case.field)
    again = server.request("POST", PREDICT, js(SPEC_LIKE), dict(JSON))
    assert (again.status, again.raw) == (good.status, good.raw)


def test_head_is_405_without_a_body(server: LocalServer):
    reply = server.request("HEAD", PREDICT)
    assert reply.status == 405
    assert reply.raw == b""


def test_declared_length_over_one_mebibyte_is_refused_unread(server: LocalServer):
    with socket.create_connection((server.host, server.port), timeout=10) as sock:
        sock.sendall(
            b"POST /api/predict-genre HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 1048577\r\n\r\n"
        )  # no body byte sent: closing with unread input would make the kernel send a RST
        data = b""
        while chunk := sock.recv(65536):  # the server closes the connection after the 413
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413"), data
    assert body, data
    assert json.loads(body)["errors"] == [{"field": "body", "reason": "too large"}]


def _raw_http(server: LocalServer, request: bytes, timeout: float = 5) -> bytes:
    with socket.create_connection((server.host, server.port), timeout=timeout) as sock:
        sock.sendall(request)
        chunks = []
        try:
            while chunk := sock.recv(65536):  # until the server hangs up (Connection: close)
                chunks.append(chunk)
        except TimeoutError:
            pass
    return b"".join(chunks)


@pytest.mark.parametrize("length", ["abc", "-1", "1e3", " "])
def test_malformed_content_length_is_a_4xx(server: LocalServer, length: str):
    """``int(Content-Length)`` used to raise for ``abc``/``1e3`` (no response, a traceback on
    stderr) and ``-1`` became ``rfile.read(-1)``, blocking the handler thread."""
    data = _raw_http(
        server,
        b"POST /api/predict-genre HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: " + length.encode() + b"\r\nConnection: close\r\n\r\n{}",
    )
    assert data.split(b" ", 2)[1:2] == [b"400"], data
    assert b'"field":"Content-Length"' in data.replace(b" ", b"")
    # and the server still answers a good request
    reply = server.request("POST", PREDICT, js(SPEC_LIKE), dict(JSON))
    assert reply.status == 200


@pytest.mark.parametrize("digits", [4301, 10_000])
def test_integer_with_thousands_of_digits_is_400(digits: int, predict_handler, local_model):
    """``json.loads`` raises ``ValueError`` (not ``JSONDecodeError``) for integers
    over Python's 4,300-digit limit, ``predict_event`` lets it escape and the Lambda errors (a
    502 at API Gateway, no response at all from the local server)."""
    before = good_answer(predict_handler)
    for name in ("total_spent", "customer_id"):
        body = b'{"%s": %s}' % (name.encode(), b"9" * digits)
        case = Case("digits", body, 400, "body")
        _assert_clean(invoke(predict_handler, _event(case, b64=False)), 400, "body")
    _then_good_is_unchanged(predict_handler, before)
