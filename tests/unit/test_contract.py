"""The contract between training and serving: version names, and predictor/snapshot payloads that
are hash-correct but wrong (what a buggy or hostile trainer could publish) are refused."""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, datetime

import numpy as np
import pytest
from pydantic import ValidationError

from genre_model import contract
from genre_model.contract import (
    FORMAT,
    MAX_COUNTRY_LENGTH,
    MAX_CUSTOMER_ID,
    MAX_FEATURE_VALUE,
    MAX_RATIO,
    MAX_TRACKS,
    MAX_TREE_DEPTH,
    MIN_CUSTOMER_ID,
    InvalidVersion,
    Manifest,
    ManifestError,
    PredictorError,
    SnapshotError,
    check_version,
    pack_arrays,
    validate_snapshot,
)
from genre_model.serve.predictor import Predictor
from genre_model.serve.schemas import PredictRequest
from genre_model.store.registry import new_version

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


def chain(depth: int) -> dict:
    """One tree that is a chain of ``depth`` splits, its depth stored truthfully."""
    n = 2 * depth + 1
    left, right = np.arange(n), np.arange(n)
    left[:depth] = depth + 1 + np.arange(depth)
    right[:depth] = np.arange(1, depth + 1)
    value = np.zeros((n, 2))
    value[:, 0] = 1.0
    arrays = {
        "feature": np.zeros(n, dtype=I64),
        "threshold": np.zeros(n),
        "left": left,
        "right": right,
        "value": value,
        "roots": np.array([0], dtype=I64),
    }
    return {**forest(), "depth": depth, "arrays": pack_arrays(arrays)}


def test_depth_is_bounded_even_when_stored_truthfully() -> None:
    assert Predictor(chain(MAX_TREE_DEPTH)).depth == MAX_TREE_DEPTH  # the bound itself loads
    for depth in (MAX_TREE_DEPTH + 1, 20 * MAX_TREE_DEPTH):
        with pytest.raises(PredictorError, match=f"longer than {MAX_TREE_DEPTH} levels"):
            Predictor(chain(depth))


def test_node_count_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(contract, "MAX_NODES", 3)  # the sound forest has 4 nodes
    with pytest.raises(PredictorError, match="4 nodes, more than the 3"):
        Predictor(forest())


def _features(row: list[float]) -> dict:
    return {"arrays": _packed([1, 5], [row, [20.0, 4, 0.25]])}


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        (_features([1e300, 3, 0.5]), r"total_spent must be finite numbers from 0 to 3\.4e\+38"),
        (_features([10.0, 1e300, 0.5]), "total_tracks_bought must be finite numbers from 0"),
        (_features([10.0, float(MAX_TRACKS) * 2, 0.5]), "total_tracks_bought"),
        (_features([10.0, 2.5, 0.5]), "total_tracks_bought must be whole numbers"),
        (_features([10.0, 3, 5.0]), "genre_spending_ratio must be finite numbers from 0 to 1"),
        (_features([10.0, 3, -0.1]), "genre_spending_ratio"),
        ({"arrays": _packed([0, 5], [[1, 1, 0.1], [2, 2, 0.2]])}, "customer ids must be from 1"),
        (
            {
                "arrays": pack_arrays(
                    {
                        "customer_id": np.array([1, 2**64 - 1], dtype=np.uint64),
                        "features": np.array([[1, 1, 0.1], [2, 2, 0.2]]),
                    }
                )
            },
            "customer ids must be from 1",
        ),
        ({"countries": ["Brazil", ""]}, "countries must have 1 to 64"),
        ({"countries": ["Brazil", "x" * (MAX_COUNTRY_LENGTH + 1)]}, "countries must have 1 to 64"),
    ],
)
def test_snapshot_values_a_request_could_not_send_are_refused(changes: dict, reason: str) -> None:
    with pytest.raises(SnapshotError, match=reason):
        validate_snapshot(snapshot(**changes), tuple(SPEC))


def test_snapshot_limits_are_the_request_schema_limits() -> None:
    """At each limit both the request and the snapshot accept; one step past, both refuse."""
    limits = {
        "total_spent": MAX_FEATURE_VALUE,
        "total_tracks_bought": MAX_TRACKS,
        "genre_spending_ratio": MAX_RATIO,
    }
    for j, (name, top) in enumerate(limits.items()):
        past = top + 1 if isinstance(top, int) else float(np.nextafter(top, np.inf))
        for value, ok in ((top, True), (past, False)):
            row = [1.0, 1.0, 0.5]
            row[j] = value
            request_ok = _accepted(PredictRequest, **{name: value})
            stored_ok = _accepted(lambda r: validate_snapshot(_snap(r), tuple(SPEC)), row)
            assert request_ok == stored_ok == ok, (name, value)
    assert _accepted(PredictRequest, customer_id=MAX_CUSTOMER_ID)
    assert not _accepted(PredictRequest, customer_id=MAX_CUSTOMER_ID + 1)
    assert not _accepted(PredictRequest, customer_id=MIN_CUSTOMER_ID - 1)


def _snap(row: list[float]) -> dict:
    return snapshot(arrays=_packed([1, 5], [row, [20.0, 4, 0.25]]))


def _accepted(build: Callable[..., object], *args: object, **kwargs: object) -> bool:
    try:
        build(*args, **kwargs)
    except (SnapshotError, ValidationError):
        return False
    return True


def manifest(**changes: object) -> dict:
    base = {
        "version": "20261126T020000Z-1a2b3c",
        "created": "2026-11-26T02:00:00+00:00",
        "classes": ["Jazz", "Rock"],
        "feature_set": "spec",
        "feature_columns": SPEC,
        "rows": {"labelled": 59, "skipped_invoice_lines": 0},
        "metrics": {"holdout": {"model_accuracy": 0.5}},
        "files": {"predictor.joblib": {"sha256": "ab" * 32, "bytes": 10}},
    }
    return {**base, **changes}


def test_the_sound_manifest_is_typed() -> None:
    typed = Manifest.from_json(manifest())
    assert typed.classes == ("Jazz", "Rock")
    assert typed.rows["labelled"] == 59
    bare = Manifest.from_json({"version": "20261126T020000Z-1a2b3c"})  # defaults, as /api/model
    assert (bare.created, bare.classes, bare.feature_set, bare.rows) == ("", (), "spec", {})


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"classes": 5}, "classes is int, expected list"),
        ({"classes": ["Rock", 1]}, "classes must be a list of strings"),
        ({"created": {"a": 1}}, "created is dict, expected str"),
        ({"created": None}, "created is NoneType"),
        ({"rows": "x"}, "rows is str, expected dict"),
        ({"rows": {"labelled": True}}, "rows must map names to non-negative integers"),
        ({"rows": {"labelled": -1}}, "rows must map"),
        ({"rows": {"labelled": 1.5}}, "rows must map"),
        ({"metrics": [1]}, "metrics is list, expected dict"),
        ({"feature_set": 3}, "feature_set is int"),
        ({"feature_columns": "abc"}, "feature_columns is str"),
        ({"files": []}, "files is list"),
        ({"files": {"predictor.joblib": "ab"}}, "files"),
        ({"files": {"predictor.joblib": {"sha256": 1}}}, "files"),
        ({"version": "../../evil"}, "not a version name"),
        ({"version": 7}, "not a version name"),
    ],
)
def test_manifest_fields_of_the_wrong_type_are_refused(changes: dict, reason: str) -> None:
    with pytest.raises(ManifestError, match=reason):
        Manifest.from_json(manifest(**changes))


def test_the_manifest_writes_back_what_it_read() -> None:
    raw = manifest(source="sqlite", countries=["Brazil"], libraries={"numpy": "2.4"})
    typed = Manifest.from_json(raw)
    assert typed.files["predictor.joblib"] == contract.FileEntry("ab" * 32, 10)
    assert (typed.labelled, typed.holdout("model_accuracy"), typed.holdout("nope")) == (
        59,
        0.5,
        None,
    )
    assert typed.to_json() == raw  # every key, so old code reads what new code writes
    assert Manifest.from_json(typed.to_json()) == typed


def test_the_pointer_reads_the_legacy_manifest_key_and_refuses_only_bad_versions() -> None:
    version = "20261126T020000Z-1a2b3c"
    key = f"models/{version}/manifest.json"
    written = contract.Pointer(version, key, "2026-11-26T02:00:00+00:00")
    assert contract.Pointer.from_json(written.to_json()) == written
    assert contract.Pointer.from_json({"version": version, "manifest": key}).manifest_key == key
    with pytest.raises(InvalidVersion, match="not a version name"):
        contract.Pointer.from_json({"version": "../../evil", "manifest_key": key})
    odd = {"version": version, "manifest_key": 5, "promoted_at": 1}  # informational: not fatal
    assert contract.Pointer.from_json(odd) == contract.Pointer(version, "", "")
    with pytest.raises(contract.ContractError, match="not a JSON object"):
        contract.Pointer.from_json([version])


def test_the_country_encoding_is_one_rule() -> None:
    codes = contract.country_codes(("Brazil", "Canada"))
    assert codes == {"Brazil": 1, "Canada": 2}
    assert [contract.country_code(codes, c) for c in ("Canada", "Narnia", None, "")] == [2, 0, 0, 0]
    assert contract.UNKNOWN_COUNTRY not in codes  # training's name for a missing country
