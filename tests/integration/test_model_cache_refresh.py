"""ModelCache with an injected clock over a local MODELO_GENERO_ENTRENADO path."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from genre_model.config import Settings
from genre_model.serve.model_cache import ModelCache, ModelUnavailable
from tests.helpers import TrainedModel

COMPANIONS = ("manifest.json", "predictor.joblib", "customers.joblib")


def install(model: TrainedModel, target: Path) -> None:
    """Copy a model's spec-path companions to ``target`` (what ``LocalModelPath.export`` writes)."""
    shutil.copyfile(model.path, target)
    for name in COMPANIONS:
        source = model.path.with_name(f"{model.path.stem}.{name}")
        shutil.copyfile(source, target.with_name(f"{target.stem}.{name}"))


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def target(tmp_path: Path, spec_model: TrainedModel) -> Path:
    path = tmp_path / "modelo_genero_entrenado.pkl"
    install(spec_model, path)
    return path


def test_new_version_only_after_the_interval(target, spec_model, spec_model_v2):
    clock = Clock()
    cache = ModelCache(Settings(model_path=str(target), model_refresh_seconds=300), clock=clock)
    first = cache.get()
    assert first.version == spec_model.version
    install(spec_model_v2, target)
    clock.now += 299.9
    assert cache.get() is first
    clock.now += 0.1
    second = cache.get()
    assert second.version == spec_model_v2.version
    assert second.predictor.classes == tuple(spec_model_v2.classes)


def test_unchanged_manifest_keeps_the_same_object(target):
    clock = Clock()
    cache = ModelCache(Settings(model_path=str(target), model_refresh_seconds=0), clock=clock)
    first = cache.get()
    for _ in range(3):
        clock.now += 1
        assert cache.get() is first


def test_tampered_predictor_is_refused_and_reported(target, tmp_path):
    predictor = target.with_name(f"{target.stem}.predictor.joblib")
    data = bytearray(predictor.read_bytes())
    data[len(data) // 2] ^= 0x01
    predictor.write_bytes(bytes(data))
    reports: list[str] = []
    cache = ModelCache(
        Settings(model_path=str(target)), clock=Clock(), on_integrity_failure=reports.append
    )
    with pytest.raises(ModelUnavailable, match="SHA-256"):
        cache.get()
    assert len(reports) == 1
    assert cache.model is None


def test_failure_after_load_keeps_serving(target):
    clock = Clock()
    cache = ModelCache(Settings(model_path=str(target), model_refresh_seconds=10), clock=clock)
    first = cache.get()
    target.with_name(f"{target.stem}.manifest.json").unlink()
    clock.now += 10
    assert cache.get() is first
    clock.now += 10
    assert cache.get() is first


def test_no_location_is_unavailable_and_retried(tmp_path, spec_model):
    cache = ModelCache(Settings(model_path=str(tmp_path / "m.pkl")), clock=Clock())
    with pytest.raises(ModelUnavailable):
        cache.get()
    install(spec_model, tmp_path / "m.pkl")
    assert cache.get().version == spec_model.version


def test_nothing_configured_is_unavailable():
    with pytest.raises(ModelUnavailable, match="MODEL_BUCKET"):
        ModelCache(Settings()).get()


def test_repeated_failures_back_off_even_at_interval_zero(target, spec_model_v2):
    """An outage must not cost every request a refresh: after the second failure in a row the
    next attempt waits 1 s, then 3 s (the cached model answers meanwhile)."""
    clock = Clock()
    cache = ModelCache(Settings(model_path=str(target), model_refresh_seconds=0), clock=clock)
    first = cache.get()
    manifest = target.with_name(f"{target.stem}.manifest.json")
    manifest.unlink()
    assert cache.get() is first  # failure 1: the next request may try again at once
    assert cache.get() is first  # failure 2: now 1 s of backoff
    install(spec_model_v2, target)  # repaired, but inside the backoff: not looked at yet
    assert cache.get() is first
    clock.now += 0.99
    assert cache.get() is first
    clock.now += 0.01
    assert cache.get().version == spec_model_v2.version  # success resets the backoff
    manifest.unlink()
    assert cache.get().version == spec_model_v2.version
    install(spec_model_v2, target)
    assert cache.get().version == spec_model_v2.version


def test_a_load_past_its_deadline_is_abandoned_and_its_late_result_dropped(
    target, spec_model, spec_model_v2, monkeypatch
):
    """A load stuck past MODEL_LOAD_DEADLINE_SECONDS no longer blocks refreshes: the next
    request starts another, and when the stuck one finally returns, its (older) version does
    not replace the newer one."""
    import threading

    from genre_model.serve import model_cache

    clock = Clock()
    settings = Settings(model_path=str(target), model_refresh_seconds=0, model_load_deadline=0.2)
    cache = ModelCache(settings, clock=clock)
    first = cache.get()
    release, entered = threading.Event(), threading.Event()
    real_load = model_cache.Location.load
    stuck: list[threading.Thread] = []

    def load(self, current, deadline):
        if not stuck:  # the first refresh reads v1, then hangs, as past any socket timeout
            stuck.append(threading.current_thread())
            old = model_cache.load_version(self.store, self._keys(""), first.manifest)
            entered.set()
            release.wait(10)
            return old
        return real_load(self, current, deadline)

    monkeypatch.setattr(model_cache.Location, "load", load)
    clock.now += 1
    assert cache.get() is first  # the refresh starts and hangs; the cached model answers
    assert entered.wait(5)
    install(spec_model_v2, target)
    clock.now += 0.1
    assert cache.get() is first  # still within its deadline: nobody starts another
    clock.now += 0.2
    cache.get()  # past it: a new refresh runs and finds v2
    for _ in range(250):
        if cache.model.version == spec_model_v2.version:
            break
        threading.Event().wait(0.02)
    assert cache.model.version == spec_model_v2.version
    release.set()  # the stuck load returns its v1 at last
    stuck[0].join(5)
    assert not stuck[0].is_alive()
    assert cache.model.version == spec_model_v2.version
