"""The state machine's first step: the train function answers the store's size without training."""

from __future__ import annotations

from pathlib import Path

import pytest

from genre_model.train.sources import DataSourceError
from tests.helpers import load_train_handler, moto_bucket, train_context

BUCKET = "genre-measure-test"


def test_measure_action_answers_what_the_choice_reads_and_publishes_nothing(
    monkeypatch: pytest.MonkeyPatch, chinook_sqlite: Path
) -> None:
    monkeypatch.setenv("CHINOOK_SQLITE_PATH", str(chinook_sqlite))
    monkeypatch.setenv("MODEL_BUCKET", BUCKET)
    with moto_bucket(BUCKET) as s3:
        answer = load_train_handler(monkeypatch).lambda_handler(
            {"action": "measure"}, train_context("measure-1")
        )
        assert s3.list_objects_v2(Bucket=BUCKET).get("KeyCount") == 0
    # $.Payload.customers and $.Payload.new_lines: Chinook's 59 customers and, with no
    # watermark (TRAIN_AGGREGATES=full), every one of its 2,240 invoice lines
    assert answer["customers"] == 59
    assert answer["new_lines"] == 2240


def test_a_missing_store_fails_the_step_with_a_data_source_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # the state machine retries DataSourceError by name, then notifies
    monkeypatch.setenv("CHINOOK_SQLITE_PATH", str(tmp_path / "none.sqlite"))
    with pytest.raises(DataSourceError):
        load_train_handler(monkeypatch).lambda_handler({"action": "measure"}, train_context("m-2"))
