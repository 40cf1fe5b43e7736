"""A model version is loaded, verified and validated as ONE unit, and refused whole.

Each test publishes what a buggy or hostile trainer could: hash-correct predictors that break
the format, customer snapshots that are tampered, gone, unlisted, a directory or a FIFO, version
names that are paths. Expected every time: the version is refused like a hash mismatch (error
log, ``ModelIntegrityFailure`` metric), the previous version keeps answering both kinds of
request, and with nothing cached the answer is a 503 in the error shape, never a 5xx raised.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import pickle
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from genre_model.contract import pack_arrays, unpack_arrays
from tests.helpers import (
    BUCKET,
    PREFIX,
    SPEC_INPUT,
    TrainedModel,
    assert_error,
    invoke,
    make_event,
    publish,
    tampered,
)

PREDICTOR, CUSTOMERS, MANIFEST = "predictor.joblib", "customers.joblib", "manifest.json"
REFUSED = "Model integrity check failed"


# --------------------------------------------------------------------------- crafting versions


def rehashed(model: TrainedModel, changes: dict[str, bytes | None]) -> dict[str, bytes]:
    """The version's files with ``changes`` applied and a manifest whose hashes MATCH them
    (``None`` drops the file from the manifest but leaves it in the folder)."""
    files = model.files()
    manifest = json.loads(files[MANIFEST])
    for name, data in changes.items():
        if data is None:
            del manifest["files"][name]
            continue
        files[name] = data
        manifest["files"][name] = {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
    files[MANIFEST] = json.dumps(manifest).encode()
    return files


def put_version(client: Any, version: str, files: dict[str, bytes], promote: bool = True) -> None:
    for name, data in files.items():
        client.put_object(Bucket=BUCKET, Key=f"{PREFIX}{version}/{name}", Body=data)
    if promote:
        pointer = json.dumps({"version": version}).encode()
        client.put_object(Bucket=BUCKET, Key=f"{PREFIX}latest.json", Body=pointer)


def repickled(model: TrainedModel, name: str, change: Callable[[dict, dict], None]) -> bytes:
    """The model's ``name`` payload (predictor or snapshot) after ``change(payload, arrays)``,
    pickled again."""
    payload = pickle.loads(model.files()[name])  # noqa: S301 - our own test artifact
    arrays = {k: v.copy() for k, v in unpack_arrays(payload["arrays"]).items()}
    change(payload, arrays)
    payload["arrays"] = pack_arrays(arrays)
    return pickle.dumps(payload)


def _first_leaf(arrays: dict) -> int:
    return int(np.flatnonzero(arrays["left"] == np.arange(len(arrays["left"])))[0])


def _set(name: str, index: int | Callable[[dict], int], value: float) -> Callable:
    def change(_payload: dict, arrays: dict) -> None:
        i = index(arrays) if callable(index) else index
        arrays[name][i] = value

    return change


def _leaf_value(value: float) -> Callable:
    def change(_payload: dict, arrays: dict) -> None:
        arrays["value"][_first_leaf(arrays), 0] = value

    return change


HOSTILE_PREDICTORS: dict[str, Callable[[dict, dict], None]] = {
    "depth-1e9": lambda p, a: p.update(depth=10**9),
    "depth-short": lambda p, a: p.update(depth=p["depth"] - 1),
    "left-out-of-range": _set("left", 0, 10**6),
    "right-negative": _set("right", 0, -3),
    "feature-out-of-range": _set("feature", 0, 3),
    "leaf-feature-out-of-range": _set("feature", _first_leaf, 99),
    "no-roots": lambda p, a: a.update(roots=np.array([], dtype=np.int64)),
    "fewer-classes": lambda p, a: p.update(classes=p["classes"][:-1]),
    "nan-leaf": _leaf_value(math.nan),
    "inf-leaf": _leaf_value(math.inf),
    "leaf-not-summing-to-1": _leaf_value(7.0),
    "extra-feature-column": lambda p, a: p.update(feature_columns=[*p["feature_columns"], "x"]),
}


def _nan_feature(_p: dict, a: dict) -> None:
    a["features"][0, 0] = math.nan


def _unsorted(_p: dict, a: dict) -> None:
    a["customer_id"] = a["customer_id"][::-1].copy()


def _short_countries(p: dict, _a: dict) -> None:
    p["countries"] = p["countries"][:-1]


# name -> files of a version (from the model) whose snapshot is bad
BAD_SNAPSHOTS: dict[str, Callable[[TrainedModel], dict[str, bytes]]] = {
    "tampered": lambda m: {**m.files(), CUSTOMERS: tampered(m.files()[CUSTOMERS])},
    "missing": lambda m: {k: v for k, v in m.files().items() if k != CUSTOMERS},
    "unlisted": lambda m: rehashed(m, {CUSTOMERS: None}),
    "not-a-pickle": lambda m: rehashed(m, {CUSTOMERS: b"not a pickle"}),
    "nan-feature": lambda m: rehashed(m, {CUSTOMERS: repickled(m, CUSTOMERS, _nan_feature)}),
    "unsorted-ids": lambda m: rehashed(m, {CUSTOMERS: repickled(m, CUSTOMERS, _unsorted)}),
    "countries-short": lambda m: rehashed(
        m, {CUSTOMERS: repickled(m, CUSTOMERS, _short_countries)}
    ),
}


def predict(handler: Any, body: dict | None = None) -> Any:
    return invoke(handler, make_event(SPEC_INPUT if body is None else body))


def assert_refused_at_cold_start(handler: Any, logs: Any, capsys: Any) -> None:
    for body in (None, {"customer_id": 1}):
        reply = assert_error(predict(handler, body), 503, "model")
        assert reply["message"] == "Genre model not found"
    assert REFUSED in logs.text
    assert "ModelIntegrityFailure" in capsys.readouterr().out  # the EMF metric was flushed


def serve_first(handler: Any, s3: Any, model: TrainedModel, customer_id: int) -> tuple[Any, Any]:
    """``model`` published and served: its answers to the spec's example and to a customer."""
    publish(s3, model)
    before = predict(handler)
    customer = predict(handler, {"customer_id": customer_id})
    assert (before.status, customer.status) == (200, 200), before.raw
    return before, customer


def assert_previous_kept(
    handler: Any, served: tuple[Any, Any], customer_id: int, logs: Any, capsys: Any
) -> None:
    """The next version was refused: every request still gets the first version's answer."""
    before, customer = served
    for _ in range(2):
        answer = predict(handler)
        assert (answer.status, answer.raw) == (200, before.raw)
        assert predict(handler, {"customer_id": customer_id}).raw == customer.raw
    assert REFUSED in logs.text
    assert "ModelIntegrityFailure" in capsys.readouterr().out


# --------------------------------------------------------------------------- S3: predictor


@pytest.mark.parametrize("name", sorted(HOSTILE_PREDICTORS))
def test_hash_correct_hostile_predictor_is_refused_previous_kept(
    name, predict_handler, s3, spec_model, spec_model_v2, monkeypatch, genre_logs, capsys
):
    monkeypatch.setenv("MODEL_REFRESH_SECONDS", "0")
    served = serve_first(predict_handler, s3, spec_model, customer_id=1)
    hostile = repickled(spec_model_v2, PREDICTOR, HOSTILE_PREDICTORS[name])
    put_version(s3, spec_model_v2.version, rehashed(spec_model_v2, {PREDICTOR: hostile}))
    assert_previous_kept(predict_handler, served, 1, genre_logs, capsys)
    assert "SHA-256" not in genre_logs.text  # the hash was right: the structure was not


@pytest.mark.parametrize("name", ["depth-1e9", "left-out-of-range", "nan-leaf", "fewer-classes"])
def test_hash_correct_hostile_predictor_at_cold_start_is_503(
    name, predict_handler, s3, spec_model, genre_logs, capsys
):
    hostile = repickled(spec_model, PREDICTOR, HOSTILE_PREDICTORS[name])
    put_version(s3, spec_model.version, rehashed(spec_model, {PREDICTOR: hostile}))
    assert_refused_at_cold_start(predict_handler, genre_logs, capsys)


# --------------------------------------------------------------------------- S3: snapshot


@pytest.mark.parametrize("name", sorted(BAD_SNAPSHOTS))
def test_bad_snapshot_refuses_the_version_previous_kept(
    name, predict_handler, s3, spec_model, spec_model_v2, monkeypatch, genre_logs, capsys
):
    monkeypatch.setenv("MODEL_REFRESH_SECONDS", "0")
    served = serve_first(predict_handler, s3, spec_model, customer_id=3)
    put_version(s3, spec_model_v2.version, BAD_SNAPSHOTS[name](spec_model_v2))
    assert_previous_kept(predict_handler, served, 3, genre_logs, capsys)  # feature requests too


@pytest.mark.parametrize("name", sorted(BAD_SNAPSHOTS))
def test_bad_snapshot_at_cold_start_is_503_for_every_request(
    name, predict_handler, s3, spec_model, genre_logs, capsys
):
    put_version(s3, spec_model.version, BAD_SNAPSHOTS[name](spec_model))
    assert_refused_at_cold_start(predict_handler, genre_logs, capsys)


# --------------------------------------------------------------------------- local path


def install(model: TrainedModel, target: Path) -> None:
    """The model's files at ``target`` and its companions (what ``LocalModelPath.export`` does)."""
    for name, data in model.files().items():
        path = target if name == "model.joblib" else target.with_name(f"{target.stem}.{name}")
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists() or path.is_symlink():
            path.unlink()
        path.write_bytes(data)


def _directory(path: Path) -> None:
    path.unlink()
    path.mkdir()


def _fifo(path: Path) -> None:
    path.unlink()
    os.mkfifo(path)


def _unreadable(path: Path) -> None:
    path.chmod(0)


SPECIAL = {"directory": _directory, "fifo": _fifo, "unreadable": _unreadable}


@pytest.mark.parametrize("kind", sorted(SPECIAL))
def test_special_file_at_the_snapshot_path_is_refused(
    kind, predict_handler, spec_model, spec_model_v2, tmp_path, monkeypatch, genre_logs, capsys
):
    if kind == "unreadable" and os.geteuid() == 0:
        pytest.skip("root reads a mode-000 file; the directory and FIFO cases still run")
    target = tmp_path / "modelo.pkl"
    snapshot = target.with_name(f"modelo.{CUSTOMERS}")
    monkeypatch.setenv("MODELO_GENERO_ENTRENADO", str(target))
    monkeypatch.setenv("MODEL_REFRESH_SECONDS", "0")
    install(spec_model, target)
    SPECIAL[kind](snapshot)
    assert_refused_at_cold_start(predict_handler, genre_logs, capsys)
    install(spec_model, target)  # repaired: served at once
    before = predict(predict_handler)
    assert before.status == 200, before.raw
    install(spec_model_v2, target)
    SPECIAL[kind](snapshot)
    for body in (None, {"customer_id": 4}):
        answer = predict(predict_handler, body)
        assert answer.status == 200, answer.raw
        assert answer.headers["x-model-version"] == spec_model.version


# --------------------------------------------------------------------------- version names


def test_pointer_naming_a_path_is_refused_even_onto_a_complete_version(
    predict_handler, s3, spec_model, genre_logs, capsys
):
    evil = "../../evil/v1"
    put_version(s3, evil, spec_model.files(), promote=False)  # keys models/genre/../../evil/v1/
    s3.put_object(Bucket=BUCKET, Key=f"{PREFIX}latest.json", Body=json.dumps({"version": evil}))
    assert_refused_at_cold_start(predict_handler, genre_logs, capsys)
    assert "not a version name" in genre_logs.text


@pytest.mark.parametrize(
    "named", ["../../evil/v1", "20261126T020000Z-1a2b3c\r\nSet-Cookie: a=b", "v1", None]
)
def test_manifest_naming_another_or_no_version_is_refused(
    named, predict_handler, spec_model, tmp_path, monkeypatch, genre_logs, capsys
):
    """No pointer on a local path: the manifest's own version reaches X-Model-Version."""
    target = tmp_path / "modelo.pkl"
    install(spec_model, target)
    manifest = target.with_name(f"modelo.{MANIFEST}")
    manifest.write_text(json.dumps({**json.loads(manifest.read_text()), "version": named}))
    monkeypatch.setenv("MODELO_GENERO_ENTRENADO", str(target))
    assert_refused_at_cold_start(predict_handler, genre_logs, capsys)


def test_manifest_with_nan_is_not_json(
    predict_handler, spec_model, tmp_path, monkeypatch, genre_logs, capsys
):
    """json.loads accepts NaN; a manifest holding one would put it in GET /api/model."""
    target = tmp_path / "modelo.pkl"
    install(spec_model, target)
    manifest = target.with_name(f"modelo.{MANIFEST}")
    manifest.write_text(manifest.read_text().replace('"metrics": {', '"metrics": {"x": NaN, ', 1))
    monkeypatch.setenv("MODELO_GENERO_ENTRENADO", str(target))
    assert_refused_at_cold_start(predict_handler, genre_logs, capsys)
    assert "not valid JSON" in genre_logs.text


@pytest.mark.parametrize(
    "path",
    [
        f"s3://{BUCKET}/models/../../evil/v1/",
        f"s3://{BUCKET}/models/genre/./x/",
        f"s3://{BUCKET}/a//b/",
        "s3:///models/genre/",
    ],
)
def test_model_path_with_dot_segments_is_refused(
    path, predict_handler, s3, monkeypatch, genre_logs
):
    monkeypatch.delenv("MODEL_BUCKET")
    monkeypatch.setenv("MODELO_GENERO_ENTRENADO", path)
    body = assert_error(predict(predict_handler), 503, "model")
    assert body["message"] == "Genre model not found"
    assert "MODELO_GENERO_ENTRENADO" in genre_logs.text


def test_s3_version_path_serves_that_version_only(
    predict_handler, s3, spec_model, spec_model_v2, monkeypatch
):
    publish(s3, spec_model, promote=False)
    publish(s3, spec_model_v2)  # latest names v2; the path names v1
    monkeypatch.delenv("MODEL_BUCKET")
    monkeypatch.setenv("MODELO_GENERO_ENTRENADO", f"s3://{BUCKET}/{PREFIX}{spec_model.version}/")
    answer = predict(predict_handler)
    assert answer.status == 200, answer.raw
    assert answer.headers["x-model-version"] == spec_model.version


# --------------------------------------------------------------------------- answers


def test_a_model_answering_nan_is_503_never_nan_in_the_body(
    predict_handler, s3, spec_model, genre_logs
):
    publish(s3, spec_model)
    assert predict(predict_handler).status == 200
    from genre_model.serve import api

    model = api.model_cache().model
    nan = np.full(len(model.predictor.classes), math.nan)
    object.__setattr__(model.predictor, "predict_one", lambda _row: nan)
    answer = predict(predict_handler)
    body = assert_error(answer, 503, "model")
    assert body["message"] == "Genre model unusable"
    assert "NaN" not in answer.raw
    assert "non-finite" in genre_logs.text


def test_the_response_encoder_refuses_nan_and_infinity(genre_logs):
    from genre_model.serve.http import Reply, respond

    for value in (math.nan, math.inf, -math.inf):
        response = respond(Reply(200, {"status": "OK", "value": value}))
        assert response["statusCode"] == 503
        json.loads(response["body"], parse_constant=pytest.fail)  # strict JSON
        assert json.loads(response["body"])["status"] == "ERROR"
