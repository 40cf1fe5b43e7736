"""Fixtures shared by every suite: settings reset, fake AWS credentials, MariaDB, moto S3."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _chinook_dir() -> Path:
    """CHINOOK_DIR, else ../shared/chinook beside the checkout. A missing folder is reported by
    the tests that need it (skipped with the path, failed under CI=true)."""
    return Path(os.environ.get("CHINOOK_DIR") or ROOT.parent / "shared" / "chinook").resolve()


CHINOOK = _chinook_dir()
EVENTS = ROOT / "events"
IN_CI = os.environ.get("CI", "").lower() == "true"


def require(condition: bool, reason: str) -> None:
    """Skip when something a test needs is absent; under CI=true that is a failure instead."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"required in CI: {reason}")
    pytest.skip(reason)


def mysql_available(database: str = "chinook") -> str | None:
    """None when MariaDB answers with ``database`` loaded, else why not."""
    try:
        import pymysql

        with pymysql.connect(
            host=os.environ.get("TEST_DB_HOST", "127.0.0.1"),
            port=int(os.environ.get("TEST_DB_PORT", "3306")),
            user="root",
            password="",
            database=database,
            connect_timeout=3,
        ):
            return None
    except Exception as exc:
        return f"MariaDB with database {database!r} not reachable at 127.0.0.1:3306: {exc}"


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


@pytest.fixture(scope="session")
def chinook_sqlite() -> Path:
    path = CHINOOK / "Chinook_Sqlite.sqlite"
    require(path.is_file(), f"{path} not found")
    return path


@pytest.fixture
def mysql_chinook() -> str:
    """Name of the snake_case Chinook database on the local MariaDB."""
    reason = mysql_available("chinook")
    require(reason is None, reason or "")
    return "chinook"


def load_handler(function: str):
    """Import ``functions/<function>/app.py`` as a fresh module (as Lambda would)."""
    import importlib.util

    path = ROOT / "functions" / function / "app.py"
    name = f"{function}_app"
    sys.modules.pop(name, None)
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
