"""Reading the summaries in blocks builds exactly the dataset one read of every row builds."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from genre_model.train.features import build_dataset
from genre_model.train.pipeline import customer_snapshot
from genre_model.train.sources import SQLiteSource


@pytest.mark.parametrize("feature_set", ["spec", "location"])
@pytest.mark.parametrize("block_rows", [1, 7, 58])
def test_chinook_in_small_blocks_equals_one_block(
    chinook_sqlite: Path, feature_set: str, block_rows: int
) -> None:
    rows = list(SQLiteSource(chinook_sqlite).customer_summaries())
    assert len(rows) == 59
    assert block_rows < len(rows)  # more than one block
    whole = build_dataset(rows, feature_set, block_rows=len(rows))
    blocks = build_dataset(iter(rows), feature_set, block_rows=block_rows)
    pd.testing.assert_frame_equal(blocks.customers, whole.customers, check_exact=True)
    pd.testing.assert_frame_equal(blocks.summaries, whole.summaries, check_exact=True)
    assert blocks.X.tobytes() == whole.X.tobytes()
    assert np.array_equal(blocks.y, whole.y)
    assert (blocks.countries, blocks.dropped_genres, blocks.skipped, blocks.customers_read) == (
        whole.countries,
        whole.dropped_genres,
        whole.skipped,
        whole.customers_read,
    )
    # the predict snapshot a version publishes is the same file
    assert pickle.dumps(customer_snapshot(blocks)) == pickle.dumps(customer_snapshot(whole))
