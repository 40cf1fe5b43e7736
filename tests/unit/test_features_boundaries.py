"""The data rules of ``build_dataset`` at their limits, each from both sides: a country of exactly
``MAX_COUNTRY_LENGTH`` characters and one more, a genre of exactly ``MIN_CUSTOMERS_PER_GENRE``
customers and one fewer, totals at the API's limits and one step past, and the words a refused
run or a skipped row is reported in (an operator reads them in the training log)."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from genre_model.contract import MAX_COUNTRY_LENGTH, MAX_FEATURE_VALUE, MAX_TRACKS
from genre_model.train.features import MIN_CUSTOMERS_PER_GENRE, build_dataset, describe_skipped
from genre_model.train.sources import CustomerRow, DataSourceError

LOGGER = "genre_model.train.features"


def fans(genre: str, n: int, first_id: int, country: str | None = "USA") -> list[CustomerRow]:
    """``n`` customers whose favourite genre is ``genre`` (one track, one dollar each)."""
    return [CustomerRow(first_id + i, country, genre, 100, 1, 100) for i in range(n)]


BASE = fans("Rock", 3, 1) + fans("Jazz", 3, 10)


def test_a_country_of_exactly_the_longest_a_request_may_send_is_kept_and_one_more_is_not() -> None:
    longest, too_long = "x" * MAX_COUNTRY_LENGTH, "y" * (MAX_COUNTRY_LENGTH + 1)
    rows = [*BASE, *fans("Rock", 1, 20, longest), *fans("Jazz", 1, 21, too_long)]
    ds = build_dataset(rows, "location")
    assert ds.summaries.loc[20, "country"] == longest
    assert ds.summaries.loc[21, "country"] == "Unknown"
    assert ds.countries == ("USA", longest)
    assert ds.customers.loc[20, "country_code"] == 2
    assert ds.customers.loc[21, "country_code"] == 0


def test_a_genre_of_exactly_the_minimum_customers_is_kept_and_one_fewer_is_dropped(
    caplog: pytest.LogCaptureFixture,
) -> None:
    assert MIN_CUSTOMERS_PER_GENRE == 2  # README: genres with fewer than 2 customers are dropped
    rows = [*BASE, *fans("Blues", 2, 30), *fans("Opera", 1, 40), *fans("Folk", 1, 41)]
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        ds = build_dataset(rows)
    assert set(ds.y) == {"Rock", "Jazz", "Blues"}
    assert ds.dropped_genres == {"Folk": 1, "Opera": 1}
    assert [r.getMessage() for r in caplog.records if r.name == LOGGER] == [
        "Dropping genres with fewer than 2 customers: Folk (1), Opera (1)"
    ]


def test_a_customer_with_no_counted_track_is_left_out_and_one_track_is_enough(
    caplog: pytest.LogCaptureFixture,
) -> None:
    rows = [
        *BASE,
        CustomerRow(50, "USA", "Rock", 0, 0, 0, skipped_lines=2),  # every line skipped
        CustomerRow(51, "USA", "Rock", 99, 1, 99, skipped_lines=1),
        CustomerRow(52, "USA", None, 99, 1, 0),  # favourite genre without a name
    ]
    with caplog.at_level(logging.INFO, logger=LOGGER):
        ds = build_dataset(rows)
    assert 50 not in ds.summaries.index
    assert 51 in ds.customers.index
    assert 52 in ds.summaries.index  # predictable (snapshot), not labelled
    assert 52 not in ds.customers.index
    assert ds.customers_read == len(rows)
    assert ds.skipped == {
        "invoice_lines": 3,
        "customers_without_valid_lines": 1,
        "customers_with_unnamed_genre": 1,
    }
    assert [r.getMessage() for r in caplog.records if r.levelno == logging.INFO] == [
        "Data rules skipped: 3 invoice lines, 1 customers without valid lines, "
        "1 customers with unnamed genre"
    ]


def test_describe_skipped_names_only_the_rules_that_left_rows_out() -> None:
    assert describe_skipped({"invoice_lines": 0, "customers_without_valid_lines": 4}) == (
        "4 customers without valid lines"
    )
    assert describe_skipped({"invoice_lines": 0}) == ""


def test_tracks_up_to_the_api_limit_train_and_one_more_refuses_the_run() -> None:
    ds = build_dataset([*BASE, CustomerRow(60, "USA", "Rock", 100, MAX_TRACKS, 100)])
    assert ds.customers.loc[60, "total_tracks_bought"] == MAX_TRACKS
    with pytest.raises(DataSourceError, match=r"^1 customers have totals beyond"):
        build_dataset([*BASE, CustomerRow(60, "USA", "Rock", 100, MAX_TRACKS + 1, 100)])


def test_money_up_to_the_api_limit_trains_and_past_it_either_way_refuses_the_run() -> None:
    cents = 34 * 10**39  # exactly MAX_FEATURE_VALUE dollars once divided by 100
    ds = build_dataset([*BASE, CustomerRow(60, "USA", "Rock", cents, 1, cents)])
    assert ds.customers.loc[60, "total_spent"] == MAX_FEATURE_VALUE
    past = int(np.nextafter(MAX_FEATURE_VALUE, np.inf) * 100)
    for total in (past, -past):  # a refund larger than any sale is as unsendable
        with pytest.raises(DataSourceError, match=r"customer ids 60\)"):
            build_dataset([*BASE, CustomerRow(60, "USA", "Rock", total, 1, 0)])


def test_a_refused_run_names_at_most_five_customers() -> None:
    huge = [CustomerRow(70 + i, "USA", "Rock", 100, MAX_TRACKS + 1, 100) for i in range(6)]
    with pytest.raises(DataSourceError) as refused:
        build_dataset([*BASE, *huge])
    assert str(refused.value) == (
        "6 customers have totals beyond what the API accepts (customer ids "
        "70, 71, 72, 73, 74, ...): refusing to train on them"
    )
    with pytest.raises(DataSourceError) as refused:
        build_dataset([*BASE, *huge[:5]])
    assert "(customer ids 70, 71, 72, 73, 74): refusing" in str(refused.value)


def test_ids_standing_for_two_customers_are_named_in_the_refusal() -> None:
    with pytest.raises(DataSourceError) as refused:
        build_dataset([*BASE, *fans("Rock", 1, 1), *fans("Jazz", 1, 10)])
    assert str(refused.value) == (
        "customer ids 1, 10 each stand for more than one customer once read as numbers "
        "('01' and '1'): refusing to train (fix the ids)"
    )
    many = [CustomerRow(i, "USA", "Rock", 100, 1, 100) for i in range(1, 7)]
    with pytest.raises(DataSourceError, match=r"customer ids 1, 2, 3, 4, 5, \.\.\. each stand"):
        build_dataset([*many, *many])
    with pytest.raises(DataSourceError, match=r"^customer id 3 stands for more than one customer"):
        build_dataset([*BASE, *fans("Rock", 1, 3)])


def test_the_spending_ratio_is_the_favourite_genres_share_of_the_money() -> None:
    rows = [
        *BASE,
        CustomerRow(80, "USA", "Rock", 400, 4, 100),
        CustomerRow(81, "USA", "Rock", 0, 3, 0),
    ]
    ds = build_dataset(rows)
    assert ds.customers.loc[80, "genre_spending_ratio"] == 0.25
    assert ds.customers.loc[80, "total_spent"] == 4.0
    assert ds.customers.loc[81, "genre_spending_ratio"] == 0.0
    assert ds.X.dtype == np.float64
    assert ds.summaries.columns.tolist() == [
        "total_spent",
        "total_tracks_bought",
        "genre_spending_ratio",
        "country",
    ]
