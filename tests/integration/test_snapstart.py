"""SnapStart: the model loaded at init is in the snapshot; the after-restore hook, called as
Lambda calls it, serves the newest model when S3 answers and the snapshotted one otherwise."""

from __future__ import annotations

import socket
import sys
import time

import pytest
import snapshot_restore_py

from genre_model.serve import api, snapstart
from tests.helpers import get_object_keys, invoke, load_handler, make_event, publish


def restore() -> float:
    """Run the registered after-restore hooks in order, as the runtime does; seconds taken."""
    started = time.monotonic()
    for func, args, kwargs in snapshot_restore_py.get_after_restore():
        func(*args, **kwargs)
    return time.monotonic() - started


@pytest.fixture
def snap_start(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_LAMBDA_INITIALIZATION_TYPE", "snap-start")


@pytest.fixture
def hanging_s3(silent_server: tuple[int, list[socket.socket]]) -> str:
    """An endpoint that accepts connections and never answers."""
    return f"http://127.0.0.1:{silent_server[0]}"


def init():
    """Import functions/predict/app.py fresh: a new container's init."""
    return load_handler("predict")


def served_version(handler) -> str:
    answer = invoke(handler, make_event({"total_spent": 12.5}))
    assert answer.status == 200, answer.raw
    return answer.headers["x-model-version"]


def test_snapshot_init_loads_the_model_and_registers_the_hook_once(
    endpoint, snap_start, spec_model
):
    client = endpoint["start"]()
    publish(client, spec_model)
    init()  # init
    assert api.model_cache().model.version == spec_model.version  # before any request
    init()  # a second init in the same process
    hooks = [f for f, _, _ in snapshot_restore_py.get_after_restore()]
    assert hooks.count(snapstart.after_restore) == 1


def test_on_demand_init_stays_lazy(s3, spec_model, predict_handler):
    publish(s3, spec_model)
    keys = get_object_keys()
    assert api._cache is None or api._cache.model is None
    assert served_version(predict_handler) == spec_model.version
    assert keys  # read by the first request, not at init


def test_restored_container_serves_the_newest_model(
    endpoint, snap_start, spec_model, spec_model_v2
):
    client = endpoint["start"]()
    publish(client, spec_model)
    handler = init()  # the snapshotting init
    before = api.model_cache()
    publish(client, spec_model_v2)  # promoted while the snapshot waited
    assert restore() < snapstart.RESTORE_DEADLINE_SECONDS
    assert api.model_cache() is not before  # nothing from before the snapshot is used
    assert served_version(handler) == spec_model_v2.version


def test_restore_with_s3_down_keeps_the_snapshotted_model(endpoint, snap_start, spec_model):
    publish(endpoint["start"](), spec_model)
    handler = init()
    endpoint["stop"]()
    assert restore() < snapstart.RESTORE_DEADLINE_SECONDS + 1
    assert served_version(handler) == spec_model.version


def test_restore_with_s3_hanging_keeps_the_snapshotted_model_within_the_deadline(
    endpoint, snap_start, spec_model, spec_model_v2, hanging_s3, monkeypatch
):
    client = endpoint["start"]()
    publish(client, spec_model)
    handler = init()
    monkeypatch.setenv("AWS_ENDPOINT_URL", hanging_s3)  # the restored clone's S3 never answers
    took = restore()
    assert snapstart.RESTORE_DEADLINE_SECONDS <= took < snapstart.RESTORE_DEADLINE_SECONDS + 3
    started = time.monotonic()
    assert served_version(handler) == spec_model.version
    assert time.monotonic() - started < 1  # the first request does not wait for S3


def test_without_the_runtime_package_init_still_loads_the_model(
    endpoint, snap_start, spec_model, monkeypatch
):
    publish(endpoint["start"](), spec_model)
    monkeypatch.setitem(sys.modules, "snapshot_restore_py", None)
    handler = init()
    assert api.model_cache().model.version == spec_model.version
    assert served_version(handler) == spec_model.version
