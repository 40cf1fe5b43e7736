"""POST /api/predict-genre/batch: many predict bodies, one model snapshot, each judged alone.

Each result is byte for byte what POST /api/predict-genre answers for that item's text sent
alone: its 200 body or its error body. So each item is judged as that endpoint judges a body,
in the same order: its size as sent (the item's own text: over 16 KiB is that endpoint's 413),
its nesting, then the strict parser's refusals (duplicate key, number too long, whichever comes
first), then the field rules (``request.predict_body``). To see each item's own text, the
request is scanned here: the top-level object key by key and the ``items`` array item by item
with ``json``'s own decoder (``raw_decode`` gives where each item ends); an item the strict
decoder refuses is read again leniently, only to find its end.

Problems of the request itself (not JSON, not an object, a duplicate key in it, no ``items``
list, too few or too many items) are one 4xx for the whole batch. One model answers every
item: it is taken from the cache once, and the valid items' rows go through ``predict_proba``
together.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from genre_model.serve import errors, service
from genre_model.serve.errors import (
    ApiError,
    duplicate_key,
    invalid,
    invalid_json,
    not_an_object,
    number_too_long,
    too_deep,
    too_large,
)
from genre_model.serve.http import MAX_BODY_BYTES, Reply, encoded, error_body
from genre_model.serve.model_cache import LoadedModel
from genre_model.serve.request import MAX_JSON_DEPTH, nested_too_deep, predict_body
from genre_model.serve.service import PredictBody

# Lambda refuses a response over 6 MB (the body travels JSON-escaped inside it); keep a margin.
MAX_RESPONSE_BYTES = 6_000_000
# Nesting the whole batch body may have: items sit two levels down ({"items": [item]}), and an
# item deeper than the single limit still gets its own 400; far below every recursion limit.
MAX_BATCH_JSON_DEPTH = 200
_SPACE = re.compile(r"[ \t\n\r]*")


def _duplicates_refused(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen = dict(pairs)
    if len(seen) != len(pairs):
        keys: set[str] = set()
        for key, _ in pairs:
            if key in keys:
                raise duplicate_key(key)
            keys.add(key)
    return seen


_STRICT = json.JSONDecoder(object_pairs_hook=_duplicates_refused)  # as ``request.strict_json``
_LENIENT = json.JSONDecoder(parse_int=len)  # only to find where a refused value ends


@dataclass(frozen=True, slots=True)
class Item:
    """One item: its value and text as sent, or the error the strict parser stopped with."""

    value: Any
    text: str
    refused: ApiError | None = None


@dataclass(frozen=True, slots=True)
class Batch:
    """A batch request whose own problems were refused; its items each still to be judged."""

    items: list[Item]


def _space(text: str, at: int) -> int:
    end = _SPACE.match(text, at)
    return end.end() if end else at


def _expect(text: str, at: int, char: str) -> int:
    if not text.startswith(char, at):
        raise invalid_json()
    return at + 1


def _item(text: str, at: int) -> tuple[Item, int]:
    """The item starting at ``at`` and where it ends."""
    refused: ApiError | None = None
    try:
        value, end = _STRICT.raw_decode(text, at)
    except json.JSONDecodeError:
        raise invalid_json() from None
    except ApiError as exc:  # a duplicate key inside the item
        refused, value = exc, None
    except ValueError:  # an integer beyond Python's 4,300-digit conversion limit
        refused, value = number_too_long(), None
    if refused is not None:
        try:
            _, end = _LENIENT.raw_decode(text, at)
        except json.JSONDecodeError:
            raise invalid_json() from None
    return Item(value, text[at:end], refused), end


def _items(text: str, at: int) -> tuple[list[Item], int]:
    """The ``items`` array starting at ``at`` (its ``[``), item by item."""
    items: list[Item] = []
    at = _space(text, at + 1)
    if text.startswith("]", at):
        return items, at + 1
    while True:
        item, at = _item(text, at)
        items.append(item)
        at = _space(text, at)
        if text.startswith("]", at):
            return items, at + 1
        at = _space(text, _expect(text, at, ","))


def _value(text: str, at: int) -> tuple[Any, int]:
    try:
        return _LENIENT.raw_decode(text, at)
    except json.JSONDecodeError:
        raise invalid_json() from None


def _request_object(text: str, at: int) -> tuple[dict[str, Any], str | None]:
    """The top-level object's members (``items`` as ``Item`` list when an array), and its first
    duplicate key; raises 400 for text that is not JSON."""
    members: dict[str, Any] = {}
    duplicate: str | None = None
    at = _space(text, at + 1)
    if text.startswith("}", at):
        return members, None
    while True:
        if not text.startswith('"', at):
            raise invalid_json()
        key, at = _value(text, at)
        at = _space(text, _expect(text, _space(text, at), ":"))
        if key == "items" and key not in members and text.startswith("[", at):
            value, at = _items(text, at)
        else:
            value, at = _value(text, at)
        if key in members and duplicate is None:
            duplicate = key
        members[key] = value
        at = _space(text, at)
        if text.startswith("}", at):
            at += 1
            break
        at = _space(text, _expect(text, at, ","))
    if _space(text, at) != len(text):
        raise invalid_json()
    return members, duplicate


def parse(text: str, max_items: int) -> Batch:
    """The batch body as items to judge, or the ApiError that fails the whole request."""
    if nested_too_deep(text, MAX_BATCH_JSON_DEPTH):
        raise too_deep()
    at = _space(text, 0)
    if not text.startswith("{", at):
        _, end = _value(text, at)  # 400 invalid JSON first, as for any body
        if _space(text, end) != len(text):
            raise invalid_json()
        raise not_an_object()
    members, duplicate = _request_object(text, at)
    if duplicate is not None:
        raise duplicate_key(duplicate)
    extra = sorted(set(members) - {"items"})
    if extra:
        raise invalid([(k, "unknown field") for k in extra])
    if "items" not in members:
        raise invalid([("items", "Field required")])
    items = members["items"]  # a list of Item when it is an array
    if not isinstance(items, list):
        raise invalid([("items", "must be a list of predict bodies")])
    if not 1 <= len(items) <= max_items:
        raise invalid([("items", f"must hold 1 to {max_items} items")])
    return Batch(items)


def _body(item: Item) -> PredictBody:
    """The item judged as the single endpoint judges a body, in its order."""
    if len(item.text) > MAX_BODY_BYTES // 4 and len(item.text.encode()) > MAX_BODY_BYTES:
        raise too_large("16 KiB")
    if nested_too_deep(item.text, MAX_JSON_DEPTH):
        raise too_deep()
    if item.refused is not None:
        raise item.refused
    return predict_body(item.value)


def _error_text(exc: Exception) -> str:
    return encoded(errors.reply(exc))[1]


def answer(batch: Batch, model: LoadedModel) -> Reply:
    """200 with every item's answer (each byte for byte its single answer), or a 413 when that
    would not fit in a Lambda response."""
    texts = [""] * len(batch.items)
    pending: list[tuple[int, PredictBody, list[float], dict[str, Any]]] = []
    for position, item in enumerate(batch.items):
        try:
            body = _body(item)
            row, profile = service.features(body, model)
        except Exception as exc:
            texts[position] = _error_text(exc)
        else:
            pending.append((position, body, row, profile))
    if pending:
        # Every valid row through ``predict_proba`` at once (bit-identical to one by one).
        probabilities = model.predictor.predict_proba([row for _, _, row, _ in pending]).tolist()
        for (position, body, row, profile), p in zip(pending, probabilities, strict=True):
            try:
                reply = Reply(200, service.respond(body, model, row, profile, p))
            except Exception as exc:
                reply = errors.reply(exc)
            texts[position] = encoded(reply)[1]
    text = f'{{"status":"OK","results":[{",".join(texts)}]}}'
    if len(text) + text.count('"') + text.count("\\") > MAX_RESPONSE_BYTES:  # size once escaped
        return Reply(
            413,
            error_body(
                "Batch answer over the 6 MB Lambda response limit; send fewer items",
                [("items", "answer too large")],
            ),
        )
    return Reply(200, text, {"X-Model-Version": model.version})
