"""Fixtures of the reliability suite: a served spec model, the local HTTP server, raw HTTP.

The trained models come from ``tests/predict_fixtures.py`` (session scoped, shared with the
integration suite). ``RELIABILITY_SCHEMATHESIS_CASES`` and ``RELIABILITY_LOAD_SECONDS`` size the
two long checks: small in ``make test``, full (1,000 cases, 60 s) in ``make test-reliability``.
"""

from __future__ import annotations

import http.client
import json
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from predict_fixtures import (
    SPEC_INPUT,
    TrainedModel,
    endpoint,
    genre_logs,
    invoke,
    local_model,
    make_event,
    predict_handler,
    predict_sqlite,
    require,
    reset_api,
    s3,
    spec_model,
    spec_model_v2,
)

FIXTURES = (
    endpoint,
    genre_logs,
    local_model,
    predict_handler,
    predict_sqlite,
    require,
    reset_api,
    s3,
    spec_model,
    spec_model_v2,
)
PREDICT = "/api/predict-genre"
JSON = {"Content-Type": "application/json"}
SCHEMATHESIS_CASES = int(os.environ.get("RELIABILITY_SCHEMATHESIS_CASES", "150"))
LOAD_SECONDS = float(os.environ.get("RELIABILITY_LOAD_SECONDS", "5"))


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    raw: bytes

    @property
    def body(self) -> Any:
        return json.loads(self.raw)


@dataclass
class LocalServer:
    host: str
    port: int

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> Reply:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=15)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            response = conn.getresponse()
            raw = response.read()
            return Reply(response.status, {k.lower(): v for k, v in response.getheaders()}, raw)
        finally:
            conn.close()


@pytest.fixture
def server(local_model: TrainedModel, monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalServer]:
    """``devtools.server`` on a free loopback port, serving the spec model's local path."""
    from devtools.server import find_handler, make_server

    monkeypatch.setenv("NO_PROXY", "localhost,127.0.0.1")
    monkeypatch.setenv("no_proxy", "localhost,127.0.0.1")
    httpd = make_server("127.0.0.1", 0, find_handler())
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield LocalServer("127.0.0.1", httpd.server_address[1])
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


def good_answer(handler: Any) -> Any:
    """The spec's example through the handler (the request every hostile one is followed by)."""
    return invoke(handler, make_event(SPEC_INPUT))


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "reliability: long reliability checks sized by RELIABILITY_* variables"
    )
