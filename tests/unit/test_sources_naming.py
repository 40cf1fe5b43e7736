"""Schema detection and the SQLite source (no server needed)."""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from genre_model.config import DatabaseSettings, load_settings
from genre_model.train.db_connect import credentials_from_secret
from genre_model.train.sources import (
    PASCAL,
    SNAKE,
    DataSourceError,
    MySQLCredentials,
    MySQLSource,
    SQLiteSource,
    detect_naming,
    open_source,
    parse_mysql_url,
    source_from_url,
)

SNAKE_TABLES = ["customer", "invoice", "invoice_line", "track", "genre", "album", "artist"]
PASCAL_TABLES = ["Customer", "Invoice", "InvoiceLine", "Track", "Genre", "MediaType"]


def test_detects_snake_case() -> None:
    assert detect_naming(SNAKE_TABLES) is SNAKE


def test_detects_pascal_case() -> None:
    assert detect_naming(PASCAL_TABLES) is PASCAL


def test_neither_naming_gives_one_error_listing_missing_tables() -> None:
    with pytest.raises(DataSourceError) as info:
        detect_naming(["customer", "Genre", "employee"])
    message = str(info.value)
    for missing in ("invoice", "invoice_line", "track", "genre"):
        assert f" {missing}" in message or f"{missing}," in message
    for missing in ("Customer", "Invoice", "InvoiceLine", "Track"):
        assert missing in message
    assert "snake_case" in message
    assert "PascalCase" in message
    # tables that are present are not reported missing
    snake_part = message.split("snake_case:")[1].split(";")[0]
    assert "customer" not in snake_part
    pascal_part = message.split("PascalCase:")[1]
    assert "Genre" not in pascal_part


def test_no_tables_at_all() -> None:
    with pytest.raises(DataSourceError, match="InvoiceLine"):
        detect_naming([])


def test_sqlite_without_chinook_tables(tmp_path: Path) -> None:
    path = tmp_path / "other.sqlite"
    with closing(sqlite3.connect(path)) as conn:
        conn.execute("CREATE TABLE customer (customer_id INTEGER)")
        conn.commit()
    with pytest.raises(DataSourceError, match="invoice_line"):
        list(SQLiteSource(path).customer_summaries())


def test_sqlite_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.sqlite"
    with pytest.raises(DataSourceError, match="not found"):
        list(SQLiteSource(path).customer_summaries())
    assert not path.exists()  # read-only: opening never creates the file


def test_credentials_from_rds_secret() -> None:
    fallback = DatabaseSettings(name="chinook", user="fallback")
    creds = credentials_from_secret(
        '{"host": "db", "port": "3307", "username": "u", "password": "p@ss", "dbname": "x"}',
        fallback,
    )
    assert (creds.host, creds.port, creds.user, creds.password, creds.database) == (
        "db",
        3307,
        "u",
        "p@ss",
        "x",
    )
    assert "p@ss" not in repr(creds)
    minimal = credentials_from_secret('{"host": "db"}', fallback)
    assert (minimal.port, minimal.user, minimal.password, minimal.database) == (
        3306,
        "fallback",
        "",
        "chinook",
    )


@pytest.mark.parametrize(
    "secret", ["not json", "[1, 2]", '{"port": 1}', '{"host": "h", "port": "x"}']
)
def test_bad_secret(secret: str) -> None:
    with pytest.raises(DataSourceError):
        credentials_from_secret(secret, DatabaseSettings())


def test_source_from_url() -> None:
    db = DatabaseSettings(user="dflt", name="Chinook")
    src = source_from_url("mysql://bob:p%40ss@dbhost:3307/chinook", db)
    assert isinstance(src, MySQLSource)
    assert src.credentials == MySQLCredentials("dbhost", 3307, "bob", "p@ss", "chinook")
    assert "p@ss" not in src.description
    default = source_from_url("mariadb://dbhost", db)
    assert default.credentials == MySQLCredentials("dbhost", 3306, "dflt", "", "Chinook")
    lite = source_from_url("sqlite:///tmp/x.sqlite", db)
    assert isinstance(lite, SQLiteSource)
    assert lite.path == Path("/tmp/x.sqlite")
    with pytest.raises(DataSourceError, match="no host"):
        source_from_url("mysql:///chinook", db)


@pytest.mark.parametrize(
    ("password", "written"),
    [
        ("pa/ss#wo@rd:x", "pa/ss#wo@rd:x"),  # raw / # @ : work: the host follows the LAST @
        ("€ü-p@ss", "%E2%82%AC%C3%BC-p%40ss"),  # percent-encoded UTF-8
        ("€ü", "€ü"),
        ("100%", "100%25"),
    ],
)
def test_url_passwords(password: str, written: str) -> None:
    creds = parse_mysql_url(f"mysql://bob:{written}@[::1]:3307/chinook", DatabaseSettings())
    assert creds == MySQLCredentials("::1", 3307, "bob", password, "chinook")


@pytest.mark.parametrize(
    "url",
    [
        "mysql://bob:Zq9#Kx/w@dbhost:33o6/chinook",  # bad port
        "mysql://bob:Zq9#Kx/w@dbhost:99999/chinook",
        "mysql://bob:Zq9#Kx/w@dbhost:-1/chinook",
        "mysql://bob:Zq9#Kx/w@dbhost/chi/nook",
        "mysql://bob:Zq9#Kx/w@dbhost/chinook?ssl=1",
        "mysql://bob:Zq9#Kx/w@:3306/chinook",
        "mysql://bob:Zq9#Kx/w@dbhost:\uff13\uff13\uff10\uff16/chinook",  # fullwidth digits
    ],
)
def test_bad_url_errors_never_quote_the_password(url: str) -> None:
    with pytest.raises(DataSourceError) as info:
        source_from_url(url, DatabaseSettings())
    message = str(info.value)
    assert "\n" not in message
    for fragment in ("Zq9", "q9#", "#Kx", "Kx/", "x/w", "/w@"):
        assert fragment not in message, message


@pytest.mark.parametrize("port", [0, 65536, "33o6", True, 3306.5, None])
def test_bad_secret_port(port: object) -> None:
    with pytest.raises(DataSourceError, match="port"):
        credentials_from_secret(json.dumps({"host": "h", "port": port}), DatabaseSettings())


def test_missing_secret_is_a_data_source_error() -> None:
    with mock_aws():
        boto3.client("secretsmanager", region_name="us-east-1").create_secret(
            Name="other", SecretString="{}"
        )
        arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:missing-AbCdEf"
        settings = load_settings({"DB_SECRET_ARN": arn})
        with pytest.raises(DataSourceError, match="cannot read database secret"):
            open_source(settings.database)


def test_sqlite_path_wins_over_mysql(tmp_path: Path) -> None:
    settings = load_settings({"CHINOOK_SQLITE_PATH": str(tmp_path / "c.sqlite"), "DB_PORT": "1"})
    src = open_source(settings.database)
    assert isinstance(src, SQLiteSource)
    assert src.path == tmp_path / "c.sqlite"
