"""A predict body from text to a checked ``PredictBody``: strict JSON, then the field rules.

``strict_json`` refuses what ``json.loads`` would guess at (duplicate keys, absurd nesting,
integers past Python's conversion limit). ``predict_body`` checks the rules of
``schemas.PredictRequest`` by hand: that pydantic model stays the OpenAPI document's source of
truth, and a property test (tests/unit/test_request_rules.py) holds this validator to its errors,
field by field and message by message. By hand because pydantic's import is ~70 ms of a cold
start (more than numpy's) for checks that take a few lines each, and a batch runs them per item.

Two deliberate differences from pydantic's defaults, in both: a country's 64-character limit
applies after surrounding spaces and control characters are removed (as the service removes
them), and a limit in a message is written as a person would ("3.4e+38", not 39 digits).
``-0.0`` is answered as ``0.0``.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from genre_model.contract import (
    MAX_COUNTRY_LENGTH,
    MAX_CUSTOMER_ID,
    MAX_FEATURE_VALUE,
    MAX_RATIO,
    MAX_TRACKS,
    MIN_CUSTOMER_ID,
    clean_name,
)
from genre_model.serve.errors import (
    duplicate_key,
    invalid,
    invalid_json,
    not_an_object,
    number_too_long,
    too_deep,
)
from genre_model.serve.http import Problems
from genre_model.serve.service import PredictBody

# Deeper than any body the API accepts (they are flat objects), far below any recursion limit:
# checked by us, not left to RecursionError, whose depth differs between Python 3.11 and 3.12+.
MAX_JSON_DEPTH = 32
_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_JSON_BRACKET = re.compile(r"[\[\]{}]")
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_AS_PARENTHESES = str.maketrans("[{]}", "(())")
# The fields a customer_id replaces: the features, and the country they are encoded from.
FEATURE_FIELDS = ("total_spent", "total_tracks_bought", "genre_spending_ratio", "country")


def nested_too_deep(text: str, limit: int = MAX_JSON_DEPTH) -> bool:
    """True when arrays/objects in ``text`` nest deeper than ``limit`` (brackets inside strings
    do not count). Costs two ``str.count`` calls for any body with few brackets; a batch of a
    thousand flat items, a few passes of C string methods (``_depth_by_pairs``)."""
    if text.count("[") + text.count("{") <= limit:
        return False
    if "\\" in text or text.count('"') % 2:  # escapes or an open string: the exact walk
        outside = _JSON_STRING.sub("", text)
    else:
        outside = "".join(text.split('"')[0::2])
    brackets = _NOT_BRACKET.sub("", outside).translate(_AS_PARENTHESES)
    if _depth_by_pairs(brackets, limit) is not None:
        return False
    depth = 0
    for bracket in brackets:
        depth += 1 if bracket == "(" else -1
        if depth > limit:
            return True
    return False


def _depth_by_pairs(brackets: str, limit: int) -> int | None:
    """The nesting of balanced ``brackets`` ("(()())": 2) when at most ``limit``: each pass of
    ``str.replace`` removes the innermost level. None when they do not balance within ``limit``
    passes: deeper, or unbalanced, which the caller walks one by one."""
    for depth in range(limit + 1):
        if not brackets:
            return depth
        inner = brackets.replace("()", "")
        if inner == brackets:
            return None
        brackets = inner
    return None


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise duplicate_key(key)
        seen[key] = value
    return seen


def strict_json(text: str) -> Any:
    """``json.loads`` that refuses duplicate keys, absurd nesting and numbers too long to convert
    (each a 400 ``ApiError``, as is text that is not JSON)."""
    if nested_too_deep(text):
        raise too_deep()
    try:
        return json.loads(text, object_pairs_hook=_no_duplicates)
    except json.JSONDecodeError:
        raise invalid_json() from None
    except ValueError:  # an integer beyond Python's 4,300-digit conversion limit
        raise number_too_long() from None


def checked_body(text: str) -> PredictBody:
    """A predict body's text as the service's input, or the 400/422 ``ApiError`` to send."""
    return predict_body(strict_json(text))


def limit_text(limit: float) -> str:
    """A bound as a person writes it: 3.4e+38, 1000000000000000, 0 (pydantic: 39 digits)."""
    return repr(limit) if isinstance(limit, float) else str(limit)


def _bounds(value: float, low: float, high: float) -> str | None:
    if value < low:
        return f"Input should be greater than or equal to {limit_text(low)}"
    if value > high:
        return f"Input should be less than or equal to {limit_text(high)}"
    return None


def _number(value: Any, high: float) -> tuple[Any, str | None]:
    """A finite JSON number (an integer is a float; a boolean is not a number) in [0, high]."""
    kind = type(value)
    if kind is float:
        number = value
    elif kind is int:
        try:
            number = float(value)
        except OverflowError:  # beyond float's range: not a number pydantic can read either
            return value, "Input should be a valid number"
    else:
        return value, "Input should be a valid number"
    if not math.isfinite(number):
        return value, "Input should be a finite number"
    return number + 0.0, _bounds(number, 0, high)  # + 0.0: -0.0 is answered as 0.0


def _total_spent(value: Any) -> tuple[Any, str | None]:
    return _number(value, MAX_FEATURE_VALUE)


def _ratio(value: Any) -> tuple[Any, str | None]:
    return _number(value, MAX_RATIO)


def _integer(value: Any, low: int, high: int) -> tuple[Any, str | None]:
    if type(value) is not int:
        return value, "Input should be a valid integer"
    return value, _bounds(value, low, high)


def _tracks(value: Any) -> tuple[Any, str | None]:
    return _integer(value, 0, MAX_TRACKS)


def _customer_id(value: Any) -> tuple[Any, str | None]:
    return _integer(value, MIN_CUSTOMER_ID, MAX_CUSTOMER_ID)


def _country(value: Any) -> tuple[Any, str | None]:
    if type(value) is not str:
        return value, "Input should be a valid string"
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate (JSON "\\ud800")
            return (
                value,
                "Input should be a valid string, unable to parse raw data as a unicode string",
            )
    if not value:
        return value, "String should have at least 1 character"
    if len(value) > MAX_COUNTRY_LENGTH and len(clean_name(value) or "") > MAX_COUNTRY_LENGTH:
        return value, f"String should have at most {MAX_COUNTRY_LENGTH} characters"
    return value, None


def _explain(value: Any) -> tuple[Any, str | None]:
    if type(value) is not bool:
        return value, "Input should be a valid boolean"
    return value, None


# In PredictRequest's field order, which is the order of its errors.
RULES = (
    ("total_spent", _total_spent),
    ("total_tracks_bought", _tracks),
    ("genre_spending_ratio", _ratio),
    ("country", _country),
    ("customer_id", _customer_id),
    ("explain", _explain),
)
_FIELDS = frozenset(name for name, _ in RULES)


def predict_body(value: Any) -> PredictBody:
    """``value`` (parsed JSON) as a checked body; 400 when it is not an object, 422 naming every
    field at fault (each field's rule, then unknown fields, then customer_id's exclusivity)."""
    if type(value) is not dict:
        raise not_an_object()
    checked: dict[str, Any] = {}
    problems: Problems = []
    for name, rule in RULES:
        if name in value:
            checked[name], problem = rule(value[name])
            if problem is not None:
                problems.append((name, problem))
    if len(checked) != len(value):
        problems += [(key, "unknown field") for key in value if key not in _FIELDS]
    if problems:
        raise invalid(problems)
    if "customer_id" in checked:
        given = sorted(set(FEATURE_FIELDS) & checked.keys())
        if given:
            raise invalid(
                [("customer_id", f"customer_id cannot be combined with {', '.join(given)}")]
            )
    return PredictBody(**checked)
