"""POST /api/predict-genre/batch through the Lambda handler: every result is, byte for byte, the
single endpoint's answer for that item; request-level problems are one 4xx; one model answers."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

from tests.helpers import assert_error, invoke, make_event, publish

BATCH = "/api/predict-genre/batch"
JSON = {"Content-Type": "application/json"}

# Raw item texts, each as it would be sent alone to POST /api/predict-genre.
HOSTILE_ITEMS = [
    '{"total_spent": 45.5, "total_tracks_bought": 15, "genre_spending_ratio": 0.6}',
    "{}",
    '{"explain": true, "total_spent": 12.5}',
    '{"explain": false}',
    '{"customer_id": 1}',
    '{"customer_id": 1, "explain": true}',
    '{"customer_id": 999999}',
    '{"customer_id": 1, "total_spent": 3}',
    '{"total_spend": 3}',
    '{"total_spent": null}',
    '{"total_spent": -1}',
    '{"total_spent": NaN}',
    '{"total_spent": 1e400}',
    '{"total_spent": "15"}',
    '{"total_tracks_bought": 1.5}',
    '{"total_tracks_bought": true}',
    '{"genre_spending_ratio": 1.0000001}',
    '{"explain": "yes"}',
    '{"explain": null}',
    '{"explain": 1}',
    '{"country": "Brazil"}',
    "null",
    "5",
    '"text"',
    "[]",
    "[{}]",
    "true",
    '{"total_spent": 1, "total_spent": 2}',
    '{"nested": {"a": 1, "a": 2}}',
    '{"big": ' + "9" * 5000 + "}",
    '{"a": {"b": 1, "b": 2}, "c": ' + "9" * 5000 + "}",
    '{"c": ' + "9" * 5000 + ', "a": {"b": 1, "b": 2}}',
    '{"d": 1, "d": {"e": 2, "e": 3}}',
    '{"deep": ' + "[" * 60 + "]" * 60 + "}",
    # nesting around the single endpoint's limit (32 levels, the item's own object included)
    '{"at": ' + "[" * 31 + "]" * 31 + "}",
    '{"over": ' + "[" * 32 + "]" * 32 + "}",
    '{"deep": ' + "[" * 150 + '{"a": 1, "a": 2}' + "]" * 150 + "}",
    "[" * 40 + "9" * 5000 + "]" * 40,
    '{"\\u00e9t\\u00e9": 1, "\\ud800": 2}',
    # over 16 KiB of unknown fields: the single endpoint answers 413 before reading them
    json.dumps({f"f{i}": i for i in range(2000)}, separators=(",", ":")),
    json.dumps({f"f{i}": i for i in range(20)}, separators=(",", ":")),
]


def batch_event(items_text: str, **kwargs: Any) -> dict:
    return make_event(raw=items_text, path=BATCH, headers=JSON, **kwargs)


def single_raw(handler: Any, item: str) -> tuple[int, str]:
    answer = invoke(handler, make_event(raw=item, headers=JSON))
    return answer.status, answer.raw


def test_each_result_is_byte_for_byte_the_single_answer(predict_handler, local_model):
    singles = [single_raw(predict_handler, item) for item in HOSTILE_ITEMS]
    assert {status for status, _ in singles} >= {200, 400, 404, 413, 422}  # a real mix
    answer = invoke(predict_handler, batch_event('{"items": [' + ",".join(HOSTILE_ITEMS) + "]}"))
    assert answer.status == 200, answer.raw
    assert answer.headers["x-model-version"] == local_model.version
    expected = '{"status":"OK","results":[' + ",".join(raw for _, raw in singles) + "]}"
    assert answer.raw == expected
    assert len(answer.body["results"]) == len(HOSTILE_ITEMS)


def test_location_items_equal_single_answers(predict_handler, location_model, monkeypatch):
    monkeypatch.setenv("MODELO_GENERO_ENTRENADO", str(location_model.path))
    items = [
        '{"country": "Brazil", "total_spent": 9.9, "explain": true}',
        '{"country": "Atlantis", "total_spent": 9.9}',
        '{"country": ""}',
        '{"customer_id": 2, "explain": true}',
    ]
    singles = [single_raw(predict_handler, item) for item in items]
    answer = invoke(predict_handler, batch_event('{"items": [' + ",".join(items) + "]}"))
    assert answer.raw == '{"status":"OK","results":[' + ",".join(r for _, r in singles) + "]}"


def mixed_items(n: int, seed: int) -> list[str]:
    """``n`` item texts: mostly profiles (floats, whole numbers, on and off ``explain``, spaced
    or compact), with the invalid, the unusual and the refused mixed in."""
    rng = np.random.default_rng(seed)
    odd = [*HOSTILE_ITEMS[:21], '{"explain": true}', '{"total_spent": 0, "explain": false}']
    items = []
    for i in range(n):
        spent = round(float(rng.uniform(0, 120)), int(rng.integers(0, 4)))
        body: dict[str, Any] = {
            "total_spent": spent if i % 5 else int(spent),
            "total_tracks_bought": int(rng.integers(0, 60)),
            "genre_spending_ratio": float(rng.random()),
        }
        if i % 3:
            body["explain"] = bool(i % 3 == 1)
        if i % 11 == 0:
            body.pop("genre_spending_ratio")
        text = json.dumps(body, separators=(",", ":") if i % 2 else (", ", ": "))
        items.append(odd[i % len(odd)] if i % 7 == 0 else text)
    return items


@pytest.mark.parametrize("model", ["local_model", "location_model"])
def test_a_mixed_thousand_items_are_each_the_single_answer(
    predict_handler, local_model, request, monkeypatch, model
):
    """Issue 26: the fast paths (plain and explained items answered together) against the single
    endpoint, item by item, on a real forest: 1,000 items, valid, invalid, explain on and off."""
    served = request.getfixturevalue(model)
    monkeypatch.setenv("MODELO_GENERO_ENTRENADO", str(served.path))
    items = mixed_items(1000, seed=26)
    singles = [single_raw(predict_handler, item) for item in items]
    statuses = {status for status, _ in singles}
    assert statuses >= {200, 422}
    assert sum('"explanation"' in raw for _, raw in singles) >= 300
    answer = invoke(predict_handler, batch_event('{"items": [' + ",".join(items) + "]}"))
    assert answer.status == 200, answer.raw[:300]
    results = answer.raw.removeprefix('{"status":"OK","results":[').removesuffix("]}")
    assert results == ",".join(raw for _, raw in singles)


def test_a_thousand_items_in_order(predict_handler, local_model):
    items = [{"total_spent": i / 7, "total_tracks_bought": i % 50} for i in range(1000)]
    answer = invoke(predict_handler, batch_event(json.dumps({"items": items})))
    assert answer.status == 200, answer.raw[:300]
    results = answer.body["results"]
    for i in (0, 1, 499, 999):
        assert results[i]["customer_profile"]["total_spent"] == i / 7
        assert results[i]["prediction"]["all_probabilities"] == local_model.sklearn_proba(
            [i / 7, i % 50, 0.0]
        )


@pytest.mark.parametrize(
    ("raw", "status", "field"),
    [
        ("", 400, "body"),
        ("{", 400, "body"),
        ('{"items": [{}]', 400, "body"),
        ("[]", 400, "body"),
        ('"items"', 400, "body"),
        ('{"items": [], "items": [{}]}', 400, "items"),
        ("{}", 422, "items"),
        ('{"items": null}', 422, "items"),
        ('{"items": {}}', 422, "items"),
        ('{"items": "[]"}', 422, "items"),
        ('{"items": []}', 422, "items"),
        ('{"items": [{}], "explain": true}', 422, "explain"),
        ('{"items": [{}], "x": ' + "9" * 5000 + "}", 422, "x"),
        ('{"items": ' + "[" * 100_000 + "]" * 100_000 + "}", 400, "body"),
    ],
)
def test_request_level_problems_are_one_4xx(predict_handler, local_model, raw, status, field):
    assert_error(invoke(predict_handler, batch_event(raw)), status, field)


def test_too_many_items_is_422_naming_the_limit(predict_handler, local_model, monkeypatch):
    monkeypatch.setenv("MAX_BATCH_ITEMS", "3")
    ok = invoke(predict_handler, batch_event('{"items": [{}, {}, {}]}'))
    assert ok.status == 200
    body = assert_error(invoke(predict_handler, batch_event('{"items": [{}, {}, {}, {}]}')), 422)
    assert body["errors"] == [{"field": "items", "reason": "must hold 1 to 3 items"}]


def test_body_limits(predict_handler, local_model):
    """Over 16 KiB is fine for a batch (up to 1 MiB); over 1 MiB is 413 before parsing."""
    item = '{"total_spent": 1.0}'
    medium = '{"items": [' + ",".join([item] * 2000) + "]}"
    assert 16 * 1024 < len(medium) < 1024 * 1024
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MAX_BATCH_ITEMS", "2000")
        assert invoke(predict_handler, batch_event(medium)).status == 200
    huge = '{"items": [{"pad": "' + "x" * (1024 * 1024) + '"}]}'
    for base64_body in (True, False):
        answer = invoke(predict_handler, batch_event(huge, base64_body=base64_body))
        assert assert_error(answer, 413, "body")["message"] == "Request body over 1 MiB"


def test_wrong_content_type_and_method(predict_handler, local_model):
    answer = invoke(
        predict_handler,
        make_event(raw='{"items": [{}]}', path=BATCH, headers={"Content-Type": "text/plain"}),
    )
    assert_error(answer, 415, "Content-Type")
    answer = invoke(predict_handler, make_event(path=BATCH, method="GET"))
    assert_error(answer, 405, "method")
    assert answer.headers["allow"] == "POST"


def test_answer_over_the_lambda_response_limit_is_413(predict_handler, local_model, monkeypatch):
    """Unknown-field errors echo each field: under 1 MiB of short keys would answer ~7 MB."""
    import string

    monkeypatch.setenv("MAX_BATCH_ITEMS", "10000")
    keys = [a + b for a in string.ascii_letters for b in string.ascii_letters][:700]
    item = json.dumps(dict.fromkeys(keys, 0), separators=(",", ":"))
    raw = '{"items":[' + ",".join([item] * (1024 * 1024 // (len(item) + 1) - 1)) + "]}"
    assert len(raw) < 1024 * 1024
    answer = invoke(predict_handler, batch_event(raw))
    assert answer.status == 413, answer.raw[:300]
    assert_error(answer, 413, "items")


def test_no_model_is_one_503(predict_handler, s3):
    assert_error(invoke(predict_handler, batch_event('{"items": [{}]}')), 503, "model")


def test_one_model_answers_the_whole_batch_even_when_a_refresh_lands(
    predict_handler, s3, spec_model, spec_model_v2, monkeypatch
):
    """A new version promoted after the first item must not answer the later items (the plain
    items of the fast path and the others alike)."""
    from genre_model.serve import batch, service

    monkeypatch.setenv("MODEL_REFRESH_SECONDS", "0")  # every cache lookup re-reads the pointer
    publish(s3, spec_model)
    items: list[dict[str, Any]] = [
        {"total_spent": float(i), "total_tracks_bought": i} for i in range(1, 40, 3)
    ]
    items += [{"customer_id": i} for i in range(1, 6)]
    before = [invoke(predict_handler, make_event(item, headers=JSON)).body for item in items]
    seen: list[str] = []

    def publishing_v2_on_first_call(original: Any) -> Any:
        def call(*args: Any) -> Any:
            seen.append(original.__name__)
            if len(seen) == 1:
                publish(s3, spec_model_v2)
            return original(*args)

        return call

    monkeypatch.setattr(batch, "_plain", publishing_v2_on_first_call(batch._plain))
    monkeypatch.setattr(service, "features", publishing_v2_on_first_call(service.features))
    answer = invoke(predict_handler, batch_event(json.dumps({"items": items})))
    assert answer.status == 200
    assert answer.headers["x-model-version"] == spec_model.version
    assert answer.body["results"] == before
    assert {"_plain", "features"} <= set(seen)
    single = invoke(predict_handler, make_event(items[0], headers=JSON))  # the refresh did land
    assert single.headers["x-model-version"] == spec_model_v2.version


def test_committed_batch_event(predict_handler, local_model):
    """events/predict-genre-batch.json (for `sam local invoke`) answers three results."""
    from tests.helpers import load_event

    answer = invoke(predict_handler, load_event("predict-genre-batch.json"))
    assert answer.status == 200, answer.raw
    ok, explained, bad = answer.body["results"]
    assert ok["status"] == explained["status"] == "OK"
    assert set(explained["explanation"]) == {"method", "genre", "base_value", "contributions"}
    assert bad["errors"] == [{"field": "total_spend", "reason": "unknown field"}]


@pytest.mark.parametrize("depth", [199, 200, 1000, 100_000])
def test_a_body_nested_past_the_batch_limit_is_one_400(predict_handler, local_model, depth):
    """Refused by our own depth check (same on 3.11 and 3.13), never by RecursionError."""
    body = '{"items": [' + "[" * depth + "]" * depth + "]}"
    assert len(body) < 1024 * 1024 or depth == 100_000
    answer = invoke(predict_handler, batch_event(body))
    if len(body) > 1024 * 1024:
        assert answer.status == 413
    else:
        assert_error(answer, 400, "body")
        assert "deep" in answer.body["message"]
