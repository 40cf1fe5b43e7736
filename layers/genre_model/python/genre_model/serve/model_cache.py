"""The predict function's model: one version, loaded, verified and validated as ONE unit.

A version is its manifest, its predictor and its customer snapshot. All three are read,
checked against the manifest's SHA-256 BEFORE unpickling, validated against ``contract`` and
only then swapped in together; a version where any part fails is refused whole. Refusals of
content (hash mismatch, a listed file missing or unreadable, a payload breaking the contract, a
bad version name) log "Model integrity check failed" and count ``ModelIntegrityFailure``; a store
that cannot be reached logs its error code; neither ever raises out of a request.

Timing: every ``MODEL_REFRESH_SECONDS`` the pointer is checked (a conditional GET with its ETag
on S3). A load runs in a worker thread under one deadline for all its GETs and retries
(``MODEL_LOAD_DEADLINE_SECONDS``). A request holding a cached model waits for it at most
``MODEL_REFRESH_BUDGET_SECONDS`` and then answers with the cached model while the load finishes
or fails in the background; requests arriving meanwhile never wait. After a failure the cached
model keeps serving and the next attempt comes one refresh interval later, or, after repeated
failures, no sooner than an exponential backoff (1, 3, 7 ... 60 s). With no model yet, a
request waits up to the load deadline; a failure is ``ModelUnavailable`` (HTTP 503) and the next
request tries again. A load still running past its deadline (no GET can, but a hang elsewhere
might) is abandoned: the next request starts another, and the late result is dropped, never
swapped over a newer one. Inside Lambda a load still running when an invocation ends is frozen with
the container and carries on (or times out) during the next one.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from genre_model.config import ConfigError, Settings
from genre_model.contract import (
    CUSTOMERS_FILE,
    MANIFEST,
    POINTER,
    PREDICTOR_FILE,
    REPORT_FILE,
    ContractError,
    Headline,
    Manifest,
    Pointer,
    check_version,
    is_version,
    validate_snapshot,
)
from genre_model.serve.predictor import Predictor, load_payload
from genre_model.store.protocol import (
    ArtifactError,
    ArtifactNotFound,
    IntegrityError,
    Store,
    StoreUnavailable,
    json_object,
    read_headline,
    read_json,
    verified,
)

logger = logging.getLogger(__name__)
MAX_FAILURE_BACKOFF = 60.0


NO_LOCATION = "no model location: set MODEL_BUCKET or MODELO_GENERO_ENTRENADO"


class ModelUnavailable(RuntimeError):
    """No model is published, or none could be loaded and none is cached.

    ``reason`` says why in words fit for ``GET /api/health``: no bucket, path or key in it."""

    def __init__(self, detail: str, reason: str | None = None) -> None:
        super().__init__(detail)
        self.reason = reason or detail


@dataclass(frozen=True)
class CustomerSnapshot:
    ids: np.ndarray
    features: np.ndarray
    countries: tuple[str, ...]

    def lookup(self, customer_id: int) -> tuple[np.ndarray, str] | None:
        i = int(np.searchsorted(self.ids, customer_id))
        if i < len(self.ids) and self.ids[i] == customer_id:
            return self.features[i], self.countries[i]
        return None


@dataclass  # not frozen: benchmarks/warm.py swaps the predictor to compare implementations
class LoadedModel:
    predictor: Predictor
    customers: CustomerSnapshot
    manifest: Manifest
    headline: Headline | str = ""  # report.json's figures, or why there are none

    @property
    def version(self) -> str:
        return self.manifest.version


def _decode(name: str, version: str, build: Callable[[], Any]) -> Any:
    """``build()``, any failure of a hash-verified payload being an integrity failure."""
    try:
        return build()
    except Exception as exc:  # unpickling or validation: the version's content is wrong
        raise IntegrityError(f"{name} of {version} unusable: {exc}") from None


def _verified(store: Store, keys: dict[str, str], manifest: Manifest, name: str) -> bytes:
    try:
        return verified(store, keys[name], manifest, name)
    except ArtifactNotFound as exc:  # listed in the manifest, so the version is incomplete
        raise IntegrityError(f"{name} of {manifest.version} is missing: {exc}") from None


def load_version(store: Store, keys: dict[str, str], manifest: Manifest) -> LoadedModel:
    """Manifest, predictor and snapshot of one version, each verified, decoded and validated.

    This is THE check of a version: predict loads with it, and promotion and rollback run it
    before the pointer moves, so nothing predict would refuse is ever promoted.
    The snapshot is required: every version training ever wrote has one, so a version without
    it (unlisted or gone) is incomplete and refused rather than half-served.
    """
    version = manifest.version
    data = _verified(store, keys, manifest, PREDICTOR_FILE)
    predictor = _decode(PREDICTOR_FILE, version, lambda: Predictor.from_bytes(data))
    for name, listed, real in (
        ("classes", manifest.classes, predictor.classes),
        ("feature_columns", manifest.feature_columns, predictor.feature_columns),
    ):
        if listed and tuple(listed) != tuple(real):
            raise IntegrityError(f"{MANIFEST} of {version} lists {name} its predictor lacks")
    data = _verified(store, keys, manifest, CUSTOMERS_FILE)
    snapshot = _decode(
        CUSTOMERS_FILE,
        version,
        lambda: validate_snapshot(load_payload(data), predictor.feature_columns),
    )
    customers = CustomerSnapshot(snapshot.ids, snapshot.features, snapshot.countries)
    headline = read_headline(store, keys.get(REPORT_FILE), manifest)
    if isinstance(headline, str) and REPORT_FILE in manifest.files:
        logger.warning("Serving %s without its headline figures: %s", version, headline)
    return LoadedModel(predictor, customers, manifest, headline)


class Location:
    """Where the model is read from; ``load`` returns None when nothing changed since last time.

    ``version`` is set when the location names one version (no pointer to follow).
    """

    def __init__(
        self,
        store: Store,
        keys: Callable[[str], dict[str, str]],
        pointer: str | None,
        version: str | None = None,
    ):
        self.store = store
        self._keys = keys
        self.pointer_key = pointer
        self.version = version
        self._etag: str | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> Location:
        """An ``s3://`` path whose last segment is a version name is that version. Each store's
        code is imported here, for the one backend configured: a Lambda reading S3 never pays
        for the local store's (secrets, tempfile, shutil: ~10 % of a cold start)."""
        path = settings.model_path
        if path and not path.startswith("s3://"):
            from genre_model.store.local import LocalModelPath

            store, keys = LocalModelPath(path).store()
            return cls(store, lambda _v: keys(), pointer=None)
        from genre_model.store.s3 import store_for

        located = store_for(settings.model_bucket, path, settings.s3)
        if located is None:
            raise ModelUnavailable(NO_LOCATION)
        store, prefix = located
        if not path:
            prefix = settings.model_prefix
        last = prefix.rstrip("/").rpartition("/")[2]
        if path and is_version(last):
            return cls(store, lambda _v: _version_keys(prefix), pointer=None, version=last)
        return cls(store, lambda v: _version_keys(f"{prefix}{v}/"), pointer=f"{prefix}{POINTER}")

    def load(self, current: LoadedModel | None, deadline: float) -> LoadedModel | None:
        """The version to serve, None when unchanged; every read stops at ``deadline``."""
        self.store.deadline = deadline
        try:
            return self._load(current)
        finally:
            self.store.deadline = None

    def _load(self, current: LoadedModel | None) -> LoadedModel | None:
        etag: str | None = None
        version = self.version
        if self.pointer_key is not None:
            body, etag = self.store.get_if_changed(self.pointer_key, self._etag)
            if body is None and current is not None:
                return None
            version = self._pointed_version(body or b"")
        keys = self._keys(version or "")
        try:
            raw = read_json(self.store, keys[MANIFEST])
        except ArtifactNotFound:
            if version is None:
                raise  # a local model path with nothing published yet
            raise IntegrityError(f"version {version} has no {MANIFEST}") from None
        try:
            named = check_version(raw.get("version"), f"manifest {keys[MANIFEST]} names")
        except ContractError as exc:
            raise IntegrityError(str(exc)) from None
        if version is not None and named != version:
            raise IntegrityError(f"manifest for {version} names {named}")
        manifest = _decode(MANIFEST, named, lambda: Manifest.from_json(raw))
        if current is not None and current.manifest == manifest:
            self._etag = etag
            return None
        loaded = load_version(self.store, keys, manifest)
        self._etag = etag  # remembered only once its version loaded: a failed load is retried
        return loaded

    def _pointed_version(self, body: bytes) -> str:
        where = self.store.url(self.pointer_key or POINTER)
        try:
            return Pointer.from_json(json_object(body, where), where).version
        except ContractError as exc:
            raise IntegrityError(str(exc)) from None


def _version_keys(prefix: str) -> dict[str, str]:
    return {name: prefix + name for name in (MANIFEST, PREDICTOR_FILE, CUSTOMERS_FILE, REPORT_FILE)}


@dataclass
class _Load:
    """One load in flight: requests wait on ``done`` (each within its own budget).

    ``expires``: past it the load has outlived its deadline and is abandoned (a new one may
    start; this one's late result is dropped)."""

    expires: float
    done: threading.Event = field(default_factory=threading.Event)
    error: str | None = None
    reason: str | None = None  # ``error`` in words a client may read (``_reason``)


class ModelCache:
    """Holds at most one loaded model and decides when to look for a newer one."""

    def __init__(
        self,
        settings: Settings,
        clock: Callable[[], float] = time.monotonic,
        on_integrity_failure: Callable[[str], None] | None = None,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.on_integrity_failure = on_integrity_failure
        self._location: Location | None = None
        self._model: LoadedModel | None = None
        self._next_check = float("-inf")
        self._load: _Load | None = None
        self._failures = 0  # consecutive failed refreshes
        self._lock = threading.Lock()

    @property
    def model(self) -> LoadedModel | None:
        return self._model

    def forget_store(self) -> None:
        """Drop the store with its clients and connections (after a SnapStart restore they are
        the snapshot's, shared by every clone); the model stays and the next refresh reconnects."""
        self._location = None

    def get(self) -> LoadedModel:
        """The model to answer with; starts a refresh when the interval has passed."""
        model = self._model
        if model is not None and self.clock() < self._next_check:
            return model
        with self._lock:
            load, started = self._load, False
            if load is not None and self.clock() >= load.expires:
                logger.warning("Model load outlived its deadline; abandoned, starting another")
                self._location = None  # its store and connection stay with the stuck thread
                load = None
            if load is None:
                model = self._model
                if model is not None and self.clock() < self._next_check:
                    return model  # another request's refresh has just finished
                load = self._load = _Load(self.clock() + self.settings.model_load_deadline)
                threading.Thread(target=self._run, args=(load,), daemon=True).start()
                started = True
        if model is not None and not started:
            return model  # another request's refresh is in flight: never wait for it
        wait = self.settings.model_load_deadline
        if model is not None:
            wait = self.settings.model_refresh_budget
        if not load.done.wait(wait) and model is not None:
            logger.warning(
                "Model refresh still running after %.3g s; serving cached version %s",
                wait,
                model.version,
            )
        current = self._model
        if current is None:
            late = f"no model loaded within {wait:g} s"
            raise ModelUnavailable(load.error or late, load.reason or late)
        return current

    def _run(self, load: _Load) -> None:
        """The worker thread: one load under the deadline, then the swap (or the report)."""
        current, loaded, failed = self._model, None, False
        try:
            location = self._location
            if location is None:
                location = self._location = Location.from_settings(self.settings)
            loaded = location.load(current, time.monotonic() + self.settings.model_load_deadline)
        except Exception as exc:  # S3, network, integrity: never fatal, never out of a request
            load.error, load.reason, failed = str(exc), _reason(exc), True
            self._report(exc, current)
        with self._lock:
            if self._load is not load:  # abandoned: a newer load owns the cache now
                logger.warning("Dropping the result of an abandoned model load")
                load.done.set()
                return
            if loaded is not None:
                logger.info("Loaded model version %s", loaded.version)
                self._model = loaded
            self._failures = self._failures + 1 if failed else 0
            self._next_check = self.clock() + self._pause() if self._model else float("-inf")
            self._load = None
        load.done.set()

    def _pause(self) -> float:
        """Seconds to the next refresh: the interval, and after repeated failures at least
        1, 3, 7 ... 60 s, so an outage costs a budget-long wait rarely even at interval 0."""
        backoff = min(MAX_FAILURE_BACKOFF, 2.0 ** max(self._failures - 1, 0) - 1)
        return max(self.settings.model_refresh_seconds, backoff)

    def _report(self, exc: Exception, current: LoadedModel | None) -> None:
        """One log line per failed load, saying which kind of failure and its code."""
        if isinstance(exc, IntegrityError):
            logger.error("Model integrity check failed: %s", exc)
            if self.on_integrity_failure:
                self.on_integrity_failure(str(exc))
        elif isinstance(exc, StoreUnavailable):
            logger.warning("Model store unavailable (%s): %s", exc.code, exc)
        elif isinstance(exc, ArtifactNotFound):
            logger.warning("No model published: %s", exc)
        elif isinstance(exc, ModelUnavailable | ConfigError | ArtifactError):
            logger.warning("Model not loadable: %s", exc)
        else:
            logger.warning("Model load failed: %s: %s", type(exc).__name__, exc)
        if current is not None:
            logger.warning(
                "Model refresh failed; serving cached version %s: %s", current.version, exc
            )


def _reason(exc: Exception) -> str:
    """Why a load failed, without the store's names (health is an open probe); logs say more."""
    if isinstance(exc, ModelUnavailable):
        return exc.reason
    if isinstance(exc, IntegrityError):
        return "the published version failed its integrity check (see the logs)"
    if isinstance(exc, StoreUnavailable):
        return f"model store unavailable ({exc.code})"
    if isinstance(exc, ArtifactNotFound):
        return "nothing published yet: train a model first"
    return f"model not loadable ({type(exc).__name__}; see the logs)"
