"""The versions under one prefix and the pointer naming the promoted one: publish, promotion
rules, compare-and-swap promotion and rollback."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from genre_model.contract import (
    CUSTOMERS_FILE,
    MANIFEST,
    POINTER,
    PREDICTOR_FILE,
    REPORT_FILE,
    REPORT_PICTURE,
    ContractError,
    FileEntry,
    Manifest,
    Pointer,
    check_version,
    is_version,
)
from genre_model.store.protocol import (
    ArtifactError,
    IntegrityError,
    PointerConflict,
    PromotionRefused,
    Store,
    json_object,
    read_json,
    sha256,
    to_json,
    verified,
)


def new_version(now: datetime | None = None) -> str:
    """A version name that sorts by creation time; the suffix keeps simultaneous runs apart."""
    now = now or datetime.now(UTC)
    return f"{now:%Y%m%dT%H%M%S}Z-{secrets.token_hex(3)}"


# The promotion rules, each a ``PromotionRefused.code``: the ``Reason`` dimension of the train
# function's ``ModelRefused`` metric (a few fixed words, never the message with its figures).
TOO_FEW_CUSTOMERS = "TooFewCustomers"
TOO_FEW_GENRES = "TooFewGenres"
CUSTOMERS_SHRANK = "CustomersShrank"
REFUSAL_CODES = (TOO_FEW_CUSTOMERS, TOO_FEW_GENRES, CUSTOMERS_SHRANK)

# (store, key of each file name, manifest) -> anything; raises when the version is unservable
VersionCheck = Callable[[Store, dict[str, str], Manifest], object]


@dataclass(frozen=True)
class VersionInfo:
    """One row of ``versions``: the manifest's headline figures (hold-out accuracy and macro-F1,
    cross-validated accuracy, each beside the majority baseline) and whether it has a report."""

    version: str
    created: str
    accuracy: float | None
    baseline_accuracy: float | None
    labelled: int | None
    latest: bool
    macro_f1: float | None = None
    baseline_macro_f1: float | None = None
    cv_accuracy: float | None = None
    cv_baseline_accuracy: float | None = None
    reported: bool = False  # report.json and report.png listed in the manifest


class Registry:
    """The versions under one prefix of a store, and the pointer naming the promoted one."""

    MAX_PROMOTION_ATTEMPTS = 5

    def __init__(self, store: Store, prefix: str) -> None:
        self.store = store
        self.prefix = prefix
        # version -> (min_customers, pointer tag) of its last passed promotion check
        self._checked: dict[str, tuple[int, str | None]] = {}

    def key(self, *parts: str) -> str:
        return self.prefix + "/".join(parts)

    def pointer(self) -> Pointer | None:
        """The pointer, read as promotion reads it (a local symlink there is refused)."""
        return self._pointer(self.store.get_tagged(self.key(POINTER))[0])

    def _pointer(self, data: bytes | None) -> Pointer | None:
        where = self.store.url(self.key(POINTER))
        return None if data is None else Pointer.from_json(json_object(data, where), where)

    def manifest(self, version: str) -> Manifest:
        """The version's manifest; ``version`` must be a version name (never a path)."""
        raw = read_json(self.store, self.key(check_version(version), MANIFEST))
        if raw.get("version") != version:
            raise IntegrityError(f"manifest under {version} names version {raw.get('version')}")
        try:
            return Manifest.from_json(raw)
        except ContractError as exc:  # refused like a hash mismatch (rollback, promotion)
            raise IntegrityError(f"{MANIFEST} of {version} unusable: {exc}") from None

    def latest_manifest(self) -> Manifest | None:
        pointer = self.pointer()
        return None if pointer is None else self.manifest(pointer.version)

    def versions(self, last: int | None = None) -> list[VersionInfo]:
        """Every version, oldest first (only the ``last`` newest when given: training's report
        history reads no more manifests than it draws)."""
        try:
            pointer = self.pointer()
        except (ContractError, IntegrityError):  # not JSON, or names no version: the listing
            # still shows every version, none of them latest
            pointer = None
        latest = pointer.version if pointer else None
        found = sorted(
            {
                k[len(self.prefix) :].split("/")[0]
                for k in self.store.list_keys(self.prefix)
                if k.endswith("/" + MANIFEST)
                and is_version(k[len(self.prefix) :][: -len(MANIFEST) - 1])
            }
        )
        infos = []
        if last is not None:
            found = found[max(len(found) - last, 0) :]
        for version in found:
            try:
                manifest = self.manifest(version)
            except IntegrityError:  # listed, so it can be looked at; predict would refuse it
                infos.append(VersionInfo(version, "(damaged manifest)", None, None, None, False))
                continue
            infos.append(
                VersionInfo(
                    version=version,
                    created=manifest.created,
                    accuracy=manifest.holdout("model_accuracy"),
                    baseline_accuracy=manifest.holdout("baseline_accuracy"),
                    labelled=manifest.labelled,
                    latest=latest == version,
                    macro_f1=manifest.holdout("model_macro_f1"),
                    baseline_macro_f1=manifest.holdout("baseline_macro_f1"),
                    cv_accuracy=manifest.estimate("cross_validation", "model_accuracy"),
                    cv_baseline_accuracy=manifest.estimate("cross_validation", "baseline_accuracy"),
                    reported={REPORT_FILE, REPORT_PICTURE} <= set(manifest.files),
                )
            )
        return infos

    def write_version(self, manifest: Manifest, files: Mapping[str, bytes]) -> Manifest:
        """Upload every file, then the manifest holding their hashes; the pointer is untouched.

        ``manifest`` describes the run; the files it lists are the ones written here.
        """
        version = check_version(manifest.version)
        hashes = {name: FileEntry(sha256(d), len(d)) for name, d in files.items()}
        manifest = replace(manifest, files=hashes)
        for name, data in files.items():
            self.store.put(self.key(version, name), data)
        self.store.put(self.key(version, MANIFEST), to_json(manifest.to_json()))
        return manifest

    def _pointer_tagged(self) -> tuple[Manifest | None, str | None]:
        """The manifest the pointer names (None when absent or broken) and the pointer's tag."""
        data, tag = self.store.get_tagged(self.key(POINTER))
        try:
            pointer = self._pointer(data)
            return (None if pointer is None else self.manifest(pointer.version)), tag
        except (ContractError, ArtifactError):
            return None, tag  # a broken pointer must not block a good model from replacing it

    def check_promotion(self, manifest: Manifest, min_customers: int) -> None:
        """Raise ``PromotionRefused`` unless the new version may replace the current one.

        The pointer's tag seen here is remembered: ``promote`` replaces the pointer only if it
        is unchanged, and re-checks against the new current version when it is not.
        """
        current, tag = self._pointer_tagged()
        self._check(manifest, min_customers, current)
        self._checked[manifest.version] = (min_customers, tag)

    def _check(self, manifest: Manifest, min_customers: int, current: Manifest | None) -> None:
        version = manifest.version
        labelled = manifest.labelled or 0
        if labelled < min_customers:
            raise PromotionRefused(
                version,
                f"{labelled} labelled customers, fewer than MIN_CUSTOMERS={min_customers}",
                TOO_FEW_CUSTOMERS,
            )
        if len(manifest.classes) < 2:
            raise PromotionRefused(version, "fewer than 2 genres to predict", TOO_FEW_GENRES)
        if current is not None and current.version != version:
            before = current.labelled or 0
            if labelled * 2 < before:
                raise PromotionRefused(
                    version,
                    f"labelled customers shrank from {before} to {labelled} (more than half): "
                    "is the database truncated or half-loaded?",
                    CUSTOMERS_SHRANK,
                )

    def promote(self, version: str, validate: VersionCheck | None = None) -> Pointer:
        """Point latest.json at ``version`` after checking it is complete and intact.

        ``validate`` (the serve side's ``model_cache.load_version``, passed in by training and
        rollback) loads the version exactly as predict will: a version it refuses never
        becomes latest and the pointer keeps its bytes.
        Compare-and-swap: the pointer is replaced only if it is still the one the promotion
        check saw (or, for a rollback, the one read just before). When another run moved it
        meanwhile, the check is run again against that run's version before retrying.
        """
        manifest = self.manifest(version)
        for name in manifest.files:
            verified(self.store, self.key(version, name), manifest, name)
        if validate is not None:
            names = (MANIFEST, PREDICTOR_FILE, CUSTOMERS_FILE, REPORT_FILE)
            validate(self.store, {n: self.key(version, n) for n in names}, manifest)
        checked = self._checked.pop(version, None)
        if checked is None:  # a rollback: no rule to re-check, only the pointer read now
            checked_min, tag = None, self.store.get_tagged(self.key(POINTER))[1]
        else:
            checked_min, tag = checked
        for _attempt in range(self.MAX_PROMOTION_ATTEMPTS):
            pointer = Pointer(
                version,
                self.key(version, MANIFEST),
                datetime.now(UTC).isoformat(timespec="seconds"),
            )
            try:
                self.store.put_if(self.key(POINTER), to_json(pointer.to_json()), tag)
            except PointerConflict:
                current, tag = self._pointer_tagged()
                if checked_min is not None:
                    self._check(manifest, checked_min, current)
                continue
            return pointer
        raise PointerConflict(
            f"{self.store.url(self.key(POINTER))} kept changing: {version} not promoted"
        )
