"""The real Chinook on MariaDB, checked by hand against plain GROUP BY SQL; SQLite agrees."""

from __future__ import annotations

import json
import secrets
import traceback
from decimal import Decimal

import boto3
import pandas as pd
import pytest
from moto import mock_aws

from genre_model.config import DatabaseSettings, load_settings
from genre_model.train.features import build_dataset
from genre_model.train.sources import (
    DataSourceError,
    MySQLCredentials,
    MySQLSource,
    SQLiteSource,
    open_source,
)

pytestmark = pytest.mark.mysql

HOST, PORT = "127.0.0.1", 3306
CHECKED = (1, 12, 56)  # 12 and 56 tie on spend AND tracks between two genres


def source(database: str, password: str = "") -> MySQLSource:
    return MySQLSource(MySQLCredentials(HOST, PORT, "root", password, database), DatabaseSettings())


def connect(database: str | None = None):
    import pymysql

    return pymysql.connect(host=HOST, port=PORT, user="root", password="", database=database)


def by_hand(customer_ids: tuple[int, ...]) -> dict[int, list[tuple[int, str, Decimal, int]]]:
    """Per customer: (genre_id, genre, spent, tracks) per genre, with a plain GROUP BY."""
    marks = ", ".join(["%s"] * len(customer_ids))
    sql = (
        "SELECT i.customer_id, g.genre_id, g.name, SUM(il.unit_price * il.quantity) AS spent, "  # noqa: S608 - only %s placeholders are interpolated
        "SUM(il.quantity) AS n FROM invoice_line il JOIN invoice i USING (invoice_id) "
        "JOIN track t USING (track_id) JOIN genre g USING (genre_id) "
        f"WHERE i.customer_id IN ({marks}) GROUP BY i.customer_id, g.genre_id, g.name"
    )
    result: dict[int, list] = {c: [] for c in customer_ids}
    with connect("chinook") as conn, conn.cursor() as cursor:
        cursor.execute(sql, customer_ids)
        for customer_id, genre_id, name, spent, n in cursor.fetchall():
            result[customer_id].append((genre_id, name, Decimal(spent), int(n)))
    return result


def test_59_customers(mysql_chinook: str) -> None:
    rows = list(source(mysql_chinook).customer_summaries())
    assert len(rows) == 59
    assert [r.customer_id for r in rows] == list(range(1, 60))
    with connect(mysql_chinook) as conn, conn.cursor() as cursor:
        cursor.execute("SELECT SUM(quantity) FROM invoice_line")
        (lines,) = cursor.fetchone()
    assert sum(r.total_tracks for r in rows) == int(lines) == 2240


def test_features_and_labels_match_hand_sql(mysql_chinook: str) -> None:
    expected = by_hand(CHECKED)
    rows = {r.customer_id: r for r in source(mysql_chinook).customer_summaries()}
    dataset = build_dataset(rows.values())
    for customer_id, genres in expected.items():
        total = sum(spent for _, _, spent, _ in genres)
        tracks = sum(n for *_, n in genres)
        # favourite: most money, then most tracks, then lowest genre id
        _, genre, spent, _ = min(genres, key=lambda g: (-g[2], -g[3], g[0]))
        row = rows[customer_id]
        assert row.genre == genre
        assert row.total_cents == int(total * 100)
        assert row.total_tracks == tracks
        assert row.genre_cents == int(spent * 100)
        features = dataset.customers.loc[customer_id]
        assert features["total_spent"] == pytest.approx(float(total), abs=1e-9)
        assert features["total_tracks_bought"] == tracks
        assert features["genre_spending_ratio"] == pytest.approx(float(spent / total), rel=1e-12)
        assert features["genre"] == genre


@pytest.mark.parametrize("customer_id", [12, 56])
def test_tie_rule_lowest_genre_id_wins(mysql_chinook: str, customer_id: int) -> None:
    genres = by_hand((customer_id,))[customer_id]
    top_spent = max(g[2] for g in genres)
    top = [g for g in genres if g[2] == top_spent]
    assert len(top) == 2, "the data no longer has the documented tie"
    assert top[0][3] == top[1][3], "tied on money and on tracks"
    winner = min(top, key=lambda g: g[0])
    assert winner[:2] == (1, "Rock")
    row = next(
        r for r in source(mysql_chinook).customer_summaries() if r.customer_id == customer_id
    )
    assert row.genre == "Rock"
    assert row.genre_cents == int(top_spent * 100)


def test_both_namings_identical(mysql_chinook: str, pascal_chinook: str) -> None:
    snake = list(source(mysql_chinook).customer_summaries())
    pascal = list(source(pascal_chinook).customer_summaries())
    assert len(snake) == 59
    assert snake == pascal


@pytest.mark.parametrize("feature_set", ["spec", "location"])
def test_sqlite_matches_mysql(mysql_chinook: str, chinook_sqlite, feature_set: str) -> None:
    mysql_rows = list(source(mysql_chinook).customer_summaries())
    sqlite_rows = list(SQLiteSource(chinook_sqlite).customer_summaries())
    assert mysql_rows == sqlite_rows
    a, b = build_dataset(mysql_rows, feature_set), build_dataset(sqlite_rows, feature_set)
    pd.testing.assert_frame_equal(a.customers, b.customers, check_exact=True)
    assert (a.feature_columns, a.countries, a.dropped_genres) == (
        b.feature_columns,
        b.countries,
        b.dropped_genres,
    )


def test_database_without_chinook_tables(mysql_chinook: str) -> None:
    name = f"genre_test_empty_{secrets.token_hex(4)}"
    with connect() as conn, conn.cursor() as cursor:
        cursor.execute(f"CREATE DATABASE `{name}`")
        try:
            cursor.execute(f"CREATE TABLE `{name}`.customer (customer_id INT)")
            with pytest.raises(DataSourceError) as info:
                list(source(name).customer_summaries())
        finally:
            cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")
    message = str(info.value)
    for table in ("invoice_line", "InvoiceLine", "Customer", "genre"):
        assert table in message


def test_wrong_password_never_leaks(mysql_chinook: str) -> None:
    password = "Wr0ng-Pa55-" + secrets.token_hex(4)
    with pytest.raises(DataSourceError) as info:
        list(source(mysql_chinook, password=password).customer_summaries())
    assert password not in str(info.value)
    assert password not in "".join(traceback.format_exception(info.value))
    assert "root@127.0.0.1:3306/chinook" in str(info.value)


def test_credentials_from_secrets_manager(mysql_chinook: str) -> None:
    with mock_aws():
        client = boto3.client("secretsmanager", region_name="us-east-1")
        arn = client.create_secret(
            Name="chinook/reader",
            SecretString=json.dumps(
                {
                    "engine": "mariadb",
                    "host": HOST,
                    "port": PORT,
                    "username": "root",
                    "password": "",
                    "dbname": mysql_chinook,
                }
            ),
        )["ARN"]
        # DB_* point somewhere useless: only the secret can make this work
        settings = load_settings({"DB_SECRET_ARN": arn, "DB_HOST": "203.0.113.1", "DB_PORT": "1"})
        src = open_source(settings.database)
        assert isinstance(src, MySQLSource)
        assert src.credentials.host == HOST
        rows = list(src.customer_summaries())
    assert len(rows) == 59
