"""POST /api/predict-genre/batch: many predict bodies, one model snapshot, each judged alone.

Each result is byte for byte what POST /api/predict-genre answers for that item sent alone
(compactly): its 200 body or its error body. So the whole body is parsed once with the strict
parser's checks turned into values: a duplicate key or an over-long integer inside an item
becomes a marker, and the item whose subtree holds the first one (in parse order, where the
single endpoint's parser would have stopped) gets that 400 body; the other items are unaffected.
Problems of the request itself (not JSON, no ``items`` list, too few or too many items) are one
4xx for the whole batch. One model answers every item: it is taken from the cache once, and
the valid items' rows go through ``predict_proba`` together.
"""

from __future__ import annotations

import json
from itertools import count
from typing import Any

from genre_model.config import settings
from genre_model.serve import service
from genre_model.serve.http import (
    MAX_BODY_BYTES,
    MAX_JSON_DEPTH,
    ApiError,
    Reply,
    compact,
    duplicate_key,
    error_body,
    invalid_json,
    nested_too_deep,
    not_an_object,
    number_too_long,
    refusal,
    too_deep,
    validated,
)
from genre_model.serve.model_cache import LoadedModel
from genre_model.serve.schemas import BatchRequest, PredictRequest

# Lambda refuses a response over 6 MB (the body travels JSON-escaped inside it); keep a margin.
MAX_RESPONSE_BYTES = 6_000_000
# Nesting the whole batch body may have: items sit two levels down ({"items": [item]}), and an
# item deeper than the single limit still gets its own 400; far below every recursion limit.
MAX_BATCH_JSON_DEPTH = 200


class _Fault:
    """A point where the single endpoint's strict parser would have stopped with ``error``."""

    __slots__ = ("children", "error", "seq")

    def __init__(self, seq: int, error: ApiError, children: list[Any]) -> None:
        self.seq = seq
        self.error = error
        self.children = children  # what the parser had read inside it (it may hold faults)


class _Parser:
    """``json.loads`` whose strict checks leave ``_Fault`` markers instead of raising."""

    def __init__(self) -> None:
        self._seq = count()
        self.faulted = False

    def _fault(self, error: ApiError, children: list[Any]) -> _Fault:
        self.faulted = True
        return _Fault(next(self._seq), error, children)

    def _object(self, pairs: list[tuple[str, Any]]) -> dict[str, Any] | _Fault:
        seen: dict[str, Any] = {}
        for key, value in pairs:
            if key in seen:
                return self._fault(duplicate_key(key), [v for _, v in pairs])
            seen[key] = value
        return seen

    def _integer(self, text: str) -> int | _Fault:
        try:
            return int(text)
        except ValueError:  # beyond Python's 4,300-digit conversion limit
            return self._fault(number_too_long(), [])

    def loads(self, text: str) -> Any:
        # Checked by us, far below any Python's recursion limit (no RecursionError reliance);
        # an item nested past the single endpoint's limit but within this one is that item's 400.
        if nested_too_deep(text, MAX_BATCH_JSON_DEPTH):
            raise too_deep()
        try:
            return json.loads(text, object_pairs_hook=self._object, parse_int=self._integer)
        except json.JSONDecodeError:
            raise invalid_json() from None


def _first_fault(value: Any) -> _Fault | None:
    """The earliest marker anywhere inside ``value`` (iterative: nesting may be deep)."""
    first: _Fault | None = None
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, _Fault):
            if first is None or node.seq < first.seq:
                first = node
            stack.extend(node.children)
        elif isinstance(node, dict):
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return first


def _nesting(value: Any) -> int:
    """Array/object levels of a parsed item, counted as the single endpoint counts brackets
    (a duplicate-key marker is the object it stands for; a too-long number is a scalar)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        node, level = stack.pop()
        children = node.children if isinstance(node, _Fault) else node
        if isinstance(node, dict):
            children = list(node.values())
        if not isinstance(node, dict | list) and not (isinstance(node, _Fault) and children):
            continue
        deepest = max(deepest, level)
        stack.extend((child, level + 1) for child in children)
    return deepest


def _compact_size(value: Any) -> int:
    """Bytes of ``value`` sent compactly as UTF-8 (a marker counts as what it stands for)."""
    text = json.dumps(
        value, separators=(",", ":"), ensure_ascii=False, default=lambda f: f.children
    )
    return len(text.encode("utf-8", "surrogatepass"))


def _items(parser: _Parser, text: str) -> list[Any]:
    """The ``items`` list, or the ApiError that fails the whole request."""
    top = parser.loads(text)
    if isinstance(top, _Fault):  # a duplicate key in the request object itself
        raise top.error
    if not isinstance(top, dict):
        raise not_an_object()
    extra = sorted(set(top) - {"items"})
    if extra:
        raise ApiError(422, "Invalid request", [(k, "unknown field") for k in extra])
    if "items" not in top:
        raise ApiError(422, "Invalid request", [("items", "Field required")])
    items = top["items"]
    if not isinstance(items, list):
        raise ApiError(422, "Invalid request", [("items", "must be a list of predict bodies")])
    limit = settings().max_batch_items
    if not 1 <= len(items) <= limit:
        raise ApiError(422, "Invalid request", [("items", f"must hold 1 to {limit} items")])
    return items


class _Answers:
    """The batch's results by position: errors at once, valid items after one forest walk."""

    def __init__(self, model: LoadedModel, size: int) -> None:
        self.model = model
        self.texts: list[str] = [""] * size
        self._pending: list[tuple[int, PredictRequest, list[float], dict[str, Any]]] = []

    def add(self, position: int, item: Any, faulted: bool) -> None:
        fault = _first_fault(item) if faulted else None
        if _nesting(item) > MAX_JSON_DEPTH:  # the single endpoint checks depth before parsing
            error = too_deep()
        elif fault is None:
            try:
                request = validated(PredictRequest, item)
                row, profile = service.features(request, self.model)
            except ApiError as exc:
                error = exc
            except service.Refused as exc:
                error = refusal(exc)
            else:  # valid items are always far below the single endpoint's 16 KiB
                self._pending.append((position, request, row, profile))
                return
        else:
            error = fault.error
        if _compact_size(item) > MAX_BODY_BYTES:  # the single endpoint checks the size first
            error = ApiError(413, "Request body over 16 KiB", [("body", "too large")])
        self.texts[position] = compact(error_body(error.message, error.errors))

    def finish(self) -> list[str]:
        """Every valid row through ``predict_proba`` at once (bit-identical to one by one)."""
        if self._pending:
            rows = [row for _, _, row, _ in self._pending]
            probabilities = self.model.predictor.predict_proba(rows).tolist()
            for (position, request, row, profile), p in zip(
                self._pending, probabilities, strict=True
            ):
                try:
                    body = service.respond(request, self.model, row, profile, p)
                except service.Refused as exc:  # explain on a version that cannot, NaN
                    error = refusal(exc)
                    body = error_body(error.message, error.errors)
                self.texts[position] = compact(body)
        return self.texts


class ParsedItems(list[Any]):
    """The items as ``parse`` read them; ``faulted``: some hold a marker (else none is walked)."""

    faulted: bool = False


def parse(text: str) -> BatchRequest:
    """The batch body as a request, or the ApiError that fails the whole request (not JSON,
    no ``items`` list, too few or too many items). Items stay raw: each is judged alone."""
    parser = _Parser()
    items = ParsedItems(_items(parser, text))
    items.faulted = parser.faulted
    return BatchRequest.model_construct(items=items)


def answer(items: list[Any], model: LoadedModel) -> Reply:
    """200 with every item's answer (each byte for byte its single answer), or a 413 when that
    would not fit in a Lambda response."""
    answers = _Answers(model, len(items))
    faulted = isinstance(items, ParsedItems) and items.faulted
    for position, item in enumerate(items):
        answers.add(position, item, faulted)
    text = f'{{"status":"OK","results":[{",".join(answers.finish())}]}}'
    if len(text) + text.count('"') + text.count("\\") > MAX_RESPONSE_BYTES:  # size once escaped
        return Reply(
            413,
            error_body(
                "Batch answer over the 6 MB Lambda response limit; send fewer items",
                [("items", "answer too large")],
            ),
        )
    return Reply(200, text, {"X-Model-Version": model.version})
