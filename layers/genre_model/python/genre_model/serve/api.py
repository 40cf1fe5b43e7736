"""The API's route functions, one per route, and the container's model cache they answer from.

Each function here is THE implementation of its route: ``routes`` calls them with a checked
body, and ``openapi`` documents these very functions (with ``schemas``' models for their
bodies). A missing model or a refusal of the service is raised as is: ``errors.reply`` answers
it. Nothing here imports pydantic, Powertools or boto3.
"""

from __future__ import annotations

from genre_model.config import settings
from genre_model.serve import batch, service, telemetry
from genre_model.serve.http import Reply
from genre_model.serve.model_cache import LoadedModel, ModelCache, ModelUnavailable
from genre_model.serve.service import PredictBody

_cache: ModelCache | None = None


def _integrity_failure(detail: str) -> None:
    """A refused artifact, counted as the ``ModelIntegrityFailure`` CloudWatch metric."""
    telemetry.metric("ModelIntegrityFailure")


def new_model_cache() -> ModelCache:
    """A cache with its own store, client and connections (none shared with another cache)."""
    return ModelCache(settings(), on_integrity_failure=_integrity_failure)


def model_cache() -> ModelCache:
    """The container's model cache, created on first use."""
    global _cache
    if _cache is None:
        _cache = new_model_cache()
    return _cache


def install_cache(cache: ModelCache) -> None:
    """Serve from ``cache`` from the next request on (one assignment: requests see old or new)."""
    global _cache
    _cache = cache


def reset() -> None:
    """Forget the cached model and settings (tests)."""
    global _cache
    _cache = None
    settings.cache_clear()


def cached_model() -> LoadedModel:
    """The model to answer with (``ModelUnavailable``, a 503, when there is none)."""
    return model_cache().get()


def predict_genre(request: PredictBody) -> Reply:
    """POST /api/predict-genre: one prediction, with the version that made it."""
    model = cached_model()
    return Reply(200, service.predict(request, model), {"X-Model-Version": model.version})


def predict_genre_batch(request: batch.Batch) -> Reply:
    """POST /api/predict-genre/batch: every item judged alone, all by one model snapshot."""
    return batch.answer(request, cached_model())


def health() -> Reply:
    """GET /api/health: whether a model is loaded, which, or why not (never a 503: a probe)."""
    try:
        model = model_cache().get()
    except ModelUnavailable as exc:
        body = {"status": "OK", "model_loaded": False, "model_version": None, "reason": exc.reason}
        return Reply(200, body)
    body = {"status": "OK", "model_loaded": True, "model_version": model.version, "reason": None}
    return Reply(200, body)


def model_info() -> Reply:
    """GET /api/model: the served version's manifest summary (``ModelSummary``), or a 503."""
    return Reply(200, service.model_summary(cached_model()))
