"""Versioned artifacts in (moto) S3: layout, hashes, checksums, pointer order, refusal, rollback."""

from __future__ import annotations

import base64
import hashlib
import io
import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import joblib
import numpy as np
import pytest

from genre_model.config import load_settings
from genre_model.serve.predictor import Predictor
from genre_model.store.protocol import ArtifactError, PromotionRefused
from genre_model.store.registry import Registry, new_version
from genre_model.store.s3 import S3Store
from genre_model.train.pipeline import run_training
from tests.helpers import moto_bucket

BUCKET = "genre-model-test-bucket"
PREFIX = "models/genre/"
FILES = {
    "model.joblib",
    "predictor.joblib",
    "customers.joblib",
    "metrics.json",
    "report.json",
    "report.png",
    "manifest.json",
}


@pytest.fixture
def s3() -> Iterator[object]:
    with moto_bucket(BUCKET) as client:
        yield client


@pytest.fixture
def put_order(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every key S3Store.put writes, in order (the real put still runs)."""
    order: list[str] = []
    original = S3Store.put

    def recording_put(self: S3Store, key: str, data: bytes, **condition: str) -> None:
        original(self, key, data, **condition)
        order.append(key)

    monkeypatch.setattr(S3Store, "put", recording_put)
    return order


def settings_for(db: Path, **env: str):
    return load_settings(
        {"MODEL_BUCKET": BUCKET, "CHINOOK_SQLITE_PATH": str(db), "RF_N_ESTIMATORS": "10", **env}
    )


def body(client, key: str) -> bytes:
    return client.get_object(Bucket=BUCKET, Key=key)["Body"].read()


def keys(client, prefix: str = "") -> set[str]:
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix)
    return {o["Key"] for page in pages for o in page.get("Contents", [])}


def test_round_trip(s3, put_order: list[str], synthetic_sqlite: Path) -> None:
    outcome = run_training(settings_for(synthetic_sqlite))
    version = outcome.version
    assert outcome.promoted
    assert outcome.location == f"s3://{BUCKET}/{PREFIX}{version}"
    base = f"{PREFIX}{version}/"
    assert keys(s3, base) == {base + f for f in FILES}
    assert keys(s3) == {base + f for f in FILES} | {PREFIX + "latest.json"}

    manifest = json.loads(body(s3, base + "manifest.json"))
    assert manifest["version"] == version
    assert set(manifest["files"]) == FILES - {"manifest.json"}
    for name, entry in manifest["files"].items():
        data = body(s3, base + name)
        assert entry["sha256"] == hashlib.sha256(data).hexdigest()
        assert entry["bytes"] == len(data)
    assert manifest["rows"]["customers_read"] == 300

    pointer = json.loads(body(s3, PREFIX + "latest.json"))
    assert pointer["version"] == version
    assert pointer["promoted_at"]

    # every object was uploaded with a SHA-256 checksum that S3 stored and verified
    for name in FILES:
        head = s3.head_object(Bucket=BUCKET, Key=base + name, ChecksumMode="ENABLED")
        digest = hashlib.sha256(body(s3, base + name)).digest()
        assert head.get("ChecksumSHA256") == base64.b64encode(digest).decode()

    # the pointer is written last, after the manifest, which follows every file
    assert put_order[-1] == PREFIX + "latest.json"
    assert put_order[-2] == base + "manifest.json"
    assert set(put_order[:-2]) == {base + f for f in FILES - {"manifest.json"}}
    assert put_order.count(PREFIX + "latest.json") == 1

    # what was stored works: the sklearn pickle and the numpy predictor agree exactly
    # (the same format as the local MODELO_GENERO_ENTRENADO pickle: forest on genre codes)
    saved = joblib.load(io.BytesIO(body(s3, base + "model.joblib")))
    genres = list(saved["label_encoders"]["genre"].classes_)
    assert saved["genre_classes"] == genres
    assert list(saved["model"].classes_) == list(range(len(genres)))
    predictor = Predictor.from_bytes(body(s3, base + "predictor.joblib"))
    assert list(predictor.classes) == genres
    X = np.array([[10.0, 12.0, 0.5], [0.0, 0.0, 0.0], [40.0, 30.0, 0.9]])
    assert np.array_equal(predictor.predict_proba(X), saved["model"].predict_proba(X))


def test_refused_promotions_and_rollback(
    s3, put_order: list[str], synthetic_sqlite: Path, small_sqlite: Path
) -> None:
    first = run_training(settings_for(synthetic_sqlite)).version
    pointer_before = body(s3, PREFIX + "latest.json")

    # a database with fewer than half the customers: written, not promoted
    put_order.clear()
    with pytest.raises(PromotionRefused, match="shrank") as shrunk:
        run_training(settings_for(small_sqlite))
    refused = shrunk.value.version
    assert refused != first
    assert body(s3, PREFIX + "latest.json") == pointer_before
    assert PREFIX + "latest.json" not in put_order
    assert keys(s3, f"{PREFIX}{refused}/") == {f"{PREFIX}{refused}/{f}" for f in FILES}

    # MIN_CUSTOMERS above what the data has: also refused
    with pytest.raises(PromotionRefused, match="MIN_CUSTOMERS") as too_few:
        run_training(settings_for(synthetic_sqlite, MIN_CUSTOMERS="100000"))
    assert body(s3, PREFIX + "latest.json") == pointer_before
    assert keys(s3, f"{PREFIX}{too_few.value.version}/")

    registry = Registry(S3Store(BUCKET), PREFIX)
    listed = {v.version: v for v in registry.versions()}
    assert {first, refused, too_few.value.version} == set(listed)
    assert [v for v, info in listed.items() if info.latest] == [first]
    assert listed[refused].labelled < listed[first].labelled / 2

    # a new good run moves the pointer; rollback moves it back
    third = run_training(settings_for(synthetic_sqlite)).version
    assert json.loads(body(s3, PREFIX + "latest.json"))["version"] == third
    registry.promote(first)
    assert json.loads(body(s3, PREFIX + "latest.json"))["version"] == first
    assert registry.latest_manifest().version == first

    # a tampered file makes promote refuse and leaves the pointer alone
    pointer_now = body(s3, PREFIX + "latest.json")
    s3.put_object(Bucket=BUCKET, Key=f"{PREFIX}{third}/predictor.joblib", Body=b"evil pickle")
    with pytest.raises(ArtifactError, match="SHA-256"):
        registry.promote(third)
    assert body(s3, PREFIX + "latest.json") == pointer_now


def test_promote_unknown_version_refused(s3) -> None:
    registry = Registry(S3Store(BUCKET), PREFIX)
    with pytest.raises(ArtifactError):
        registry.promote(new_version())
    assert registry.pointer() is None
    assert registry.versions() == []


def test_model_path_s3_uri(s3, synthetic_sqlite: Path) -> None:
    settings = settings_for(synthetic_sqlite)
    settings = replace(settings, model_bucket=None, model_path=f"s3://{BUCKET}/custom/prefix")
    version = run_training(settings).version
    pointer = json.loads(body(s3, "custom/prefix/latest.json"))
    assert pointer["version"] == version
    assert f"custom/prefix/{version}/manifest.json" in keys(s3)


def test_pointer_has_the_documented_fields(s3, synthetic_sqlite: Path) -> None:
    """docs/architecture.md: latest.json = {"version", "manifest_key", "promoted_at"}."""
    version = run_training(settings_for(synthetic_sqlite)).version
    pointer = json.loads(body(s3, PREFIX + "latest.json"))
    assert set(pointer) == {"version", "manifest_key", "promoted_at"}
    assert pointer["manifest_key"] == f"{PREFIX}{version}/manifest.json"
