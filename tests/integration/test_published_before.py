"""A version published before the typed artifact contract (tests/data/published-0c5d611, written
by the code at commit 0c5d611) still serves, from a directory and from S3, with the answers that
code gave; and its scikit-learn pickle still loads as the original container system loaded it."""

from __future__ import annotations

import io
import json
import math
import shutil
import time
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pytest

from genre_model.contract import CUSTOMERS_FILE, MANIFEST, POINTER, PREDICTOR_FILE, Manifest
from genre_model.serve import service
from genre_model.serve.model_cache import LoadedModel, Location
from genre_model.serve.schemas import PredictRequest
from genre_model.store.local import DirStore
from genre_model.store.protocol import to_json
from genre_model.store.registry import Registry
from tests.helpers import BUCKET, PREFIX, invoke, load_event, make_event

PUBLISHED = Path(__file__).resolve().parents[1] / "data" / "published-0c5d611"
EXPECTED: dict[str, Any] = json.loads((PUBLISHED / "expected.json").read_text())
VERSION: str = EXPECTED["version"]


def assert_same_answer(answer: dict[str, Any], expected: dict[str, Any], request: Any) -> None:
    """The old code's answer: byte for byte, but for the explanation's floats. 0c5d611 summed
    them with BLAS (``v @ weights``), whose kernel and so its last bit depend on the CPU that
    recorded expected.json; they must agree to 1e-12 (today's sum rounds the same everywhere)."""
    answer, expected = json.loads(json.dumps(answer)), json.loads(json.dumps(expected))
    if "explanation" not in expected:
        assert answer == expected, request
        return
    got, want = answer.pop("explanation"), expected.pop("explanation")
    assert answer == expected, request
    got_numbers = {"base_value": got.pop("base_value"), **got.pop("contributions")}
    want_numbers = {"base_value": want.pop("base_value"), **want.pop("contributions")}
    assert got == want, request
    assert got_numbers.keys() == want_numbers.keys(), request
    for name, value in want_numbers.items():
        assert math.isclose(got_numbers[name], value, rel_tol=1e-12, abs_tol=1e-15), (name, request)


@pytest.fixture
def published(tmp_path: Path) -> Path:
    """A copy: reading must not need to write, and nothing may land in tests/data."""
    return Path(shutil.copytree(PUBLISHED, tmp_path / "published"))


def load_from(root: Path) -> LoadedModel:
    def keys(version: str) -> dict[str, str]:
        return {name: f"{version}/{name}" for name in (MANIFEST, PREDICTOR_FILE, CUSTOMERS_FILE)}

    loaded = Location(DirStore(root), keys, pointer=POINTER).load(None, time.monotonic() + 30)
    assert loaded is not None
    return loaded


def assert_same_summary(summary: dict[str, Any]) -> None:
    """The summary the old version always had; the headline (report.json, added later) is
    absent and says why, the only addition."""
    assert {k: v for k, v in summary.items() if k in EXPECTED["model_summary"]} == EXPECTED[
        "model_summary"
    ]
    assert set(summary) - set(EXPECTED["model_summary"]) == {"headline", "headline_unavailable"}
    assert summary["headline"] is None
    assert "published without report.json" in summary["headline_unavailable"]


def test_the_old_version_answers_as_before_from_a_directory(published: Path) -> None:
    model = load_from(published)
    assert model.version == VERSION
    assert_same_summary(service.model_summary(model))
    for case in EXPECTED["requests"]:
        answer = service.predict(PredictRequest.model_validate(case["request"]), model)
        assert_same_answer(answer, case["response"], case["request"])


def test_the_old_manifest_and_pointer_read_typed_and_write_back_the_same_bytes(
    published: Path,
) -> None:
    raw = (published / VERSION / MANIFEST).read_bytes()
    assert to_json(Manifest.from_json(json.loads(raw)).to_json()) == raw  # same keys, same values
    registry = Registry(DirStore(published), "")
    pointer = registry.pointer()
    assert pointer is not None
    assert (pointer.version, pointer.manifest_key) == (VERSION, f"{VERSION}/{MANIFEST}")
    assert to_json(pointer.to_json()) == (published / POINTER).read_bytes()
    [info] = registry.versions()
    manifest = registry.manifest(VERSION)
    assert (info.version, info.latest, info.labelled) == (VERSION, True, manifest.labelled)
    assert info.accuracy == EXPECTED["model_summary"]["metrics"]["holdout"]["model_accuracy"]
    registry.promote(VERSION)  # a rollback to it: every listed file still verifies


def test_the_old_version_answers_as_before_from_s3(predict_handler: Any, s3: Any) -> None:
    for path in PUBLISHED.rglob("*"):
        if path.is_file() and path.name not in {"expected.json", "README.md"}:
            key = PREFIX + path.relative_to(PUBLISHED).as_posix()
            s3.put_object(Bucket=BUCKET, Key=key, Body=path.read_bytes())
    info = invoke(predict_handler, load_event("model-info.json"))
    assert info.status == 200, info.raw
    assert_same_summary(info.body)
    for case in EXPECTED["requests"]:
        answer = invoke(predict_handler, make_event(case["request"]))
        assert answer.status == 200, answer.raw
        assert_same_answer(answer.body, case["response"], case["request"])


def test_the_old_pickle_loads_as_the_original_system_loaded_it() -> None:
    original = EXPECTED["original_system"]
    pickle = joblib.load(io.BytesIO((PUBLISHED / VERSION / "model.joblib").read_bytes()))
    encoder, forest = pickle["label_encoders"]["genre"], pickle["model"]
    X = np.asarray(original["X"])
    assert [str(g) for g in encoder.inverse_transform(forest.predict(X))] == original["genres"]
    assert forest.predict_proba(X).tolist() == original["probabilities"]
    assert [str(c) for c in encoder.classes_] == original["encoder_classes"]
