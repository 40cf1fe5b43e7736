"""A batch item gets exactly the answer the single endpoint gives for the item's text sent alone:
for any item text (hypothesis), for each class found at the edge (sizes and which limit comes
first, values that are not objects, refusals of the service), with a fake loaded model."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from genre_model.serve import handler
from genre_model.serve.http import BATCH_PATH, MAX_BODY_BYTES, PREDICT_PATH
from tests.helpers import fake_model, serving

KIB16 = MAX_BODY_BYTES


@pytest.fixture(autouse=True, params=["spec", "location"])
def model(request: pytest.FixtureRequest) -> Iterator[Any]:
    with serving(fake_model(request.param)) as loaded:
        yield loaded


def post(path: str, text: str) -> tuple[int, str]:
    event = {"httpMethod": "POST", "path": path, "body": text, "headers": {}}
    response = handler.handle(event, None)
    return response["statusCode"], response["body"]


def single(text: str) -> str:
    """The body the single endpoint answers for ``text``."""
    return post(PREDICT_PATH, text)[1]


def batch(texts: list[str], space: str = "") -> list[str]:
    """Each result of a batch of ``texts`` (as sent), as JSON text."""
    status, body = post(BATCH_PATH, '{"items":[' + f",{space}".join(texts) + "]}")
    assert status == 200, body
    results = json.loads(body)["results"]
    return [json.dumps(r, separators=(",", ":")) for r in results]


def same_as_single(texts: list[str], space: str = "") -> None:
    assert batch(texts, space) == [single(t) for t in texts]


def test_values_that_are_not_objects_get_the_single_answer() -> None:
    """Issue 21: "x", [], null, numbers, true ... each the single endpoint's 400."""
    texts = ['"x"', "[]", "null", "1", "-0", "2.5", "1e400", "true", "false", '""', "[{}]", "{}"]
    same_as_single(texts)
    assert json.loads(batch(['"x"'])[0])["errors"] == [{"field": "body", "reason": "not an object"}]


def printable(text: str) -> str:
    """A test id of printable ASCII without backslashes: pytest escapes others in the node id,
    and an escaped id cannot be selected again (mutmut reruns each mutant's tests by id)."""
    return "".join(c if " " <= c <= "~" and c != "\\" else "?" for c in text)


def long_number(size: int) -> str:
    return '{"total_tracks_bought":' + "1" * size + "}"


def long_duplicate(size: int) -> str:
    key = "k" * size
    return f'{{"{key}":1,"{key}":2}}'


def deep(depth: int) -> str:
    return "[" * depth + "]" * depth


@pytest.mark.parametrize(
    "text",
    [
        long_number(KIB16),  # over 16 KiB because of a long number: 413, not "number too long"
        long_number(5000),  # a long number under 16 KiB: "number too long"
        long_duplicate(KIB16 // 2),  # over 16 KiB because of a duplicated key: 413
        long_duplicate(100),  # duplicate key under 16 KiB
        '{"country":"' + "x" * KIB16 + '"}',  # 413 before the field rules
        '{"country":"' + "é" * (KIB16 // 2) + '"}',  # 16 KiB in bytes, not characters: 413
        '{"country":"' + "é" * (KIB16 // 2 - 10) + '"}',  # just under in bytes: 422
        '{"country":"' + "\\u00e9" * (KIB16 // 6 + 1) + '"}',  # size as sent (escaped), not parsed
        "[" + " " * KIB16 + "1]",  # spaces count: the text as sent
        deep(33),  # too deep
        deep(33)[:-1] + ',{"a":1,"a":2}]',  # too deep comes before the duplicate key
        "[" * 40 + "1" * 5000 + "]" * 40,  # too deep before number too long
        '{"a":' + "1" * 5000 + ',"a":1}',  # number too long before the duplicate key
        '{"a":1,"a":' + "1" * 5000 + "}",  # ... in parse order
        '{"a":{"b":1,"b":2},"a":1}',  # the inner duplicate first
    ],
    ids=lambda t: printable(t[:24]),
)
@pytest.mark.parametrize("space", ["", " ", "\n  "])
def test_each_limit_is_hit_in_the_single_endpoints_order(text: str, space: str) -> None:
    """Class 8: the item's size is its text as sent; which limit comes first agrees."""
    same_as_single(["{}", text, '{"explain":true}'], space)


def test_an_item_at_exactly_16_kib_is_judged_not_refused() -> None:
    text = '{"country":"' + "x" * (KIB16 - len('{"country":""}')) + '"}'
    assert len(text.encode()) == KIB16
    same_as_single([text])
    assert "too large" not in batch([text])[0]
    assert "too large" in batch([text[:-2] + 'x"}'])[0]


def test_refusals_of_the_service_are_the_single_answers() -> None:
    texts = [
        '{"customer_id":1}',
        '{"customer_id":2,"explain":true}',
        '{"customer_id":99}',
        '{"country":"USA"}',
        '{"country":" Brazil ","explain":true}',
        '{"country":"   "}',
        '{"total_spent":-0.0}',
        '{"total_spent":1e39}',
        '{"customer_id":1,"country":"USA"}',
    ]
    same_as_single(texts)


json_text = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**20), max_value=10**20)
    | st.floats(allow_nan=False)
    | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(
            st.sampled_from(["total_spent", "total_tracks_bought", "explain", "country", "x"]),
            children,
            max_size=4,
        )
    ),
    max_leaves=8,
).map(json.dumps)


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(texts=st.lists(json_text, min_size=1, max_size=6))
@example(texts=['{"total_spent": 45.5, "total_tracks_bought": 15, "genre_spending_ratio": 0.6}'])
def test_any_item_text_gets_the_single_answer(texts: list[str]) -> None:
    same_as_single(texts, " ")
