"""Faults, each a test, each ending with no data lost (what predict serves, what latest.json says).

Predict: S3 down at cold start / after caching, tampered or truncated artifacts, a pointer naming a
missing version or holding garbage. Train: database down, wrong password, secret missing; empty,
one-genre, too-small and half-loaded databases; two trainings at once (S3 conditional writes);
a Lambda timeout in the middle of the upload.
"""

from __future__ import annotations

import json
import secrets
import shutil
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from genre_model.contract import Manifest
from tests.helpers import (
    BUCKET,
    PREFIX,
    SPEC_INPUT,
    assert_error,
    assert_prediction,
    free_port,
    invoke,
    load_event,
    load_train_handler,
    log_records,
    moto_bucket,
    publish,
    served_version,
    tampered,
    train_context,
)

ROW = [SPEC_INPUT[k] for k in ("total_spent", "total_tracks_bought", "genre_spending_ratio")]
PREDICTOR = "predictor.joblib"
POINTER = PREFIX + "latest.json"
EVENT = json.loads(
    (Path(__file__).resolve().parents[2] / "events/scheduled-event.json").read_text()
)


def predict(handler: Any) -> Any:
    return invoke(handler, load_event("predict-genre.json"))


# =========================================================================== predict side


def test_s3_unreachable_at_cold_start_is_503_and_recovers(predict_handler, endpoint, spec_model):
    for _ in range(2):
        body = assert_error(predict(predict_handler), 503, "model")
        assert body["message"] == "Genre model not found"
    publish(endpoint["start"](), spec_model)
    assert_prediction(predict(predict_handler), spec_model, ROW, SPEC_INPUT)


def test_s3_unreachable_after_caching_keeps_serving(
    predict_handler, endpoint, spec_model, monkeypatch
):
    monkeypatch.setenv("MODEL_REFRESH_SECONDS", "0")
    publish(endpoint["start"](), spec_model)
    first = predict(predict_handler)
    endpoint["stop"]()
    for _ in range(3):
        answer = predict(predict_handler)
        assert (answer.status, answer.raw) == (200, first.raw)
    endpoint["start"](create=False)  # S3 back (same in-process moto state): still the same
    assert predict(predict_handler).raw == first.raw


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(tampered, id="tampered"),
        pytest.param(lambda b: b[: len(b) // 2], id="truncated"),
        pytest.param(lambda b: b"", id="empty"),
        pytest.param(lambda b: b"cos\nsystem\n(S'echo pwned'\ntR.", id="hostile-pickle"),
    ],
)
def test_damaged_new_artifact_is_refused_previous_kept(
    damage, predict_handler, s3, spec_model, spec_model_v2, monkeypatch, genre_logs
):
    monkeypatch.setenv("MODEL_REFRESH_SECONDS", "0")
    publish(s3, spec_model)
    before = predict(predict_handler)
    original = spec_model_v2.files()[PREDICTOR]
    publish(s3, spec_model_v2, replace={PREDICTOR: damage(original)})
    for _ in range(2):
        answer = predict(predict_handler)
        assert (answer.status, answer.raw) == (200, before.raw)
        assert served_version(answer) == spec_model.version
    assert "SHA-256 mismatch" in genre_logs.text  # refused before unpickling


@pytest.mark.parametrize(
    "pointer",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"not json", id="not-json"),
        pytest.param(b"[]", id="array"),
        pytest.param(b'{"version": 5}', id="version-not-string"),
        pytest.param(b'{"version": ""}', id="version-empty"),
        pytest.param(b'{"version": "20990101T000000Z-000000"}', id="missing-version"),
        pytest.param(b'{"version": "../../etc"}', id="path-trick"),
        pytest.param(b"\xff\xfe\x00", id="binary"),
    ],
)
def test_bad_pointer_is_refused_previous_kept(
    pointer, predict_handler, s3, spec_model, monkeypatch
):
    monkeypatch.setenv("MODEL_REFRESH_SECONDS", "0")
    publish(s3, spec_model)
    before = predict(predict_handler)
    s3.put_object(Bucket=BUCKET, Key=POINTER, Body=pointer)
    for _ in range(2):
        answer = predict(predict_handler)
        assert (answer.status, answer.raw) == (200, before.raw)


@pytest.mark.parametrize("pointer", [b"not json", b'{"version": "20990101T000000Z-000000"}'])
def test_bad_pointer_at_cold_start_is_503_not_500(pointer, predict_handler, s3):
    s3.put_object(Bucket=BUCKET, Key=POINTER, Body=pointer)
    assert_error(predict(predict_handler), 503, "model")


# =========================================================================== train side


REQUEST_ID = "7e3f8a1c-0000-4000-8000-000000000001"


@pytest.fixture
def train(monkeypatch: pytest.MonkeyPatch):
    """The train handler, loaded in the test body (its logger binds to capsys's stdout)."""
    monkeypatch.setenv("RF_N_ESTIMATORS", "10")
    monkeypatch.setenv("MODEL_BUCKET", BUCKET)

    return lambda: load_train_handler(monkeypatch)


@pytest.fixture
def bucket() -> Iterator[Any]:
    with moto_bucket(BUCKET) as client:
        client.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
        yield client


def snapshot(client: Any) -> tuple[bytes | None, str | None, list[str]]:
    """latest.json's bytes and ETag, and every object version in the bucket."""
    try:
        obj = client.get_object(Bucket=BUCKET, Key=POINTER)
        pointer, etag = obj["Body"].read(), obj["ETag"]
    except client.exceptions.NoSuchKey:
        pointer, etag = None, None
    versions = client.list_object_versions(Bucket=BUCKET).get("Versions", [])
    return pointer, etag, sorted(f"{v['Key']}@{v['VersionId']}" for v in versions)


def one_error_line(capsys: pytest.CaptureFixture[str]) -> dict:
    out = capsys.readouterr()
    errors = [r for r in log_records(out.out + out.err) if r["level"] == "ERROR"]
    assert len(errors) == 1, errors
    assert "Traceback" not in errors[0].get("error", "")
    assert "\n" not in errors[0]["error"]
    return errors[0]


@pytest.fixture
def published(train, bucket, monkeypatch, synthetic_copy) -> dict:
    """A first good model trained and promoted from 300 synthetic customers."""
    monkeypatch.setenv("CHINOOK_SQLITE_PATH", str(synthetic_copy()))
    return train().lambda_handler(EVENT, train_context(REQUEST_ID))


@pytest.fixture
def synthetic_copy(synthetic_sqlite: Path, tmp_path: Path):
    def copy(name: str = "store.sqlite") -> Path:
        target = tmp_path / name
        shutil.copy(synthetic_sqlite, target)
        return target

    return copy


@pytest.fixture(scope="module")
def synthetic_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from devtools.synthetic import generate, write_sqlite

    return write_sqlite(generate(300, seed=42), tmp_path_factory.mktemp("faults") / "s.sqlite")


def _sql(path: Path, *statements: str) -> Path:
    with sqlite3.connect(path) as conn:
        for statement in statements:
            conn.execute(statement)
    return path


def test_database_down_fails_with_one_line_nothing_published(train, bucket, monkeypatch, capsys):
    monkeypatch.setenv("DB_HOST", "127.0.0.1")
    monkeypatch.setenv("DB_PORT", str(free_port()))  # nothing listens there
    monkeypatch.setenv("DB_CONNECT_TIMEOUT", "2")
    with pytest.raises(Exception, match="MySQL error"):
        train().lambda_handler(EVENT, train_context(REQUEST_ID))
    assert one_error_line(capsys)["error_type"] == "DataSourceError"
    assert snapshot(bucket) == (None, None, [])


def test_wrong_password_fails_with_one_line_nothing_published(
    train, bucket, monkeypatch, capsys, mysql_chinook
):
    password = "Wr0ng-" + secrets.token_hex(6)
    monkeypatch.setenv("DB_USER", "root")
    monkeypatch.setenv("DB_PASSWORD", password)
    monkeypatch.setenv("DB_NAME", mysql_chinook)
    with pytest.raises(Exception, match="Access denied") as info:
        train().lambda_handler(EVENT, train_context(REQUEST_ID))
    error = one_error_line(capsys)
    assert error["error_type"] == "DataSourceError"
    assert password not in json.dumps(error)
    assert password not in str(info.value)
    assert snapshot(bucket) == (None, None, [])


def test_secret_missing_fails_with_one_line_nothing_published(train, bucket, monkeypatch, capsys):
    arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:chinook-db-AbCdEf"
    monkeypatch.setenv("DB_SECRET_ARN", arn)
    with pytest.raises(Exception, match="cannot read database secret"):
        train().lambda_handler(EVENT, train_context(REQUEST_ID))
    error = one_error_line(capsys)
    assert arn in error["error"]
    assert snapshot(bucket) == (None, None, [])


@pytest.mark.parametrize(
    ("name", "statements", "error"),
    [
        ("empty", ["DELETE FROM invoice_line"], "TrainingError"),
        ("one-genre", ["UPDATE track SET genre_id = 1"], "TrainingError"),
        (
            "too-few-customers",
            [
                "DELETE FROM invoice WHERE customer_id > 8",
                "DELETE FROM invoice_line WHERE invoice_id NOT IN (SELECT invoice_id FROM invoice)",
            ],
            None,
        ),
        (
            "half-loaded",
            [
                "DELETE FROM invoice WHERE customer_id > 120",
                "DELETE FROM invoice_line WHERE invoice_id NOT IN (SELECT invoice_id FROM invoice)",
            ],
            "PromotionRefused",
        ),
    ],
)
def test_bad_data_refuses_promotion_pointer_byte_identical(
    name, statements, error, published, train, bucket, monkeypatch, capsys, synthetic_copy
):
    before = snapshot(bucket)
    assert json.loads(before[0])["version"] == published["version"]
    capsys.readouterr()
    monkeypatch.setenv(
        "CHINOOK_SQLITE_PATH", str(_sql(synthetic_copy(f"{name}.sqlite"), *statements))
    )
    from genre_model.config import settings
    from genre_model.store.protocol import PromotionRefused
    from genre_model.train import TrainingError

    settings.cache_clear()  # the first run cached the settings with the good database

    with pytest.raises((TrainingError, PromotionRefused)) as info:
        train().lambda_handler(EVENT, train_context(REQUEST_ID))
    record = one_error_line(capsys)
    if error:
        assert record["error_type"] == error
    assert "\n" not in str(info.value)
    after = snapshot(bucket)
    assert after[:2] == before[:2]  # same bytes, same ETag: the pointer was never rewritten
    assert [k for k in after[2] if k.startswith(POINTER)] == [
        k for k in before[2] if k.startswith(POINTER)
    ]


# --------------------------------------------------------------------------- concurrency


def _complete(client: Any, version: str) -> bool:
    """Every file the version's manifest lists is there with its SHA-256."""
    import hashlib

    base = f"{PREFIX}{version}/"
    manifest = json.loads(
        client.get_object(Bucket=BUCKET, Key=base + "manifest.json")["Body"].read()
    )
    for name, entry in manifest["files"].items():
        data = client.get_object(Bucket=BUCKET, Key=base + name)["Body"].read()
        if hashlib.sha256(data).hexdigest() != entry["sha256"]:
            return False
    return manifest["version"] == version


def test_two_trainings_at_the_same_moment(bucket, monkeypatch, synthetic_copy):
    """Both versions complete; the pointer names a complete one; every promote used IfMatch."""
    from genre_model.config import load_settings
    from genre_model.store.registry import Registry
    from genre_model.train.pipeline import run_training

    settings = load_settings(
        {
            "MODEL_BUCKET": BUCKET,
            "CHINOOK_SQLITE_PATH": str(synthetic_copy()),
            "RF_N_ESTIMATORS": "10",
        }
    )
    run_training(settings)  # a pointer exists: the racers must both compare against it
    barrier = threading.Barrier(2, timeout=60)
    original = Registry.promote
    conditions: list[dict] = []

    def record(params: dict, **_: Any) -> None:
        if params["Key"] == POINTER:
            conditions.append({k: v for k, v in params.items() if k.startswith("If")})

    def racing_promote(self: Registry, version: str, **checks: Any) -> dict:
        barrier.wait()  # both runs checked promotion against the same pointer; now both write
        return original(self, version, **checks)

    monkeypatch.setattr(Registry, "promote", racing_promote)
    boto3.setup_default_session()
    boto3._get_default_session().events.register("before-parameter-build.s3.PutObject", record)
    outcomes: list[Any] = []
    failures: list[BaseException] = []

    def run() -> None:
        try:
            outcomes.append(run_training(settings))
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    boto3.DEFAULT_SESSION = None
    assert not failures, failures
    versions = {o.version for o in outcomes}
    assert len(versions) == 2
    assert all(_complete(bucket, v) for v in versions)
    pointer = json.loads(bucket.get_object(Bucket=BUCKET, Key=POINTER)["Body"].read())
    assert pointer["version"] in versions
    assert _complete(bucket, pointer["version"])
    assert len(conditions) >= 2
    assert all(set(c) == {"IfMatch"} for c in conditions), conditions


def _manifest(version: str, labelled: int) -> Manifest:
    return Manifest(
        version,
        created="2026-01-01T00:00:00+00:00",
        classes=("Rock", "Jazz"),
        rows={"labelled": labelled},
    )


FILES = {"model.joblib": b"m", "predictor.joblib": b"p"}


@pytest.mark.parametrize("store_kind", ["s3", "dir"])
def test_interleaved_promotion_rechecks_against_the_winner(store_kind, bucket, tmp_path):
    """A checks, B checks and promotes, A promotes: A's write is refused (412 / lock compare),
    A re-reads the pointer and re-runs its check against B, instead of blindly overwriting."""
    from genre_model.store.local import DirStore
    from genre_model.store.protocol import PromotionRefused
    from genre_model.store.registry import Registry
    from genre_model.store.s3 import S3Store

    def registry() -> Registry:
        if store_kind == "s3":
            return Registry(S3Store(BUCKET, boto3.client("s3", region_name="us-east-1")), PREFIX)
        return Registry(DirStore(tmp_path), PREFIX)

    V0, VA, VB, VC, VD = (f"20260101T000000Z-00000{c}" for c in "0abcd")
    base = registry()
    base.check_promotion(base.write_version(_manifest(V0, 100), FILES), 10)
    base.promote(V0)
    a, b = registry(), registry()
    a.check_promotion(a.write_version(_manifest(VA, 60), FILES), 10)  # fine against v0 (100)
    b.check_promotion(b.write_version(_manifest(VB, 1000), FILES), 10)
    b.promote(VB)
    with pytest.raises(PromotionRefused, match="shrank from 1000 to 60"):
        a.promote(VA)  # re-checked against vb, not the v0 it saw
    assert base.pointer().version == VB
    # and a check that still passes after the conflict is retried and wins
    c = registry()
    c.check_promotion(c.write_version(_manifest(VC, 900), FILES), 10)
    d = registry()
    d.check_promotion(d.write_version(_manifest(VD, 950), FILES), 10)
    d.promote(VD)
    c.promote(VC)
    assert base.pointer().version == VC


def test_conditional_write_is_refused_by_s3_when_the_pointer_moved(bucket):
    """moto 5.2.5 honours PutObject IfMatch / IfNoneMatch (as S3 does since 2024)."""
    from genre_model.store.protocol import PointerConflict
    from genre_model.store.s3 import S3Store

    store = S3Store(BUCKET, boto3.client("s3", region_name="us-east-1"))
    store.put_if(POINTER, b'{"version": "a"}', None)
    with pytest.raises(PointerConflict):
        store.put_if(POINTER, b'{"version": "b"}', None)  # IfNoneMatch="*": already exists
    _, etag = store.get_tagged(POINTER)
    store.put(POINTER, b'{"version": "c"}')
    with pytest.raises(PointerConflict):
        store.put_if(POINTER, b'{"version": "d"}', etag)  # IfMatch on a stale ETag
    assert store.get(POINTER) == b'{"version": "c"}'


# --------------------------------------------------------------------------- Lambda timeout


class LambdaTimeout(BaseException):
    """What the runtime does at the deadline: the process stops wherever it is."""


@pytest.mark.parametrize("killed_at", ["predictor.joblib", "manifest.json", "latest.json"])
def test_lambda_timeout_mid_upload_publishes_nothing_half_done(
    killed_at, bucket, monkeypatch, synthetic_copy, predict_handler
):
    from genre_model.config import load_settings
    from genre_model.store.registry import Registry
    from genre_model.store.s3 import S3Store
    from genre_model.train.pipeline import run_training

    settings = load_settings(
        {
            "MODEL_BUCKET": BUCKET,
            "CHINOOK_SQLITE_PATH": str(synthetic_copy()),
            "RF_N_ESTIMATORS": "10",
        }
    )
    first = run_training(settings).version
    monkeypatch.setenv("MODEL_BUCKET", BUCKET)
    served = predict(predict_handler)
    assert served_version(served) == first
    before = snapshot(bucket)

    def die(params: dict, **_: Any) -> None:
        if params["Key"].endswith(killed_at):
            raise LambdaTimeout

    boto3.setup_default_session()
    boto3._get_default_session().events.register("before-parameter-build.s3.PutObject", die)
    with pytest.raises(LambdaTimeout):
        run_training(settings)
    boto3.DEFAULT_SESSION = None
    assert snapshot(bucket)[:2] == before[:2]  # latest.json untouched
    registry = Registry(S3Store(BUCKET, bucket), PREFIX)
    listed = [v.version for v in registry.versions()]
    if killed_at == "latest.json":
        assert len(listed) == 2  # complete but never promoted: listed, not latest
    else:
        assert listed == [first]  # no manifest, so not a version at all
    assert [v.version for v in registry.versions() if v.latest] == [first]
    from genre_model.serve import api

    api.reset()  # a fresh container still gets the promoted version
    assert predict(predict_handler).raw == served.raw
    # and the next run succeeds and is promoted
    assert run_training(settings).promoted
