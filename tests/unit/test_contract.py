"""The contract between training and serving: version names, and predictor/snapshot payloads that
are hash-correct but wrong (what a buggy or hostile trainer could publish) are refused."""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, datetime

import numpy as np
import pytest

from genre_model.artifacts import new_version
from genre_model.contract import (
    FORMAT,
    InvalidVersion,
    PredictorError,
    SnapshotError,
    check_version,
    pack_arrays,
    validate_snapshot,
)
from genre_model.inference import Predictor

SPEC = ["total_spent", "total_tracks_bought", "genre_spending_ratio"]


def forest(**arrays: np.ndarray) -> dict:
    """Two trees over the spec features: a stump on total_spent, and a single leaf."""
    base = {
        "feature": np.array([0, 0, 0, 0], dtype=np.int64),
        "threshold": np.array([50.0, 0.0, 0.0, 0.0]),
        "left": np.array([1, 1, 2, 3], dtype=np.int64),
        "right": np.array([2, 1, 2, 3], dtype=np.int64),
        "value": np.array([[0.5, 0.5], [1.0, 0.0], [0.25, 0.75], [0.5, 0.5]]),
        "roots": np.array([0, 3], dtype=np.int64),
    }
    return {
        "format": FORMAT,
        "classes": ["Jazz", "Rock"],
        "feature_columns": SPEC,
        "countries": [],
        "depth": 1,
        "arrays": pack_arrays({**base, **arrays}),
    }


def test_the_sound_forest_predicts() -> None:
    predictor = Predictor(forest())
    assert predictor.predict_one([10.0, 1, 0.5]).tolist() == [0.75, 0.25]
    assert predictor.predict_one([90.0, 1, 0.5]).tolist() == [0.375, 0.625]


def _with(**changes: object) -> Callable[[], dict]:
    return lambda: {**forest(), **changes}


def _arrays(**arrays: np.ndarray) -> Callable[[], dict]:
    return lambda: forest(**arrays)


def _raw(name: str, packed: object) -> Callable[[], dict]:
    def build() -> dict:
        payload = forest()
        payload["arrays"] = {**payload["arrays"], name: packed}
        return payload

    return build


I64 = np.int64
HOSTILE = {
    # indexes out of range
    "left-out-of-range": (_arrays(left=np.array([9, 1, 2, 3], dtype=I64)), "left indexes"),
    "right-negative": (_arrays(right=np.array([-1, 1, 2, 3], dtype=I64)), "right indexes"),
    "root-out-of-range": (_arrays(roots=np.array([0, 4], dtype=I64)), "roots indexes"),
    "feature-out-of-range": (_arrays(feature=np.array([3, 0, 0, 0], dtype=I64)), "feature"),
    "leaf-feature-out-of-range": (_arrays(feature=np.array([0, 7, 0, 0], dtype=I64)), "feature"),
    "feature-negative": (_arrays(feature=np.array([-1, 0, 0, 0], dtype=I64)), "feature"),
    # no trees
    "no-roots": (_arrays(roots=np.array([], dtype=I64)), "no tree"),
    "no-nodes": (
        _arrays(
            feature=np.array([], dtype=I64),
            threshold=np.array([]),
            left=np.array([], dtype=I64),
            right=np.array([], dtype=I64),
            value=np.zeros((0, 2)),
            roots=np.array([], dtype=I64),
        ),
        "no tree",
    ),
    # classes vs leaf columns
    "fewer-classes-than-columns": (_with(classes=["Jazz"]), "value has shape"),
    "more-classes-than-columns": (_with(classes=["Jazz", "Rock", "Pop"]), "value has shape"),
    "no-classes": (_with(classes=[]), "classes"),
    "duplicate-classes": (_with(classes=["Rock", "Rock"]), "classes"),
    "classes-not-strings": (_with(classes=[1, 2]), "classes"),
    # depth that lies
    "depth-huge": (_with(depth=10**9), "real depth 1"),
    "depth-short": (_with(depth=0), "real depth 1"),
    "depth-one-more": (_with(depth=2), "real depth 1"),
    "depth-negative": (_with(depth=-1), "depth"),
    "depth-bool": (_with(depth=True), "depth"),
    "depth-text": (_with(depth="1"), "depth"),
    "depth-float": (_with(depth=1.0), "depth"),
    # leaves that are not probabilities
    "nan-leaf": (
        _arrays(value=np.array([[0.5, 0.5], [math.nan, 1.0], [0.25, 0.75], [0.5, 0.5]])),
        "finite",
    ),
    "inf-leaf": (
        _arrays(value=np.array([[0.5, 0.5], [1.0, 0.0], [math.inf, 0.75], [0.5, 0.5]])),
        "finite",
    ),
    "negative-leaf": (
        _arrays(value=np.array([[0.5, 0.5], [1.5, -0.5], [0.25, 0.75], [0.5, 0.5]])),
        "non-negative",
    ),
    "leaf-sum-not-one": (
        _arrays(value=np.array([[0.5, 0.5], [0.9, 0.0], [0.25, 0.75], [0.5, 0.5]])),
        "sum to 1",
    ),
    "nan-threshold": (_arrays(threshold=np.array([math.nan, 0.0, 0.0, 0.0])), "thresholds"),
    "duplicate-countries": (_with(countries=["Brazil", "Brazil"]), "countries"),
    "countries-not-strings": (_with(countries=[None]), "countries"),
    # features vs feature columns
    "unknown-columns": (_with(feature_columns=["a", "b", "c"]), "feature set"),
    "two-columns": (_with(feature_columns=SPEC[:2]), "feature set"),
    "reordered-columns": (_with(feature_columns=SPEC[::-1]), "feature set"),
    # shapes, kinds, structure
    "half-leaf": (_arrays(right=np.array([2, 2, 2, 3], dtype=I64)), "one side"),
    "cycle": (
        _arrays(left=np.array([1, 0, 2, 3], dtype=I64), right=np.array([2, 0, 2, 3], dtype=I64)),
        "cycle",
    ),
    "short-threshold": (_arrays(threshold=np.array([50.0, 0.0])), "threshold has shape"),
    "value-1d": (_arrays(value=np.array([0.5, 1.0, 0.25, 0.5])), "value has shape"),
    "float-indexes": (_arrays(left=np.array([1.0, 1.0, 2.0, 3.0])), "dtype"),
    "object-array": (_raw("left", ("|O", (4,), b"\0" * 32)), "unusable"),
    "shape-lies": (_raw("left", ("<i8", (5,), b"\0" * 32)), "unusable"),
    "missing-array": (lambda: {**forest(), "arrays": {}}, "unusable"),
    "arrays-not-a-dict": (_with(arrays=[1, 2]), "no arrays"),
    "wrong-format": (_with(format="genre-model-forest/2"), "format"),
    "not-a-dict": (lambda: ["format", FORMAT], "not a dict"),
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_predictor_is_refused(name: str) -> None:
    build, reason = HOSTILE[name]
    with pytest.raises(PredictorError, match=reason):
        Predictor(build())


def snapshot(**changes: object) -> dict:
    payload = {
        "feature_columns": SPEC,
        "countries": ["Brazil", "Canada"],
        "arrays": pack_arrays(
            {
                "customer_id": np.array([1, 5], dtype=np.int64),
                "features": np.array([[10.0, 3, 0.5], [20.0, 4, 0.25]]),
            }
        ),
    }
    return {**payload, **changes}


def test_the_sound_snapshot_is_accepted() -> None:
    snap = validate_snapshot(snapshot(), tuple(SPEC))
    assert snap.ids.tolist() == [1, 5]
    assert snap.countries == ("Brazil", "Canada")


def _packed(ids: list[int], rows: list[list[float]]) -> dict:
    return pack_arrays(
        {"customer_id": np.array(ids, dtype=np.int64), "features": np.array(rows, dtype=float)}
    )


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"feature_columns": SPEC[:2]}, "columns"),
        ({"countries": ["Brazil"]}, "line up"),
        ({"arrays": _packed([5, 1], [[1, 1, 0.1], [2, 2, 0.2]])}, "increasing"),
        ({"arrays": _packed([1, 1], [[1, 1, 0.1], [2, 2, 0.2]])}, "increasing"),
        ({"arrays": _packed([1, 5], [[math.nan, 1, 0.1], [2, 2, 0.2]])}, "finite"),
        ({"arrays": _packed([1, 5], [[math.inf, 1, 0.1], [2, 2, 0.2]])}, "finite"),
        ({"arrays": _packed([1, 5], [[1, 1], [2, 2]])}, "line up"),
        ({"arrays": {}}, "unusable"),
        ({"countries": None}, "countries"),
    ],
)
def test_hostile_snapshot_is_refused(changes: dict, reason: str) -> None:
    with pytest.raises(SnapshotError, match=reason):
        validate_snapshot(snapshot(**changes), tuple(SPEC))


def test_snapshot_must_fit_the_predictor_columns() -> None:
    with pytest.raises(SnapshotError, match="columns"):
        validate_snapshot(snapshot(), (*SPEC[:2], "country_code"))


def test_every_version_training_writes_matches_the_pattern() -> None:
    for when in (datetime(2026, 1, 1, tzinfo=UTC), datetime(1999, 12, 31, 23, 59, 59, tzinfo=UTC)):
        assert check_version(new_version(when)).startswith(f"{when:%Y%m%dT%H%M%S}Z-")
    assert check_version("20261126T020000Z-1a2b3c") == "20261126T020000Z-1a2b3c"


@pytest.mark.parametrize(
    "name",
    [
        "../../evil/v1",
        "20261126T020000Z-1a2b3c/../../evil",
        "../20261126T020000Z-1a2b3c",
        "20261126T020000Z-1a2b3c/",
        "/20261126T020000Z-1a2b3c",
        "20261126T020000Z-1a2b3c\r\nSet-Cookie: x=1",
        "20261126T020000Z-1a2b3c\n",
        "20261126T020000Z-1A2B3C",
        "20261126T020000Z-1a2b3",
        "20261126T020000-1a2b3c",
        "v1",
        "",
        ".",
        "..",
        "\uff12\uff10\uff12\uff16\uff11\uff11\uff12\uff16T020000Z-1a2b3c",  # fullwidth digits
        None,
        5,
        ["20261126T020000Z-1a2b3c"],
    ],
)
def test_anything_else_is_not_a_version(name: object) -> None:
    with pytest.raises(InvalidVersion, match="not a version name"):
        check_version(name)
