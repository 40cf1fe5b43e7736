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
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from genre_model.contract import (
    CUSTOMERS_FILE,
    MANIFEST,
    METRICS_FILE,
    MODEL_FILE,
    POINTER,
    PREDICTOR_FILE,
    ContractError,
    Manifest,
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
            from botocore.config import Config

            config = S3_CLIENT_CONFIG  # training and the CLI: botocore's standard retries
            if self._limits is not None:  # predict: our retries (s3_get.retrying) know the deadline
                config = {
                    "connect_timeout": self._limits.connect_timeout,
                    "read_timeout": self._limits.read_timeout,
                    "retries": {"mode": "standard", "total_max_attempts": 1},
                }
            with _s3_errors(f"s3://{self.bucket}", "connect to"):
                self._client = boto3.client("s3", config=Config(**config))
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

    def _read(self, body: Any) -> bytes:
        """The body, stopping at ``deadline``: botocore's read timeout restarts on every byte,
        so a trickling server would hold ``read()`` for ever. Each ``read1`` is one receive
        (at most one read timeout); on abort the connection is closed, not reused."""
        raw = getattr(body, "_raw_stream", None)  # urllib3's response: one receive per read1
        if self.deadline is None or not hasattr(raw, "read1"):
            return body.read()
        from urllib3.exceptions import HTTPError

        from genre_model.config import S3Limits
        from genre_model.s3_get import read_body

        sock = getattr(getattr(raw, "_connection", None), "sock", None)
        try:
            timeout = (self._limits or S3Limits).read_timeout
            return read_body(raw.read1, sock, timeout, self.deadline)
        except HTTPError as exc:  # urllib3's own timeouts and truncations
            body.close()
            name = type(exc).__name__
            raise StoreUnavailable(f"{name}: {exc}", name, transient=True) from None
        except BaseException:
            body.close()
            raise

    def _boto_get(self, key: str, etag: str | None) -> tuple[bytes | None, str | None]:
        """One GetObject; errors become ``ArtifactNotFound`` or ``StoreUnavailable``."""
        from botocore.exceptions import BotoCoreError, ClientError

        kwargs = {"Bucket": self.bucket, "Key": key}
        if etag:
            kwargs["IfNoneMatch"] = etag
        try:
            response = self.client.get_object(**kwargs)
            return self._read(response["Body"]), response.get("ETag")
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
        except (BotoCoreError, OSError, ValueError) as exc:  # timeouts, refused, bad names
            name = type(exc).__name__
            raise StoreUnavailable(
                f"{self.url(key)}: {name}: {exc}", name, transient=True
            ) from None

    def put(self, key: str, data: bytes, **condition: str) -> None:
        content_type = "application/json" if key.endswith(".json") else "application/octet-stream"
        with _s3_errors(self.url(key), "write"):
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
        condition = {"IfNoneMatch": "*"} if expected is None else {"IfMatch": expected}
        try:
            self.put(key, data, **condition)
        except StoreUnavailable as exc:
            conflicts = {"PreconditionFailed", "412", "ConditionalRequestConflict", "409"}
            missing = expected is not None and exc.code in {"NoSuchKey", "404", "NotFound"}
            if exc.code in conflicts or missing:
                raise PointerConflict(f"{self.url(key)} changed while promoting") from None
            raise

    def list_keys(self, prefix: str) -> list[str]:
        paginator = self.client.get_paginator("list_objects_v2")
        with _s3_errors(self.url(prefix), "list"):
            return [
                obj["Key"]
                for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix)
                for obj in page.get("Contents", [])
            ]

    def url(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"


# Publishing and listing outside Lambda: a dead endpoint fails in seconds, not minutes, and
# 500/503 (SlowDown) are retried with backoff as botocore's standard mode does.
S3_CLIENT_CONFIG: dict[str, Any] = {
    "connect_timeout": 5,
    "read_timeout": 60,
    "retries": {"mode": "standard", "max_attempts": 3},
}


def s3_failure(exc: Exception, action: str, url: str) -> StoreUnavailable:
    """One line for a failed S3 call: the error code when S3 answered, else botocore's reason."""
    error = getattr(exc, "response", {}).get("Error", {})
    code = str(error.get("Code", ""))
    reason = f"{code}: {error.get('Message', '')}".rstrip(": ") if error else str(exc)
    reason = " ".join((reason or type(exc).__name__).split())
    return StoreUnavailable(f"cannot {action} {url}: {reason}", code)


@contextmanager
def _s3_errors(url: str, action: str) -> Iterator[None]:
    """botocore's exceptions (no credentials, no bucket, bad name, dead endpoint) as one
    ``ArtifactError``; this module's own errors pass through unchanged."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        yield
    except (BotoCoreError, ClientError, ValueError) as exc:
        raise s3_failure(exc, action, url) from None


class DirStore:
    """Artifacts in a local directory; each file is written to a temporary name then renamed."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def get(self, key: str, *, follow: bool = True) -> bytes:
        """The file's bytes; a directory, FIFO or unreadable file at the path is an error, and
        so is a symlink unless ``follow``."""
        path = self.root / key
        opener = _regular_file_opener if follow else _regular_file_nofollow_opener
        try:
            with open(path, "rb", opener=opener) as fh:
                return fh.read()
        except FileNotFoundError:
            raise ArtifactNotFound(f"not found: {self.url(key)}") from None
        except OSError as exc:
            if exc.errno == errno.ELOOP:  # O_NOFOLLOW met a symlink
                raise ArtifactError(f"{self.url(key)} is a symlink: refusing to use it") from None
            raise ArtifactError(f"cannot read {self.url(key)}: {exc.strerror or exc}") from None

    def put(self, key: str, data: bytes) -> None:
        try:
            atomic_write(self.root / key, data)
        except OSError as exc:  # full disk, a file where a folder must be, no permission
            raise ArtifactError(f"cannot write {self.url(key)}: {exc.strerror or exc}") from None

    def get_tagged(self, key: str) -> tuple[bytes | None, str | None]:
        """``(body, sha256)``, or ``(None, None)`` when the file does not exist.

        This is the pointer's read (promotion checks, compare-and-swap): a symlink there, even
        to a regular file such as another store's pointer, is refused and left untouched.
        """
        try:
            data = self.get(key, follow=False)
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
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            lock_path = path.with_name(f".{path.name}.lock")
            lock = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
        except OSError as exc:
            raise ArtifactError(f"cannot lock {self.url(key)}: {exc.strerror or exc}") from None
        try:
            fcntl.flock(lock, fcntl.LOCK_EX)
            current = self.get_tagged(key)[1]
            if current != expected:
                raise PointerConflict(f"{self.url(key)} changed while promoting")
            self._replace_locked(key, data)
        finally:
            os.close(lock)  # releases the flock

    def _replace_locked(self, key: str, data: bytes) -> None:
        """The write ``put_if`` makes once the compare passed, still holding the lock."""
        self.put(key, data)

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


def _regular_file_nofollow_opener(path: str, flags: int) -> int:
    """``_regular_file_opener`` that also refuses a symlink (``ELOOP``) instead of following it."""
    return _regular_file_opener(path, flags | os.O_NOFOLLOW)


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
    return json_object(store.get(key), store.url(key))


def json_object(data: bytes, where: str) -> dict:
    try:
        value = json.loads(data, parse_constant=_no_constant)
    except (ValueError, RecursionError):
        raise IntegrityError(f"not valid JSON: {where}") from None
    if not isinstance(value, dict):
        raise IntegrityError(f"not a JSON object: {where}")
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


# (store, key of each file name, manifest) -> anything; raises when the version is unservable
VersionCheck = Callable[[Store, dict[str, str], dict], object]


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
        """The pointer's JSON, read as promotion reads it (a local symlink there is refused)."""
        data = self.store.get_tagged(self.key(POINTER))[0]
        return None if data is None else json_object(data, self.store.url(self.key(POINTER)))

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
            try:
                manifest = Manifest.from_json(self.manifest(version))
            except ContractError:  # listed, so it can be looked at; predict would refuse it
                infos.append(VersionInfo(version, "(damaged manifest)", None, None, None, False))
                continue
            holdout = manifest.metrics.get("holdout")
            holdout = holdout if isinstance(holdout, dict) else {}
            infos.append(
                VersionInfo(
                    version=version,
                    created=manifest.created,
                    accuracy=_number(holdout.get("model_accuracy")),
                    baseline_accuracy=_number(holdout.get("baseline_accuracy")),
                    labelled=manifest.rows.get("labelled"),
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
            manifest = self.manifest(str(json.loads(data)["version"]))
            Manifest.from_json(manifest)  # its rows are compared: of the documented types
            return manifest, tag
        except (ValueError, TypeError, KeyError, ArtifactError):  # ContractError: a ValueError
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

    def promote(self, version: str, validate: VersionCheck | None = None) -> dict:
        """Point latest.json at ``version`` after checking it is complete and intact.

        ``validate`` (the serve side's ``model_cache.load_version``, passed in by training and
        rollback) loads the version exactly as predict will: a version it refuses never
        becomes latest and the pointer keeps its bytes.
        Compare-and-swap: the pointer is replaced only if it is still the one the promotion
        check saw (or, for a rollback, the one read just before). When another run moved it
        meanwhile, the check is run again against that run's version before retrying.
        """
        manifest = self.manifest(version)
        files = manifest.get("files")
        for name in files if isinstance(files, dict) else ():
            verified(self.store, self.key(version, name), manifest, name)
        if validate is not None:
            names = (MANIFEST, PREDICTOR_FILE, CUSTOMERS_FILE)
            validate(self.store, {n: self.key(version, n) for n in names}, manifest)
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


READER_FILES = (MANIFEST, PREDICTOR_FILE, CUSTOMERS_FILE, MODEL_FILE)
# Each gets a fixed link at the model path; the manifest comes last when links are first made.
LINKED_FILES = (MODEL_FILE, PREDICTOR_FILE, CUSTOMERS_FILE, METRICS_FILE, MANIFEST)
_FILE_KINDS = {
    stat.S_IFREG: "a regular file",
    stat.S_IFDIR: "a directory",
    stat.S_IFIFO: "a FIFO",
    stat.S_IFSOCK: "a socket",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
}


class LocalModelPath:
    """The spec's ``MODELO_GENERO_ENTRENADO`` file and its companions ``<stem>.<name>`` beside it.

    Versions are written under ``<stem>.versions/<version>/``. Readers use symlinks that never
    change: the pickle at exactly the configured path and each companion point into
    ``<stem>.current/``, itself a symlink to the promoted version's folder. Promoting swaps
    ``<stem>.current`` with ONE ``os.replace``, under the pointer's lock and after the files were
    verified: every reader path changes at once, and a failure leaves them as they were. Anything
    else at a reader path (a FIFO, a device, a directory, a foreign symlink) is refused untouched.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.current = self.path.with_name(f"{self.path.stem}.current")
        self.registry = Registry(_ModelPathStore(self), "")

    @property
    def versions(self) -> Path:
        return self.path.with_name(f"{self.path.stem}.versions")

    def companion(self, name: str) -> Path:
        if name == MODEL_FILE:
            return self.path
        return self.path.with_name(f"{self.path.stem}.{name}")

    def _link_target(self, name: str) -> str:
        return f"{self.current.name}/{name}"

    def check(self) -> None:
        """Raise ``ArtifactError`` unless publishing here can succeed without touching anything
        that is not ours (run before training, and again under the lock before the swap)."""
        for parent in self.path.parents:
            try:
                mode = parent.lstat().st_mode
            except (FileNotFoundError, NotADirectoryError):  # look further up
                continue
            except OSError as exc:
                raise ArtifactError(f"model path {self.path}: {parent}: {exc.strerror}") from None
            if not stat.S_ISDIR(mode) and not (
                stat.S_ISLNK(mode) and parent.is_dir()
            ):  # a folder or a symlink to one
                raise ArtifactError(f"model path {self.path}: {parent} is not a directory")
            break
        self._check_entry(self.versions, directory=True)
        self._check_entry(self.current, link_target=None)
        for name in LINKED_FILES:
            self._check_entry(self.companion(name), link_target=self._link_target(name))

    def _check_entry(
        self, path: Path, *, link_target: str | None = None, directory: bool = False
    ) -> None:
        try:
            mode = path.lstat().st_mode
        except FileNotFoundError:
            return
        except OSError as exc:
            raise ArtifactError(f"cannot inspect {path}: {exc.strerror}") from None
        kind = stat.S_IFMT(mode)
        if directory:
            if kind != stat.S_IFDIR:
                raise ArtifactError(f"{path} must be a directory: refusing to publish there")
            return
        if kind == stat.S_IFLNK:
            target = os.readlink(path)
            if path == self.current and target.startswith(f"{self.versions.name}/"):
                return
            if target == link_target:
                return
            raise ArtifactError(f"{path} is a symlink to {target}: refusing to replace it")
        if kind != stat.S_IFREG or path == self.current:
            what = _FILE_KINDS.get(kind, "not a regular file or symlink")
            raise ArtifactError(f"{path} is {what}: refusing to replace it")

    def switch_to(self, version: str, previous: str | None) -> Callable[[], None]:
        """Make every reader path show ``version``; returns the undo (caller holds the lock).

        ``previous``: the version served now. When ``<stem>.current`` does not exist yet (a model
        path from before this layout, regular files copied from ``previous``) it is first made to
        point at ``previous``, so replacing those files by links changes no byte a reader sees.
        """
        self.check()
        if not _plain_name(version) or not (self.versions / version).is_dir():
            raise ArtifactError(f"version folder {self.versions / version} is missing")
        before = os.readlink(self.current) if self.current.is_symlink() else None
        if before is None and _plain_name(previous) and (self.versions / str(previous)).is_dir():
            before = f"{self.versions.name}/{previous}"
            _swap_symlink(self.current, before)
        for name in LINKED_FILES:
            link = self.companion(name)
            if not link.is_symlink():
                _swap_symlink(link, self._link_target(name))
        _swap_symlink(self.current, f"{self.versions.name}/{version}")

        def undo() -> None:
            if before is None:
                self.current.unlink(missing_ok=True)
            else:
                _swap_symlink(self.current, before)

        return undo

    def store(self) -> tuple[Store, Callable[[], dict[str, str]]]:
        """A store over the model path's folder and, per load, the key of each file name.

        ``<stem>.current`` is resolved ONCE per call, so the files of one load all come from the
        same version even when a publish swaps it meanwhile. Without it (companions copied by
        hand) the companions themselves are read.
        """

        def keys() -> dict[str, str]:
            try:
                target = os.readlink(self.current)
            except OSError:
                return {name: self.companion(name).name for name in READER_FILES}
            return {name: f"{target}/{name}" for name in READER_FILES}

        return DirStore(self.path.parent), keys


class _ModelPathStore(DirStore):
    """The versions folder of a ``LocalModelPath``: moving its pointer also switches the files
    readers use, inside the same lock, and puts them back if the pointer cannot be written."""

    def __init__(self, local: LocalModelPath) -> None:
        super().__init__(local.versions)
        self.local = local

    def _replace_locked(self, key: str, data: bytes) -> None:
        if key != POINTER:
            super()._replace_locked(key, data)
            return
        previous = _pointer_version(self.get_tagged(POINTER)[0])
        try:
            undo = self.local.switch_to(json.loads(data)["version"], previous)
        except OSError as exc:
            raise ArtifactError(f"cannot publish to {self.local.path}: {exc.strerror}") from None
        try:
            super()._replace_locked(key, data)
        except BaseException:
            undo()
            raise


def _number(value: object) -> float | None:
    """A metric to print, when it is one (a damaged manifest may hold anything there)."""
    is_number = isinstance(value, int | float) and not isinstance(value, bool)
    return float(value) if is_number else None


def _plain_name(version: str | None) -> bool:
    """A version name that stays inside the versions folder (no separator, not hidden)."""
    return bool(version) and "/" not in str(version) and not str(version).startswith(".")


def _pointer_version(data: bytes | None) -> str | None:
    """The version a pointer's bytes name, or None when there is none or it is broken."""
    try:
        version = json.loads(data or b"")["version"]
    except (ValueError, KeyError, TypeError):
        return None
    return version if isinstance(version, str) else None


def _swap_symlink(link: Path, target: str) -> None:
    """Point ``link`` at ``target`` in one ``os.replace`` (a temporary link renamed over it)."""
    tmp = link.with_name(f".{link.name}.{secrets.token_hex(4)}")
    os.symlink(target, tmp)
    try:
        os.replace(tmp, link)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fd = os.open(link.parent, os.O_RDONLY)
    try:
        os.fsync(fd)  # the rename itself survives a crash
    finally:
        os.close(fd)
