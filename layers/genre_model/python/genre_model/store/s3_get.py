"""A signed S3 GET without boto3: the predict function's cold path.

Importing boto3 and building an S3 client (service model, endpoint rules) is the biggest single
cost of the predict function's first request; reading three small objects needs none of it.
This signs one GET with AWS Signature Version 4 using only the standard library. It is used only
inside Lambda: ``config`` reads the credentials, region and endpoint the runtime provides into
``S3Limits.signed_get``; everywhere else (profiles, SSO, moto's in-process mock in the tests)
that is None and the store keeps using boto3.
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import hmac
import random
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar
from urllib.parse import quote, urlsplit

from genre_model.config import S3Limits, SignedGet

T = TypeVar("T")
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()  # a GET has no payload


# botocore's standard retry mode: these statuses and codes, and connection errors/timeouts.
RETRY_STATUSES = frozenset({500, 502, 503, 504})
RETRY_CODES = frozenset(
    {"SlowDown", "RequestTimeout", "RequestTimeoutException", "InternalError", "Throttling"}
)
BACKOFF_BASE = 0.05  # botocore uses 1 s; a refresh has about a second in all
BACKOFF_CAP = 1.0


class S3GetError(RuntimeError):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"S3 GET failed: HTTP {status} {code} {message}".strip())
        self.status = status
        self.code = code


def time_left(deadline: float | None) -> float:
    """Seconds before ``deadline`` (``time.monotonic``); ``S3GetError`` "Deadline" once passed."""
    if deadline is None:
        return float("inf")
    left = deadline - time.monotonic()
    if left <= 0:
        raise S3GetError(0, "Deadline", "deadline passed")
    return left


def transient(exc: Exception) -> bool:
    """What botocore's standard mode retries: 5xx, throttling codes, connection errors."""
    if not isinstance(exc, S3GetError):
        return False
    if exc.status == 0:
        return exc.code != "Deadline"
    return exc.status in RETRY_STATUSES or exc.code in RETRY_CODES


def retrying(
    attempt: Callable[[float], T],
    limits: S3Limits,
    deadline: float | None,
    retryable: Callable[[Exception], bool] = transient,
) -> T:
    """``attempt(seconds_left)`` up to ``limits.max_attempts`` times, as botocore's standard
    mode does (exponential backoff with full jitter), but never sleeping past ``deadline``."""
    for n in range(1, limits.max_attempts + 1):
        left = time_left(deadline)
        pause = random.uniform(0, min(BACKOFF_CAP, BACKOFF_BASE * 2**n))  # noqa: S311
        try:
            return attempt(left)
        except Exception as exc:
            out_of_time = deadline is not None and time.monotonic() + pause >= deadline
            if n == limits.max_attempts or out_of_time or not retryable(exc):
                raise  # the last failure, with its own code
        time.sleep(pause)
    raise AssertionError("max_attempts must be >= 1")


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


class S3Getter:
    """GET objects of one bucket (path-style on a custom endpoint, virtual-hosted on AWS).

    Each attempt has connect/read timeouts (``limits``, a ``config.S3Limits``), never more than
    what is left before the caller's deadline; failed attempts are retried as botocore's
    standard mode does (5xx, SlowDown, timeouts; exponential backoff with full jitter).
    """

    def __init__(self, bucket: str, signed: SignedGet, limits: S3Limits | None = None) -> None:
        import http.client

        self._http = http.client
        self.limits = limits or S3Limits()
        self.bucket = bucket
        self.key_id, self.secret, self.token = signed.key_id, signed.secret, signed.token
        self.region = signed.region
        if signed.endpoint:
            parts = urlsplit(signed.endpoint)
            self.https = parts.scheme == "https"
            self.host = parts.netloc
            self.prefix = f"{parts.path.rstrip('/')}/{quote(bucket)}/"
        elif "." in bucket:  # virtual-hosted names with dots fail TLS: path-style
            self.https = True
            self.host = f"s3.{self.region}.amazonaws.com"
            self.prefix = f"/{quote(bucket)}/"
        else:
            self.https = True
            self.host = f"{bucket}.s3.{self.region}.amazonaws.com"
            self.prefix = "/"
        self._conn: Any = None

    def _connection(self, timeout: float) -> Any:
        if self._conn is None:
            cls = self._http.HTTPSConnection if self.https else self._http.HTTPConnection
            self._conn = cls(self.host, timeout=min(self.limits.connect_timeout, timeout))
        return self._conn

    def _drop(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def sign(self, path: str, now: datetime.datetime) -> dict[str, str]:
        """Signature Version 4 headers of ``GET path`` at ``now`` (empty payload)."""
        amz_date, day = now.strftime("%Y%m%dT%H%M%SZ"), now.strftime("%Y%m%d")
        headers = {"host": self.host, "x-amz-content-sha256": EMPTY_SHA256, "x-amz-date": amz_date}
        if self.token:
            headers["x-amz-security-token"] = self.token
        signed = ";".join(sorted(headers))
        lines = [f"{k}:{headers[k]}" for k in sorted(headers)]
        canonical = "\n".join(["GET", path, "", *lines, "", signed, EMPTY_SHA256])
        scope = f"{day}/{self.region}/s3/aws4_request"
        to_sign = "\n".join(
            ["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()]
        )
        key_ = _hmac(f"AWS4{self.secret}".encode(), day)
        for part in (self.region, "s3", "aws4_request"):
            key_ = _hmac(key_, part)
        signature = hmac.new(key_, to_sign.encode(), hashlib.sha256).hexdigest()
        headers["Authorization"] = (
            f"AWS4-HMAC-SHA256 Credential={self.key_id}/{scope}, "
            f"SignedHeaders={signed}, Signature={signature}"
        )
        return headers

    def get(
        self, key: str, etag: str | None = None, deadline: float | None = None
    ) -> tuple[int, bytes, str | None]:
        """(status, body, ETag): 200 with the body, or 304 when ``etag`` still matches."""
        path = self.prefix + quote(key, safe="/~")
        return retrying(
            lambda left: self._attempt(path, etag, left, deadline), self.limits, deadline
        )

    def _attempt(
        self, path: str, etag: str | None, left: float, deadline: float | None
    ) -> tuple[int, bytes, str | None]:
        headers = self.sign(path, datetime.datetime.now(datetime.UTC))
        if etag:
            headers["If-None-Match"] = etag
        try:
            conn = self._connection(left)
            conn.timeout = min(self.limits.connect_timeout, left)
            if conn.sock is not None:
                conn.sock.settimeout(min(self.limits.read_timeout, left))
            conn.request("GET", path, headers=headers)
            sock = conn.sock  # getresponse drops it from conn when the server closes after
            with watchdog(sock, deadline):
                response = conn.getresponse()
                body = read_body(response.read1, sock, self.limits.read_timeout, deadline)
                response.read()  # b"": marks the response done, so the connection is reused
        except (OSError, self._http.HTTPException, S3GetError) as exc:  # timeouts, resets
            self._drop()
            time_left(deadline)  # a socket the watchdog shut is the deadline's doing
            if isinstance(exc, S3GetError):
                raise
            raise S3GetError(0, type(exc).__name__, str(exc)) from None
        if deadline is not None and time.monotonic() >= deadline:
            self._drop()  # the watchdog may have shut the socket just after the last byte
        status = response.status
        if status in (200, 304):
            return status, body, response.getheader("ETag")
        code = ""
        if b"<Code>" in body:
            code = body.split(b"<Code>", 1)[1].split(b"</Code>", 1)[0].decode(errors="replace")
        raise S3GetError(status, code or str(status), "")


READ_CHUNK = 1 << 16


def read_body(
    read1: Callable[[int], bytes], sock: Any, read_timeout: float, deadline: float | None
) -> bytes:
    """The whole body, and not a moment past ``deadline``: a server trickling one byte just
    inside each socket timeout restarts that timeout forever. ``read1`` returns what ONE
    receive brings; before each, the socket may wait no longer than the time left."""
    chunks: list[bytes] = []
    while True:
        left = time_left(deadline)
        if sock is not None and sock.fileno() != -1:
            # Python 3.13's http.client may have closed the socket object already (the server
            # said Connection: close); the response still reads from its own file, and the
            # watchdog still bounds it.
            sock.settimeout(min(read_timeout, left))
        chunk = read1(READ_CHUNK)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


@contextlib.contextmanager
def watchdog(sock: Any, deadline: float | None) -> Iterator[None]:
    """Shut ``sock`` at ``deadline`` whatever phase blocks on it (a status line or headers
    trickling in byte by byte too): the blocked receive returns at once and the GET fails."""
    if sock is None or deadline is None:
        yield
        return
    timer = threading.Timer(max(0.0, deadline - time.monotonic()), _shut, (sock,))
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()


def _shut(sock: Any) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
