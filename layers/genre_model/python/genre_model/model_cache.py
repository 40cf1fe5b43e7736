"""The predict function's model: located once, loaded on first use, kept for the container's life.

Every ``MODEL_REFRESH_SECONDS`` the pointer is checked (a conditional GET with its ETag on S3);
a new version is loaded, verified against the manifest's SHA-256 BEFORE unpickling, and swapped
in. Any failure while a model is cached keeps serving it (warning logged); a failure before any
model was loaded raises ``ModelUnavailable`` (HTTP 503) and the next request tries again.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from genre_model.artifacts import (
    CUSTOMERS_FILE,
    MANIFEST,
    POINTER,
    PREDICTOR_FILE,
    ArtifactError,
    LocalModelPath,
    S3Store,
    Store,
    read_json,
    store_for,
    verified,
)
from genre_model.config import Settings
from genre_model.inference import Predictor, PredictorError, load_payload, unpack_arrays

logger = logging.getLogger(__name__)


class ModelUnavailable(RuntimeError):
    """No model is published, or none could be loaded and none is cached."""


@dataclass
class CustomerSnapshot:
    ids: np.ndarray
    features: np.ndarray
    countries: list[str]

    def lookup(self, customer_id: int) -> tuple[np.ndarray, str] | None:
        i = int(np.searchsorted(self.ids, customer_id))
        if i < len(self.ids) and self.ids[i] == customer_id:
            return self.features[i], self.countries[i]
        return None


@dataclass
class LoadedModel:
    predictor: Predictor
    manifest: dict[str, Any]
    store: Store
    keys: dict[str, str]  # file name -> key in the store
    _customers: CustomerSnapshot | None = field(default=None, repr=False)

    @property
    def version(self) -> str:
        return str(self.manifest["version"])

    def customers(self) -> CustomerSnapshot:
        """The per-customer snapshot, loaded (and verified) on the first customer_id request."""
        if self._customers is None:
            data = verified(self.store, self.keys[CUSTOMERS_FILE], self.manifest, CUSTOMERS_FILE)
            payload = load_payload(data)
            arrays = unpack_arrays(payload["arrays"])
            self._customers = CustomerSnapshot(
                arrays["customer_id"], arrays["features"], payload["countries"]
            )
        return self._customers


class Location:
    """Where the model is read from; ``load`` returns None when nothing changed since last time."""

    def __init__(self, store: Store, keys: Callable[[str], dict[str, str]], pointer: str | None):
        self.store = store
        self._keys = keys
        self.pointer_key = pointer
        self._etag: str | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> Location:
        path = settings.model_path
        if path and not path.startswith("s3://"):
            store, keys = LocalModelPath(path).store()
            return cls(store, lambda _v: keys(), pointer=None)
        located = store_for(settings.model_bucket, path)
        if located is None:
            raise ModelUnavailable("set MODEL_BUCKET or MODELO_GENERO_ENTRENADO")
        store, prefix = located
        if not path:
            prefix = settings.model_prefix
        if path and _is_version_prefix(store, prefix):
            return cls(store, lambda _v: _version_keys(prefix), pointer=None)
        return cls(store, lambda v: _version_keys(f"{prefix}{v}/"), pointer=f"{prefix}{POINTER}")

    def load(self, current: LoadedModel | None) -> LoadedModel | None:
        etag: str | None = None
        if self.pointer_key is None:
            keys = self._keys("")
            manifest = read_json(self.store, keys[MANIFEST])
        else:
            body, etag = self._pointer()
            if body is None and current is not None:
                return None
            import json

            try:
                pointer = json.loads(body or b"")
            except ValueError:
                raise ArtifactError(f"{self.store.url(self.pointer_key)} is not JSON") from None
            version = pointer.get("version") if isinstance(pointer, dict) else None
            if not isinstance(version, str) or not version:
                raise ArtifactError(f"{self.store.url(self.pointer_key)} names no version")
            keys = self._keys(version)
            manifest = read_json(self.store, keys[MANIFEST])
            if manifest.get("version") != version:
                raise ArtifactError(f"manifest for {version} names {manifest.get('version')}")
        if current is not None and current.manifest == manifest:
            self._etag = etag
            return None
        data = verified(self.store, keys[PREDICTOR_FILE], manifest, PREDICTOR_FILE)
        try:
            predictor = Predictor.from_bytes(data)
        except (PredictorError, ValueError, KeyError, TypeError) as exc:
            raise ArtifactError(f"predictor of {manifest.get('version')} unusable: {exc}") from None
        self._etag = etag  # remembered only once its version loaded: a failed load is retried
        return LoadedModel(predictor, manifest, self.store, keys)

    def _pointer(self) -> tuple[bytes | None, str | None]:
        key = self.pointer_key or POINTER
        if isinstance(self.store, S3Store):
            return self.store.get_if_changed(key, self._etag)
        return self.store.get(key), None


def _version_keys(prefix: str) -> dict[str, str]:
    return {name: prefix + name for name in (MANIFEST, PREDICTOR_FILE, CUSTOMERS_FILE)}


def _is_version_prefix(store: Store, prefix: str) -> bool:
    """An ``s3://`` path names a version when a manifest sits directly under it."""
    try:
        store.get(prefix + MANIFEST)
    except ArtifactError:
        return False
    return True


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
        self._checked_at = float("-inf")
        self._lock = threading.Lock()

    @property
    def model(self) -> LoadedModel | None:
        return self._model

    def forget_store(self) -> None:
        """Drop the store with its clients and connections (after a SnapStart restore they are
        the snapshot's, shared by every clone); the model stays and the next refresh reconnects."""
        self._location = None

    def get(self) -> LoadedModel:
        """The model to answer with, refreshing it when the refresh interval has passed."""
        model = self._model
        if (
            model is not None
            and self.clock() - self._checked_at < self.settings.model_refresh_seconds
        ):
            return model
        with self._lock:
            return self._refresh()

    def _refresh(self) -> LoadedModel:
        current = self._model
        try:
            if self._location is None:
                self._location = Location.from_settings(self.settings)
            loaded = self._location.load(current)
        except Exception as exc:  # S3, network, integrity: never fatal while a model is cached
            self._report(exc)
            if current is None:
                raise ModelUnavailable(str(exc)) from None
            logger.warning(
                "Model refresh failed; serving cached version %s: %s", current.version, exc
            )
            self._checked_at = self.clock()
            return current
        self._checked_at = self.clock()
        if loaded is None:
            return current  # type: ignore[return-value]  # unchanged: only when one is cached
        logger.info("Loaded model version %s", loaded.version)
        self._model = loaded
        return loaded

    def _report(self, exc: Exception) -> None:
        if isinstance(exc, ArtifactError) and "SHA-256" in str(exc):
            logger.error("Model integrity check failed: %s", exc)
            if self.on_integrity_failure:
                self.on_integrity_failure(str(exc))
        elif not isinstance(exc, ArtifactError | ModelUnavailable):
            logger.warning("Model location unreachable: %s: %s", type(exc).__name__, exc)
