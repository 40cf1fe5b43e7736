"""Shared fixtures and helpers of the predict API tests (models built once per session).

Test modules import the fixtures they use (``from predict_fixtures import reset_api, ...``);
``tests/`` is on ``sys.path`` because ``tests/conftest.py`` lives there. ``reset_api`` is autouse:
importing it into a module resets ``genre_model.serve.api`` around each of that module's tests.
"""

from __future__ import annotations

import base64
import copy
import dataclasses
import json
import logging
import socket
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import boto3
import pytest

ROOT = Path(__file__).resolve().parents[1]
EVENTS = ROOT / "events"
LAYER = ROOT / "layers" / "genre_model" / "python"
OPENAPI = ROOT / "docs" / "openapi.json"
BUCKET = "genre-models-test"
PREFIX = "models/genre/"
SPEC_INPUT = {"total_spent": 45.5, "total_tracks_bought": 15, "genre_spending_ratio": 0.6}
ERROR_KEYS = {"status", "message", "errors"}


# --------------------------------------------------------------------------- models


@dataclasses.dataclass(frozen=True)
class TrainedModel:
    """One trained and promoted version at a local ``MODELO_GENERO_ENTRENADO`` path."""

    path: Path  # the spec's pickle path (companions beside it)
    version: str
    manifest: dict
    feature_set: str

    @property
    def version_dir(self) -> Path:
        return self.path.with_name(f"{self.path.stem}.versions") / self.version

    def files(self) -> dict[str, bytes]:
        """Every file of the version folder (manifest included), by name."""
        return {p.name: p.read_bytes() for p in sorted(self.version_dir.iterdir())}

    @cached_property
    def pickle(self) -> dict:
        import joblib

        return joblib.load(self.path)

    @property
    def estimator(self) -> Any:
        return self.pickle["model"]

    @property
    def classes(self) -> list[str]:
        """Genre names in the forest's column order (it is fitted on their codes)."""
        return [str(c) for c in self.pickle["label_encoders"]["genre"].classes_]

    def sklearn_proba(self, row: list[float]) -> dict[str, float]:
        """scikit-learn's ``predict_proba`` for one row, by class."""
        import numpy as np

        proba = self.estimator.predict_proba(np.asarray([row], dtype=np.float64))[0]
        return dict(zip(self.classes, proba.tolist(), strict=True))


def _train(root: Path, sqlite: Path, feature_set: str, random_state: int) -> TrainedModel:
    from genre_model.config import ForestSettings, load_settings
    from genre_model.train.pipeline import run_training

    path = root / "modelo_genero_entrenado.pkl"
    settings = load_settings(
        {
            "MODELO_GENERO_ENTRENADO": str(path),
            "CHINOOK_SQLITE_PATH": str(sqlite),
            "FEATURE_SET": feature_set,
        }
    )
    settings = dataclasses.replace(
        settings, forest=ForestSettings(n_estimators=20, random_state=random_state)
    )
    outcome = run_training(settings, progress=lambda _msg: None)
    assert outcome.promoted
    return TrainedModel(path, outcome.version, outcome.manifest.to_json(), feature_set)


@pytest.fixture(scope="session")
def predict_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """400 synthetic customers with the planted signal."""
    from devtools.synthetic import generate, write_sqlite

    return write_sqlite(generate(400), tmp_path_factory.mktemp("predict-db") / "chinook.sqlite")


@pytest.fixture(scope="session")
def spec_model(tmp_path_factory: pytest.TempPathFactory, predict_sqlite: Path) -> TrainedModel:
    return _train(tmp_path_factory.mktemp("spec-model"), predict_sqlite, "spec", 42)


@pytest.fixture(scope="session")
def spec_model_v2(tmp_path_factory: pytest.TempPathFactory, predict_sqlite: Path) -> TrainedModel:
    """A second spec version (other seed): what a later training run would promote."""
    return _train(tmp_path_factory.mktemp("spec-model-v2"), predict_sqlite, "spec", 7)


@pytest.fixture(scope="session")
def location_model(tmp_path_factory: pytest.TempPathFactory, predict_sqlite: Path) -> TrainedModel:
    return _train(tmp_path_factory.mktemp("location-model"), predict_sqlite, "location", 42)


# --------------------------------------------------------------------------- environment


@pytest.fixture(autouse=True)
def reset_api() -> Iterator[None]:
    """Forget the cached model and settings before and after every test of the predict API."""
    from genre_model.serve import api

    api.reset()
    yield
    api.reset()


def root_conftest(config: pytest.Config) -> Any:
    """``tests/conftest.py`` as pytest loaded it (every conftest module is named ``conftest``)."""
    wanted = ROOT / "tests" / "conftest.py"
    for plugin in config.pluginmanager.get_plugins():
        if Path(getattr(plugin, "__file__", None) or "/").resolve() == wanted:
            return plugin
    raise RuntimeError(f"{wanted} was not loaded by pytest")


@pytest.fixture
def require(request: pytest.FixtureRequest) -> Any:
    """``tests/conftest.py:require`` (skip, or fail under CI=true, when something is absent)."""
    return root_conftest(request.config).require


@pytest.fixture
def predict_handler(request: pytest.FixtureRequest) -> Any:
    """``functions/predict/app.py`` imported fresh, as a cold Lambda container would."""
    return root_conftest(request.config).load_handler("predict")


@pytest.fixture
def local_model(monkeypatch: pytest.MonkeyPatch, spec_model: TrainedModel) -> TrainedModel:
    """Predict serves the spec model from its ``MODELO_GENERO_ENTRENADO`` path."""
    monkeypatch.setenv("MODELO_GENERO_ENTRENADO", str(spec_model.path))
    return spec_model


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """In-process moto S3 with an empty ``MODEL_BUCKET``; yields a client on it."""
    import boto3
    from moto import mock_aws

    monkeypatch.setenv("MODEL_BUCKET", BUCKET)
    with mock_aws():
        boto3.setup_default_session()  # hooks registered on it reach the clients predict creates
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        yield client
    boto3.DEFAULT_SESSION = None


def get_object_keys() -> list[str]:
    """Every S3 key any client created from now on asks GetObject for (in order)."""
    import boto3

    keys: list[str] = []

    def record(params: dict, **_: Any) -> None:
        keys.append(params["Key"])

    boto3._get_default_session().events.register("before-parameter-build.s3.GetObject", record)
    return keys


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def publish(
    client: Any,
    model: TrainedModel,
    *,
    bucket: str = BUCKET,
    prefix: str = PREFIX,
    promote: bool = True,
    replace: dict[str, bytes] | None = None,
) -> None:
    """Upload a version folder as training does; ``replace`` swaps file bytes after the manifest."""
    for name, data in model.files().items():
        client.put_object(Bucket=bucket, Key=f"{prefix}{model.version}/{name}", Body=data)
    for name, data in (replace or {}).items():
        client.put_object(Bucket=bucket, Key=f"{prefix}{model.version}/{name}", Body=data)
    if promote:
        pointer = {
            "version": model.version,
            "manifest_key": f"{prefix}{model.version}/manifest.json",
            "promoted_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        client.put_object(Bucket=bucket, Key=f"{prefix}latest.json", Body=json.dumps(pointer))


def tampered(data: bytes) -> bytes:
    """The same bytes with one flipped in the middle (a pickle that still loads, maybe)."""
    middle = len(data) // 2
    return data[:middle] + bytes([data[middle] ^ 0x01]) + data[middle + 1 :]


@pytest.fixture
def genre_logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """caplog that also sees ``genre_model.*`` (Powertools stops them propagating to root)."""
    loggers = [
        logging.getLogger(name)
        for name in list(logging.root.manager.loggerDict)
        if name == "genre_model" or name.startswith("genre_model.")
    ]
    for logger in loggers:
        logger.addHandler(caplog.handler)
    caplog.set_level(logging.INFO)
    try:
        yield caplog
    finally:
        for logger in loggers:
            logger.removeHandler(caplog.handler)


# --------------------------------------------------------------------------- events


def load_event(name: str = "predict-genre.json") -> dict:
    return json.loads((EVENTS / name).read_text())


def make_event(
    body: Any = dataclasses.MISSING,
    *,
    raw: str | bytes | None = None,
    base64_body: bool = True,
    method: str | None = None,
    path: str | None = None,
    headers: dict[str, str] | None = None,
    template: str = "predict-genre.json",
) -> dict:
    """A variant of a SAM-generated event: ``body`` as JSON, or ``raw`` text/bytes as sent."""
    event = copy.deepcopy(load_event(template))
    if body is not dataclasses.MISSING:
        raw = json.dumps(body)
    if raw is not None:
        data = raw.encode() if isinstance(raw, str) else raw
        if base64_body:
            event["body"], event["isBase64Encoded"] = base64.b64encode(data).decode(), True
        else:
            event["body"], event["isBase64Encoded"] = data.decode(), False
    if method:
        event["httpMethod"] = event["requestContext"]["httpMethod"] = method
    if path:
        event["path"] = path
        event["pathParameters"] = {"proxy": path}
        event["requestContext"]["path"] = f"/prod{path}"
    for key, value in (headers or {}).items():
        event["headers"][key] = value
        event["multiValueHeaders"][key] = [value]
    return event


def lambda_context() -> SimpleNamespace:
    return SimpleNamespace(
        function_name="PredictFunction",
        function_version="$LATEST",
        invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:PredictFunction",
        memory_limit_in_mb=512,
        aws_request_id=str(uuid.uuid4()),
        log_group_name="/aws/lambda/PredictFunction",
        log_stream_name="test",
        get_remaining_time_in_millis=lambda: 30_000,
    )


@dataclasses.dataclass
class Answer:
    status: int
    body: dict
    raw: str
    headers: dict[str, str]


def invoke(handler: Any, event: dict) -> Answer:
    """Call ``lambda_handler`` and decode its API Gateway proxy response."""
    result = handler.lambda_handler(event, lambda_context())
    raw = result.get("body") or ""
    if result.get("isBase64Encoded"):
        raw = base64.b64decode(raw).decode()
    assert "Traceback" not in raw
    headers = {k.lower(): v for k, v in (result.get("headers") or {}).items()}
    for key, values in (result.get("multiValueHeaders") or {}).items():
        headers.setdefault(key.lower(), values[-1])
    body = json.loads(raw) if raw else {}
    return Answer(int(result["statusCode"]), body, raw, headers)


def assert_error(answer: Answer, status: int, field: str | None = None) -> dict:
    """The one error shape, with ``status`` and (when given) ``field`` among the errors."""
    assert answer.status == status, answer.raw
    assert "Traceback" not in answer.raw
    body = answer.body
    assert set(body) == ERROR_KEYS, body
    assert body["status"] == "ERROR"
    assert isinstance(body["message"], str)
    assert body["message"]
    assert isinstance(body["errors"], list)
    for item in body["errors"]:
        assert set(item) == {"field", "reason"}, item
        assert isinstance(item["field"], str)
        assert isinstance(item["reason"], str)
    if field is not None:
        assert field in [e["field"] for e in body["errors"]], body
    return body


def assert_prediction(
    answer: Answer, model: TrainedModel, row: list[float], profile: dict[str, Any]
) -> dict:
    """200 in exactly the spec's shape, with scikit-learn's probabilities bit for bit."""
    assert answer.status == 200, answer.raw
    body = answer.body
    assert set(body) == {"status", "prediction", "customer_profile"}
    assert body["status"] == "OK"
    prediction = body["prediction"]
    assert set(prediction) == {"genre", "confidence", "all_probabilities"}
    probabilities = prediction["all_probabilities"]
    assert set(probabilities) == set(model.classes)
    values = list(probabilities.values())
    assert values == sorted(values, reverse=True)
    assert abs(sum(values) - 1.0) < 1e-9
    expected = model.sklearn_proba(row)
    assert probabilities == expected  # exact float equality, every class
    best = max(model.classes, key=lambda c: (expected[c], -model.classes.index(c)))
    assert prediction["genre"] == best
    assert prediction["confidence"] == max(expected.values())
    assert prediction["confidence"] == probabilities[prediction["genre"]]
    assert body["customer_profile"] == profile
    return body


@pytest.fixture
def endpoint(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict]:
    """A moto server on a free loopback port that a test can start and stop (S3 up/down).

    ``endpoint["start"](create=True)`` starts it (and creates BUCKET), ``endpoint["stop"]()``
    takes it away; AWS_ENDPOINT_URL points there the whole time.
    """
    from moto.server import ThreadedMotoServer

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    monkeypatch.setenv("AWS_ENDPOINT_URL", url)
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    monkeypatch.setenv("MODEL_BUCKET", BUCKET)
    boto3.setup_default_session()
    state: dict[str, Any] = {"url": url, "server": None}

    def start(create: bool = True) -> Any:
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        server.start()
        state["server"] = server
        client = boto3.client("s3", endpoint_url=url, region_name="us-east-1")
        if create:
            client.create_bucket(Bucket=BUCKET)
        return client

    def stop() -> None:
        if state["server"] is not None:
            state["server"].stop()
            state["server"] = None

    state["start"], state["stop"] = start, stop
    try:
        yield state
    finally:
        stop()
        boto3.DEFAULT_SESSION = None


def log_records(text: str) -> list[dict]:
    """The JSON log records (Powertools Logger lines) in captured output."""
    records = []
    for line in text.splitlines():
        try:
            value = json.loads(line)
        except ValueError:
            continue
        if isinstance(value, dict) and "level" in value:
            records.append(value)
    return records
