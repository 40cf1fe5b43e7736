"""What the test suites share besides fixtures: paths, skip rules, API Gateway events, the Lambda
context, trained models and publishing them, the local server, and the answer checks.

Fixtures live in the conftest.py files (pytest finds them there); everything here is imported
explicitly (``from tests.helpers import ...``).
"""

from __future__ import annotations

import base64
import copy
import dataclasses
import fcntl
import hashlib
import http.client
import importlib.util
import json
import os
import secrets
import shutil
import socket
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import cache, cached_property
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from devtools.lambda_context import lambda_context

ROOT = Path(__file__).resolve().parents[1]
EVENTS = ROOT / "events"
LAYER = ROOT / "layers" / "genre_model" / "python"
OPENAPI = ROOT / "docs" / "openapi.json"
IN_CI = os.environ.get("CI", "").lower() == "true"
# CHINOOK_DIR, else ../shared/chinook beside the checkout. A missing folder is reported by the
# tests that need it (skipped with the path, failed under CI=true).
CHINOOK = Path(os.environ.get("CHINOOK_DIR") or ROOT.parent / "shared" / "chinook").resolve()

BUCKET = "genre-models-test"
PREFIX = "models/genre/"
SPEC_INPUT = {"total_spent": 45.5, "total_tracks_bought": 15, "genre_spending_ratio": 0.6}
ERROR_KEYS = {"status", "message", "errors"}
PREDICT = "/api/predict-genre"
JSON = {"Content-Type": "application/json"}
# The two long reliability checks: small in `make test`, full in `make test-reliability`.
# Trained models shared by every test process of a run (xdist workers) and kept between runs,
# each under a key of everything that makes it: the package's code, the store, the parameters.
MODEL_CACHE = Path(os.environ.get("TEST_MODEL_CACHE") or ROOT / "var" / "test-models")
SCHEMATHESIS_CASES = int(os.environ.get("RELIABILITY_SCHEMATHESIS_CASES", "150"))
LOAD_SECONDS = float(os.environ.get("RELIABILITY_LOAD_SECONDS", "5"))


# --------------------------------------------------------------------------- environment


def require(condition: bool, reason: str) -> None:
    """Skip when something a test needs is absent; under CI=true that is a failure instead."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"required in CI: {reason}")
    pytest.skip(reason)


def mysql_available(database: str = "chinook") -> str | None:
    """None when MariaDB answers with ``database`` loaded, else why not."""
    try:
        import pymysql

        with pymysql.connect(
            host=os.environ.get("TEST_DB_HOST", "127.0.0.1"),
            port=int(os.environ.get("TEST_DB_PORT", "3306")),
            user="root",
            password="",
            database=database,
            connect_timeout=3,
        ):
            return None
    except Exception as exc:
        return f"MariaDB with database {database!r} not reachable at 127.0.0.1:3306: {exc}"


def require_mysql(database: str) -> str:
    """``database`` on the local MariaDB, or skip (fail under CI=true) saying why not."""
    reason = mysql_available(database)
    require(reason is None, reason or "")
    return database


def load_handler(function: str) -> ModuleType:
    """Import ``functions/<function>/app.py`` as a fresh module (as a cold Lambda would)."""
    path = ROOT / "functions" / function / "app.py"
    name = f"{function}_app"
    sys.modules.pop(name, None)
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def load_train_handler(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """The train handler under a fresh Powertools service name, so a new logger: call it in the
    test body and that logger writes to the sys.stdout capsys installed for the test."""
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", f"genre-train-{secrets.token_hex(4)}")
    return load_handler("train")


def train_context(request_id: str) -> Any:
    """The train function's Lambda context (its template memory, a request id to look for)."""
    return lambda_context("TrainFunction", request_id=request_id, memory_mb=1024)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


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


def train_model(
    root: Path, sqlite: Path, feature_set: str, random_state: int, trees: int | None = 20
) -> TrainedModel:
    """Train (20 trees; ``None``: the default forest) and promote one version at
    ``root/modelo_genero_entrenado.pkl``.

    Trained once per key (``_model_key``) for every worker of the run and later runs: the first
    caller trains it into ``MODEL_CACHE`` under a lock, every caller gets its own copy."""
    key = _model_key(sqlite, feature_set, random_state, trees)
    cached = MODEL_CACHE / key
    MODEL_CACHE.mkdir(parents=True, exist_ok=True)
    with open(MODEL_CACHE / f"{key}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes, also if we die
        if not (cached / "trained.json").is_file():
            shutil.rmtree(cached, ignore_errors=True)  # a run killed half-way
            _train_into(cached / "model", sqlite, feature_set, random_state, trees)
    trained = json.loads((cached / "trained.json").read_text())
    shutil.copytree(cached / "model", root, symlinks=True, dirs_exist_ok=True)
    return TrainedModel(
        root / "modelo_genero_entrenado.pkl", trained["version"], trained["manifest"], feature_set
    )


def _train_into(
    root: Path, sqlite: Path, feature_set: str, random_state: int, trees: int | None
) -> None:
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
    if trees is not None:
        settings = dataclasses.replace(
            settings, forest=ForestSettings(n_estimators=trees, random_state=random_state)
        )
    outcome = run_training(settings, progress=lambda _msg: None)
    assert outcome.promoted
    trained = {"version": outcome.version, "manifest": outcome.manifest.to_json()}
    (root.parent / "trained.json").write_text(json.dumps(trained))


@cache
def _code_digest() -> str:
    """Everything but the inputs that decides what training writes: the package, the synthetic
    store's generator, the pinned libraries and the interpreter."""
    digest = hashlib.sha256(sys.version.encode())
    for path in sorted(
        [*LAYER.rglob("*.py"), ROOT / "devtools" / "synthetic.py", ROOT / "requirements-dev.txt"]
    ):
        digest.update(path.relative_to(ROOT).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def _model_key(sqlite: Path, feature_set: str, random_state: int, trees: int | None) -> str:
    digest = hashlib.sha256(_code_digest().encode())
    digest.update(hashlib.sha256(sqlite.read_bytes()).digest())
    digest.update(f"{feature_set}/{random_state}/{trees}".encode())
    return f"{feature_set}-{random_state}-{digest.hexdigest()[:20]}"


def demo_store() -> Path:
    """The synthetic store ``make demo`` trains on (3,000 customers, seed 42), written once per
    generator code into ``MODEL_CACHE`` for every worker and run."""
    from devtools.synthetic import generate, write_sqlite

    path = MODEL_CACHE / f"demo-store-{_code_digest()[:20]}.sqlite"
    MODEL_CACHE.mkdir(parents=True, exist_ok=True)
    with open(f"{path}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not path.is_file():
            partial = path.with_suffix(".partial")
            partial.unlink(missing_ok=True)
            write_sqlite(generate(3000, seed=42), partial)
            partial.rename(path)
    return path


def demo_model(root: Path) -> TrainedModel:
    """The demo model: the model ``make demo`` trains (its store, the default forest), whose
    answers the docs show (``make docs-examples``). Cached as ``train_model``'s are."""
    return train_model(root, demo_store(), "spec", 42, trees=None)


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


@contextmanager
def moto_bucket(name: str = BUCKET) -> Iterator[Any]:
    """In-process moto S3 with one empty bucket; yields a client on it. A fresh default boto3
    session for the mock's lifetime: hooks registered on it reach the clients the code creates."""
    import boto3
    from moto import mock_aws

    with mock_aws():
        boto3.setup_default_session()
        try:
            client = boto3.client("s3", region_name="us-east-1")
            client.create_bucket(Bucket=name)
            yield client
        finally:
            boto3.DEFAULT_SESSION = None


def tampered(data: bytes) -> bytes:
    """The same bytes with one flipped in the middle (a pickle that still loads, maybe)."""
    middle = len(data) // 2
    return data[:middle] + bytes([data[middle] ^ 0x01]) + data[middle + 1 :]


def get_object_keys() -> list[str]:
    """Every S3 key any client created from now on asks GetObject for (in order)."""
    import boto3

    keys: list[str] = []

    def record(params: dict, **_: Any) -> None:
        keys.append(params["Key"])

    boto3._get_default_session().events.register("before-parameter-build.s3.GetObject", record)
    return keys


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


# --------------------------------------------------------------------------- answers


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


def served_version(answer: Answer) -> str:
    """The version a 200 answer was computed with (its X-Model-Version header)."""
    assert answer.status == 200, answer.raw
    return answer.headers["x-model-version"]


def good_answer(handler: Any) -> Answer:
    """The spec's example through the handler (the request every hostile one is followed by)."""
    return invoke(handler, make_event(SPEC_INPUT))


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


# --------------------------------------------------------------------------- local server


@dataclasses.dataclass
class Reply:
    status: int
    headers: dict[str, str]
    raw: bytes

    @property
    def body(self) -> Any:
        return json.loads(self.raw)


@dataclasses.dataclass
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
        *,
        timeout: float = 15,
    ) -> Reply:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            response = conn.getresponse()
            raw = response.read()
            return Reply(response.status, {k.lower(): v for k, v in response.getheaders()}, raw)
        finally:
            conn.close()


@contextmanager
def local_server(**options: Any) -> Iterator[LocalServer]:
    """``devtools.server`` on a free loopback port in a thread (``options``: make_server's)."""
    from devtools.server import find_handler, make_server

    httpd = make_server("127.0.0.1", 0, find_handler(), **options)
    # serve_forever checks for shutdown every poll_interval (0.5 s by default): each test's
    # server would cost a quarter of a second to stop, hundreds of times per run.
    thread = threading.Thread(target=httpd.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield LocalServer("127.0.0.1", httpd.server_address[1])
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


# --------------------------------------------------------------------------- a fake loaded model


def fake_model(feature_set: str = "spec", version: str = "20260101T000000Z-fa4e00") -> Any:
    """A ``LoadedModel`` built by hand (no training): two trees of depth 2 over three genres, with
    node covers (it explains), customers 1-3, and on ``location`` the countries USA and Brazil.
    For serve unit tests: the service, the routes and the batch answer from it in microseconds.
    """
    import numpy as np

    from genre_model.contract import FEATURE_COLUMNS, FORMAT, Manifest, pack_arrays
    from genre_model.serve.model_cache import CustomerSnapshot, LoadedModel
    from genre_model.serve.predictor import Predictor

    columns = list(FEATURE_COLUMNS[feature_set])
    # Each tree: 0 splits, 1 and 2 split again, 3-6 are leaves (left/right of a leaf: itself).
    tree = {
        "feature": [0, 1, 2, 0, 0, 0, 0],
        "threshold": [20.0, 10.0, 0.5, 0.0, 0.0, 0.0, 0.0],
        "left": [1, 3, 5, 3, 4, 5, 6],
        "right": [2, 4, 6, 3, 4, 5, 6],
        "cover": [40.0, 25.0, 15.0, 10.0, 15.0, 5.0, 10.0],
    }
    leaves = [[0.0] * 3] * 3 + [[0.6, 0.3, 0.1], [0.2, 0.5, 0.3], [0.1, 0.1, 0.8], [0.3, 0.3, 0.4]]
    second = {**tree, "threshold": [35.0, 5.0, 0.25, 0.0, 0.0, 0.0, 0.0]}
    arrays = {
        "feature": np.array(tree["feature"] + second["feature"], dtype=np.int64),
        "threshold": np.array(tree["threshold"] + second["threshold"]),
        "left": np.array(tree["left"] + [i + 7 for i in second["left"]], dtype=np.int64),
        "right": np.array(tree["right"] + [i + 7 for i in second["right"]], dtype=np.int64),
        "value": np.array(leaves + leaves),
        "roots": np.array([0, 7], dtype=np.int64),
        "cover": np.array(tree["cover"] * 2),
    }
    countries = ["USA", "Brazil"] if feature_set == "location" else []
    predictor = Predictor(
        {
            "format": FORMAT,
            "classes": ["Jazz", "Metal", "Rock"],
            "feature_columns": columns,
            "countries": countries,
            "depth": 2,
            "arrays": pack_arrays(arrays),
        }
    )
    customers = CustomerSnapshot(
        ids=np.array([1, 2, 3], dtype=np.int64),
        features=np.array([[10.5, 12, 0.25], [30.0, 40, 0.75], [0.0, 0, 0.0]]),
        countries=("USA", "Brazil", "Chile"),
    )
    manifest = Manifest(
        version=version,
        classes=tuple(predictor.classes),
        feature_set=feature_set,
        feature_columns=tuple(columns),
        countries=tuple(countries),
    )
    return LoadedModel(predictor, customers, manifest)


@contextmanager
def serving(model: Any) -> Iterator[Any]:
    """The predict API answering from ``model`` (a ``ModelCache`` that never loads)."""
    from genre_model.config import Settings
    from genre_model.serve import api
    from genre_model.serve.model_cache import ModelCache

    cache = ModelCache(Settings(model_refresh_seconds=86400.0))
    cache._model, cache._next_check = model, float("inf")  # loaded, never refreshed
    api.install_cache(cache)
    try:
        yield model
    finally:
        api.reset()
