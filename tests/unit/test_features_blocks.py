"""Blocks whose columns read as different types still give the one-read frame's dtypes."""

from __future__ import annotations

from decimal import Decimal

import pandas as pd
import pytest

from genre_model.train.features import summaries_frame
from genre_model.train.sources import CustomerRow

# first block (2 rows): no country at all, integer totals; second: countries, MySQL's Decimals
MIXED = [
    CustomerRow(1, None, "Rock", 1000, 10, 500),
    CustomerRow(2, None, "Jazz", 396, 4, 396),
    CustomerRow(3, "USA", "Rock", Decimal(2574), 26, Decimal(99)),
    CustomerRow(4, "Brazil", "Jazz", Decimal(199), 1, Decimal(199), 3),
    CustomerRow(5, "USA", "Rock", 2.5e3, 10, 990),
]


@pytest.mark.parametrize("block_rows", [1, 2, 3])
def test_blocks_of_different_column_types_equal_one_read(block_rows: int) -> None:
    whole = summaries_frame(MIXED, block_rows=len(MIXED))
    assert str(whole["country"].dtype) == "str"  # pandas' own inference over every row
    pd.testing.assert_frame_equal(summaries_frame(MIXED, block_rows), whole, check_exact=True)
    reference = pd.DataFrame.from_records(MIXED, columns=list(CustomerRow._fields))
    blocks = summaries_frame(iter(MIXED), block_rows)
    for name in ("genre", "total_cents", "genre_cents", "skipped_lines"):
        assert blocks[name].dtype == reference[name].dtype, name


def test_no_rows_is_an_empty_frame() -> None:
    assert summaries_frame([], block_rows=2).empty
