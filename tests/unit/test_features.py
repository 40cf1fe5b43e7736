"""Features and labels from customer summaries."""

from __future__ import annotations

import logging
import math
from decimal import Decimal

import numpy as np
import pytest

from genre_model.contract import LOCATION_FEATURES, MAX_COUNTRY_LENGTH, MAX_TRACKS, SPEC_FEATURES
from genre_model.train.features import build_dataset
from genre_model.train.sources import CustomerRow, DataSourceError, customer_id

ROWS = [
    #           id  country   genre     cents tracks genre_cents
    CustomerRow(1, "USA", "Rock", 1000, 10, 500),
    CustomerRow(2, "Brazil", "Rock", 396, 4, 396),
    CustomerRow(3, "USA", "Jazz", 2574, 26, 99),
    CustomerRow(4, None, "Jazz", 199, 1, 199),
    CustomerRow(5, "Chile", "Opera", 990, 10, 990),  # only Opera fan: dropped
    CustomerRow(6, "Canada", "Rock", 0, 2, 0),  # free tracks only
]


def test_spec_features_and_labels() -> None:
    ds = build_dataset(ROWS)
    assert ds.feature_columns == SPEC_FEATURES
    frame = ds.customers
    assert list(frame.index) == [1, 2, 3, 4, 6]
    assert frame.loc[1, "total_spent"] == 10.0
    assert frame.loc[3, "total_spent"] == 25.74
    assert frame.loc[3, "total_tracks_bought"] == 26
    assert frame.loc[1, "genre_spending_ratio"] == 0.5
    assert frame.loc[2, "genre_spending_ratio"] == 1.0
    assert frame.loc[3, "genre_spending_ratio"] == 99 / 2574
    assert frame.loc[6, "genre_spending_ratio"] == 0.0  # 0/0 is 0, not NaN
    assert not np.isnan(ds.X).any()
    assert ds.X.shape == (5, 3)
    assert ds.X.dtype == np.float64
    assert list(ds.y) == ["Rock", "Rock", "Jazz", "Jazz", "Rock"]
    assert ds.X[2].tolist() == [25.74, 26.0, 99 / 2574]


def test_rare_genres_dropped_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="genre_model.train.features"):
        ds = build_dataset(ROWS)
    assert ds.dropped_genres == {"Opera": 1}
    assert ds.customers_read == 6
    assert "Opera" not in set(ds.y)
    records = [r for r in caplog.records if r.name == "genre_model.train.features"]
    assert len(records) == 1
    assert records[0].levelno == logging.WARNING
    assert "Opera (1)" in records[0].getMessage()
    assert "Rock" not in records[0].getMessage()
    # the predict snapshot still has every customer read, the dropped one included
    assert list(ds.summaries.index) == [1, 2, 3, 4, 5, 6]
    assert ds.summaries.loc[5, "total_spent"] == 9.9


def test_nothing_dropped_nothing_logged(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger="genre_model.train.features"):
        ds = build_dataset([r for r in ROWS if r.genre != "Opera"])
    assert ds.dropped_genres == {}
    assert not [r for r in caplog.records if r.name == "genre_model.train.features"]


def test_location_feature_with_unknown_bucket() -> None:
    ds = build_dataset(ROWS, feature_set="location")
    assert ds.feature_columns == LOCATION_FEATURES
    # Countries of the labelled customers only (Chile's fan was dropped), sorted; codes from 1.
    assert ds.countries == ("Brazil", "Canada", "USA")
    codes = ds.customers["country_code"]
    assert codes.loc[1] == 3  # USA
    assert codes.loc[2] == 1  # Brazil
    assert codes.loc[6] == 2  # Canada
    assert codes.loc[4] == 0  # missing country -> unknown bucket 0
    assert ds.customers.loc[4, "country"] == "Unknown"
    assert ds.X.shape == (5, 4)
    assert ds.X[:, 3].tolist() == [3.0, 1.0, 3.0, 0.0, 2.0]


@pytest.mark.parametrize(
    ("value", "expected"),
    [(7, 7), (Decimal("7.00"), 7), (7.0, 7), ("7", 7), ("07", 7), (2**63 - 1, 2**63 - 1)],
)
def test_customer_ids_read_as_the_whole_number_they_hold(value: object, expected: int) -> None:
    assert customer_id(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        Decimal("1.4"),
        1.5,
        0,
        -3,
        2**63,
        2**64 - 1,
        1e300,
        math.nan,
        math.inf,
        Decimal("NaN"),
        "abc",
        "",
        " 7",
        "-1",
        "1.0",
        "٣",
        True,
        b"1",
        None,
    ],
)
def test_customer_ids_no_request_could_name_refuse_the_run(value: object) -> None:
    with pytest.raises(DataSourceError, match=f"is not a whole number from 1 to {2**63 - 1}"):
        customer_id(value)


def test_two_rows_with_one_id_refuse_the_run() -> None:
    """'01' and '1' in a text column are both customer 1: which one a request means is unknown."""
    rows = [*ROWS, CustomerRow(customer_id("03"), "USA", "Jazz", 100, 1, 100)]
    with pytest.raises(DataSourceError, match="customer id 3 stands for more than one customer"):
        build_dataset(rows)


def test_totals_beyond_what_a_request_accepts_refuse_the_run() -> None:
    rows = [*ROWS, CustomerRow(9, "USA", "Jazz", 100, MAX_TRACKS + 1, 100)]
    with pytest.raises(DataSourceError, match=r"beyond what the API accepts \(customer ids 9\)"):
        build_dataset(rows)


def test_countries_longer_than_a_request_may_send_are_unknown() -> None:
    rows = [*ROWS[:4], CustomerRow(9, "x" * (MAX_COUNTRY_LENGTH + 1), "Rock", 100, 1, 100)]
    ds = build_dataset(rows, "location")
    assert ds.summaries.loc[9, "country"] == "Unknown"
    assert "x" * (MAX_COUNTRY_LENGTH + 1) not in ds.countries


def test_a_share_rounded_past_one_is_one() -> None:
    """MySQL sums huge DOUBLE cents with rounding: the genre's sum can exceed the total's."""
    total = 2**62
    rows = [*ROWS, CustomerRow(9, "USA", "Rock", total, 1, total + 1024)]
    assert build_dataset(rows).summaries.loc[9, "genre_spending_ratio"] == 1.0
