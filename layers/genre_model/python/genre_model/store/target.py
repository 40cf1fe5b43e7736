"""Where a command publishes or reads versions: the spec's local model path, or S3."""

from __future__ import annotations

from genre_model.config import ConfigError, Settings
from genre_model.store.local import LocalModelPath
from genre_model.store.registry import Registry
from genre_model.store.s3 import store_for


def target_registry(settings: Settings) -> tuple[Registry, LocalModelPath | None]:
    """Where this run publishes: the local spec path, an ``s3://`` path, or the bucket."""
    path = settings.model_path
    if path and not path.startswith("s3://"):
        local = LocalModelPath(path)
        return local.registry, local
    located = store_for(settings.model_bucket, path)
    if located is None:
        raise ConfigError("set MODEL_BUCKET or MODELO_GENERO_ENTRENADO to say where the model goes")
    store, prefix = located
    return Registry(store, prefix or settings.model_prefix), None
