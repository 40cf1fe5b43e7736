"""The local HTTP server runs the same handler: the spec's curl and Python examples verbatim."""

from __future__ import annotations

import http.client
import json
import os
import shutil
import subprocess
import sys

import pytest

from tests.helpers import LocalServer, TrainedModel, require

JSON_HEADERS = {"Content-Type": "application/json"}

# Copied verbatim from the spec ("cURL Example" and "Python Example"); only the port changes.
SPEC_CURL = """curl -X POST http://localhost:8000/api/predict-genre \\
  -H "Content-Type: application/json" \\
  -d '{
    "total_spent": 125.75,
    "total_tracks_bought": 42,
    "genre_spending_ratio": 0.4
  }'"""
SPEC_PYTHON = """import requests

url = "http://localhost:8000/api/predict-genre"
data = {
    "total_spent": 89.99,
    "total_tracks_bought": 28,
    "genre_spending_ratio": 0.7
}

response = requests.post(url, json=data)
result = response.json()

print(f"Predicted genre: {result['prediction']['genre']}")
print(f"Confidence: {result['prediction']['confidence']:.2%}")
"""


@pytest.fixture
def server_port(server: LocalServer) -> int:
    return server.port


def request(port: int, method: str, path: str, body: bytes | None = None, headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        data = response.read()
        return response.status, dict(response.getheaders()), data
    finally:
        conn.close()


def expected_body(model: TrainedModel, data: dict) -> dict:
    row = [data["total_spent"], data["total_tracks_bought"], data["genre_spending_ratio"]]
    proba = model.sklearn_proba(row)
    ranked = dict(sorted(proba.items(), key=lambda kv: -kv[1]))
    genre = next(iter(ranked))
    return {
        "status": "OK",
        "prediction": {"genre": genre, "confidence": ranked[genre], "all_probabilities": ranked},
        "customer_profile": data,
    }


def test_spec_curl_example(server_port, local_model):
    require(shutil.which("curl") is not None, "curl not found on PATH")
    command = SPEC_CURL.replace("localhost:8000", f"localhost:{server_port}")
    assert command != SPEC_CURL
    done = subprocess.run(
        ["bash", "-c", command], capture_output=True, text=True, timeout=30, env=os.environ.copy()
    )
    assert done.returncode == 0, done.stderr
    body = json.loads(done.stdout)
    data = {"total_spent": 125.75, "total_tracks_bought": 42, "genre_spending_ratio": 0.4}
    assert body == expected_body(local_model, data)
    assert list(body["prediction"]["all_probabilities"]) == list(
        expected_body(local_model, data)["prediction"]["all_probabilities"]
    )


def test_spec_python_example(server_port, local_model):
    script = SPEC_PYTHON.replace("localhost:8000", f"localhost:{server_port}")
    script += "\nimport json; print(response.status_code); print(json.dumps(result))\n"
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    data = {"total_spent": 89.99, "total_tracks_bought": 28, "genre_spending_ratio": 0.7}
    expected = expected_body(local_model, data)
    assert lines[0] == f"Predicted genre: {expected['prediction']['genre']}"
    assert lines[1] == f"Confidence: {expected['prediction']['confidence']:.2%}"
    assert lines[2] == "200"
    assert json.loads(lines[3]) == expected


def test_http_answers_match_the_handler(server_port, local_model):
    data = {"total_spent": 45.5, "total_tracks_bought": 15, "genre_spending_ratio": 0.6}
    status, headers, raw = request(
        server_port,
        "POST",
        "/api/predict-genre",
        json.dumps(data).encode(),
        {"Content-Type": "application/json"},
    )
    assert status == 200
    assert headers["Content-Type"].startswith("application/json")
    assert headers["X-Model-Version"] == local_model.version
    assert json.loads(raw) == expected_body(local_model, data)


@pytest.mark.parametrize(
    ("method", "path", "status", "field"),
    [
        ("GET", "/api/predict-genre", 405, "method"),
        ("PUT", "/api/predict-genre", 405, "method"),
        ("GET", "/api/nothing-here", 404, "path"),
        ("POST", "/api/predict", 404, "path"),
    ],
)
def test_http_errors(server_port, method, path, status, field):
    got, _, raw = request(server_port, method, path, b"{}" if method != "GET" else None)
    assert got == status
    body = json.loads(raw)
    assert set(body) == {"status", "message", "errors"}
    assert body["status"] == "ERROR"
    assert field in [e["field"] for e in body["errors"]]


@pytest.mark.parametrize(
    ("body", "headers", "status", "field"),
    [
        (b"not json", {"Content-Type": "application/json"}, 400, "body"),
        (b'{"total_spent": -1}', {"Content-Type": "application/json"}, 422, "total_spent"),
        (b'{"total_spent": 1}', {"Content-Type": "text/plain"}, 415, "Content-Type"),
        (b"\xff\xfe{}", {"Content-Type": "application/json"}, 400, "body"),
        (b'{"a": "' + b"x" * 17000 + b'"}', {"Content-Type": "application/json"}, 413, "body"),
    ],
    ids=["invalid-json", "negative", "text-plain", "invalid-utf8", "too-large"],
)
def test_http_client_errors(server_port, body, headers, status, field):
    got, _, raw = request(server_port, "POST", "/api/predict-genre", body, headers)
    assert got == status
    assert b"Traceback" not in raw
    assert field in [e["field"] for e in json.loads(raw)["errors"]]


def test_http_health_and_model(server_port, local_model):
    status, _, raw = request(server_port, "GET", "/api/health")
    assert status == 200
    assert json.loads(raw) == {
        "status": "OK",
        "model_loaded": True,
        "model_version": local_model.version,
        "reason": None,
    }
    status, _, raw = request(server_port, "GET", "/api/model")
    assert status == 200
    info = json.loads(raw)
    assert info["version"] == local_model.version
    assert info["classes"] == local_model.classes
    assert "baseline_accuracy" in info["metrics"]["holdout"]


# The docs' curl examples (the batch one too) run in test_docs_examples.py.


def test_http_batch_over_1_mib_is_413_unread(server_port, local_model):
    body = b'{"items": [{"pad": "' + b"x" * (1024 * 1024) + b'"}]}'
    status, _, raw = request(server_port, "POST", "/api/predict-genre/batch", body, JSON_HEADERS)
    assert status == 413
    assert json.loads(raw)["message"] == "Request body over 1 MiB"
