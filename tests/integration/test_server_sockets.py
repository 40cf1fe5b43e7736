"""The local server at the socket level: bursts, idle and slow clients, request framing."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.helpers import TrainedModel, local_server

TIMEOUT = 0.5  # the server's socket timeout in these tests
HEALTH = b"GET /api/health HTTP/1.1\r\nHost: x\r\n\r\n"


@pytest.fixture
def port(local_model: TrainedModel) -> Iterator[int]:
    with local_server(timeout=TIMEOUT) as server:
        yield server.port


def connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def read_until_closed(sock: socket.socket) -> bytes:
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def responses(data: bytes) -> list[tuple[int, dict]]:
    """Every HTTP response in data (Content-Length framed), as (status, JSON body)."""
    found = []
    while data:
        head, _, rest = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        headers = {k.lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:])}
        length = int(headers["content-length"])
        found.append((int(lines[0].split()[1]), json.loads(rest[:length])))
        data = rest[length:]
    return found


def one_request(port: int, raw: bytes) -> list[tuple[int, dict]]:
    with connect(port) as sock:
        sock.sendall(raw)
        sock.shutdown(socket.SHUT_WR)
        return responses(read_until_closed(sock))


def assert_error_shape(body: dict, field: str) -> None:
    assert set(body) == {"status", "message", "errors"}
    assert body["status"] == "ERROR"
    assert field in [e["field"] for e in body["errors"]]


def test_a_burst_of_64_connections_is_served_without_resets(port):
    sockets = [connect(port) for _ in range(64)]  # all queued before any is served
    try:

        def ask(sock: socket.socket) -> int:
            sock.sendall(b"GET /api/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            ((status, _),) = responses(read_until_closed(sock))
            return status

        with ThreadPoolExecutor(max_workers=64) as pool:
            statuses = list(pool.map(ask, sockets))
    finally:
        for sock in sockets:
            sock.close()
    assert statuses == [200] * 64


def test_idle_client_is_dropped_and_others_are_served(port):
    with connect(port) as idle:
        assert one_request(port, HEALTH)[0][0] == 200
        started = time.monotonic()
        assert read_until_closed(idle) == b""  # the server hung up on it
        assert time.monotonic() - started < TIMEOUT + 5


def test_idle_keep_alive_connection_is_dropped_after_its_answer(port):
    with connect(port) as sock:
        sock.sendall(HEALTH)
        ((status, _),) = responses(read_until_closed(sock))  # EOF comes: the socket timed out
    assert status == 200


def test_client_that_stops_mid_body_is_dropped(port):
    with connect(port) as slow:
        slow.sendall(
            b"POST /api/predict-genre HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b'Content-Length: 50\r\n\r\n{"total'
        )
        assert one_request(port, HEALTH)[0][0] == 200
        assert read_until_closed(slow) == b""


def test_chunked_body_is_refused_and_cannot_smuggle_a_second_request(port):
    smuggled = b"GET /api/model HTTP/1.1\r\nHost: x\r\n\r\n"
    body = b'{"total_spent": 1}'
    raw = (
        b"POST /api/predict-genre HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n"
        + f"{len(body):x}\r\n".encode()
        + body
        + b"\r\n0\r\n\r\n"
        + smuggled
    )
    ((status, body_json),) = one_request(port, raw)  # exactly one answer, then the hang-up
    assert status == 411
    assert_error_shape(body_json, "Transfer-Encoding")


@pytest.mark.parametrize(
    ("headers", "status", "field"),
    [
        (b"Transfer-Encoding: chunked\r\nContent-Length: 2\r\n", 400, "Content-Length"),
        (b"Content-Length: 2\r\nTransfer-Encoding: gzip, chunked\r\n", 400, "Content-Length"),
        (b"Content-Length: 2\r\nContent-Length: 30\r\n", 400, "Content-Length"),
        (b"Content-Length: 2\r\nContent-Length: 2\r\n", 400, "Content-Length"),
        (b"Content-Length: 2, 2\r\n", 400, "Content-Length"),
        (b"Content-Length: -2\r\n", 400, "Content-Length"),
        (b"Content-Length: +2\r\n", 400, "Content-Length"),
    ],
)
def test_ambiguous_body_length_is_a_400_and_the_connection_closes(port, headers, status, field):
    raw = (
        b"POST /api/predict-genre HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        + headers
        + b"\r\n{}"
        + HEALTH
    )
    ((got, body),) = one_request(port, raw)
    assert got == status
    assert_error_shape(body, field)


def test_keep_alive_still_serves_well_framed_requests_in_a_row(port):
    body = b'{"total_spent": 10}'
    predict = (
        b"POST /api/predict-genre HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        + f"Content-Length: {len(body)}\r\n\r\n".encode()
        + body
    )
    answers = one_request(port, predict + HEALTH + predict)
    assert [status for status, _ in answers] == [200, 200, 200]
    assert answers[0][1] == answers[2][1]


@pytest.mark.parametrize(
    "value",
    [b"\xb2", b"\xb9\xb2", b"1\xb2", b"\xd9\xa4", b"\xa02", b"2\xa0", b"0x2", b"2.0", b"", b"2 2"],
)
def test_content_length_is_ascii_digits_only(port, value):
    """A latin-1 superscript ('\\xb2' is '²', which str.isdigit() accepts), a non-ASCII digit,
    a no-break space: one 400 in the error shape, never a traceback and an empty reply."""
    raw = (
        b"POST /api/predict-genre HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: " + value + b"\r\n\r\n{}"
    )
    ((got, body),) = one_request(port, raw)
    assert got == 400
    assert_error_shape(body, "Content-Length")


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        (b"GET /api/health HTTP/1.1\r\n" + b"".join(b"X-%d: a\r\n" % i for i in range(150)), 431),
        (b"GET /api/health HTTP/1.1\r\nX: " + b"a" * 70000 + b"\r\n", 431),
        (b"GET /" + b"a" * 70000 + b" HTTP/1.1\r\n", 414),
        (b"GET /api/health HTTP/9.9\r\n", 400),
        (b"GET /api/health HTTP/2.0\r\n", 400),
        (b"GET /api/health HTTP/1.x\r\n", 400),
        (b"GET /api/health FTP/1.1\r\n", 400),
        (b"GARBAGE\r\n", 400),
        (b"GET /api/health\r\n", 400),  # HTTP/0.9: http.server would answer with no status line
        (b"GET /api/health HTTP/1.1 extra\r\n", 400),
    ],
)
def test_protocol_errors_are_json_4xx_with_a_status_line(port, raw, status):
    """What http.server refuses itself comes in the API's error shape, never HTML, never 5xx."""
    with connect(port) as sock:
        sock.sendall(raw + b"\r\n")
        data = read_until_closed(sock)
    assert data.startswith(b"HTTP/1.1 %d " % status)
    head = data.partition(b"\r\n\r\n")[0].lower()
    assert b"content-type: application/json" in head
    ((got, body),) = responses(data)
    assert got == status
    assert set(body) == {"status", "message", "errors"}
    assert body["status"] == "ERROR"
