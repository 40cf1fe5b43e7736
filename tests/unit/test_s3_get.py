"""The standard-library S3 GET used inside Lambda: its signature is botocore's, byte for byte,
and it reads, revalidates and misses objects on a real (moto) HTTP endpoint."""

from __future__ import annotations

import datetime
from types import SimpleNamespace
from urllib.parse import quote

import boto3
import pytest
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from genre_model.config import S3Limits, SignedGet, load_settings
from genre_model.store import s3_get
from genre_model.store.protocol import ArtifactNotFound
from genre_model.store.s3 import S3Store
from genre_model.store.s3_get import S3GetError, S3Getter

KEY_ID, SECRET, REGION = "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "eu-west-1"


def signed(endpoint: str | None, token: str | None = None, region: str = "us-east-1") -> SignedGet:
    return SignedGet("testing", "testing", token, region, endpoint)


@pytest.mark.parametrize("token", [None, "FQoGZXIvYXdzEXAMPLE//token=="])
@pytest.mark.parametrize("key", ["models/genre/latest.json", "models/genre/v 1/a+b~c.joblib"])
def test_signature_equals_botocore(token, key):
    credentials = SignedGet(KEY_ID, SECRET, token, REGION, "http://127.0.0.1:5005")
    getter = S3Getter("genre-models", credentials)
    path = getter.prefix + quote(key, safe="/~")

    request = AWSRequest(method="GET", url=f"http://127.0.0.1:5005{path}")
    S3SigV4Auth(Credentials(KEY_ID, SECRET, token), "s3", REGION).add_auth(request)
    when = datetime.datetime.strptime(request.context["timestamp"], "%Y%m%dT%H%M%SZ")
    ours = getter.sign(path, when.replace(tzinfo=datetime.UTC))

    assert ours["Authorization"] == request.headers["Authorization"]
    assert ours["x-amz-date"] == request.headers["X-Amz-Date"]
    assert ours.get("x-amz-security-token") == request.headers.get("X-Amz-Security-Token")


def test_credentials_only_inside_lambda():
    runtime = {"AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": SECRET, "AWS_REGION": REGION}
    assert load_settings(runtime).s3.signed_get is None  # not inside Lambda: boto3 reads
    inside = {**runtime, "AWS_LAMBDA_FUNCTION_NAME": "PredictFunction"}
    assert load_settings(inside).s3.signed_get == SignedGet("k", SECRET, None, REGION, None)
    endpoint = {**inside, "AWS_ENDPOINT_URL": "http://a", "AWS_ENDPOINT_URL_S3": "http://b"}
    assert load_settings(endpoint).s3.signed_get.endpoint == "http://b"
    without_region = {k: v for k, v in inside.items() if k != "AWS_REGION"}
    assert load_settings(without_region).s3.signed_get is None
    with_token = load_settings({**inside, "AWS_SESSION_TOKEN": "TOKEN-VALUE"})
    assert with_token.s3.signed_get.token == "TOKEN-VALUE"
    assert SECRET not in repr(with_token)
    assert "TOKEN-VALUE" not in repr(with_token)


@pytest.fixture
def moto_endpoint():
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


def test_store_reads_through_the_getter_inside_lambda(moto_endpoint):
    s3 = boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1")
    s3.create_bucket(Bucket="models")
    s3.put_object(Bucket="models", Key="m/latest.json", Body=b'{"version": "v1"}')

    assert S3Store("models", limits=S3Limits())._getter is None  # outside Lambda: boto3
    store = S3Store("models", limits=S3Limits(signed_get=signed(moto_endpoint)))
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
    getter = S3Getter("no-such-bucket", signed(moto_endpoint))
    with pytest.raises(S3GetError) as raised:
        getter.get("anything")
    assert raised.value.code == "NoSuchBucket"
    assert raised.value.status == 404


def test_getter_gives_up_at_the_deadline_on_a_silent_server(silent_server):
    import time

    port, accepted = silent_server
    getter = S3Getter("models", signed(f"http://127.0.0.1:{port}"), S3Limits(0.5, 5, 5))
    started = time.monotonic()
    with pytest.raises(S3GetError) as raised:
        getter.get("m/latest.json", deadline=started + 0.8)
    elapsed = time.monotonic() - started
    assert elapsed < 0.8 + 2.0  # the 5 s read timeout was cut to what the deadline left
    assert raised.value.code in {"TimeoutError", "timeout", "Deadline"}
    assert accepted  # it really connected: the wait was for an answer that never came


def test_getter_retries_slowdown_then_reports_it():
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
        getter = S3Getter("models", signed(f"http://127.0.0.1:{server.server_address[1]}"))
        with pytest.raises(S3GetError) as raised:
            getter.get("m/latest.json")
    finally:
        server.shutdown()
        server.server_close()
    assert raised.value.code == "SlowDown"
    assert raised.value.status == 503
    assert seen == ["/models/m/latest.json"] * 3


@pytest.mark.parametrize(
    ("error", "retried"),
    [
        (S3GetError(500, "InternalError", ""), True),
        (S3GetError(503, "ServiceUnavailable", ""), True),  # a 5xx whatever its code
        (S3GetError(400, "RequestTimeout", ""), True),  # a throttling code whatever its status
        (S3GetError(403, "AccessDenied", ""), False),
        (S3GetError(404, "NoSuchKey", ""), False),
        (S3GetError(0, "ConnectionError", "reset"), True),  # no answer at all: the network
        (S3GetError(0, "Deadline", "deadline passed"), False),  # our own deadline: never again
        (ValueError("not an S3 answer"), False),
    ],
)
def test_what_is_retried_is_what_botocore_standard_mode_retries(
    error: Exception, retried: bool
) -> None:
    assert s3_get.transient(error) is retried


def test_the_time_left_runs_out_at_the_deadline_itself(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(s3_get, "time", SimpleNamespace(monotonic=lambda: 100.0))
    assert s3_get.time_left(None) == float("inf")
    assert s3_get.time_left(101.5) == 1.5
    for deadline in (100.0, 99.0):
        with pytest.raises(S3GetError) as late:
            s3_get.time_left(deadline)
        assert (late.value.status, late.value.code) == (0, "Deadline")
        assert str(late.value) == "S3 GET failed: HTTP 0 Deadline deadline passed"
