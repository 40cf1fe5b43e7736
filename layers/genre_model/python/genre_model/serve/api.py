"""The API's route functions, one per route, and the container's model cache they answer from.

Each function here is THE implementation of its route: ``handler`` calls the POST ones directly
(the hot path, no resolver import) and ``routes`` registers these very functions with the
Powertools resolver, which serves the GET routes and derives the OpenAPI document from them.
Nothing here imports Powertools' resolver or boto3.
"""

from __future__ import annotations

from typing import Any

from genre_model.config import settings
from genre_model.serve import service
from genre_model.serve.http import Reply, refusal, unavailable
from genre_model.serve.model_cache import LoadedModel, ModelCache, ModelUnavailable
from genre_model.serve.schemas import BatchRequest, HealthResponse, PredictRequest


class _Integrity:
    """Counts refused artifacts as a CloudWatch metric (Powertools Metrics shares one buffer)."""

    def __call__(self, detail: str) -> None:
        from aws_lambda_powertools import Metrics
        from aws_lambda_powertools.metrics import MetricUnit

        Metrics().add_metric(name="ModelIntegrityFailure", unit=MetricUnit.Count, value=1)


_cache: ModelCache | None = None


def new_model_cache() -> ModelCache:
    """A cache with its own store, client and connections (none shared with another cache)."""
    return ModelCache(settings(), on_integrity_failure=_Integrity())


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
    """The model to answer with, or the 503 a client sees when there is none."""
    try:
        return model_cache().get()
    except ModelUnavailable:
        raise unavailable() from None


def predict_genre(request: PredictRequest) -> Reply:
    """POST /api/predict-genre: one prediction, with the version that made it."""
    model = cached_model()
    try:
        answer = service.predict(request, model)
    except service.Refused as exc:
        raise refusal(exc) from None
    return Reply(200, answer, {"X-Model-Version": model.version})


def predict_genre_batch(request: BatchRequest) -> Reply:
    """POST /api/predict-genre/batch: every item judged alone, all by one model snapshot.

    ``request`` comes from ``batch.parse`` (its items may hold the markers of a single body's
    400), or from any validated ``BatchRequest``; the request's own problems were raised there.
    """
    model = cached_model()
    from genre_model.serve import batch  # imported by the first batch request, not at cold start

    return batch.answer(request.items, model)


def health() -> HealthResponse:
    """GET /api/health: whether a model is loaded, which, or why not (never a 503: a probe)."""
    try:
        model = model_cache().get()
    except ModelUnavailable as exc:
        return HealthResponse(model_loaded=False, reason=exc.reason)
    return HealthResponse(model_loaded=True, model_version=model.version)


def model_info() -> dict[str, Any]:
    """GET /api/model: the served version's manifest summary (``ModelSummary``), or a 503."""
    return service.model_summary(cached_model())
