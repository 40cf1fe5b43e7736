"""The standard-library S3 GET used inside Lambda: its signature is botocore's, byte for byte,
and it reads, revalidates and misses objects on a real (moto) HTTP endpoint."""

from __future__ import annotations

import datetime
from urllib.parse import quote

import boto3
import pytest
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from genre_model.store.protocol import ArtifactNotFound
from genre_model.store.s3 import S3Store
from genre_model.store.s3_get import S3GetError, S3Getter, env_credentials

KEY_ID, SECRET, REGION = "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "eu-west-1"


@pytest.mark.parametrize("token", [None, "FQoGZXIvYXdzEXAMPLE//token=="])
@pytest.mark.parametrize("key", ["models/genre/latest.json", "models/genre/v 1/a+b~c.joblib"])
def test_signature_equals_botocore(monkeypatch, token, key):
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:5005")
    getter = S3Getter("genre-models", (KEY_ID, SECRET, token, REGION))
    path = getter.prefix + quote(key, safe="/~")

    request = AWSRequest(method="GET", url=f"http://127.0.0.1:5005{path}")
    S3SigV4Auth(Credentials(KEY_ID, SECRET, token), "s3", REGION).add_auth(request)
    when = datetime.datetime.strptime(request.context["timestamp"], "%Y%m%dT%H%M%SZ")
    ours = getter.sign(path, when.replace(tzinfo=datetime.UTC))

    assert ours["Authorization"] == request.headers["Authorization"]
    assert ours["x-amz-date"] == request.headers["X-Amz-Date"]
    assert ours.get("x-amz-security-token") == request.headers.get("X-Amz-Security-Token")


def test_credentials_only_inside_lambda(monkeypatch):
    monkeypatch.delenv("AWS_LAMBDA_FUNCTION_NAME", raising=False)
    assert env_credentials() is None
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "PredictFunction")
    monkeypatch.setenv("AWS_REGION", REGION)
    assert env_credentials() == ("testing", "testing", None, REGION)


@pytest.fixture
def moto_endpoint(monkeypatch):
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    yield endpoint
    server.stop()


def test_store_reads_through_the_getter_inside_lambda(moto_endpoint, monkeypatch):
    s3 = boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1")
    s3.create_bucket(Bucket="models")
    s3.put_object(Bucket="models", Key="m/latest.json", Body=b'{"version": "v1"}')
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "PredictFunction")
    monkeypatch.setenv("AWS_REGION", "us-east-1")

    store = S3Store("models")
    assert store._getter is not None  # inside Lambda: no boto3 client for reads
    body, etag = store.get_if_changed("m/latest.json", None)
    assert body == b'{"version": "v1"}'
    assert etag
    assert store.get_if_changed("m/latest.json", etag) == (None, etag)  # 304
    s3.put_object(Bucket="models", Key="m/latest.json", Body=b'{"version": "v2"}')
    assert store.get_if_changed("m/latest.json", etag)[0] == b'{"version": "v2"}'
    with pytest.raises(ArtifactNotFound):
        store.get("m/missing.json")


def test_getter_reports_s3_error_codes(moto_endpoint):
    getter = S3Getter("no-such-bucket", ("testing", "testing", None, "us-east-1"))
    with pytest.raises(S3GetError) as raised:
        getter.get("anything")
    assert raised.value.code == "NoSuchBucket"
    assert raised.value.status == 404


def test_getter_gives_up_at_the_deadline_on_a_silent_server(silent_server, monkeypatch):
    import time

    from genre_model.config import S3Limits

    port, accepted = silent_server
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{port}")
    getter = S3Getter("models", ("testing", "testing", None, "us-east-1"), S3Limits(0.5, 5, 5))
    started = time.monotonic()
    with pytest.raises(S3GetError) as raised:
        getter.get("m/latest.json", deadline=started + 0.8)
    elapsed = time.monotonic() - started
    assert elapsed < 0.8 + 0.3  # the 5 s read timeout was cut to what the deadline left
    assert raised.value.code in {"TimeoutError", "timeout", "Deadline"}
    assert accepted  # it really connected: the wait was for an answer that never came


def test_getter_retries_slowdown_then_reports_it(monkeypatch):
    """503 SlowDown three times (botocore standard mode's default attempts), then the code."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    seen: list[str] = []

    class SlowDown(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            seen.append(self.path)
            body = b"<Error><Code>SlowDown</Code></Error>"
            self.send_response(503)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), SlowDown)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{server.server_address[1]}")
        getter = S3Getter("models", ("testing", "testing", None, "us-east-1"))
        with pytest.raises(S3GetError) as raised:
            getter.get("m/latest.json")
    finally:
        server.shutdown()
        server.server_close()
    assert raised.value.code == "SlowDown"
    assert raised.value.status == 503
    assert seen == ["/models/m/latest.json"] * 3
