"""What a client reads, through the predict Lambda's handler (event in, status and JSON body
out): the documented error bodies of the single and the batch endpoint, word for word, and
the limits on both sides (the batch's item count, an item's nesting depth, the 6 MB answer
once JSON-escaped). The model is built by hand (a stump, two customers, no node covers), so
these run without training; README "Errors" and "Batch" document every body asserted here."""

from __future__ import annotations

import hashlib
import json
import pickle
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from genre_model.contract import FORMAT, Manifest, pack_arrays
from tests.helpers import SPEC_INPUT, invoke, load_handler, make_event

VERSION = "20261201T000000Z-abcdef"
SPEC = ["total_spent", "total_tracks_bought", "genre_spending_ratio"]
BATCH = "/api/predict-genre/batch"


def write_model(path: Path) -> None:
    """A spec model at the ``MODELO_GENERO_ENTRENADO`` path: companions beside the pickle."""
    arrays = {
        "feature": np.array([0, 0, 0], dtype=np.int64),
        "threshold": np.array([50.0, 0.0, 0.0]),
        "left": np.array([1, 1, 2], dtype=np.int64),
        "right": np.array([2, 1, 2], dtype=np.int64),
        "value": np.array([[0.5, 0.5], [0.75, 0.25], [0.25, 0.75]]),
        "roots": np.array([0], dtype=np.int64),
    }
    predictor = {
        "format": FORMAT,
        "classes": ["Jazz", "Rock"],
        "feature_columns": SPEC,
        "countries": [],
        "depth": 1,
        "arrays": pack_arrays(arrays),
    }
    customers = {
        "feature_columns": SPEC,
        "countries": ["Brazil", "USA"],
        "arrays": pack_arrays(
            {
                "customer_id": np.array([1, 5], dtype=np.int64),
                "features": np.array([[10.0, 3, 0.5], [90.0, 4, 0.25]]),
            }
        ),
    }
    files = {
        "predictor.joblib": pickle.dumps(predictor),
        "customers.joblib": pickle.dumps(customers),
    }
    manifest = Manifest(VERSION, classes=("Jazz", "Rock"), feature_columns=tuple(SPEC)).to_json()
    manifest["files"] = {
        name: {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
        for name, data in files.items()
    }
    for name, data in files.items():
        path.with_name(f"{path.stem}.{name}").write_bytes(data)
    path.with_name(f"{path.stem}.manifest.json").write_text(json.dumps(manifest))
    path.write_bytes(b"the scikit-learn pickle (serve never reads it)")


@pytest.fixture
def handler(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    path = tmp_path / "modelo.pkl"
    write_model(path)
    monkeypatch.setenv("MODELO_GENERO_ENTRENADO", str(path))
    return load_handler("predict")


def answer(handler: ModuleType, body: object = None, *, raw: str | None = None, **kw) -> tuple:
    event = make_event(raw=raw, **kw) if raw is not None else make_event(body, **kw)
    got = invoke(handler, event)
    return got.status, got.body


def error(message: str, *errors: tuple[str, str]) -> dict:
    return {
        "status": "ERROR",
        "message": message,
        "errors": [{"field": f, "reason": r} for f, r in errors],
    }


UNKNOWN_CUSTOMER = error(
    f"Customer 7 not found in model {VERSION}", ("customer_id", "unknown customer")
)
NO_LOCATION = error(
    f"Model {VERSION} was not trained with location features",
    ("country", "not used by this model; omit it"),
)


def test_a_known_customer_is_predicted_from_the_snapshot(handler: ModuleType) -> None:
    status, body = answer(handler, {"customer_id": 5})
    assert status == 200
    assert body["prediction"] == {
        "genre": "Rock",
        "confidence": 0.75,
        "all_probabilities": {"Rock": 0.75, "Jazz": 0.25},
    }
    assert body["customer_profile"]["total_spent"] == 90.0


@pytest.mark.parametrize(
    ("body", "status", "expected"),
    [
        ({"customer_id": 7}, 404, UNKNOWN_CUSTOMER),
        ({**SPEC_INPUT, "country": "USA"}, 422, NO_LOCATION),
    ],
)
def test_what_this_model_cannot_answer_names_the_field(
    handler: ModuleType, body: dict, status: int, expected: dict
) -> None:
    assert answer(handler, body) == (status, expected)


def test_explain_on_a_version_without_node_covers_is_a_422_naming_explain(
    handler: ModuleType,
) -> None:
    status, body = answer(handler, {**SPEC_INPUT, "explain": True})
    assert status == 422
    assert body["message"] == f"Model {VERSION} cannot explain predictions"
    [problem] = body["errors"]
    assert problem["field"] == "explain"
    assert problem["reason"].endswith("; omit explain")
    assert answer(handler, {**SPEC_INPUT, "explain": False})[0] == 200


@pytest.mark.parametrize(
    ("raw", "headers", "status", "expected"),
    [
        (
            '{"total_spent": 1, "total_spent": 2}',
            {},
            400,
            error("Request body has a duplicate key", ("total_spent", "duplicate key")),
        ),
        ("{", {}, 400, error("Request body is not valid JSON", ("body", "invalid JSON"))),
        ("[1]", {}, 400, error("Request body must be a JSON object", ("body", "not an object"))),
        (
            '{"total_tracks_bought": 1' + "0" * 5000 + "}",
            {},
            400,
            error("Request body has a number too long", ("body", "number too long")),
        ),
        (
            "{}",
            {"Content-Type": "text/plain; charset=utf-8"},
            415,
            error("Content-Type must be application/json", ("Content-Type", "text/plain")),
        ),
        (
            "{}",
            {"Content-Type": " ; x=1"},
            415,
            error("Content-Type must be application/json", ("Content-Type", "empty")),
        ),
    ],
)
def test_bodies_the_api_cannot_read_get_the_documented_400s(
    handler: ModuleType, raw: str, headers: dict, status: int, expected: dict
) -> None:
    assert answer(handler, raw=raw, headers=headers) == (status, expected)


@pytest.mark.parametrize("media", ["application/json", "Application/JSON", "application/x+json"])
def test_json_media_types_are_accepted(handler: ModuleType, media: str) -> None:
    assert answer(handler, SPEC_INPUT, headers={"Content-Type": media})[0] == 200


def test_invalid_base64_and_utf8_are_400s(handler: ModuleType) -> None:
    event = make_event(SPEC_INPUT)
    event["body"] = "not base64!"
    got = invoke(handler, event)
    assert (got.status, got.body) == (
        400,
        error("Request body is not valid base64", ("body", "invalid base64")),
    )
    got = invoke(handler, make_event(raw=b'{"a": "\xff"}'))
    assert (got.status, got.body) == (
        400,
        error("Request body is not valid UTF-8", ("body", "invalid UTF-8")),
    )


def nested(depth: int) -> str:
    """A body whose arrays nest ``depth`` levels deep (the object itself is level one)."""
    return '{"total_spent": ' + "[" * (depth - 1) + "]" * (depth - 1) + "}"


def test_nesting_up_to_thirty_two_levels_is_read_and_deeper_is_a_400(handler: ModuleType) -> None:
    status, body = answer(handler, raw=nested(32))
    assert status == 422  # read, then refused by the field's rule
    assert body["errors"][0]["field"] == "total_spent"
    assert answer(handler, raw=nested(33)) == (
        400,
        error("Request body is nested too deeply", ("body", "too deep")),
    )


def test_no_model_is_the_documented_503(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODELO_GENERO_ENTRENADO", str(tmp_path / "none.pkl"))
    monkeypatch.setenv("MODEL_LOAD_DEADLINE_SECONDS", "5")
    handler = load_handler("predict")
    expected = error(
        "Genre model not found", ("model", "no model is published or it cannot be loaded")
    )
    assert answer(handler, SPEC_INPUT) == (503, expected)
    assert answer(handler, {"items": [SPEC_INPUT]}, path=BATCH) == (503, expected)


def results(handler: ModuleType, items: list[object]) -> list[dict]:
    status, body = answer(handler, {"items": items}, path=BATCH)
    assert status == 200, body
    assert body["status"] == "OK"
    return body["results"]


def test_each_batch_result_is_what_the_single_endpoint_answers(handler: ModuleType) -> None:
    items = [
        {"customer_id": 7},
        {**SPEC_INPUT, "country": "USA"},
        {**SPEC_INPUT, "explain": True},
        {"customer_id": 1},
        {"total_spent": -1},
    ]
    singles = [answer(handler, item)[1] for item in items]
    assert results(handler, items) == singles
    assert singles[0] == UNKNOWN_CUSTOMER
    assert singles[3]["status"] == "OK"


def test_a_batch_item_over_16_kib_or_nested_too_deep_gets_its_own_error(
    handler: ModuleType,
) -> None:
    big = {"total_spent": 1.0, "padding": "x" * (16 * 1024)}
    deep = json.loads(nested(33))
    got = results(handler, [big, deep, SPEC_INPUT, json.loads(nested(32))])
    assert got[0] == error("Request body over 16 KiB", ("body", "too large"))
    assert got[1] == error("Request body is nested too deeply", ("body", "too deep"))
    assert got[2]["status"] == "OK"
    assert got[3]["errors"][0]["field"] == "total_spent"


def test_a_batch_of_exactly_max_items_is_answered_and_one_more_is_refused(
    handler: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MAX_BATCH_ITEMS", "3")
    handler = load_handler("predict")
    assert len(results(handler, [SPEC_INPUT] * 3)) == 3
    assert len(results(handler, [SPEC_INPUT])) == 1
    too_many = error("Invalid request", ("items", "must hold 1 to 3 items"))
    assert answer(handler, {"items": [SPEC_INPUT] * 4}, path=BATCH) == (422, too_many)
    assert answer(handler, {"items": []}, path=BATCH) == (422, too_many)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({}, error("Invalid request", ("items", "Field required"))),
        (
            {"items": {"a": 1}},
            error("Invalid request", ("items", "must be a list of predict bodies")),
        ),
        (
            {"items": [SPEC_INPUT], "b": 1, "a": 2},
            error("Invalid request", ("a", "unknown field"), ("b", "unknown field")),
        ),
        ([SPEC_INPUT], error("Request body must be a JSON object", ("body", "not an object"))),
    ],
)
def test_what_concerns_the_whole_batch_is_one_422(
    handler: ModuleType, body: object, expected: dict
) -> None:
    status = 400 if isinstance(body, list) else 422
    assert answer(handler, body, path=BATCH) == (status, expected)


def test_a_duplicate_key_fails_only_its_item_or_the_batch_when_it_is_the_batchs(
    handler: ModuleType,
) -> None:
    raw = '{"items": [{"total_spent": 1, "total_spent": 2}, {"total_spent": 3}]}'
    status, body = answer(handler, raw=raw, path=BATCH)
    assert status == 200
    assert body["results"][0] == error(
        "Request body has a duplicate key", ("total_spent", "duplicate key")
    )
    assert body["results"][1]["status"] == "OK"
    raw = '{"items": [], "items": [{"total_spent": 3}]}'
    assert answer(handler, raw=raw, path=BATCH) == (
        400,
        error("Request body has a duplicate key", ("items", "duplicate key")),
    )


@pytest.mark.slow
def test_an_answer_over_6_mb_only_once_json_escaped_is_a_413(
    handler: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Lambda measures the response with the body JSON-escaped inside it: every quote of the
    answer costs one byte more. Unknown fields are echoed back (about 40 bytes for 7 sent), so
    a body under 1 MiB can answer 5.5 MB of text that is 6.6 MB escaped."""
    keys = [f"{a}{b}" for a in "abcdefghijklmnopqrstuvwxyz" for b in "abcdefghijklmnopqrstuvwxyz"]
    item = dict.fromkeys(keys[:137], 0)
    monkeypatch.setenv("MAX_BATCH_ITEMS", "1000")
    body = json.dumps({"items": [item] * 1000}, separators=(",", ":"))
    assert len(body) < 1024 * 1024
    event = make_event(raw=body, path=BATCH)
    got = invoke(handler, event)
    assert (got.status, got.body) == (
        413,
        error(
            "Batch answer over the 6 MB Lambda response limit; send fewer items",
            ("items", "answer too large"),
        ),
    )
    one = json.dumps(answer(handler, item)[1], separators=(",", ":"))
    assert len(one) * 1000 < 6_000_000 < (len(one) + one.count('"')) * 1000  # crossed by escaping
