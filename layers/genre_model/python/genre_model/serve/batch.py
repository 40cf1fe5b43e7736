"""POST /api/predict-genre/batch: many predict bodies, one model snapshot, each judged alone.

Each result is byte for byte what POST /api/predict-genre answers for that item's text sent
alone: its 200 body or its error body, with the same limits hit in the same order (its size as
sent, over 16 KiB being that endpoint's 413; its nesting; the strict parser's refusals; the
field rules). To see each item's own text the request is scanned here, the ``items`` array item
by item with ``json``'s C scanner (which says where each item ends).

Most items are flat objects of the three features (and maybe ``explain``): those take the fast
path, checked in one tight pass (``_plain``), predicted together, the ones asking for it
explained together (``ForestExplainer.explain_rows``, bit for bit each row's own explanation),
and answered from strings built once per batch (class and feature names, the profile's constant
tail), never a per-item dict or ``json.dumps``. Every other item (a customer_id, a country,
anything odd or refused) is judged by the single endpoint's own functions on its text
(``request.checked_body``, ``service``), so its answer is that endpoint's by construction; a
property test and a 1,000-item mixed batch hold the fast path to it.

Problems of the request itself (not JSON, not an object, a duplicate key in it, no ``items``
list, too few or too many items) are one 4xx for the whole batch. One model answers every
item: it is taken from the cache once, and every valid row goes through one ``predict_proba``.
"""

from __future__ import annotations

import json
import re
from json.scanner import make_scanner
from typing import Any

import numpy as np

from genre_model.contract import MAX_FEATURE_VALUE, MAX_RATIO, MAX_TRACKS, SPEC_FEATURES
from genre_model.serve import drift, errors, service
from genre_model.serve.errors import (
    duplicate_key,
    invalid,
    invalid_json,
    not_an_object,
    too_deep,
    too_large,
)
from genre_model.serve.explain import METHOD, ExplainUnavailable, explainer_for
from genre_model.serve.http import MAX_BODY_BYTES, Reply, compact, encoded, error_body
from genre_model.serve.model_cache import LoadedModel
from genre_model.serve.request import checked_body, nested_too_deep
from genre_model.serve.service import PredictBody

# Lambda refuses a response over 6 MB (the body travels JSON-escaped inside it); keep a margin.
MAX_RESPONSE_BYTES = 6_000_000
# Nesting the whole batch body may have: items sit two levels down ({"items": [item]}), and an
# item deeper than the single limit still gets its own 400; far below every recursion limit.
MAX_BATCH_JSON_DEPTH = 200
_SPACE = re.compile(r"[ \t\n\r]*")
_BLANK = " \t\n\r"
# Objects as tuples of pairs (JSON has no tuples, so an object is told from an array, and a
# duplicate key is seen); built by the C scanner with no Python call per object.
# (typeshed types make_scanner's argument as a scanner: it takes the decoder.)
_SCAN = make_scanner(json.JSONDecoder(object_pairs_hook=tuple))  # type: ignore[arg-type]
_LENIENT = json.JSONDecoder(parse_int=len)  # only to find where a refused value ends
_PLAIN_KEYS = frozenset((*SPEC_FEATURES, "explain"))

Batch = list[tuple[Any, str]]  # each item's scanned value (None: read it again) and its text


def _space(text: str, at: int) -> int:
    if at < len(text) and text[at] in _BLANK:
        found = _SPACE.match(text, at)
        return found.end() if found else at
    return at


def _expect(text: str, at: int, char: str) -> int:
    if not text.startswith(char, at):
        raise invalid_json()
    return at + 1


def _value(text: str, at: int) -> tuple[Any, int]:
    try:
        return _LENIENT.raw_decode(text, at)
    except json.JSONDecodeError:
        raise invalid_json() from None


def _items(text: str, at: int) -> tuple[Batch, int]:
    """The ``items`` array starting at ``at`` (its ``[``), item by item."""
    items: Batch = []
    at = _space(text, at + 1)
    if text.startswith("]", at):
        return items, at + 1
    while True:
        try:
            value, end = _SCAN(text, at)
        except (StopIteration, json.JSONDecodeError):
            raise invalid_json() from None
        except ValueError:  # an integer past Python's conversion limit: judged from its text
            value, end = None, _value(text, at)[1]
        items.append((value, text[at:end]))
        if text.startswith(",", end):  # the common case: "," right after the item
            at = _space(text, end + 1)
            continue
        at = _space(text, end)
        if text.startswith("]", at):
            return items, at + 1
        at = _space(text, _expect(text, at, ","))


def _request_object(text: str, at: int) -> tuple[dict[str, Any], str | None]:
    """The top-level object's members (``items`` scanned when an array) and its first duplicate
    key; 400 for text that is not JSON."""
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
            break
        at = _space(text, _expect(text, at, ","))
    if _space(text, at + 1) != len(text):
        raise invalid_json()
    return members, duplicate


def parse(text: str, max_items: int) -> Batch:
    """The batch body's items to judge, or the ApiError that fails the whole request."""
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
    items = members["items"]  # scanned items when it is an array
    if not isinstance(items, list):
        raise invalid([("items", "must be a list of predict bodies")])
    if not 1 <= len(items) <= max_items:
        raise invalid([("items", f"must hold 1 to {max_items} items")])
    return items


def _feature(value: Any, high: float) -> float | None:
    """A finite number in [0, high] as the validator reads it (else: the slow path decides)."""
    kind = type(value)
    if (kind is float or kind is int) and 0 <= value <= high:
        return float(value) + 0.0  # + 0.0: -0.0 is answered as 0.0
    return None


def _plain(value: Any, text: str) -> tuple[float, int, float, bool] | None:
    """The three features and ``explain`` of an item that is a flat object of only them, within
    16 KiB, each valid: what ``request.checked_body`` would accept with every other field at its
    default. None sends the item down the single endpoint's own path."""
    if type(value) is not tuple or len(text) > MAX_BODY_BYTES // 4:
        return None
    body = dict(value)
    if len(body) != len(value) or not body.keys() <= _PLAIN_KEYS:
        return None
    explain = body.get("explain", False)
    spent = _feature(body.get("total_spent", 0.0), MAX_FEATURE_VALUE)
    ratio = _feature(body.get("genre_spending_ratio", 0.0), MAX_RATIO)
    tracks = body.get("total_tracks_bought", 0)
    if spent is None or ratio is None or type(tracks) is not int or not 0 <= tracks <= MAX_TRACKS:
        return None
    if type(explain) is not bool:
        return None
    return spent, tracks, ratio, explain


def _judged(text: str) -> PredictBody:
    """The item's text as the single endpoint judges a body: size, then everything else."""
    if len(text) > MAX_BODY_BYTES // 4 and len(text.encode()) > MAX_BODY_BYTES:
        raise too_large("16 KiB")
    return checked_body(text)


class _Answers:
    """Every item's answer text; rows wait for one ``predict_proba`` (and the plain items that
    ask for it, one ``explain_rows``), then are answered."""

    def __init__(self, model: LoadedModel, size: int) -> None:
        self.model = model
        self.texts = [""] * size
        default_row, default_profile = service.row_and_profile(PredictBody(), model)
        # What an item with only the three features adds to them (the location model's country
        # columns): taken from the service itself, for the row and for the profile.
        self._row_tail = default_row[len(SPEC_FEATURES) :]
        tail = compact({k: v for k, v in default_profile.items() if k not in SPEC_FEATURES})
        self._profile_tail = "," + tail[1:-1] if tail != "{}" else ""
        self._plain_ok = model.predictor.feature_columns[: len(SPEC_FEATURES)] == SPEC_FEATURES
        self._names = [json.dumps(c) for c in model.predictor.classes]  # as ``json`` writes them
        self._plain: list[tuple[int, tuple[float, int, float, bool]]] = []
        self._plain_rows: list[list[float]] = []
        self._other: list[tuple[int, PredictBody, list[float], dict[str, Any]]] = []

    def add(self, position: int, value: Any, text: str) -> None:
        plain = _plain(value, text) if self._plain_ok else None
        if plain is not None:
            row = [*plain[:3], *self._row_tail]
            self._plain.append((position, plain))
            self._plain_rows.append(row)
            drift.observe(self.model, row)  # as service.features does
            return
        try:
            body = _judged(text)
            row, profile = service.features(body, self.model)
        except Exception as exc:  # each item's error is its own answer
            self.texts[position] = encoded(errors.reply(exc))[1]
        else:
            self._other.append((position, body, row, profile))

    def finish(self) -> list[str]:
        rows = self._plain_rows + [row for _, _, row, _ in self._other]
        if not rows:
            return self.texts
        probabilities = self.model.predictor.predict_proba(rows)
        plain = probabilities[: len(self._plain)]
        order = np.argsort(-plain, axis=1, kind="stable")
        texts = self._plain_texts(plain, order)
        # The service refuses a non-finite answer (and logs it); an explanation this version
        # cannot give is its 422: such items are answered by the service itself.
        fast = np.isfinite(plain).all(axis=1)
        wanted = np.array([features[3] for _, features in self._plain], dtype=bool)
        if (fast & wanted).any():
            self._explained(texts, np.asarray(self._plain_rows), order[:, 0], fast & wanted, fast)
        for i, ((position, features), text) in enumerate(zip(self._plain, texts, strict=True)):
            if fast[i]:
                self.texts[position] = text
            else:
                body = PredictBody(*features[:3], explain=features[3])
                row, profile = service.row_and_profile(body, self.model)  # counted in ``add``
                self._answer(position, body, row, profile, plain[i])
        rest = probabilities[len(self._plain) :].tolist()
        for (position, body, row, profile), p in zip(self._other, rest, strict=True):
            self._answer(position, body, row, profile, p)
        return self.texts

    def _answer(
        self, position: int, body: PredictBody, row: list[float], profile: dict[str, Any], p: Any
    ) -> None:
        try:
            reply = Reply(200, service.respond(body, self.model, row, profile, list(p)))
        except Exception as exc:  # explain on a version that cannot, a non-finite answer
            reply = errors.reply(exc)
        self.texts[position] = encoded(reply)[1]

    def _plain_texts(self, probabilities: np.ndarray, order: np.ndarray) -> list[str]:
        """``service.respond``'s answer as text, for each plain row at once: the genres ranked
        as it ranks them (highest first, ties in class order), floats as ``json`` writes them."""
        names = self._names
        keys = [f"{name}:" for name in names]
        ranked = np.take_along_axis(probabilities, order, axis=1).tolist()
        tail = self._profile_tail
        texts = []
        for (_, (spent, tracks, ratio, _)), classes, p in zip(
            self._plain, order.tolist(), ranked, strict=True
        ):
            shares = ",".join(map(str.__add__, map(keys.__getitem__, classes), map(repr, p)))
            texts.append(
                f'{{"status":"OK","prediction":{{"genre":{names[classes[0]]},'
                f'"confidence":{p[0]!r},"all_probabilities":{{{shares}}}}},'
                f'"customer_profile":{{"total_spent":{spent!r},"total_tracks_bought":{tracks},'
                f'"genre_spending_ratio":{ratio!r}{tail}}}}}'
            )
        return texts

    def _explained(
        self, texts: list[str], rows: np.ndarray, genres: np.ndarray, wanted: np.ndarray, fast: Any
    ) -> None:
        """Add ``Explanation.as_json``'s text to the ``wanted`` rows' answers, all explained in
        one ``explain_rows``; a row whose explanation cannot be sent leaves ``fast``."""
        try:
            explainer = explainer_for(self.model.predictor)
        except ExplainUnavailable:
            fast[wanted] = False
            return
        chosen = np.flatnonzero(wanted)
        base, phi = explainer.explain_rows(rows[chosen], genres[chosen])
        fast[chosen] = np.isfinite(base) & np.isfinite(phi).all(axis=1)
        keys = [f"{json.dumps(c)}:" for c in self.model.predictor.feature_columns]
        head = f'"explanation":{{"method":{json.dumps(METHOD)},"genre":'
        for i, genre, b, contributions in zip(
            chosen.tolist(), genres[chosen].tolist(), base.tolist(), phi.tolist(), strict=True
        ):
            shares = ",".join(map(str.__add__, keys, map(repr, contributions)))
            texts[i] = (
                f'{texts[i][:-1]},{head}{self._names[genre]},"base_value":{b!r},'
                f'"contributions":{{{shares}}}}}}}'
            )


def answer(items: Batch, model: LoadedModel) -> Reply:
    """200 with every item's answer (each byte for byte its single answer), or a 413 when that
    would not fit in a Lambda response."""
    answers = _Answers(model, len(items))
    for position, (value, text) in enumerate(items):
        answers.add(position, value, text)
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
