"""The registry's promotion rules at their limits, each from both sides (exactly ``MIN_CUSTOMERS``
labelled customers and one fewer, two genres and one, exactly half the current model's customers
and one fewer), promotion racing another run, and ``versions`` on folders that are not versions.
The refusals are what an operator reads in the training log, so their words are asserted."""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from genre_model.contract import VERSION_EXAMPLE, InvalidVersion, Manifest
from genre_model.store.local import DirStore
from genre_model.store.protocol import IntegrityError, PointerConflict, PromotionRefused
from genre_model.store.registry import Registry, new_version

FILES = {"predictor.joblib": b"predictor", "customers.joblib": b"customers"}
V1, V2, V3 = "20260101T000001Z-000001", "20260101T000002Z-000002", "20260101T000003Z-000003"


def manifest(version: str, labelled: int | None, classes: tuple[str, ...] = ("Jazz", "Rock")):
    rows = {} if labelled is None else {"labelled": labelled}
    return Manifest(version, created="now", classes=classes, rows=rows)


def registry_with(tmp_path: Path, current_labelled: int | None = None) -> Registry:
    """A registry under ``models/``; with ``current_labelled``, V1 is promoted with that many."""
    registry = Registry(DirStore(tmp_path), "models/")
    if current_labelled is not None:
        registry.write_version(manifest(V1, current_labelled), FILES)
        registry.promote(V1)
    return registry


def refusal(registry: Registry, candidate: Manifest, min_customers: int) -> str | None:
    """The reason the promotion check refuses ``candidate``, or None when it passes."""
    try:
        registry.check_promotion(candidate, min_customers)
    except PromotionRefused as refused:
        said = (refused.version, str(refused), refused.reason)
    else:
        return None
    version, message, reason = said
    assert version == candidate.version
    assert message == f"version {candidate.version} not promoted: {reason}"
    return reason


def test_exactly_min_customers_labelled_is_promoted_and_one_fewer_is_refused(
    tmp_path: Path,
) -> None:
    registry = registry_with(tmp_path)
    assert refusal(registry, manifest(V2, 10), 10) is None
    assert refusal(registry, manifest(V2, 9), 10) == (
        "9 labelled customers, fewer than MIN_CUSTOMERS=10"
    )
    # a manifest without the count is a run with no labelled customer
    assert refusal(registry, manifest(V2, None), 1) == (
        "0 labelled customers, fewer than MIN_CUSTOMERS=1"
    )
    assert refusal(registry, manifest(V2, None), 0) is None


def test_two_genres_are_enough_and_one_is_refused(tmp_path: Path) -> None:
    registry = registry_with(tmp_path)
    assert refusal(registry, manifest(V2, 10, ("Jazz", "Rock")), 1) is None
    assert refusal(registry, manifest(V2, 10, ("Rock",)), 1) == "fewer than 2 genres to predict"


def test_exactly_half_the_current_customers_is_promoted_and_fewer_is_refused(
    tmp_path: Path,
) -> None:
    registry = registry_with(tmp_path, current_labelled=20)
    assert refusal(registry, manifest(V2, 10), 1) is None
    assert refusal(registry, manifest(V2, 9), 1) == (
        "labelled customers shrank from 20 to 9 (more than half): "
        "is the database truncated or half-loaded?"
    )
    # the current version itself is not compared with itself (a re-promotion, a rollback check)
    assert refusal(registry, manifest(V1, 9), 1) is None


def test_a_current_manifest_without_a_count_compares_as_zero(tmp_path: Path) -> None:
    registry = registry_with(tmp_path)
    registry.write_version(manifest(V1, None), FILES)
    registry.promote(V1)
    assert refusal(registry, manifest(V2, 0), 0) is None  # 0 is not fewer than half of 0


def test_the_pointer_names_the_manifest_and_when_it_was_promoted(tmp_path: Path) -> None:
    registry = registry_with(tmp_path, current_labelled=10)
    before = datetime.now(UTC).replace(microsecond=0)
    pointer = registry.pointer()
    assert pointer is not None
    assert pointer.version == V1
    assert pointer.manifest_key == f"models/{V1}/manifest.json"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00", pointer.promoted_at)
    assert abs((datetime.fromisoformat(pointer.promoted_at) - before).total_seconds()) < 3600
    stored = json.loads((tmp_path / "models/latest.json").read_text())
    assert stored == pointer.to_json()
    latest = registry.latest_manifest()
    assert latest is not None
    assert latest.version == V1
    assert registry_with(tmp_path / "empty").latest_manifest() is None


class RacingStore(DirStore):
    """A store where another run promotes ``rival`` just before each of the first ``races``
    compare-and-swaps of the pointer: the swap then finds the pointer changed."""

    def __init__(self, root: Path, rival: bytes, races: int) -> None:
        super().__init__(root)
        self.rival, self.races, self.swaps = rival, races, 0

    def put_if(self, key: str, data: bytes, expected: str | None) -> None:
        self.swaps += 1
        if self.races:
            self.races -= 1
            # the rival's pointer again, one more key each race: new bytes, a new tag
            super().put(key, self.rival.replace(b"}", f', "n": {self.races}}}'.encode()))
        super().put_if(key, data, expected)


def racing(tmp_path: Path, rival_labelled: int, races: int) -> tuple[Registry, RacingStore]:
    """V1 current (10 customers); the rival run's V3 is written, with ``rival_labelled``."""
    registry = registry_with(tmp_path, current_labelled=10)
    registry.write_version(manifest(V3, rival_labelled), FILES)
    rival = (tmp_path / "models/latest.json").read_bytes().replace(V1.encode(), V3.encode())
    store = RacingStore(tmp_path, rival, races)
    return Registry(store, "models/"), store


def test_a_promotion_racing_another_run_rechecks_against_the_winner(tmp_path: Path) -> None:
    registry, store = racing(tmp_path, rival_labelled=10, races=1)
    candidate = registry.write_version(manifest(V2, 10), FILES)
    registry.check_promotion(candidate, 1)
    assert registry.promote(V2).version == V2
    assert store.swaps == 2
    assert registry.pointer().version == V2


def test_a_promotion_the_winner_makes_fail_the_rules_is_refused(tmp_path: Path) -> None:
    registry, _store = racing(tmp_path, rival_labelled=100, races=1)
    candidate = registry.write_version(manifest(V2, 10), FILES)
    registry.check_promotion(candidate, 1)  # against V1 (10): fine
    with pytest.raises(PromotionRefused, match="shrank from 100 to 10"):
        registry.promote(V2)
    assert registry.pointer().version == V3  # the winner stays


def test_a_pointer_that_keeps_changing_gives_up_after_five_attempts(tmp_path: Path) -> None:
    registry, store = racing(tmp_path, rival_labelled=10, races=5)
    candidate = registry.write_version(manifest(V2, 10), FILES)
    registry.check_promotion(candidate, 1)
    with pytest.raises(PointerConflict, match=f"latest.json kept changing: {V2} not promoted"):
        registry.promote(V2)
    assert store.swaps == 5
    registry2, store2 = racing(tmp_path / "b", rival_labelled=10, races=4)
    candidate = registry2.write_version(manifest(V2, 10), FILES)
    registry2.check_promotion(candidate, 1)
    assert registry2.promote(V2).version == V2  # the fifth attempt is still made
    assert store2.swaps == 5


def test_a_rollback_swaps_against_the_pointer_read_just_before(tmp_path: Path) -> None:
    registry = registry_with(tmp_path, current_labelled=10)
    registry.write_version(manifest(V2, 1), FILES)  # would fail every rule: a rollback has none
    assert registry.promote(V2).version == V2
    assert registry.promote(V1).version == V1


def test_versions_lists_only_version_folders_under_the_prefix(tmp_path: Path) -> None:
    registry = registry_with(tmp_path, current_labelled=10)
    registry.write_version(
        Manifest(
            V2,
            created="2026-01-01T00:00:02+00:00",
            classes=("Jazz", "Rock"),
            rows={"labelled": 12},
            metrics={"holdout": {"model_accuracy": 0.5, "baseline_accuracy": 0.25}},
        ),
        FILES,
    )
    manifest_bytes = (tmp_path / f"models/{V2}/manifest.json").read_bytes()
    for foreign in ("models/tmp", f"models/{V3}/sub", "other/" + V3, f"models/x{V3}"):
        (tmp_path / foreign).mkdir(parents=True)
        (tmp_path / foreign / "manifest.json").write_bytes(manifest_bytes)
    (tmp_path / f"models/{V3}").mkdir(exist_ok=True)
    (tmp_path / f"models/{V3}/manifest.json.bak").write_bytes(manifest_bytes)
    (tmp_path / f"models/{V3}xmanifest.json").write_bytes(manifest_bytes)  # a file, no folder
    listing = registry.versions()
    assert [v.version for v in listing] == [V1, V2]
    first, second = listing
    assert (first.latest, second.latest) == (True, False)
    assert (second.created, second.labelled) == ("2026-01-01T00:00:02+00:00", 12)
    assert (second.accuracy, second.baseline_accuracy) == (0.5, 0.25)
    assert (first.accuracy, first.baseline_accuracy, first.labelled) == (None, None, 10)


def test_a_manifest_is_read_only_by_version_name_and_must_name_itself(tmp_path: Path) -> None:
    registry = registry_with(tmp_path, current_labelled=10)
    with pytest.raises(InvalidVersion, match="not a version name"):
        registry.manifest("../" + V1)
    path = tmp_path / f"models/{V1}/manifest.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), "version": V2}))
    with pytest.raises(IntegrityError, match=f"^manifest under {V1} names version {V2}$"):
        registry.manifest(V1)
    path.write_text(json.dumps({**json.loads(path.read_text()), "version": V1, "rows": "x"}))
    with pytest.raises(IntegrityError, match=f"^manifest.json of {V1} unusable: manifest rows is"):
        registry.manifest(V1)


def test_writing_a_version_refuses_a_name_that_is_not_a_version(tmp_path: Path) -> None:
    registry = registry_with(tmp_path)
    with pytest.raises(InvalidVersion):
        registry.write_version(manifest("../evil", 10), FILES)
    assert not (tmp_path / "evil").exists()
    written = registry.write_version(manifest(V2, 10), FILES)
    assert {n: f.size for n, f in written.files.items()} == {n: len(d) for n, d in FILES.items()}


def test_versions_last_reads_only_the_newest_ones(tmp_path: Path) -> None:
    """Training's report history asks for the last N versions: N of three, all of them at N = 3
    and beyond, none at 0 (it draws only what it asks for)."""
    registry = registry_with(tmp_path, current_labelled=10)
    registry.write_version(manifest(V2, 10), FILES)
    registry.write_version(manifest(V3, 10), FILES)
    for last, shown in ((0, []), (1, [V3]), (2, [V2, V3]), (3, [V1, V2, V3]), (4, [V1, V2, V3])):
        assert [v.version for v in registry.versions(last=last)] == shown, last
    assert [v.version for v in registry.versions()] == [V1, V2, V3]
    assert [v.latest for v in registry.versions(last=2)] == [False, False]


def test_versions_show_every_headline_figure_and_whether_the_report_is_there(
    tmp_path: Path,
) -> None:
    registry = registry_with(tmp_path, current_labelled=10)
    figures = {"model_accuracy": 0.5, "baseline_accuracy": 0.25}
    metrics = {
        "holdout": {**figures, "model_macro_f1": 0.4, "baseline_macro_f1": 0.1},
        "cross_validation": {"model_accuracy": 0.45, "baseline_accuracy": 0.2},
    }
    reported = {**FILES, "report.json": b"{}", "report.png": b"png"}
    registry.write_version(Manifest(V2, rows={"labelled": 12}, metrics=metrics), reported)
    half = {**FILES, "report.json": b"{}"}  # the picture missing: not a report to show
    registry.write_version(Manifest(V3, metrics=metrics), half)
    first, second, third = registry.versions()
    assert (second.accuracy, second.baseline_accuracy) == (0.5, 0.25)
    assert (second.macro_f1, second.baseline_macro_f1) == (0.4, 0.1)
    assert (second.cv_accuracy, second.cv_baseline_accuracy) == (0.45, 0.2)
    assert (first.reported, second.reported, third.reported) == (False, True, False)
    # the two report files and nothing else (a run whose model files were cleaned away)
    only = {"report.json": b"{}", "report.png": b"png"}
    registry.write_version(Manifest("20260101T000004Z-000004"), only)
    assert registry.versions()[-1].reported is True
    assert (first.macro_f1, first.cv_accuracy, first.cv_baseline_accuracy) == (None, None, None)


def test_a_damaged_manifest_is_listed_with_nothing_but_its_name(tmp_path: Path) -> None:
    """Even the promoted version: predict refuses a damaged manifest, so it is not live."""
    registry = registry_with(tmp_path, current_labelled=10)
    (tmp_path / f"models/{V1}/manifest.json").write_text("{not json")
    (damaged,) = registry.versions()
    assert damaged.version == V1
    assert damaged.created == "(damaged manifest)"
    assert (damaged.accuracy, damaged.baseline_accuracy, damaged.labelled) == (None, None, None)
    assert (damaged.latest, damaged.reported) == (False, False)


def test_a_new_version_is_named_by_utc_time_whatever_the_machine_s_zone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Runs on machines in different zones must sort by when they ran: the name is UTC time and
    six hex digits, the form of the documented example (the form every release has written)."""
    monkeypatch.setenv("TZ", "KIT-14")  # POSIX for UTC+14: the local clock is 14 h ahead
    time.tzset()
    try:
        before = datetime.now(UTC).replace(microsecond=0)
        name = new_version()
        after = datetime.now(UTC)
    finally:
        monkeypatch.undo()  # the zone the process had, read again
        time.tzset()
    assert re.fullmatch(r"[0-9]{8}T[0-9]{6}Z-[0-9a-f]{6}", name), name
    assert len(name) == len(VERSION_EXAMPLE)
    named = datetime.strptime(name[:15], "%Y%m%dT%H%M%S").replace(tzinfo=UTC)
    assert before <= named <= after


@pytest.mark.parametrize(
    ("data", "said"),
    [
        (b"not json", "not valid JSON: {url}"),
        (b"[1]", "not a JSON object: {url}"),
        (b'{"version": "../x"}', "{url} names '../x' is not a version name"),
        (b"{}", "{url} names None is not a version name"),
    ],
)
def test_a_broken_pointer_is_refused_naming_where_it_lives(
    tmp_path: Path, data: bytes, said: str
) -> None:
    """What an operator reads from `rollback` or `promote` on a damaged store: which file."""
    registry = registry_with(tmp_path)
    (tmp_path / "models").mkdir()
    (tmp_path / "models/latest.json").write_bytes(data)
    with pytest.raises((IntegrityError, InvalidVersion)) as refused:
        registry.pointer()
    url = str(tmp_path / "models/latest.json")
    assert str(refused.value).startswith(said.format(url=url))


def test_the_version_check_reads_the_candidate_through_the_registry_s_store(
    tmp_path: Path,
) -> None:
    """The check predict's loader runs on the store it will load from: the bytes it reads by
    the keys it is given are the candidate's own."""
    registry = registry_with(tmp_path, current_labelled=10)
    registry.write_version(manifest(V2, 10), FILES)
    read: dict[str, bytes] = {}

    def load(store: DirStore, keys: dict[str, str], candidate: Manifest) -> None:
        read["predictor"] = store.get(keys["predictor.joblib"])
        read["manifest"] = store.get(keys["manifest.json"])
        assert candidate.version == V2

    registry.promote(V2, validate=load)
    assert read["predictor"] == FILES["predictor.joblib"]
    assert json.loads(read["manifest"])["version"] == V2
