"""The Store protocol every backend implements, the artifact errors, and hash-checked reads.

Versioned model artifacts: immutable version folders, a manifest of hashes, a small pointer.

Layout under a prefix (S3 ``s3://bucket/models/genre/`` or a local directory)::

    <version>/model.joblib       scikit-learn pickle dict (the original system's keys)
    <version>/predictor.joblib   numpy forest for the predict function
    <version>/customers.joblib   per-customer feature snapshot (predict by customer_id)
    <version>/metrics.json       the full training report
    <version>/manifest.json      version, SHA-256 of every file, libraries, rows, metrics summary
    latest.json                  pointer to the promoted version, written last

A version is written completely before the pointer moves, and the pointer only moves when the
promotion rules pass, so a failed or refused run never changes what predict serves.
The pointer is replaced with a compare-and-swap: S3 conditional writes (``IfMatch`` on the ETag
the promotion check read, ``IfNoneMatch="*"`` when there was none), a lock file around
read-compare-replace in a local directory. Two runs promoting at the same moment therefore
cannot lose each other's promotion check: the loser re-reads the pointer, re-checks, retries.
The store package is on the predict path: it imports nothing heavy at module level.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Protocol

from genre_model.contract import REPORT_FILE, ContractError, Headline, Manifest


class ArtifactError(RuntimeError):
    """An artifact is missing, unreadable or fails its integrity check."""


class ArtifactNotFound(ArtifactError):
    """The key does not exist in the store."""


class IntegrityError(ArtifactError):
    """A version's content is wrong (hash, listing, structure, name): refused and counted."""


class StoreUnavailable(ArtifactError):
    """The store could not be read (S3 error code, timeout, connection): ``code`` says which."""

    def __init__(self, message: str, code: str, *, transient: bool = False) -> None:
        super().__init__(message)
        self.code = code
        self.transient = transient  # worth another attempt (5xx, throttling, connection)


class PointerConflict(ArtifactError):
    """The pointer changed between reading and replacing it (another run promoted meanwhile)."""


class PromotionRefused(RuntimeError):
    """The new version was written but must not become latest; the message says why, ``code``
    which rule (``registry.REFUSAL_CODES``: the ``Reason`` of the ``ModelRefused`` metric)."""

    def __init__(self, version: str, reason: str, code: str) -> None:
        super().__init__(f"version {version} not promoted: {reason}")
        self.version = version
        self.reason = reason
        self.code = code


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class Store(Protocol):
    """Where artifacts live: an S3 bucket or a local directory.

    ``deadline``: a ``time.monotonic`` value past which no read starts (``StoreUnavailable``),
    set by the model loader around one load so all its reads and retries share it; None: none.
    """

    deadline: float | None

    def get(self, key: str) -> bytes: ...

    def get_if_changed(self, key: str, tag: str | None) -> tuple[bytes | None, str | None]:
        """``(body, tag)``, or ``(None, tag)`` when the object still has ``tag``: the pointer's
        poll, without a download when nothing was promoted. ``ArtifactNotFound`` if absent."""
        ...

    def put(self, key: str, data: bytes) -> None: ...

    def list_keys(self, prefix: str) -> list[str]: ...

    def url(self, key: str) -> str: ...

    def get_tagged(self, key: str) -> tuple[bytes | None, str | None]:
        """``(body, tag)``, the tag changing whenever the object does; (None, None) if absent."""
        ...

    def put_if(self, key: str, data: bytes, expected: str | None) -> None:
        """Write only if the object's tag is still ``expected`` (None: only if absent), else
        raise ``PointerConflict``."""
        ...


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def read_json(store: Store, key: str) -> dict[str, Any]:
    """A JSON object as RFC 8259 defines it (no NaN/Infinity: they would reach a response)."""
    return json_object(store.get(key), store.url(key))


def json_object(data: bytes, where: str) -> dict[str, Any]:
    try:
        value = json.loads(data, parse_constant=_no_constant)
    except (ValueError, RecursionError):
        raise IntegrityError(f"not valid JSON: {where}") from None
    if not isinstance(value, dict):
        raise IntegrityError(f"not a JSON object: {where}")
    return value


def to_json(value: Any) -> bytes:
    return json.dumps(value, indent=2, sort_keys=True, allow_nan=False).encode()


def verified(store: Store, key: str, manifest: Manifest, name: str) -> bytes:
    """The file's bytes, only if their SHA-256 equals the manifest's (checked before unpickling).

    Unlisted or unreadable (a directory, a FIFO) is an ``IntegrityError`` like a mismatch; a
    listed file that is gone raises ``ArtifactNotFound``, an unreachable store ``StoreUnavailable``.
    """
    entry = manifest.files.get(name)
    if entry is None or not entry.sha256:
        raise IntegrityError(f"manifest {manifest.version} lists no hash for {name}")
    try:
        data = store.get(key)
    except (StoreUnavailable, ArtifactNotFound):
        raise
    except ArtifactError as exc:
        raise IntegrityError(f"{name} of {manifest.version} unusable: {exc}") from None
    if sha256(data) != entry.sha256:
        raise IntegrityError(f"SHA-256 mismatch for {store.url(key)}: refusing to load it")
    return data


def read_headline(store: Store, key: str | None, manifest: Manifest) -> Headline | str:
    """The version's ``report.json`` headline, or the reason there is none. Never raises: a
    report is for people, so a missing, damaged or hash-correct nonsense one costs the figures
    only, never the version (predict and ``GET /api/model`` answer without them)."""
    if REPORT_FILE not in manifest.files:
        return f"version {manifest.version} was published without {REPORT_FILE}"
    if key is None:
        return f"{REPORT_FILE} of {manifest.version} is not located here"
    try:
        data = verified(store, key, manifest, REPORT_FILE)
        return Headline.from_report(json_object(data, store.url(key)), manifest.version)
    except StoreUnavailable as exc:
        return f"{REPORT_FILE} of {manifest.version} could not be read ({exc.code})"
    except (ArtifactError, ContractError) as exc:
        return f"{REPORT_FILE} of {manifest.version} unusable: {exc}"
