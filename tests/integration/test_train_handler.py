"""The train Lambda handler on the scheduled event, under moto, with synthetic SQLite data."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from genre_model.train.sources import DataSourceError
from tests.helpers import load_train_handler, log_records, moto_bucket, train_context

ROOT = Path(__file__).resolve().parents[2]
BUCKET = "genre-model-handler-test"
EVENT = json.loads((ROOT / "events" / "scheduled-event.json").read_text())
REQUEST_ID = "52fdfc07-2182-454f-963f-5f0f9a621d72"


@pytest.fixture
def handler(monkeypatch: pytest.MonkeyPatch):
    """A loader, called in the test body (the logger binds to capsys's stdout)."""
    return lambda: load_train_handler(monkeypatch)


@pytest.fixture
def bucket() -> Iterator[object]:
    with moto_bucket(BUCKET) as client:
        yield client


def test_scheduled_event_trains_and_promotes(
    handler, bucket, monkeypatch: pytest.MonkeyPatch, synthetic_sqlite: Path, fast_forest: None
) -> None:
    assert EVENT["detail-type"] == "Scheduled Event"
    monkeypatch.setenv("MODEL_BUCKET", BUCKET)
    monkeypatch.setenv("CHINOOK_SQLITE_PATH", str(synthetic_sqlite))
    summary = handler().lambda_handler(EVENT, train_context(REQUEST_ID))
    assert summary["promoted"] is True
    assert 0 <= summary["baseline_accuracy"] <= 1
    assert 0 <= summary["accuracy"] <= 1
    assert summary["labelled_customers"] > 0
    version = summary["version"]
    pointer = json.loads(
        bucket.get_object(Bucket=BUCKET, Key="models/genre/latest.json")["Body"].read()
    )
    assert pointer["version"] == version
    manifest = json.loads(
        bucket.get_object(Bucket=BUCKET, Key=f"models/genre/{version}/manifest.json")["Body"].read()
    )
    assert manifest["metrics"]["holdout"]["model_accuracy"] == summary["accuracy"]
    assert manifest["metrics"]["holdout"]["baseline_accuracy"] == summary["baseline_accuracy"]
    json.dumps(summary)  # the Lambda return value must serialise


def test_failure_raises_and_logs_one_error(
    handler, bucket, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys
) -> None:
    missing = tmp_path / "nope.sqlite"
    monkeypatch.setenv("MODEL_BUCKET", BUCKET)
    monkeypatch.setenv("CHINOOK_SQLITE_PATH", str(missing))
    with pytest.raises(DataSourceError, match="not found"):
        handler().lambda_handler(EVENT, train_context(REQUEST_ID))
    out = capsys.readouterr()
    errors = [r for r in log_records(out.out + out.err) if r["level"] == "ERROR"]
    assert len(errors) == 1
    assert str(missing) in json.dumps(errors[0])
    assert errors[0].get("error_type") == "DataSourceError"
    assert errors[0].get("function_request_id") == REQUEST_ID
    assert "latest.json" not in json.dumps(
        bucket.list_objects_v2(Bucket=BUCKET).get("Contents", [])
    )


def test_password_never_captured(
    handler, bucket, monkeypatch: pytest.MonkeyPatch, capsys, caplog: pytest.LogCaptureFixture
) -> None:
    password = "s3cr3t-Pa55"
    monkeypatch.setenv("MODEL_BUCKET", BUCKET)
    monkeypatch.setenv("DB_HOST", "127.0.0.1")
    monkeypatch.setenv("DB_PORT", "1")  # nothing listens there
    monkeypatch.setenv("DB_PASSWORD", password)
    monkeypatch.setenv("DB_CONNECT_TIMEOUT", "2")
    with caplog.at_level(logging.DEBUG), pytest.raises(DataSourceError) as info:
        handler().lambda_handler(EVENT, train_context(REQUEST_ID))
    out = capsys.readouterr()
    errors = [r for r in log_records(out.out) if r["level"] == "ERROR"]
    assert len(errors) == 1
    assert "127.0.0.1:1" in json.dumps(errors[0])
    for text in (out.out, out.err, caplog.text, str(info.value), repr(info.value)):
        assert password not in text
