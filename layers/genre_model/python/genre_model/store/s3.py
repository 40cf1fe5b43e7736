"""Artifacts in S3: boto3 for writes and listings, the signed GET (``s3_get``) for reads in Lambda.

On the predict path: boto3 is imported on first use only; with ``S3Limits.signed_get`` set
(``config`` sets it inside Lambda) never, as predict only reads.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from genre_model.config import ConfigError, S3Limits
from genre_model.store.protocol import (
    ArtifactNotFound,
    PointerConflict,
    Store,
    StoreUnavailable,
)

if TYPE_CHECKING:
    from genre_model.store.s3_get import S3Getter


class S3Store:
    """Artifacts in S3; every upload carries a SHA-256 checksum that S3 verifies.

    With ``limits`` (the predict function) every GET has connect/read timeouts, standard-mode
    retries, and stops at ``deadline`` (a ``time.monotonic`` value the loader sets) if one is set;
    with ``limits.signed_get`` too (inside Lambda), GETs go through ``s3_get`` without boto3.
    """

    def __init__(
        self, bucket: str, client: Any | None = None, limits: S3Limits | None = None
    ) -> None:
        self.bucket = bucket
        self._client = client
        self._limits = limits  # None: botocore's defaults (training, the CLI)
        self._getter: S3Getter | None = None
        self.deadline: float | None = None
        if client is None and limits is not None and limits.signed_get is not None:
            from genre_model.store.s3_get import S3Getter

            self._getter = S3Getter(bucket, limits.signed_get, limits)

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
            from genre_model.store.s3_get import S3GetError

            try:
                status, body, new_etag = self._getter.get(key, etag, self.deadline)
            except S3GetError as exc:
                if exc.code in {"NoSuchKey", "404", "NotFound"}:
                    raise ArtifactNotFound(f"not found: {self.url(key)}") from None
                raise StoreUnavailable(f"{self.url(key)}: {exc}", exc.code) from None
            return (None, etag) if status == 304 else (body, new_etag)
        if self._limits is None:
            return self._boto_get(key, etag)
        from genre_model.store.s3_get import S3GetError, retrying

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
        if self.deadline is None or raw is None or not hasattr(raw, "read1"):
            data: bytes = body.read()  # botocore's StreamingBody (untyped)
            return data
        from urllib3.exceptions import HTTPError

        from genre_model.store.s3_get import read_body

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


def store_for(
    bucket: str | None, path: str | None, limits: S3Limits | None = None
) -> tuple[Store, str] | None:
    """Decode where the model lives from ``MODEL_BUCKET`` or an ``s3://`` model path.

    A path segment ``.``, ``..`` or empty is refused: keys are names, never relative paths.
    """
    if path and path.startswith("s3://"):
        bucket_name, _, prefix = path[5:].partition("/")
        prefix = prefix.strip("/")
        if not bucket_name or (prefix and {"", ".", ".."} & set(prefix.split("/"))):
            raise ConfigError(
                f"MODELO_GENERO_ENTRENADO {path!r} must be s3://bucket/prefix/[version/] "
                "without empty, '.' or '..' segments"
            )
        return S3Store(bucket_name, limits=limits), f"{prefix}/" if prefix else ""
    if bucket:
        return S3Store(bucket, limits=limits), ""
    return None
