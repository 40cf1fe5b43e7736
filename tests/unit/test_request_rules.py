"""``request.predict_body`` is ``schemas.PredictRequest`` checked by hand: same verdicts, same
fields, same messages, for any JSON object (hypothesis), and the classes of inputs at its edges.

The two documented differences are the point of tests of their own: a limit in a message is
written as a person would (pydantic writes 3.4e38 with 39 digits), and -0.0 is answered as 0.0.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from genre_model.contract import MAX_COUNTRY_LENGTH, MAX_FEATURE_VALUE
from genre_model.serve.errors import ApiError
from genre_model.serve.request import RULES, predict_body, strict_json
from genre_model.serve.schemas import PredictRequest

FIELDS = [name for name, _ in RULES]
_LIMIT = re.compile(r"(than or equal to) (\S+)$")

numbers = (
    st.floats()
    | st.integers()
    | st.integers(min_value=-(10**400), max_value=10**400)
    | st.sampled_from([0, -0.0, 1, 1.0, 3.4e38, 3.4e38 * 1.0000001, 10**15, 10**15 + 1, 2**63])
    | st.sampled_from([2**63 - 1, 10**308, 10**309, -(10**309), 1e-320, 0.9999999999, 1.0000001])
)
strings = st.text(max_size=80) | st.sampled_from(
    ["", " ", "USA", " USA ", "\x00\t", "x" * 64, "x" * 65, " " + "x" * 64 + " ", "\ud800"]
)
values = st.none() | st.booleans() | numbers | strings | st.lists(st.integers(), max_size=2)
bodies = st.dictionaries(
    st.sampled_from(FIELDS) | st.sampled_from(["zzz", "total_spend", "", "Explain"]),
    values,
    max_size=7,
)


def pydantic_verdict(value: dict[str, Any]) -> tuple[str, Any]:
    """What the schema says: ("ok", fields) or ("422", [(field, message)])."""
    try:
        model = PredictRequest.model_validate(value)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            kind = error["type"]
            field = (
                "customer_id"
                if kind == "customer_id_exclusive"
                else ".".join(str(p) for p in error["loc"])
            )
            message = "unknown field" if kind == "extra_forbidden" else error["msg"]
            problems.append((field, _same_limit(message)))
        return "422", problems
    return "ok", {name: getattr(model, name) for name in FIELDS}


def _same_limit(message: str) -> str:
    """A bound's digits as its number (the one rewording: "3.4e+38" for 39 digits)."""
    return _LIMIT.sub(lambda m: f"{m.group(1)} {float(m.group(2))!r}", message)


def hand_verdict(value: dict[str, Any]) -> tuple[str, Any]:
    try:
        body = predict_body(value)
    except ApiError as exc:
        return str(exc.status), [(field, _same_limit(message)) for field, message in exc.errors]
    return "ok", {name: getattr(body, name) for name in FIELDS}


def same_number(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return a == b or (math.isnan(a) and math.isnan(b))
    return a == b and type(a) is type(b)


@settings(
    max_examples=500, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True
)
@given(value=bodies)
@example(value={"total_spent": 1e39})
@example(value={"customer_id": 3, "country": "USA", "total_spent": 1})
@example(value={"zzz": 1, "explain": 3, "total_spent": "x", "aaa": 2})
def test_the_hand_validator_is_the_schema(value: dict[str, Any]) -> None:
    expected, got = pydantic_verdict(value), hand_verdict(value)
    assert got[0] == expected[0], (got, expected)
    if got[0] == "422":
        assert got[1] == expected[1]
    else:
        for name in FIELDS:
            want = expected[1][name]
            if isinstance(want, float) and want == 0:
                want = 0.0  # -0.0 is answered as 0.0
            assert same_number(got[1][name], want), (name, got[1][name], want)


def test_a_limit_reads_like_a_person_wrote_it() -> None:
    with pytest.raises(ApiError) as info:
        predict_body({"total_spent": 1e39})
    assert info.value.errors == [("total_spent", "Input should be less than or equal to 3.4e+38")]
    assert str(MAX_FEATURE_VALUE) == "3.4e+38"


@pytest.mark.parametrize("text", ["-0.0", "-0", "-0e5", "-0.000", "-0E-3"])
@pytest.mark.parametrize("field", ["total_spent", "genre_spending_ratio"])
def test_negative_zero_is_answered_as_zero(text: str, field: str) -> None:
    body = predict_body(strict_json(f'{{"{field}": {text}}}'))
    value = getattr(body, field)
    assert value == 0
    assert math.copysign(1, value) == 1
    assert json.dumps(value) == "0.0"


@pytest.mark.parametrize("pad", [" ", "  ", "\t", "\n", "\x00", " \x07 "])
def test_a_country_is_measured_after_trimming(pad: str) -> None:
    """Class: a country within 64 characters once its surrounding spaces/control characters
    are removed is accepted however it is padded; one over 64 after trimming is refused."""
    fits = "x" * MAX_COUNTRY_LENGTH
    assert predict_body({"country": pad + fits + pad}).country == pad + fits + pad
    with pytest.raises(ApiError) as info:
        predict_body({"country": pad + fits + "y" + pad})
    assert info.value.errors == [("country", "String should have at most 64 characters")]
