"""Fixtures of the integration suite: small synthetic Chinook stores in SQLite."""

from __future__ import annotations

import sys
from pathlib import Path
from types import ModuleType

import pytest

from devtools.synthetic import generate, write_sqlite


@pytest.fixture(scope="session")
def synthetic_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """300 customers with the planted signal (snake_case naming)."""
    return write_sqlite(generate(300, seed=42), tmp_path_factory.mktemp("syn") / "store.sqlite")


@pytest.fixture(scope="session")
def small_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """100 customers: fewer than half of ``synthetic_sqlite``'s (a 'truncated' database)."""
    return write_sqlite(generate(100, seed=7), tmp_path_factory.mktemp("syn") / "small.sqlite")


@pytest.fixture
def fast_forest(monkeypatch: pytest.MonkeyPatch) -> None:
    """Ten trees: the tests here check plumbing, not accuracy."""
    monkeypatch.setenv("RF_N_ESTIMATORS", "10")


def root_conftest(config: pytest.Config) -> ModuleType:
    """tests/conftest.py as pytest loaded it (its helpers ``require`` and ``mysql_available``).

    Found by file path: ``tests`` is not a package, so ``import conftest`` would be ambiguous.
    """
    path = Path(__file__).resolve().parents[1] / "conftest.py"
    for module in [*config.pluginmanager.get_plugins(), *sys.modules.values()]:
        file = getattr(module, "__file__", None)
        if file and Path(file).resolve() == path:
            return module
    raise RuntimeError(f"{path} was not loaded by pytest")


@pytest.fixture
def pascal_chinook(pytestconfig: pytest.Config) -> str:
    """Name of the official (PascalCase) Chinook database on the local MariaDB."""
    helpers = root_conftest(pytestconfig)
    reason = helpers.mysql_available("Chinook")
    helpers.require(reason is None, reason or "")
    return "Chinook"
