"""Fixtures of the integration suite: small synthetic Chinook stores in SQLite."""

from __future__ import annotations

from pathlib import Path

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
