"""Fixtures shared by every suite: settings reset, fake AWS credentials, MariaDB, moto S3, and the
trained models (built once per session). Importable helpers are in tests/helpers.py."""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.helpers import (
    BUCKET,
    CHINOOK,
    LocalServer,
    TrainedModel,
    free_port,
    load_handler,
    local_server,
    moto_bucket,
    require,
    require_mysql,
    train_model,
)

# The longest test files (seconds summed over their tests in a CI run, 2026-12-03), started first:
# pytest-xdist (--dist loadfile) hands out files in collection order, so a long file collected
# last would run alone at the end while the other workers sit idle. A stale entry costs nothing.
LONGEST_FIRST = (
    "test_damaged_data.py",  # 134 s
    "test_faults.py",  # 106 s
    "test_benchmarks_smoke.py",  # 103 s
    "test_cli_local.py",  # 99 s
    "test_readme_and_demo.py",  # 98 s
    "test_docs_examples.py",  # 80 s
    "test_training.py",  # 75 s
    "test_container_entry.py",  # 72 s
    "test_bench_scale_smoke.py",  # 69 s
    "test_version_integrity.py",  # 60 s
)


SHARED_BEFORE = pytest.StashKey[dict[str, str]]()


def _shared_chinook() -> dict[str, str]:
    """What tests read and never write: SHA-256 of every file in the shared Chinook folder, and
    the tables of both Chinook databases on the local MariaDB (when it answers)."""
    shared = {}
    if CHINOOK.is_dir():
        shared = {
            path.name: hashlib.sha256(path.read_bytes()).hexdigest()
            for path in sorted(CHINOOK.iterdir())
            if path.is_file()
        }
    try:
        import pymysql

        with (
            pymysql.connect(
                host="127.0.0.1", user="root", password="", connect_timeout=3, read_timeout=10
            ) as conn,
            conn.cursor() as cursor,
        ):
            cursor.execute(
                "SELECT table_schema, GROUP_CONCAT(table_name ORDER BY table_name)"
                " FROM information_schema.tables"
                " WHERE BINARY table_schema IN ('Chinook', 'chinook') GROUP BY BINARY table_schema"
            )
            shared |= {f"database {schema}": tables for schema, tables in cursor.fetchall()}
    except Exception:  # noqa: S110 - no MariaDB: its tests say so themselves
        pass
    return shared


def pytest_sessionstart(session: pytest.Session) -> None:
    session.config.stash[SHARED_BEFORE] = _shared_chinook()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """A run that changed ../shared/chinook fails, naming the files: every later test and run
    (the 3.13 stage, the next CI) would read the changed copy as Chinook."""
    if hasattr(session.config, "workerinput"):  # xdist: the controller checks once
        return
    before, after = session.config.stash.get(SHARED_BEFORE, {}), _shared_chinook()
    changed = sorted(
        name for name in before.keys() | after.keys() if before.get(name) != after.get(name)
    )
    if changed:
        session.config.get_terminal_writer().line(
            f"ERROR: the tests changed the shared Chinook files: {', '.join(changed)} ({CHINOOK})",
            red=True,
        )
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Longest files first (``LONGEST_FIRST``); within a file, tests keep their order."""
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Fake AWS credentials and no inherited model/DB settings; settings cache reset."""
    from genre_model.config import settings

    for name in list(os.environ):
        if name.startswith(("MODEL", "DB_", "CHINOOK_", "RF_", "AWS_")) or name in {
            "FEATURE_SET",
            "MIN_CUSTOMERS",
        }:
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "GenreModelTests")
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "genre-model")
    settings.cache_clear()
    yield
    settings.cache_clear()


@pytest.fixture(autouse=True)
def reset_api() -> Iterator[None]:
    """Forget the predict API's cached model and settings before and after every test: each one
    serves the model its own environment names (cheap; nothing is imported that runs)."""
    from genre_model.serve import api

    api.reset()
    yield
    api.reset()


@pytest.fixture
def chinook_sqlite(tmp_path: Path) -> Path:
    """This test's own copy of the Chinook SQLite file: a run with incremental aggregates (the
    deployed default) writes its tables into the database it reads, and ../shared must stay as
    it was for every later test and run."""
    path = CHINOOK / "Chinook_Sqlite.sqlite"
    require(path.is_file(), f"{path} not found")
    copy = tmp_path / "Chinook_Sqlite.sqlite"
    shutil.copyfile(path, copy)
    return copy


@pytest.fixture
def mysql_chinook() -> str:
    """Name of the snake_case Chinook database on the local MariaDB."""
    return require_mysql("chinook")


@pytest.fixture
def pascal_chinook() -> str:
    """Name of the official (PascalCase) Chinook database on the local MariaDB."""
    return require_mysql("Chinook")


# --------------------------------------------------------------------------- trained models


@pytest.fixture(scope="session")
def predict_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """400 synthetic customers with the planted signal."""
    from devtools.synthetic import generate, write_sqlite

    return write_sqlite(generate(400), tmp_path_factory.mktemp("predict-db") / "chinook.sqlite")


@pytest.fixture(scope="session")
def chinook_like(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Path, Any]:
    """4,000 synthetic customers as (store, SQLite path, dataset): Chinook's buying habits."""
    from devtools.synthetic import generate, write_sqlite
    from genre_model.train.features import build_dataset
    from genre_model.train.sources import SQLiteSource

    store = generate(4000, seed=42)
    path = write_sqlite(store, tmp_path_factory.mktemp("syn") / "s.sqlite")
    return store, path, build_dataset(SQLiteSource(path).customer_summaries())


@pytest.fixture(scope="session")
def spec_model(tmp_path_factory: pytest.TempPathFactory, predict_sqlite: Path) -> TrainedModel:
    return train_model(tmp_path_factory.mktemp("spec-model"), predict_sqlite, "spec", 42)


@pytest.fixture(scope="session")
def spec_model_v2(tmp_path_factory: pytest.TempPathFactory, predict_sqlite: Path) -> TrainedModel:
    """A second spec version (other seed): what a later training run would promote."""
    return train_model(tmp_path_factory.mktemp("spec-model-v2"), predict_sqlite, "spec", 7)


@pytest.fixture(scope="session")
def location_model(tmp_path_factory: pytest.TempPathFactory, predict_sqlite: Path) -> TrainedModel:
    return train_model(tmp_path_factory.mktemp("location-model"), predict_sqlite, "location", 42)


@pytest.fixture
def local_model(monkeypatch: pytest.MonkeyPatch, spec_model: TrainedModel) -> TrainedModel:
    """Predict serves the spec model from its ``MODELO_GENERO_ENTRENADO`` path."""
    monkeypatch.setenv("MODELO_GENERO_ENTRENADO", str(spec_model.path))
    return spec_model


@pytest.fixture
def predict_handler() -> ModuleType:
    """``functions/predict/app.py`` imported fresh, as a cold Lambda container would (the JSON
    logging its import configures is undone after the test by ``_genre_model_logger_as_found``)."""
    return load_handler("predict")


@pytest.fixture(autouse=True)
def _genre_model_logger_as_found() -> Iterator[None]:
    """Every test ends with the ``genre_model`` logger as it began: importing the predict
    function (a fixture, the local server) configures its JSON logging (level, own handler, no
    propagation), which would hide later tests' records from the root logger and caplog."""
    from genre_model.serve.telemetry import Stdout

    logger = logging.getLogger("genre_model")
    level, propagate = logger.level, logger.propagate
    yield
    for handler in [h for h in logger.handlers if isinstance(h, Stdout)]:
        logger.removeHandler(handler)  # only telemetry's: caplog's may be there by design
    logger.propagate = propagate
    logger.setLevel(level)  # setLevel, not an assignment: it clears the loggers' level cache


# --------------------------------------------------------------------------- S3 and logs


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """In-process moto S3 with an empty ``MODEL_BUCKET``; yields a client on it."""
    monkeypatch.setenv("MODEL_BUCKET", BUCKET)
    with moto_bucket(BUCKET) as client:
        yield client


@pytest.fixture
def endpoint(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict]:
    """A moto server on a free loopback port that a test can start and stop (S3 up/down).

    ``endpoint["start"](create=True)`` starts it (and creates BUCKET), ``endpoint["stop"]()``
    takes it away; AWS_ENDPOINT_URL points there the whole time.
    """
    import boto3
    from moto.server import ThreadedMotoServer

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    monkeypatch.setenv("AWS_ENDPOINT_URL", url)
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    monkeypatch.setenv("MODEL_BUCKET", BUCKET)
    boto3.setup_default_session()
    state: dict[str, Any] = {"url": url, "server": None}

    def start(create: bool = True) -> Any:
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        server.start()
        state["server"] = server
        client = boto3.client("s3", endpoint_url=url, region_name="us-east-1")
        if create:
            client.create_bucket(Bucket=BUCKET)
        return client

    def stop() -> None:
        if state["server"] is not None:
            state["server"].stop()
            state["server"] = None

    state["start"], state["stop"] = start, stop
    try:
        yield state
    finally:
        stop()
        boto3.DEFAULT_SESSION = None


@pytest.fixture
def silent_server() -> Iterator[tuple[int, list[socket.socket]]]:
    """A real TCP server on a loopback port that accepts connections and never sends a byte:
    (its port, the connections it accepted)."""
    listener = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield listener.getsockname()[1], accepted
    stop.set()
    thread.join(5)
    for conn in accepted:
        conn.close()
    listener.close()


@pytest.fixture
def genre_logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """caplog that also sees ``genre_model.*`` (Powertools stops them propagating to root)."""
    loggers = [
        logging.getLogger(name)
        for name in list(logging.root.manager.loggerDict)
        if name == "genre_model" or name.startswith("genre_model.")
    ]
    for logger in loggers:
        logger.addHandler(caplog.handler)
    caplog.set_level(logging.INFO)
    try:
        yield caplog
    finally:
        for logger in loggers:
            logger.removeHandler(caplog.handler)


@pytest.fixture
def server(local_model: TrainedModel, monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalServer]:
    """``devtools.server`` on a free loopback port, serving the spec model's local path."""
    monkeypatch.setenv("NO_PROXY", "localhost,127.0.0.1")
    monkeypatch.setenv("no_proxy", "localhost,127.0.0.1")
    with local_server() as running:
        yield running
