"""The contract's limits from both sides, the defaults of manifest and pointer fields a reader
fills in, and the error class each malformed payload raises (a loader maps them: a predictor or
snapshot error refuses the version, a manifest error too, an invalid version is a 404 name).

Each limit is tried at the value itself (accepted) and one step past (refused): a forest of
exactly ``MAX_NODES`` nodes and one more, ids 1 and ``2**63 - 1`` and one beyond each, countries
of 1 and 64 characters and of 0 and 65, feature values 0 and the top of their range."""

from __future__ import annotations

import numpy as np
import pytest

from genre_model import contract
from genre_model.contract import (
    FORMAT,
    MAX_COUNTRY_LENGTH,
    MAX_CUSTOMER_ID,
    MAX_NODES,
    ContractError,
    InvalidVersion,
    Manifest,
    ManifestError,
    Pointer,
    PredictorError,
    SnapshotError,
    check_version,
    clean_name,
    is_version,
    pack_arrays,
    unpack_arrays,
    validate_forest,
    validate_snapshot,
)

SPEC = ("total_spent", "total_tracks_bought", "genre_spending_ratio")
VERSION = "20261126T020000Z-1a2b3c"
I64 = np.int64


def forest_payload(**arrays: np.ndarray) -> dict:
    """A stump on ``genre_spending_ratio`` (the last spec column) and a one-leaf tree."""
    base = {
        "feature": np.array([2, 0, 0, 0], dtype=I64),
        "threshold": np.array([0.5, 0.0, 0.0, 0.0]),
        "left": np.array([1, 1, 2, 3], dtype=I64),
        "right": np.array([2, 1, 2, 3], dtype=I64),
        "value": np.array([[0.5, 0.5], [1.0, 0.0], [0.0, 1.0], [0.5, 0.5]]),
        "roots": np.array([0, 3], dtype=I64),
    }
    return {
        "format": FORMAT,
        "classes": ["Jazz", "Rock"],
        "feature_columns": list(SPEC),
        "countries": ("Brazil",),
        "depth": 1,
        "arrays": pack_arrays({**base, **arrays}),
    }


def test_a_forest_of_exactly_max_nodes_passes_the_node_bound_and_one_more_does_not() -> None:
    """Only ``left`` is that long (one byte a node): the bound is checked before the shapes, so
    MAX_NODES nodes reach the next rule (``feature`` is short) and MAX_NODES + 1 stop at it."""
    for n, reason in ((MAX_NODES, "feature has shape"), (MAX_NODES + 1, "more than the")):
        payload = forest_payload()
        payload["arrays"]["left"] = ("|u1", (n,), bytes(n))
        with pytest.raises(PredictorError, match=reason) as refused:
            validate_forest(payload)
        if n > MAX_NODES:
            assert str(refused.value) == f"{n} nodes, more than the {2**25} a forest may have"


def test_the_sound_forest_is_typed_as_stored() -> None:
    forest = validate_forest(forest_payload())
    assert forest.classes == ("Jazz", "Rock")
    assert forest.feature_columns == SPEC
    assert forest.countries == ("Brazil",)
    assert forest.depth == 1
    assert forest.roots.tolist() == [0, 3]
    assert forest.feature.tolist() == [2, 0, 0, 0]  # the last column is a feature index too
    assert forest.cover is None  # published before covers: explain refuses, predict serves


def test_a_single_leaf_forest_has_depth_zero() -> None:
    payload = forest_payload(
        feature=np.array([0], dtype=I64),
        threshold=np.array([0.0]),
        left=np.array([0], dtype=I64),
        right=np.array([0], dtype=I64),
        value=np.array([[0.25, 0.75]]),
        roots=np.array([0], dtype=I64),
    )
    assert validate_forest({**payload, "depth": 0}).depth == 0


def test_unsigned_and_narrow_index_arrays_are_accepted() -> None:
    forest = validate_forest(
        forest_payload(
            left=np.array([1, 1, 2, 3], dtype=np.uint32), roots=np.array([0, 3], dtype=np.uint8)
        )
    )
    assert forest.left.dtype == np.uint32


@pytest.mark.parametrize(
    ("arrays", "reason"),
    [
        ({"left": np.array([True, True, True, True])}, r"^array 'left' unusable: dtype \|b1$"),
        ({"threshold": np.array([1, 0, 0, 0], dtype=I64)}, "threshold.*expected kind 'f'"),
        ({"value": np.ones((4, 2), dtype=np.complex128)}, "unusable: dtype <c16"),
        ({"feature": np.array([0, 0, 0, 0], dtype="<M8[s]")}, "unusable"),
    ],
)
def test_arrays_of_the_wrong_kind_are_refused(arrays: dict, reason: str) -> None:
    with pytest.raises(PredictorError, match=reason):
        validate_forest(forest_payload(**arrays))


def test_leaf_sums_are_one_within_a_millionth() -> None:
    close = np.array([[0.5, 0.5], [1.0, 0.0], [0.5, 0.5 + 5e-7], [0.5, 0.5]])
    assert validate_forest(forest_payload(value=close)).value[2, 1] == 0.5 + 5e-7
    for off in (2e-6, -2e-6):
        far = np.array([[0.5, 0.5], [1.0, 0.0], [0.5, 0.5 + off], [0.5, 0.5]])
        with pytest.raises(PredictorError, match="sum to 1"):
            validate_forest(forest_payload(value=far))


def test_inner_nodes_may_hold_anything_leaves_may_not() -> None:
    """Only leaves are read as probabilities: an inner node's NaN is harmless."""
    inner_nan = np.array([[np.nan, -3.0], [1.0, 0.0], [0.0, 1.0], [0.5, 0.5]])
    assert np.isnan(validate_forest(forest_payload(value=inner_nan)).value[0, 0])


@pytest.mark.parametrize(
    ("cover", "ok"),
    [
        (np.array([3.0, 1.0, 2.0, 0.0]), True),
        (np.array([3.0, 1.0, -1.0, 0.0]), False),
        (np.array([3.0, 1.0, np.inf, 0.0]), False),
        (np.array([3.0, 1.0, 2.0]), False),
        (np.array([3, 1, 2, 0], dtype=I64), False),
    ],
)
def test_covers_are_one_finite_non_negative_weight_per_node(cover: np.ndarray, ok: bool) -> None:
    payload = forest_payload()
    payload["arrays"] = {**payload["arrays"], **pack_arrays({"cover": cover})}
    if ok:
        assert validate_forest(payload).cover.tolist() == cover.tolist()
    else:
        with pytest.raises(PredictorError, match="cover"):
            validate_forest(payload)


def test_feature_lists_may_be_tuples_but_not_other_sequences() -> None:
    assert validate_forest({**forest_payload(), "classes": ("Jazz", "Rock")}).classes == (
        "Jazz",
        "Rock",
    )
    with pytest.raises(PredictorError, match=r"^classes must be a list of strings$"):
        validate_forest({**forest_payload(), "classes": "JazzRock"})
    with pytest.raises(PredictorError, match=r"^countries must be a list of strings$"):
        validate_forest({k: v for k, v in forest_payload().items() if k != "countries"})


def snapshot(ids: list[int], rows: list[list[float]], countries: list[str], dtype=I64) -> dict:
    return {
        "feature_columns": list(SPEC),
        "countries": countries,
        "arrays": pack_arrays(
            {"customer_id": np.array(ids, dtype=dtype), "features": np.array(rows, dtype=float)}
        ),
    }


ROW = [1.0, 1.0, 0.5]


@pytest.mark.parametrize(
    ("ids", "dtype", "ok"),
    [
        ([1], I64, True),
        ([0], I64, False),
        ([MAX_CUSTOMER_ID], I64, True),
        ([2**63], np.uint64, False),
        ([1, MAX_CUSTOMER_ID], np.uint64, True),
    ],
)
def test_customer_ids_from_one_to_the_largest_a_request_may_name(
    ids: list[int], dtype: type, ok: bool
) -> None:
    payload = snapshot(ids, [ROW] * len(ids), ["USA"] * len(ids), dtype)
    if ok:
        assert validate_snapshot(payload, SPEC).ids.tolist() == ids
    else:
        with pytest.raises(SnapshotError) as refused:
            validate_snapshot(payload, SPEC)
        assert str(refused.value) == (f"snapshot customer ids must be from 1 to {2**63 - 1}")


@pytest.mark.parametrize(
    ("country", "ok"),
    [("U", True), ("x" * MAX_COUNTRY_LENGTH, True), ("", False), ("x" * 65, False)],
)
def test_countries_of_one_to_sixty_four_characters(country: str, ok: bool) -> None:
    payload = snapshot([1], [ROW], [country])
    if ok:
        assert validate_snapshot(payload, SPEC).countries == (country,)
    else:
        with pytest.raises(
            SnapshotError, match=r"^snapshot countries must have 1 to 64 characters$"
        ):
            validate_snapshot(payload, SPEC)


def test_zero_is_a_value_every_feature_may_hold_and_below_zero_none() -> None:
    assert validate_snapshot(snapshot([1], [[0.0, 0.0, 0.0]], ["USA"]), SPEC).features.sum() == 0
    for j in range(3):
        row = [*ROW]
        row[j] = -1e-300
        with pytest.raises(SnapshotError, match=rf"snapshot {SPEC[j]} must be finite numbers"):
            validate_snapshot(snapshot([1], [row], ["USA"]), SPEC)


def test_the_refusals_name_the_rule_broken() -> None:
    with pytest.raises(
        SnapshotError,
        match=r"^snapshot total_spent must be finite numbers from "
        r"0 to 3\.4e\+38$",
    ):
        validate_snapshot(snapshot([1], [[np.inf, 1, 0.5]], ["USA"]), SPEC)
    with pytest.raises(
        SnapshotError, match=r"^snapshot total_tracks_bought must be whole numbers$"
    ):
        validate_snapshot(snapshot([1], [[1.0, 1.5, 0.5]], ["USA"]), SPEC)
    with pytest.raises(SnapshotError, match=r"^snapshot payload is not a dict$"):
        validate_snapshot([1], SPEC)
    with pytest.raises(
        SnapshotError,
        match=r"^snapshot columns \['total_spent'\] are not the model's "
        r"\['total_spent', 'total_tracks_bought', 'genre_spending_ratio'\]$",
    ):
        validate_snapshot(
            {**snapshot([1], [ROW], ["USA"]), "feature_columns": ["total_spent"]}, SPEC
        )


def test_an_empty_snapshot_and_a_location_model_s_snapshot_are_accepted() -> None:
    empty = snapshot([], [], [])
    empty["arrays"] = pack_arrays(
        {"customer_id": np.zeros(0, dtype=I64), "features": np.zeros((0, 3))}
    )
    assert len(validate_snapshot(empty, SPEC).ids) == 0
    # the country column is the snapshot's countries list, not a feature row column
    located = validate_snapshot(snapshot([4], [ROW], ["USA"]), (*SPEC, "country_code"))
    assert located.features.shape == (1, 3)


def test_snapshot_ids_in_two_dimensions_do_not_line_up() -> None:
    payload = snapshot([1], [ROW], ["USA"])
    payload["arrays"] = pack_arrays(
        {"customer_id": np.array([[1]], dtype=I64), "features": np.array([ROW])}
    )
    with pytest.raises(SnapshotError, match="do not line up"):
        validate_snapshot(payload, SPEC)


@pytest.mark.parametrize(
    ("name", "ok"),
    [
        ("20261126T020000Z-" + "a" * 6, True),
        ("20261126T020000Z-" + "a" * 64, True),
        ("20261126T020000Z-" + "a" * 65, False),
        ("20261126T020000Z-" + "a" * 5, False),
    ],
)
def test_version_suffixes_of_six_to_sixty_four_hex_digits(name: str, ok: bool) -> None:
    assert is_version(name) is ok
    if ok:
        assert check_version(name) == name
    else:
        with pytest.raises(InvalidVersion):
            check_version(name)


def test_an_invalid_version_is_quoted_whole_up_to_eighty_characters() -> None:
    eighty = "v" * 78  # repr adds the two quotes
    with pytest.raises(InvalidVersion) as refused:
        check_version(eighty, "pointer names")
    assert str(refused.value) == (
        f"pointer names '{eighty}' is not a version name (like 20261126T020000Z-1a2b3c)"
    )
    with pytest.raises(InvalidVersion) as refused:
        check_version("v" * 79)
    assert str(refused.value) == (
        f"version '{'v' * 76}... is not a version name (like 20261126T020000Z-1a2b3c)"
    )
    assert issubclass(InvalidVersion, ContractError)
    assert issubclass(ContractError, ValueError)


def test_manifest_fields_a_version_did_not_write_take_their_defaults() -> None:
    typed = Manifest.from_json(
        {"version": VERSION, "files": {"predictor.joblib": {"sha256": "ab" * 32}}}
    )
    assert typed.files["predictor.joblib"].size == 0  # "bytes" absent
    assert (typed.source, typed.libraries, typed.metrics, typed.countries) == ("", {}, {}, ())
    assert (typed.feature_set, typed.feature_columns, typed.created) == ("spec", (), "")
    assert typed.labelled is None
    assert typed.holdout("model_accuracy") is None


@pytest.mark.parametrize(
    ("holdout", "expected"),
    [({"model_accuracy": 1}, 1.0), ({"model_accuracy": True}, None), ([0.5], None)],
)
def test_holdout_metrics_are_numbers_or_unknown(holdout: object, expected: float | None) -> None:
    typed = Manifest.from_json({"version": VERSION, "metrics": {"holdout": holdout}})
    value = typed.holdout("model_accuracy")
    assert value == expected
    assert value is None or isinstance(value, float)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ([VERSION], "^manifest is not a JSON object$"),
        ({"version": "v1"}, "^manifest names 'v1' is not a version name"),
        ({"version": VERSION, "libraries": {"numpy": 2}}, "^manifest libraries must map names"),
        ({"version": VERSION, "files": {"a": {"sha256": "x", "bytes": -1}}}, r"files\['a'\]"),
        ({"version": VERSION, "files": {"a": {"sha256": "x", "bytes": True}}}, r"files\['a'\]"),
        ({"version": VERSION, "files": {"a": ["x", 1]}}, r"^manifest files\['a'\] must be"),
        ({"version": VERSION, "rows": {1: 2}}, "^manifest rows must map names"),
        ({"version": VERSION, "countries": [1]}, "^manifest countries must be a list of strings$"),
        ({"version": VERSION, "source": 1}, "^manifest source is int, expected str$"),
    ],
)
def test_a_malformed_manifest_raises_manifest_error(value: object, reason: str) -> None:
    with pytest.raises(ManifestError, match=reason):
        Manifest.from_json(value)


def test_pointer_fields_a_writer_left_out_are_unknown() -> None:
    bare = Pointer.from_json({"version": VERSION})
    assert (bare.manifest_key, bare.promoted_at) == ("", "")
    both = Pointer.from_json({"version": VERSION, "manifest_key": "new", "manifest": "old"})
    assert both.manifest_key == "new"
    with pytest.raises(ContractError, match=r"^s3://b/latest.json is not a JSON object$"):
        Pointer.from_json("x", "s3://b/latest.json")
    with pytest.raises(InvalidVersion, match=r"^latest.json names None is not a version name"):
        Pointer.from_json({})


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        (None, None),
        ("", None),
        ("  \t\n ", None),
        ("\x00", None),
        (" USA ", "USA"),
        ("U\x00S\x1fA\x7f", "USA"),
        ("Côte d\u2019Ivoire", "Côte d\u2019Ivoire"),
        ("New\u00a0Zealand", "New\u00a0Zealand"),  # a no-break space is not a control character
    ],
)
def test_clean_name_drops_control_characters_and_blank_is_none(
    raw: str | None, clean: str | None
) -> None:
    assert clean_name(raw) == clean


def test_packed_arrays_unpack_to_the_same_values_shapes_and_types() -> None:
    arrays = {"a": np.arange(6, dtype=np.int32).reshape(2, 3), "b": np.array([0.5, -1.0])}
    back = unpack_arrays(pack_arrays(arrays))
    assert set(back) == {"a", "b"}
    for name, array in arrays.items():
        assert back[name].dtype == array.dtype
        assert back[name].shape == array.shape
        assert np.array_equal(back[name], array)


def test_country_codes_start_after_the_unknown_bucket() -> None:
    assert contract.country_codes(["Brazil"]) == {"Brazil": 1}
    assert contract.country_code({"Brazil": 1}, "Brazil") == 1


@pytest.mark.parametrize("name", ["classes", "feature_columns", "countries"])
def test_a_predictor_list_that_is_not_strings_is_a_predictor_error(name: str) -> None:
    for bad in (None, "Jazz", [1], {"Jazz": 1}):
        with pytest.raises(PredictorError, match=rf"^{name} must be a list of strings$"):
            validate_forest({**forest_payload(), name: bad})


@pytest.mark.parametrize("name", ["feature_columns", "countries"])
def test_a_snapshot_list_that_is_not_strings_is_a_snapshot_error(name: str) -> None:
    for bad in (None, "USA", [None]):
        with pytest.raises(SnapshotError, match=rf"^{name} must be a list of strings$"):
            validate_snapshot({**snapshot([1], [ROW], ["USA"]), name: bad}, SPEC)


def test_snapshot_rows_that_do_not_line_up_are_refused_by_name() -> None:
    reason = r"^snapshot ids, feature rows and countries do not line up$"
    for ids, rows, countries in (
        ([1, 2], [ROW], ["USA", "USA"]),  # a row short
        ([1], [ROW], ["USA", "Brazil"]),  # a country too many
        ([1], [ROW[:2]], ["USA"]),  # a column short
    ):
        with pytest.raises(SnapshotError, match=reason):
            validate_snapshot(snapshot(ids, rows, countries), SPEC)


def test_a_request_without_a_country_is_the_unknown_bucket_even_if_a_forest_lists_a_blank() -> None:
    """A hostile or broken predictor may list "" among its countries (distinct strings pass):
    a request with no country still gets code 0, never that entry's code."""
    codes = contract.country_codes(["", "Brazil"])
    assert contract.country_code(codes, None) == 0
    assert contract.country_code(codes, "") == 0
    assert contract.country_code(codes, "Brazil") == 2
    assert contract.country_code(codes, "Peru") == 0


def test_consecutive_customer_ids_are_increasing_and_a_repeat_or_a_step_back_is_not() -> None:
    assert validate_snapshot(snapshot([1, 2, 3], [ROW] * 3, ["USA"] * 3), SPEC).ids.tolist() == [
        1,
        2,
        3,
    ]
    for ids in ([1, 2, 2], [2, 1], [1, 3, 2]):
        with pytest.raises(
            SnapshotError, match=r"^snapshot customer ids must be strictly increasing$"
        ):
            validate_snapshot(snapshot(ids, [ROW] * len(ids), ["USA"] * len(ids)), SPEC)


def without(key: str) -> dict:
    return {k: v for k, v in forest_payload().items() if k != key}


@pytest.mark.parametrize(
    ("payload", "said"),
    [
        (["format", FORMAT], "predictor payload is not a dict"),
        (
            {**forest_payload(), "format": "genre-model-forest/2"},
            "unsupported predictor format 'genre-model-forest/2'",
        ),
        (without("format"), "unsupported predictor format None"),
        (without("arrays"), "payload has no arrays"),
        (forest_payload(roots=np.zeros(0, dtype=I64)), "the forest has no tree (no roots)"),
        (
            forest_payload(right=np.array([2, 2, 2, 3], dtype=I64)),
            "a node loops on one side only (a leaf must loop on both)",
        ),
        (forest_payload(threshold=np.array([np.inf, 0, 0, 0])), "thresholds must be finite"),
        (
            forest_payload(value=np.array([[0.5, 0.5], [1.0, 0.0], [np.nan, 1.0], [0.5, 0.5]])),
            "leaf probabilities must be finite and non-negative",
        ),
        (
            forest_payload(value=np.array([[0.5, 0.5], [1.0, 0.0], [0.5, 0.4], [0.5, 0.5]])),
            "leaf probabilities must sum to 1",
        ),
        ({**forest_payload(), "classes": []}, "classes must be distinct and at least one"),
        (
            {**forest_payload(), "classes": ["Rock", "Rock"]},
            "classes must be distinct and at least one",
        ),
        (
            {**forest_payload(), "countries": ["Peru", "Peru"]},
            "countries must be distinct (each is one code)",
        ),
    ],
)
def test_a_refused_predictor_says_which_rule_it_broke(payload: object, said: str) -> None:
    """The words an operator reads when a version is refused: each names the rule, and the
    value where there is one."""
    with pytest.raises(PredictorError) as refused:
        validate_forest(payload)  # type: ignore[arg-type]
    assert str(refused.value) == said
