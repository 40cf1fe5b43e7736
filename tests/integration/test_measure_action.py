"""The state machine's first step: the train function answers the store's size without training."""

from __future__ import annotations

from pathlib import Path

import pytest

from genre_model.config import DatabaseSettings
from genre_model.train.measure import StoreSize, measure_store
from genre_model.train.sources import DataSourceError
from tests.helpers import load_train_handler, moto_bucket, require_mysql, train_context

# Chinook as published: 59 customers, 2,240 invoice lines.
CHINOOK = StoreSize(customers=59, new_lines=2240)


def test_measure_action_answers_counts_and_publishes_nothing(
    monkeypatch: pytest.MonkeyPatch, chinook_sqlite: Path
) -> None:
    monkeypatch.setenv("CHINOOK_SQLITE_PATH", str(chinook_sqlite))
    monkeypatch.setenv("MODEL_BUCKET", "genre-measure-test")
    with moto_bucket("genre-measure-test") as s3:
        answer = load_train_handler(monkeypatch).lambda_handler(
            {"action": "measure"}, train_context("measure-1")
        )
        assert s3.list_objects_v2(Bucket="genre-measure-test").get("KeyCount") == 0
    assert answer == CHINOOK._asdict()  # what the Choice state reads: $.Payload.customers


@pytest.mark.parametrize("database", ["Chinook", "chinook"])  # PascalCase and snake_case
def test_mysql_store_is_measured_in_both_namings(database: str) -> None:
    require_mysql(database)
    assert measure_store(DatabaseSettings(name=database)) == CHINOOK


def test_a_missing_store_is_a_data_source_error(tmp_path: Path) -> None:
    # the state machine retries DataSourceError, then notifies
    with pytest.raises(DataSourceError, match="not found"):
        measure_store(DatabaseSettings(sqlite_path=str(tmp_path / "none.sqlite")))
