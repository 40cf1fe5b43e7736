"""The batch at its documented limits, from both sides, through ``handler.handle`` with a fake
loaded model: the 6 MB Lambda response limit measured as Lambda measures it (the answer JSON-
escaped: one byte more for each quote and each backslash), an item of only the three features
at each value limit and at the 16 KiB item limit (its answer is the single endpoint's, byte for
byte), the request's own 4xx words (docs/api.md, "Batch"), and the rows drift counts."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from genre_model.contract import DRIFT_BINS, MAX_FEATURE_VALUE, MAX_TRACKS
from genre_model.serve import drift, handler
from genre_model.serve.http import BATCH_PATH, MAX_BODY_BYTES, PREDICT_PATH
from tests.helpers import fake_model, serving
from tests.unit.test_serve_boundaries import error

LAMBDA_LIMIT = 6_000_000  # docs/api.md: Lambda's 6 MB response limit, the body escaped inside it
TOO_LARGE = {
    "status": "ERROR",
    "message": "Batch answer over the 6 MB Lambda response limit; send fewer items",
    "errors": [{"field": "items", "reason": "answer too large"}],
}


@pytest.fixture(autouse=True)
def model(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("MAX_BATCH_ITEMS", "1000")
    with serving(fake_model()) as loaded:
        yield loaded


def post(path: str, text: str) -> tuple[int, str, dict[str, str]]:
    event = {"httpMethod": "POST", "path": path, "body": text, "headers": {}}
    response = handler.handle(event, None)
    return response["statusCode"], response["body"], response["headers"]


def batch_text(items: list[str]) -> str:
    return '{"items":[' + ",".join(items) + "]}"


def escaped_size(text: str) -> int:
    """The bytes ``text`` takes JSON-escaped inside Lambda's response (ASCII text)."""
    return len(json.dumps(text)) - 2


# An item of 137 unknown fields: 0.8 KiB sent, its 422 echoes each field back (about 6.7 bytes
# answered, escaped, for each byte sent), so 1,000 of them stay under the 1 MiB body limit.
KEYS = [f"{a}{b}" for a in "abcdefghijklmnopqrstuvwxyz" for b in "abcdefghijklmnopqrstuvwxyz"]
BULK = json.dumps(dict.fromkeys(KEYS[:137], 0), separators=(",", ":"))


def answer_size(items: list[str]) -> int:
    """What the batch of ``items`` answers, escaped: each result is the single answer."""
    results = [post(PREDICT_PATH, item)[1] for item in dict.fromkeys(items)]
    by_item = dict(zip(dict.fromkeys(items), results, strict=True))
    return escaped_size('{"status":"OK","results":[' + ",".join(map(by_item.get, items)) + "]}")


@pytest.mark.slow
def test_an_answer_of_exactly_6_mb_escaped_is_sent_and_one_byte_more_is_the_413() -> None:
    """The last item's unknown field is sized so the escaped answer is exactly the limit; its
    name holds backslashes (each answered as two, each of those escaped again), so counting
    only the characters, or only the quotes, would let the answer one byte over through."""

    def tuner(size: int) -> str:
        name = "\\\\" * 200 + "x" * (size - 200)  # 200 backslashes, then letters
        return '{"' + name + '":0}'

    each = answer_size([BULK, BULK]) - answer_size([BULK])  # one more bulk item, its comma
    bulk = [BULK] * ((LAMBDA_LIMIT - answer_size([tuner(200)])) // each)
    base = answer_size([*bulk, tuner(200)])
    assert LAMBDA_LIMIT - each < base < LAMBDA_LIMIT
    exact = [*bulk, tuner(200 + LAMBDA_LIMIT - base)]
    assert answer_size(exact) == LAMBDA_LIMIT
    assert len(batch_text(exact)) < 1024 * 1024
    status, text, headers = post(BATCH_PATH, batch_text(exact))
    assert status == 200
    assert escaped_size(text) == LAMBDA_LIMIT
    assert headers["X-Model-Version"]
    over = [*bulk, tuner(201 + LAMBDA_LIMIT - base)]
    status, text, headers = post(BATCH_PATH, batch_text(over))
    assert (status, json.loads(text)) == (413, TOO_LARGE)
    assert "X-Model-Version" not in headers


LIMIT_ITEMS = [
    f'{{"total_spent":{MAX_FEATURE_VALUE!r}}}',  # the largest value a feature may have
    '{"total_spent":3.4000000000000003e+38}',  # the next float: over
    '{"total_spent":0}',
    '{"total_spent":-0.0}',  # answered as 0.0
    '{"total_spent":-1e-300}',  # under zero, however little
    '{"total_spent":true}',  # a bool is no number here
    '{"total_spent":"1"}',
    f'{{"total_tracks_bought":{MAX_TRACKS}}}',
    f'{{"total_tracks_bought":{MAX_TRACKS + 1}}}',
    '{"total_tracks_bought":-1}',
    '{"total_tracks_bought":1.0}',  # a whole float, as the validator reads it
    '{"total_tracks_bought":1.5}',
    '{"total_tracks_bought":false}',
    '{"genre_spending_ratio":1}',
    '{"genre_spending_ratio":1.0000000000000002}',
    '{"genre_spending_ratio":0.0}',
    '{"total_spent":1,"explain":false}',
    '{"total_spent":1,"explain":true}',
    '{"total_spent":1,"explain":null}',
    '{"total_spent":1,"explain":0}',
    '{"total_spent":1,"total_spent":2}',
    '{"total_spent":1,"country":"USA"}',
    "{}",
]


def results(items: list[str]) -> list[str]:
    status, text, _ = post(BATCH_PATH, batch_text(items))
    assert status == 200, text
    return [json.dumps(r, separators=(",", ":")) for r in json.loads(text)["results"]]


def test_items_of_the_three_features_at_each_limit_get_the_single_answer() -> None:
    singles = [post(PREDICT_PATH, item)[1] for item in LIMIT_ITEMS]
    assert results(LIMIT_ITEMS) == singles
    statuses = [json.loads(s)["status"] for s in singles]
    assert statuses[:3] == ["OK", "ERROR", "OK"]
    assert json.loads(singles[3])["customer_profile"]["total_spent"] == 0.0
    assert '"total_spent":0.0' in singles[3]


@pytest.mark.parametrize("pad", [" ", "\n"])
def test_an_item_of_the_three_features_padded_past_16_kib_is_the_413(pad: str) -> None:
    """Whitespace counts: the item's text as sent, even when its value is a valid plain row."""
    head = '{"total_spent":1,"total_tracks_bought":2,"genre_spending_ratio":0.5'
    at_limit = head + pad * (MAX_BODY_BYTES - len(head) - 1) + "}"
    assert len(at_limit) == MAX_BODY_BYTES
    over = head + pad * (MAX_BODY_BYTES - len(head)) + "}"
    got = results([at_limit, over])
    assert json.loads(got[0])["status"] == "OK"
    assert json.loads(got[1]) == {
        "status": "ERROR",
        "message": "Request body over 16 KiB",
        "errors": [{"field": "body", "reason": "too large"}],
    }
    assert got == [post(PREDICT_PATH, at_limit)[1], post(PREDICT_PATH, over)[1]]


INVALID_JSON = error("Request body is not valid JSON", ("body", "invalid JSON"))
NOT_AN_OBJECT = error("Request body must be a JSON object", ("body", "not an object"))
TOO_DEEP = error("Request body is nested too deeply", ("body", "too deep"))
NOT_A_LIST = error("Invalid request", ("items", "must be a list of predict bodies"))


@pytest.mark.parametrize(
    ("text", "status", "body"),
    [
        ("", 400, INVALID_JSON),
        ("[]", 400, NOT_AN_OBJECT),
        ('"items"', 400, NOT_AN_OBJECT),
        ("[] x", 400, INVALID_JSON),
        ('{"items":[{}]} x', 400, INVALID_JSON),
        ('{"items":[{}] "a":1}', 400, INVALID_JSON),
        ('{"items":[{} {}]}', 400, INVALID_JSON),
        ('{"items":[{},]}', 400, INVALID_JSON),
        ('{"items":[{}', 400, INVALID_JSON),
        ("{items:[{}]}", 400, INVALID_JSON),
        ('{"items" [{}]}', 400, INVALID_JSON),
        ('{"items":nope}', 400, INVALID_JSON),
        (
            "[" * 201 + "]" * 201,
            400,
            TOO_DEEP,
        ),
        ('{"items":null}', 422, NOT_A_LIST),
        ('{"items":"[{}]"}', 422, NOT_A_LIST),
        (
            '{"items":[{}],"items":[{}]}',
            400,
            error("Request body has a duplicate key", ("items", "duplicate key")),
        ),
        (
            '{"a":1,"a":2,"b":1,"b":2}',
            400,
            error("Request body has a duplicate key", ("a", "duplicate key")),
        ),
        ('{"a":1}', 422, error("Invalid request", ("a", "unknown field"))),
        ("{}", 422, error("Invalid request", ("items", "Field required"))),
        (" \n{ \t}\r\n", 422, error("Invalid request", ("items", "Field required"))),
        ('{"items":[ ]}', 422, error("Invalid request", ("items", "must hold 1 to 1000 items"))),
    ],
)
def test_what_concerns_the_whole_request_is_its_one_4xx(text: str, status: int, body: dict) -> None:
    got_status, got, _ = post(BATCH_PATH, text)
    assert (got_status, json.loads(got)) == (status, body)


@pytest.mark.parametrize(
    "text",
    [
        ' {"items" : [ {} , {"total_spent" : 1} ,\n{} ] } ',
        '{"items":[{},{"total_spent":1},{}]}',
        '{"items":\t[\r{}\n,{"total_spent":1}\t,{}\n]\n}',
    ],
)
def test_whitespace_between_tokens_is_json_and_each_item_answered(text: str) -> None:
    status, got, _ = post(BATCH_PATH, text)
    assert status == 200, got
    assert [r["status"] for r in json.loads(got)["results"]] == ["OK", "OK", "OK"]


def test_a_body_nested_200_levels_is_read_and_201_is_the_400() -> None:
    """The whole body's own depth limit: the object and its array are two levels, so an item
    198 levels deep is read (and gets the single endpoint's 400 of its own)."""

    def body(item_depth: int) -> str:
        return '{"items":[' + "[" * item_depth + "]" * item_depth + "]}"

    status, got, _ = post(BATCH_PATH, body(198))
    assert status == 200
    assert json.loads(got)["results"] == [TOO_DEEP]
    status, got, _ = post(BATCH_PATH, body(199))
    assert (status, json.loads(got)) == (
        400,
        TOO_DEEP,
    )


@pytest.fixture
def binned(model: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The fake model with drift bins (any: only the rows kept are looked at)."""
    bins = SimpleNamespace(
        edges=np.zeros((3, DRIFT_BINS - 1)), expected=np.full((3, DRIFT_BINS), 1 / DRIFT_BINS)
    )
    monkeypatch.setattr(model.predictor, "drift", bins)
    yield
    drift.reset()


def counted(send: Callable[[], object]) -> list[list[float]]:
    """The feature rows drift keeps while ``send`` runs, in any order."""
    drift.reset()
    send()
    rows = drift._window.pending if drift._window else []
    return sorted(rows[i : i + 3] for i in range(0, len(rows), 3))


@pytest.mark.usefixtures("binned")
def test_each_item_counts_toward_drift_the_row_it_would_count_sent_alone() -> None:
    """Drift sees the batch's rows as it sees single requests' (and no row of a refused item)."""
    items = [
        '{"total_spent":12.5,"total_tracks_bought":3,"genre_spending_ratio":0.25}',
        '{"total_spent":-0.0,"explain":false}',
        '{"customer_id":2}',
        '{"customer_id":99}',
        '{"total_spent":-1}',
        '{"total_spent":40,"explain":true}',
        "[]",
        "{}",
    ]
    alone = counted(lambda: [post(PREDICT_PATH, item) for item in items])
    assert len(alone) == 5
    assert counted(lambda: post(BATCH_PATH, batch_text(items))) == alone


def test_tied_genres_of_a_many_genre_model_rank_as_the_single_answer(
    model: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ties are ranked in class order (docs/api.md), also past 16 genres, where numpy's default
    sort is no longer stable: 21 genres, twenty of them tied."""
    classes = tuple(f"Genre{i:02d}" for i in range(21))
    tied = np.array([0.04] * 20 + [0.2])

    def proba(rows: Any) -> np.ndarray:
        return np.tile(tied, (len(rows), 1))

    monkeypatch.setattr(model.predictor, "classes", classes)
    monkeypatch.setattr(model.predictor, "predict_one", lambda row: tied.copy())
    monkeypatch.setattr(model.predictor, "predict_proba", proba)
    item = '{"total_spent":12.5,"total_tracks_bought":3,"genre_spending_ratio":0.25}'
    single = post(PREDICT_PATH, item)[1]
    assert list(json.loads(single)["prediction"]["all_probabilities"]) == [
        classes[20],
        *classes[:20],
    ]
    assert results([item, item]) == [single, single]
