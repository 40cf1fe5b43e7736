"""Artifact registry on a local directory: manifest hashes, promotion rules, integrity checks."""

from __future__ import annotations

import hashlib
import json
import os
import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from genre_model.contract import Manifest
from genre_model.store import registry as registry_module
from genre_model.store.local import DirStore, LocalModelPath
from genre_model.store.protocol import (
    ArtifactError,
    ArtifactNotFound,
    IntegrityError,
    PromotionRefused,
    StoreUnavailable,
)
from genre_model.store.registry import Registry, new_version
from genre_model.store.s3 import S3Store, store_for

FILES = {"model.joblib": b"model-bytes", "predictor.joblib": b"predictor", "metrics.json": b"{}"}


def manifest_fields(
    version: str, labelled: int, classes: tuple[str, ...] = ("Jazz", "Rock")
) -> Manifest:
    return Manifest(version, created="now", classes=classes, rows={"labelled": labelled})


def test_version_names_sort_by_time() -> None:
    from datetime import UTC, datetime

    early = new_version(datetime(2026, 1, 1, 2, 0, 0, tzinfo=UTC))
    late = new_version(datetime(2026, 1, 1, 2, 0, 1, tzinfo=UTC))
    assert early.startswith("20260101T020000Z-")
    assert early < late
    assert new_version() != new_version()


def test_write_version_hashes_and_pointer_rules(tmp_path: Path) -> None:
    registry = Registry(DirStore(tmp_path), "models/genre/")
    manifest = registry.write_version(manifest_fields("20260101T000001Z-000001", 100), FILES)
    for name, data in FILES.items():
        assert manifest.files[name].sha256 == hashlib.sha256(data).hexdigest()
        assert (tmp_path / "models/genre/20260101T000001Z-000001" / name).read_bytes() == data
    stored = json.loads(
        (tmp_path / "models/genre/20260101T000001Z-000001/manifest.json").read_text()
    )
    assert stored == manifest.to_json()
    assert registry.pointer() is None  # writing a version never moves the pointer

    registry.check_promotion(manifest, min_customers=10)
    registry.promote("20260101T000001Z-000001")
    assert registry.pointer().version == "20260101T000001Z-000001"

    with pytest.raises(PromotionRefused, match="MIN_CUSTOMERS=10") as low:
        registry.check_promotion(
            registry.write_version(manifest_fields("20260101T000002Z-000002", 9), FILES), 10
        )
    assert low.value.version == "20260101T000002Z-000002"
    assert low.value.code == registry_module.TOO_FEW_CUSTOMERS  # the ModelRefused Reason
    with pytest.raises(PromotionRefused, match="shrank from 100 to 49") as shrank:
        registry.check_promotion(
            registry.write_version(manifest_fields("20260101T000003Z-000003", 49), FILES), 10
        )
    assert shrank.value.code == registry_module.CUSTOMERS_SHRANK
    registry.check_promotion(
        registry.write_version(manifest_fields("20260101T000004Z-000004", 50), FILES), 10
    )
    with pytest.raises(PromotionRefused, match="2 genres") as genres:
        registry.check_promotion(
            registry.write_version(manifest_fields("20260101T000005Z-000005", 99, ("R",)), FILES),
            1,
        )
    assert genres.value.code == registry_module.TOO_FEW_GENRES
    assert [v.version for v in registry.versions()] == [
        "20260101T000001Z-000001",
        "20260101T000002Z-000002",
        "20260101T000003Z-000003",
        "20260101T000004Z-000004",
        "20260101T000005Z-000005",
    ]
    assert [v.latest for v in registry.versions()] == [True, False, False, False, False]


def test_tampered_or_missing_file_blocks_promotion(tmp_path: Path) -> None:
    registry = Registry(DirStore(tmp_path), "")
    registry.write_version(manifest_fields("20260101T000001Z-000001", 10), FILES)
    registry.promote("20260101T000001Z-000001")
    registry.write_version(manifest_fields("20260101T000002Z-000002", 10), FILES)
    pointer = (tmp_path / "latest.json").read_bytes()
    (tmp_path / "20260101T000002Z-000002/model.joblib").write_bytes(b"model-bytez")
    with pytest.raises(ArtifactError, match="SHA-256 mismatch"):
        registry.promote("20260101T000002Z-000002")
    (tmp_path / "20260101T000002Z-000002/model.joblib").unlink()
    with pytest.raises(ArtifactNotFound):
        registry.promote("20260101T000002Z-000002")
    assert (tmp_path / "latest.json").read_bytes() == pointer


def test_manifest_must_name_its_own_version(tmp_path: Path) -> None:
    registry = Registry(DirStore(tmp_path), "")
    registry.write_version(manifest_fields("20260101T000001Z-000001", 10), FILES)
    (tmp_path / "20260101T000002Z-000002").mkdir()
    (tmp_path / "20260101T000002Z-000002/manifest.json").write_bytes(
        (tmp_path / "20260101T000001Z-000001/manifest.json").read_bytes()
    )
    with pytest.raises(ArtifactError, match="names version 20260101T000001Z-000001"):
        registry.promote("20260101T000002Z-000002")


def test_broken_pointer_does_not_block_a_good_model(tmp_path: Path) -> None:
    registry = Registry(DirStore(tmp_path), "")
    (tmp_path / "latest.json").write_text("not json")
    manifest = registry.write_version(manifest_fields("20260101T000001Z-000001", 10), FILES)
    registry.check_promotion(manifest, 1)
    registry.promote("20260101T000001Z-000001")
    assert registry.pointer().version == "20260101T000001Z-000001"


def test_local_model_path_companions(tmp_path: Path) -> None:
    local = LocalModelPath(tmp_path / "modelo.pkl")
    assert local.companion("model.joblib") == tmp_path / "modelo.pkl"
    assert local.companion("predictor.joblib") == tmp_path / "modelo.predictor.joblib"
    local.registry.write_version(manifest_fields("20260101T000001Z-000001", 10), FILES)
    local.registry.promote("20260101T000001Z-000001")  # switches the reader paths, in the lock
    assert (tmp_path / "modelo.pkl").read_bytes() == FILES["model.joblib"]
    assert (tmp_path / "modelo.metrics.json").read_bytes() == FILES["metrics.json"]
    assert (
        json.loads((tmp_path / "modelo.manifest.json").read_text())["version"]
        == "20260101T000001Z-000001"
    )
    assert (tmp_path / "modelo.versions/20260101T000001Z-000001/manifest.json").is_file()
    mode = stat.S_IMODE((tmp_path / "modelo.pkl").stat().st_mode)
    assert mode & 0o044 == 0o044  # readable by other users (containers)
    assert not list(tmp_path.glob(".modelo*"))  # no temporary files left behind


def test_store_for() -> None:
    assert store_for(None, None) is None
    assert store_for(None, "/tmp/modelo.pkl") is None
    store, prefix = store_for(None, "s3://bucket-a/some/prefix/")
    assert isinstance(store, S3Store)
    assert (store.bucket, prefix) == ("bucket-a", "some/prefix/")
    store, prefix = store_for("bucket-b", None)
    assert (store.bucket, prefix) == ("bucket-b", "")
    store, prefix = store_for("bucket-b", "s3://bucket-c")
    assert (store.bucket, prefix) == ("bucket-c", "")


def _pointer_kinds(path: Path, other: Path) -> dict[str, Callable[[], None]]:
    return {
        "symlink to another store's pointer": lambda: path.symlink_to(other),
        "dangling symlink": lambda: path.symlink_to(path.with_name("gone.json")),
        "FIFO": lambda: os.mkfifo(path),
        "directory": lambda: path.mkdir(),
    }


@pytest.mark.parametrize(
    "kind", ["symlink to another store's pointer", "dangling symlink", "FIFO", "directory"]
)
def test_local_pointer_that_is_not_a_regular_file_is_refused_untouched(
    tmp_path: Path, kind: str
) -> None:
    other = LocalModelPath(tmp_path / "other" / "modelo.pkl")
    other.registry.write_version(manifest_fields("20260101T000001Z-000001", 10), FILES)
    other.registry.promote("20260101T000001Z-000001")
    theirs = other.versions / "latest.json"
    their_bytes = theirs.read_bytes()
    local = LocalModelPath(tmp_path / "mine" / "modelo.pkl")
    local.versions.mkdir(parents=True)
    pointer = local.versions / "latest.json"
    _pointer_kinds(pointer, theirs)[kind]()
    manifest = local.registry.write_version(manifest_fields("20260101T000002Z-000002", 9), FILES)
    before = pointer.lstat()
    with pytest.raises(ArtifactError, match=r"latest\.json"):
        local.registry.check_promotion(manifest, 1)  # the pointer is never judged through a link
    with pytest.raises(ArtifactError, match=r"latest\.json"):
        local.registry.promote("20260101T000002Z-000002")  # nor replaced (a rollback's path)
    after = pointer.lstat()
    assert (after.st_ino, after.st_mode) == (before.st_ino, before.st_mode)
    assert theirs.read_bytes() == their_bytes
    assert not local.current.exists()  # no reader path was switched


def test_symlinked_pointer_lock_is_refused(tmp_path: Path) -> None:
    registry = Registry(DirStore(tmp_path), "")
    victim = tmp_path / "victim"
    victim.write_bytes(b"keep")
    (tmp_path / ".latest.json.lock").symlink_to(victim)
    registry.write_version(manifest_fields("20260101T000001Z-000001", 10), FILES)
    with pytest.raises(ArtifactError, match="cannot lock"):
        registry.promote("20260101T000001Z-000001")
    assert victim.read_bytes() == b"keep"
    assert not (tmp_path / "latest.json").exists()


def test_promotion_runs_the_version_check_before_the_pointer_moves(tmp_path: Path) -> None:
    registry = Registry(DirStore(tmp_path), "models/")
    registry.write_version(manifest_fields("20260101T000001Z-000001", 10), FILES)
    registry.promote("20260101T000001Z-000001")
    pointer = (tmp_path / "models/latest.json").read_bytes()
    registry.write_version(manifest_fields("20260101T000002Z-000002", 10), FILES)
    seen: list[dict[str, str]] = []

    def refuse(store: object, keys: dict[str, str], manifest: Manifest) -> None:
        seen.append(keys)
        raise IntegrityError(f"{manifest.version} is not servable")

    with pytest.raises(IntegrityError, match="20260101T000002Z-000002 is not servable"):
        registry.promote("20260101T000002Z-000002", validate=refuse)
    assert (tmp_path / "models/latest.json").read_bytes() == pointer
    v = "models/20260101T000002Z-000002/"
    names = ("manifest.json", "predictor.joblib", "customers.joblib", "report.json")
    assert seen == [{name: v + name for name in names}]  # the keys predict's loader reads
    registry.promote("20260101T000002Z-000002", validate=lambda *_: None)
    assert registry.pointer().version == "20260101T000002Z-000002"


def test_a_current_version_with_a_wrong_typed_manifest_neither_blocks_nor_breaks_listing(
    tmp_path: Path,
) -> None:
    registry = Registry(DirStore(tmp_path), "")
    old = "20260101T000001Z-000001"
    registry.write_version(manifest_fields(old, 10), FILES)
    registry.promote(old)
    path = tmp_path / old / "manifest.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), "rows": "x", "metrics": [1]}))
    new = registry.write_version(manifest_fields("20260101T000002Z-000002", 3), FILES)
    registry.check_promotion(new, 1)  # compared against nothing, never a crash on "x"
    listing = {v.version: v for v in registry.versions()}
    assert listing[old].created == "(damaged manifest)"
    assert listing[old].accuracy is None
    assert listing["20260101T000002Z-000002"].labelled == 3


@pytest.mark.parametrize("pointer", [b"not json", b"[1]", b'{"version": "../x"}'])
def test_the_listing_survives_a_broken_pointer_and_a_manifest_naming_another_version(
    tmp_path: Path, pointer: bytes
) -> None:
    """`versions` is what an operator runs when something is wrong: it lists what it can."""
    registry = Registry(DirStore(tmp_path), "")
    good, copy = "20260101T000001Z-000001", "20260101T000002Z-000002"
    registry.write_version(manifest_fields(good, 10), FILES)
    (tmp_path / copy).mkdir()
    manifest = (tmp_path / good / "manifest.json").read_bytes()
    (tmp_path / copy / "manifest.json").write_bytes(manifest)
    (tmp_path / "latest.json").write_bytes(pointer)
    listing = {v.version: v for v in registry.versions()}
    assert listing[good].labelled == 10
    assert listing[copy].created == "(damaged manifest)"
    assert not any(v.latest for v in listing.values())


def test_a_dir_store_polls_by_hash_and_honours_the_load_deadline(tmp_path: Path) -> None:
    store = DirStore(tmp_path)
    store.put("latest.json", b"one")
    body, tag = store.get_if_changed("latest.json", None)
    assert (body, tag) == (b"one", hashlib.sha256(b"one").hexdigest())
    assert store.get_if_changed("latest.json", tag) == (None, tag)  # unchanged: no body
    store.put("latest.json", b"two")
    assert store.get_if_changed("latest.json", tag)[0] == b"two"
    store.deadline = 0.0  # long past on the monotonic clock
    with pytest.raises(StoreUnavailable, match="deadline"):
        store.get("latest.json")
