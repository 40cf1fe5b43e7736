"""The model cache's timing rules with an injected clock, each at its limit (the module docstring
of ``serve.model_cache`` states them): a load is abandoned exactly at its deadline and not a
tick before, requests arriving as a refresh finishes cause one load (not two), a request with a
cached model waits the refresh budget (without one, the load deadline), and failed refreshes
back off 0, 1, 3, 7 ... 60 s, the schedule starting over after a success.

Loads are scripted: ``Location.load`` (the one read of the store a refresh makes) is replaced by
a script of results, so every rule is observed as the number of loads and what ``get`` answers.
What the store and the files hold is the integration suite's part (test_model_cache_refresh)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from genre_model.config import Settings
from genre_model.contract import Manifest
from genre_model.serve import model_cache
from genre_model.serve.model_cache import LoadedModel, ModelCache, ModelUnavailable
from genre_model.store.protocol import ArtifactNotFound, IntegrityError, StoreUnavailable

LOGGER = "genre_model.serve.model_cache"


def model(n: int) -> LoadedModel:
    """A stand-in loaded model: the cache only keeps it and reads its version."""
    return LoadedModel(None, None, Manifest(f"2026010{n}T000000Z-00000{n}"))  # type: ignore[arg-type]


class Clock:
    """The cache's clock: moves only when the test says."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Script:
    """What each load returns (a model, None for unchanged) or raises, in order (``load`` stands
    in for ``Location.load``, called with the current model and the deadline); a load may be
    held until ``release`` is set."""

    results: list[object] = field(default_factory=list)
    calls: int = 0
    hold: threading.Event | None = None
    entered: threading.Event = field(default_factory=threading.Event)

    def load(self, _current: object, _deadline: float) -> object:
        self.calls += 1
        result = self.results.pop(0)  # in call order, however the held loads are released
        self.entered.set()
        if self.hold is not None:
            self.hold.wait(10)
        if isinstance(result, Exception):
            raise result
        return result


@pytest.fixture
def script(monkeypatch: pytest.MonkeyPatch) -> Iterator[Script]:
    scripted = Script()
    monkeypatch.setattr(model_cache.Location, "load", scripted.load)
    yield scripted
    if scripted.hold is not None:
        scripted.hold.set()  # never leave a load thread waiting


def cache_with(tmp_path: Path, clock: Clock, **settings: float) -> ModelCache:
    return ModelCache(Settings(model_path=str(tmp_path / "m.pkl"), **settings), clock=clock)


def wait_until(condition: Callable[[], bool]) -> None:
    """Wait (on real time, generously) for a background load to reach a state."""
    end = time.monotonic() + 10
    while not condition():
        assert time.monotonic() < end, "the background load never got there"
        time.sleep(0.001)


def test_a_load_is_abandoned_exactly_at_its_deadline_and_not_before(
    tmp_path: Path, script: Script, caplog: pytest.LogCaptureFixture
) -> None:
    clock = Clock()
    cache = cache_with(
        tmp_path, clock, model_refresh_seconds=0, model_load_deadline=2.0, model_refresh_budget=0.0
    )
    script.results = [model(1)]
    first = cache.get()
    script.hold, script.entered = threading.Event(), threading.Event()
    script.results = [model(2), model(3)]
    clock.now = 1010.0
    assert cache.get() is first  # the refresh starts (expires at 1012) and hangs
    assert script.entered.wait(10)
    clock.now = 1011.999
    assert cache.get() is first
    assert script.calls == 2  # one tick before its deadline nobody starts another
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        clock.now = 1012.0
        assert cache.get() is first
    wait_until(lambda: script.calls == 3)  # exactly at the deadline: another load starts
    assert "Model load outlived its deadline; abandoned, starting another" in caplog.messages
    script.hold.set()
    wait_until(lambda: cache.model is not first and cache.model.version == model(3).version)
    wait_until(lambda: "Dropping the result of an abandoned model load" in caplog.messages)
    assert cache.model.version == model(3).version  # the late v2 never replaces v3


def test_requests_arriving_as_a_refresh_finishes_cause_one_load_not_two(
    tmp_path: Path, script: Script
) -> None:
    """A request that saw the model stale, then waited on the cache while the refresh swapped
    in its result, answers with that result instead of starting a second load."""
    a_checked, worker_in_swap = threading.Event(), threading.Event()
    times = {"now": 1000.0}
    a_thread: list[threading.Thread] = []

    def clock() -> float:
        current = threading.current_thread()
        if a_thread and current is a_thread[0] and not a_checked.is_set():
            a_checked.set()  # request A: its first look finds the model stale
        elif current.name.startswith("Thread") and a_thread and not worker_in_swap.is_set():
            worker_in_swap.set()  # the refresh, inside its swap: let A reach the cache's lock
            a_checked.wait(10)
            time.sleep(0.05)
        return times["now"]

    cache = ModelCache(
        Settings(
            model_path=str(tmp_path / "m.pkl"), model_refresh_seconds=300, model_refresh_budget=0.0
        ),
        clock=clock,
    )
    script.results = [model(1)]
    cache.get()
    times["now"] = 1300.0  # the interval has passed
    script.hold = threading.Event()
    script.results = [model(2), model(3)]
    answers: list[LoadedModel] = []
    b = threading.Thread(target=lambda: answers.append(cache.get()), name="request B")
    b.start()  # B starts the refresh and, with a zero budget, answers with v1
    b.join(10)
    a = threading.Thread(target=lambda: answers.append(cache.get()), name="request A")
    a_thread.append(a)
    script.hold.set()
    a.start()
    a.join(10)
    wait_until(lambda: cache.model is not None and cache.model.version == model(2).version)
    time.sleep(0.05)  # a second load, if any, would have started by now
    assert script.calls == 2
    assert [m.version for m in answers][-1] in (model(1).version, model(2).version)


def test_a_request_with_a_cached_model_waits_the_budget_then_answers_with_it(
    tmp_path: Path, script: Script, caplog: pytest.LogCaptureFixture
) -> None:
    clock = Clock()
    cache = cache_with(
        tmp_path,
        clock,
        model_refresh_seconds=0,
        model_refresh_budget=0.05,
        model_load_deadline=30.0,
    )
    script.results = [model(1)]
    first = cache.get()
    script.hold = threading.Event()
    script.results = [model(2)]
    clock.now += 1
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        assert cache.get() is first
    waited = time.monotonic() - started
    assert 0.05 <= waited < 25  # the budget, never the 30 s load deadline
    assert f"Model refresh still running after 0.05 s; serving cached version {first.version}" in (
        caplog.messages
    )
    assert cache.get() is first  # the refresh is in flight: this one does not wait at all
    script.hold.set()
    wait_until(lambda: cache.model is not first)


def test_a_finished_refresh_is_answered_at_once_within_the_budget(
    tmp_path: Path, script: Script, caplog: pytest.LogCaptureFixture
) -> None:
    clock = Clock()
    cache = cache_with(tmp_path, clock, model_refresh_seconds=0, model_refresh_budget=30.0)
    script.results = [model(1), model(2)]
    cache.get()
    clock.now += 1
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        assert cache.get().version == model(2).version
    assert not caplog.messages


def test_without_a_model_a_request_waits_the_load_deadline_and_gets_503(
    tmp_path: Path, script: Script
) -> None:
    cache = cache_with(tmp_path, Clock(), model_load_deadline=0.05, model_refresh_budget=30.0)
    script.hold = threading.Event()
    script.results = [model(1)]
    started = time.monotonic()
    with pytest.raises(ModelUnavailable, match=r"^no model loaded within 0\.05 s$"):
        cache.get()
    assert time.monotonic() - started < 25  # the 0.05 s deadline, not the 30 s budget
    script.hold.set()
    wait_until(lambda: cache.model is not None)


def test_a_failed_first_load_is_a_503_naming_the_failure_and_the_next_request_retries(
    tmp_path: Path, script: Script
) -> None:
    cache = cache_with(tmp_path, Clock(), model_refresh_seconds=300)
    script.results = [ArtifactNotFound("nothing at m.pkl"), model(1)]
    with pytest.raises(ModelUnavailable, match=r"^nothing at m\.pkl$"):
        cache.get()
    assert cache.get().version == model(1).version  # no backoff without a model to serve
    assert script.calls == 2


def attempts_at(
    cache: ModelCache, clock: Clock, script: Script, offsets: list[float]
) -> list[bool]:
    """For each offset from now: did a ``get`` there start a load?"""
    base, seen = clock.now, []
    for offset in offsets:
        clock.now = base + offset
        before = script.calls
        cache.get()
        seen.append(script.calls > before)
    return seen


def test_failed_refreshes_back_off_one_three_seven_up_to_sixty_seconds(
    tmp_path: Path, script: Script
) -> None:
    clock = Clock()
    cache = cache_with(tmp_path, clock, model_refresh_seconds=0)
    script.results = [model(1)]
    first = cache.get()
    down = [StoreUnavailable("s3 down", code="Timeout") for _ in range(9)]
    script.results = [*down, model(2), StoreUnavailable("down", code="Timeout"), model(3)]
    schedule = [0, 1, 3, 7, 15, 31, 60, 60]  # pause after failures 1, 2, ... (interval 0)
    for pause in schedule:
        before = clock.now
        if pause:
            assert attempts_at(cache, clock, script, [pause - 0.001]) == [False]
            clock.now = before
        assert attempts_at(cache, clock, script, [pause]) == [True]
        assert cache.get() is first or pause == 0
    # the ninth failure, then a success: the schedule starts over
    assert attempts_at(cache, clock, script, [60]) == [True]
    assert attempts_at(cache, clock, script, [60]) == [True]
    assert cache.model.version == model(2).version
    assert attempts_at(cache, clock, script, [0]) == [True]  # first failure after a success
    assert attempts_at(cache, clock, script, [0]) == [True]  # no pause: then it succeeds
    assert cache.model.version == model(3).version


def test_the_refresh_interval_wins_over_a_shorter_backoff(tmp_path: Path, script: Script) -> None:
    clock = Clock()
    cache = cache_with(tmp_path, clock, model_refresh_seconds=10)
    script.results = [model(1), StoreUnavailable("down", code="Timeout"), None]
    cache.get()
    assert attempts_at(cache, clock, script, [9.999, 10]) == [False, True]  # fails
    assert attempts_at(cache, clock, script, [9.999, 10]) == [False, True]  # unchanged
    assert script.calls == 3


@pytest.mark.parametrize(
    ("error", "line"),
    [
        (IntegrityError("sha mismatch"), "ERROR Model integrity check failed: sha mismatch"),
        (
            StoreUnavailable("bucket slow", code="ReadTimeout"),
            "WARNING Model store unavailable (ReadTimeout): bucket slow",
        ),
        (ArtifactNotFound("no latest.json"), "WARNING No model published: no latest.json"),
        (ModelUnavailable("set MODEL_BUCKET"), "WARNING Model not loadable: set MODEL_BUCKET"),
        (KeyError("x"), "WARNING Model load failed: KeyError: 'x'"),
    ],
)
def test_each_kind_of_failed_load_is_one_log_line_naming_it(
    tmp_path: Path, script: Script, caplog: pytest.LogCaptureFixture, error: Exception, line: str
) -> None:
    reports: list[str] = []
    cache = ModelCache(
        Settings(model_path=str(tmp_path / "m.pkl"), model_refresh_seconds=0),
        clock=Clock(),
        on_integrity_failure=reports.append,
    )
    script.results = [model(1), error]
    first = cache.get()
    with caplog.at_level(logging.INFO, logger=LOGGER):
        assert cache.get() is first
    lines = [f"{r.levelname} {r.getMessage()}" for r in caplog.records if r.name == LOGGER]
    assert lines == [
        line,
        f"WARNING Model refresh failed; serving cached version {first.version}: {error}",
    ]
    assert reports == ([str(error)] if isinstance(error, IntegrityError) else [])


def test_a_loaded_version_is_logged_once(
    tmp_path: Path, script: Script, caplog: pytest.LogCaptureFixture
) -> None:
    clock = Clock()
    cache = cache_with(tmp_path, clock, model_refresh_seconds=0)
    script.results = [model(1), None]
    with caplog.at_level(logging.INFO, logger=LOGGER):
        cache.get()
        clock.now += 1
        cache.get()  # unchanged: nothing swapped, nothing logged
    assert caplog.messages == [f"Loaded model version {model(1).version}"]
