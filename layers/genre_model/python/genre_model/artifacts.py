"""Versioned model artifacts: immutable version folders, a manifest of hashes, a small pointer.

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
This module is on the predict path: it imports nothing heavy at module level.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import secrets
import stat
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from genre_model.contract import (  # noqa: F401 - the file names' historical import path
    CUSTOMERS_FILE,
    MANIFEST,
    METRICS_FILE,
    MODEL_FILE,
    POINTER,
    PREDICTOR_FILE,
    check_version,
    is_version,
)


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
    """The new version was written but must not become latest; the message says why."""

    def __init__(self, version: str, reason: str) -> None:
        super().__init__(f"version {version} not promoted: {reason}")
        self.version = version
        self.reason = reason


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def new_version(now: datetime | None = None) -> str:
    """A version name that sorts by creation time; the suffix keeps simultaneous runs apart."""
    now = now or datetime.now(UTC)
    return f"{now:%Y%m%dT%H%M%S}Z-{secrets.token_hex(3)}"


class Store(Protocol):
    """Where artifacts live: an S3 bucket or a local directory."""

    def get(self, key: str) -> bytes: ...

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


class S3Store:
    """Artifacts in S3; every upload carries a SHA-256 checksum that S3 verifies.

    With ``limits`` (the predict function) every GET has connect/read timeouts, standard-mode
    retries, and stops at ``deadline`` (a ``time.monotonic`` value the loader sets) if one is set.
    """

    def __init__(self, bucket: str, client: Any | None = None, limits: Any | None = None) -> None:
        self.bucket = bucket
        self._client = client
        self._limits = limits  # config.S3Limits or None (botocore's defaults)
        self._getter: Any = None
        self.deadline: float | None = None
        if client is None:
            from genre_model.s3_get import S3Getter, env_credentials

            credentials = env_credentials()
            if credentials is not None:  # inside Lambda: GETs without importing boto3
                self._getter = S3Getter(bucket, credentials, limits)

    @property
    def client(self) -> Any:
        """The boto3 client, created on first use (writes, listings, GETs outside Lambda)."""
        if self._client is None:
            import boto3  # imported on first use: it dominates cold-start import time

            config = None
            if self._limits is not None:
                from botocore.config import Config

                config = Config(  # retries are ours (s3_get.retrying): they know the deadline
                    connect_timeout=self._limits.connect_timeout,
                    read_timeout=self._limits.read_timeout,
                    retries={"mode": "standard", "total_max_attempts": 1},
                )
            self._client = boto3.client("s3", config=config)
        return self._client

    def _missing(self, exc: Exception) -> bool:
        code = getattr(exc, "response", {}).get("Error", {}).get("Code", "")
        return code in {"NoSuchKey", "404", "NotFound"}

    def get(self, key: str) -> bytes:
        return self.get_if_changed(key, None)[0] or b""

    def get_if_changed(self, key: str, etag: str | None) -> tuple[bytes | None, str | None]:
        """``(body, etag)``, or ``(None, etag)`` when the object still has ``etag`` (HTTP 304).

        Raises ``ArtifactNotFound`` for a missing key and ``StoreUnavailable`` (with the S3 error
        code, or the exception's name for timeouts and connection errors) for anything else.
        """
        if self.deadline is not None and time.monotonic() >= self.deadline:
            raise StoreUnavailable(f"{self.url(key)}: deadline passed before the GET", "Deadline")
        if self._getter is not None:
            from genre_model.s3_get import S3GetError

            try:
                status, body, new_etag = self._getter.get(key, etag, self.deadline)
            except S3GetError as exc:
                if exc.code in {"NoSuchKey", "404", "NotFound"}:
                    raise ArtifactNotFound(f"not found: {self.url(key)}") from None
                raise StoreUnavailable(f"{self.url(key)}: {exc}", exc.code) from None
            return (None, etag) if status == 304 else (body, new_etag)
        if self._limits is None:
            return self._boto_get(key, etag)
        from genre_model.s3_get import S3GetError, retrying

        def again(exc: Exception) -> bool:
            return isinstance(exc, StoreUnavailable) and exc.transient

        try:  # botocore's socket timeouts are per client: an attempt may end past the deadline
            return retrying(
                lambda _left: self._boto_get(key, etag), self._limits, self.deadline, again
            )
        except S3GetError as exc:  # the deadline passed between attempts
            raise StoreUnavailable(f"{self.url(key)}: {exc}", exc.code) from None

    def _boto_get(self, key: str, etag: str | None) -> tuple[bytes | None, str | None]:
        """One GetObject; errors become ``ArtifactNotFound`` or ``StoreUnavailable``."""
        from botocore.exceptions import BotoCoreError, ClientError

        kwargs = {"Bucket": self.bucket, "Key": key}
        if etag:
            kwargs["IfNoneMatch"] = etag
        try:
            response = self.client.get_object(**kwargs)
            return response["Body"].read(), response.get("ETag")
        except ClientError as exc:
            error = exc.response.get("Error", {})
            code = error.get("Code") or "Unknown"
            if code in {"304", "NotModified"}:
                return None, etag
            if self._missing(exc):
                raise ArtifactNotFound(f"not found: {self.url(key)}") from None
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
            raise StoreUnavailable(
                f"{self.url(key)}: {code}: {error.get('Message', '')}".rstrip(": "),
                code,
                transient=status >= 500 or code in {"SlowDown", "RequestTimeout", "Throttling"},
            ) from None
        except (BotoCoreError, OSError) as exc:  # timeouts, refused or reset connections
            name = type(exc).__name__
            raise StoreUnavailable(
                f"{self.url(key)}: {name}: {exc}", name, transient=True
            ) from None

    def put(self, key: str, data: bytes, **condition: str) -> None:
        content_type = "application/json" if key.endswith(".json") else "application/octet-stream"
        self.client.put_object(
            Bucket=self.bucket,
            Key=key,
            Body=data,
            ContentType=content_type,
            ChecksumAlgorithm="SHA256",
            **condition,
        )

    def get_tagged(self, key: str) -> tuple[bytes | None, str | None]:
        """``(body, etag)``, or ``(None, None)`` when the object does not exist."""
        try:
            return self.get_if_changed(key, None)
        except ArtifactNotFound:
            return None, None

    def put_if(self, key: str, data: bytes, expected: str | None) -> None:
        """Write only if the object still has ETag ``expected`` (``None``: only if absent).

        S3 conditional writes: ``IfMatch``/``IfNoneMatch="*"`` on PutObject. A 412 (or the 409
        S3 answers to a concurrent conditional write) raises ``PointerConflict``.
        """
        from botocore.exceptions import ClientError

        condition = {"IfNoneMatch": "*"} if expected is None else {"IfMatch": expected}
        try:
            self.put(key, data, **condition)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            conflicts = {"PreconditionFailed", "412", "ConditionalRequestConflict", "409"}
            if code in conflicts or (expected is not None and self._missing(exc)):
                raise PointerConflict(f"{self.url(key)} changed while promoting") from None
            raise

    def list_keys(self, prefix: str) -> list[str]:
        paginator = self.client.get_paginator("list_objects_v2")
        return [
            obj["Key"]
            for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix)
            for obj in page.get("Contents", [])
        ]

    def url(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"


class DirStore:
    """Artifacts in a local directory; each file is written to a temporary name then renamed."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def get(self, key: str) -> bytes:
        """The file's bytes; a directory, FIFO or unreadable file at the path is an error."""
        path = self.root / key
        try:
            with open(path, "rb", opener=_regular_file_opener) as fh:
                return fh.read()
        except FileNotFoundError:
            raise ArtifactNotFound(f"not found: {self.url(key)}") from None
        except OSError as exc:
            raise ArtifactError(f"cannot read {self.url(key)}: {exc.strerror or exc}") from None

    def put(self, key: str, data: bytes) -> None:
        atomic_write(self.root / key, data)

    def get_tagged(self, key: str) -> tuple[bytes | None, str | None]:
        """``(body, sha256)``, or ``(None, None)`` when the file does not exist."""
        try:
            data = self.get(key)
        except ArtifactNotFound:
            return None, None
        return data, sha256(data)

    def put_if(self, key: str, data: bytes, expected: str | None) -> None:
        """Replace the file only if its SHA-256 is still ``expected`` (``None``: only if absent).

        Read-compare-replace runs under an exclusive ``flock`` on ``.<name>.lock`` beside it, so
        concurrent writers (threads or processes) are serialised; the lock dies with its holder.
        """
        import fcntl

        path = self.root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        lock = os.open(path.with_name(f".{path.name}.lock"), os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX)
            current = self.get_tagged(key)[1]
            if current != expected:
                raise PointerConflict(f"{self.url(key)} changed while promoting")
            self.put(key, data)
        finally:
            os.close(lock)  # releases the flock

    def list_keys(self, prefix: str) -> list[str]:
        base = self.root / prefix
        if not base.exists():
            return []
        return sorted(
            str(p.relative_to(self.root)).replace(os.sep, "/")
            for p in base.rglob("*")
            if p.is_file()
        )

    def url(self, key: str) -> str:
        return str(self.root / key)


def _regular_file_opener(path: str, flags: int) -> int:
    """Open without blocking on a FIFO, then refuse anything that is not a regular file."""
    fd = os.open(path, flags | os.O_NONBLOCK)
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise OSError(errno.EINVAL, "not a regular file")
    return fd


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so a reader sees the old file or the new one, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; the model is read by other users (containers)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def read_json(store: Store, key: str) -> dict:
    """A JSON object as RFC 8259 defines it (no NaN/Infinity: they would reach a response)."""
    try:
        value = json.loads(store.get(key), parse_constant=_no_constant)
    except (ValueError, RecursionError):
        raise IntegrityError(f"not valid JSON: {store.url(key)}") from None
    if not isinstance(value, dict):
        raise IntegrityError(f"not a JSON object: {store.url(key)}")
    return value


def to_json(value: Any) -> bytes:
    return json.dumps(value, indent=2, sort_keys=True, allow_nan=False).encode()


def verified(store: Store, key: str, manifest: Mapping[str, Any], name: str) -> bytes:
    """The file's bytes, only if their SHA-256 equals the manifest's (checked before unpickling).

    Unlisted or unreadable (a directory, a FIFO) is an ``IntegrityError`` like a mismatch; a
    listed file that is gone raises ``ArtifactNotFound``, an unreachable store ``StoreUnavailable``.
    """
    files = manifest.get("files")
    entry = files.get(name) if isinstance(files, dict) else None
    expected = entry.get("sha256") if isinstance(entry, dict) else None
    if not isinstance(expected, str) or not expected:
        raise IntegrityError(f"manifest {manifest.get('version')} lists no hash for {name}")
    try:
        data = store.get(key)
    except (StoreUnavailable, ArtifactNotFound):
        raise
    except ArtifactError as exc:
        raise IntegrityError(f"{name} of {manifest.get('version')} unusable: {exc}") from None
    if sha256(data) != expected:
        raise IntegrityError(f"SHA-256 mismatch for {store.url(key)}: refusing to load it")
    return data


@dataclass(frozen=True)
class VersionInfo:
    version: str
    created: str
    accuracy: float | None
    baseline_accuracy: float | None
    labelled: int | None
    latest: bool


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

    def pointer(self) -> dict | None:
        try:
            return read_json(self.store, self.key(POINTER))
        except ArtifactNotFound:
            return None

    def manifest(self, version: str) -> dict:
        """The version's manifest; ``version`` must be a version name (never a path)."""
        manifest = read_json(self.store, self.key(check_version(version), MANIFEST))
        if manifest.get("version") != version:
            raise ArtifactError(f"manifest under {version} names version {manifest.get('version')}")
        return manifest

    def latest_manifest(self) -> dict | None:
        pointer = self.pointer()
        if pointer is None:
            return None
        version = check_version(pointer.get("version"), self.store.url(self.key(POINTER)))
        return self.manifest(version)

    def versions(self) -> list[VersionInfo]:
        pointer = self.pointer() or {}
        found = sorted(
            {
                k[len(self.prefix) :].split("/")[0]
                for k in self.store.list_keys(self.prefix)
                if k.endswith("/" + MANIFEST)
                and is_version(k[len(self.prefix) :][: -len(MANIFEST) - 1])
            }
        )
        infos = []
        for version in found:
            manifest = self.manifest(version)
            holdout = manifest.get("metrics", {}).get("holdout", {})
            infos.append(
                VersionInfo(
                    version=version,
                    created=manifest.get("created", ""),
                    accuracy=holdout.get("model_accuracy"),
                    baseline_accuracy=holdout.get("baseline_accuracy"),
                    labelled=manifest.get("rows", {}).get("labelled"),
                    latest=pointer.get("version") == version,
                )
            )
        return infos

    def write_version(self, version: str, files: Mapping[str, bytes], manifest: dict) -> dict:
        """Upload every file, then the manifest holding their hashes; the pointer is untouched."""
        check_version(version)
        manifest = {
            **manifest,
            "version": version,
            "files": {name: {"sha256": sha256(d), "bytes": len(d)} for name, d in files.items()},
        }
        for name, data in files.items():
            self.store.put(self.key(version, name), data)
        self.store.put(self.key(version, MANIFEST), to_json(manifest))
        return manifest

    def _pointer_tagged(self) -> tuple[dict | None, str | None]:
        """The manifest the pointer names (None when absent or broken) and the pointer's tag."""
        data, tag = self.store.get_tagged(self.key(POINTER))
        if data is None:
            return None, None
        try:
            version = json.loads(data)["version"]
            return self.manifest(str(version)), tag
        except (ValueError, TypeError, KeyError, ArtifactError):
            return None, tag  # a broken pointer must not block a good model from replacing it

    def check_promotion(self, manifest: Mapping[str, Any], min_customers: int) -> None:
        """Raise ``PromotionRefused`` unless the new version may replace the current one.

        The pointer's tag seen here is remembered: ``promote`` replaces the pointer only if it
        is unchanged, and re-checks against the new current version when it is not.
        """
        current, tag = self._pointer_tagged()
        self._check(manifest, min_customers, current)
        self._checked[str(manifest["version"])] = (min_customers, tag)

    def _check(
        self, manifest: Mapping[str, Any], min_customers: int, current: Mapping[str, Any] | None
    ) -> None:
        version = manifest["version"]
        labelled = int(manifest["rows"]["labelled"])
        if labelled < min_customers:
            raise PromotionRefused(
                version, f"{labelled} labelled customers, fewer than MIN_CUSTOMERS={min_customers}"
            )
        if len(manifest["classes"]) < 2:
            raise PromotionRefused(version, "fewer than 2 genres to predict")
        if current is not None and current.get("version") != version:
            before = int(current.get("rows", {}).get("labelled", 0))
            if labelled * 2 < before:
                raise PromotionRefused(
                    version,
                    f"labelled customers shrank from {before} to {labelled} (more than half): "
                    "is the database truncated or half-loaded?",
                )

    def promote(self, version: str) -> dict:
        """Point latest.json at ``version`` after checking it is complete and intact.

        Compare-and-swap: the pointer is replaced only if it is still the one the promotion
        check saw (or, for a rollback, the one read just before). When another run moved it
        meanwhile, the check is run again against that run's version before retrying.
        """
        manifest = self.manifest(version)
        for name in manifest.get("files", {}):
            verified(self.store, self.key(version, name), manifest, name)
        checked = self._checked.pop(version, None)
        if checked is None:  # a rollback: no rule to re-check, only the pointer read now
            checked_min, tag = None, self.store.get_tagged(self.key(POINTER))[1]
        else:
            checked_min, tag = checked
        for _attempt in range(self.MAX_PROMOTION_ATTEMPTS):
            pointer = {
                "version": version,
                "manifest_key": self.key(version, MANIFEST),
                "promoted_at": datetime.now(UTC).isoformat(timespec="seconds"),
            }
            try:
                self.store.put_if(self.key(POINTER), to_json(pointer), tag)
            except PointerConflict:
                current, tag = self._pointer_tagged()
                if checked_min is not None:
                    self._check(manifest, checked_min, current)
                continue
            return pointer
        raise PointerConflict(
            f"{self.store.url(self.key(POINTER))} kept changing: {version} not promoted"
        )


def store_for(
    bucket: str | None, path: str | None, limits: Any | None = None
) -> tuple[Store, str] | None:
    """Decode where the model lives from ``MODEL_BUCKET`` or an ``s3://`` model path.

    A path segment ``.``, ``..`` or empty is refused: keys are names, never relative paths.
    """
    if path and path.startswith("s3://"):
        bucket_name, _, prefix = path[5:].partition("/")
        prefix = prefix.strip("/")
        if not bucket_name or (prefix and {"", ".", ".."} & set(prefix.split("/"))):
            from genre_model.config import ConfigError

            raise ConfigError(
                f"MODELO_GENERO_ENTRENADO {path!r} must be s3://bucket/prefix/[version/] "
                "without empty, '.' or '..' segments"
            )
        return S3Store(bucket_name, limits=limits), f"{prefix}/" if prefix else ""
    if bucket:
        return S3Store(bucket, limits=limits), ""
    return None


class LocalModelPath:
    """The spec's ``MODELO_GENERO_ENTRENADO`` file and its companions ``<stem>.<name>`` beside it.

    Versions are kept under ``<stem>.versions/`` (a ``DirStore`` registry); promoting one copies
    its files to the companion names, the pickle at exactly the configured path, manifest last.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.registry = Registry(DirStore(self.path.with_name(f"{self.path.stem}.versions")), "")

    def companion(self, name: str) -> Path:
        if name == MODEL_FILE:
            return self.path
        return self.path.with_name(f"{self.path.stem}.{name}")

    def export(self, version: str) -> None:
        manifest = self.registry.manifest(version)
        for name in manifest["files"]:
            data = verified(self.registry.store, self.registry.key(version, name), manifest, name)
            atomic_write(self.companion(name), data)
        atomic_write(self.companion(MANIFEST), to_json(manifest))

    def store(self) -> tuple[Store, dict[str, str]]:
        """A store over the companions and the key of each file name (for the predict loader)."""
        return DirStore(self.path.parent), {
            name: self.companion(name).name
            for name in (MANIFEST, PREDICTOR_FILE, CUSTOMERS_FILE, MODEL_FILE)
        }
