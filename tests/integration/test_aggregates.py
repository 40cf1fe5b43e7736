"""Incremental aggregates on real databases: MariaDB (both Chinook namings) and SQLite.

Every test works on a scratch copy (a database ``genre_agg_<hex>`` on the local MariaDB, a copied
SQLite file): the shared Chinook databases are never written. Each proves one guarantee of
``train/aggregates.py``: a rebuild gives exactly the full query's rows (and so byte-identical
features), folding in steps gives the same as one rebuild, a re-run counts nothing twice, a fold
that fails half way leaves every table as it was, and a user who may not write the tables gets one
warning line and the full query's rows.
"""

from __future__ import annotations

import logging
import secrets
import shutil
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from genre_model.config import DatabaseSettings, load_settings
from genre_model.train import aggregates
from genre_model.train.features import build_dataset
from genre_model.train.sources import (
    PASCAL,
    SNAKE,
    ChinookSource,
    DataSourceError,
    MySQLCredentials,
    MySQLSource,
    Naming,
    SQLiteSource,
)
from tests.helpers import CHINOOK, require, require_mysql

HOST, PORT = "127.0.0.1", 3306
SPLIT_AT = 1000  # Chinook has 2,240 invoice lines: fold the first 1,000, then the rest


def connect(database: str | None = None, **kwargs: Any):
    import pymysql

    return pymysql.connect(
        host=HOST, port=PORT, user="root", password="", database=database, autocommit=True, **kwargs
    )


def mysql_source(database: str, user: str = "root", password: str = "") -> MySQLSource:
    return MySQLSource(MySQLCredentials(HOST, PORT, user, password, database), DatabaseSettings())


class Store:
    """A scratch copy of one Chinook store and SQL run on it directly (as an operator would)."""

    def __init__(self, source: ChinookSource, naming: Naming, run: Any) -> None:
        self.source, self.naming, self.run = source, naming, run

    def rows(self, table: str) -> list[tuple[Any, ...]]:
        return sorted(self.run(f"SELECT * FROM {table}"), key=repr)  # noqa: S608 - fixed names

    def tables(self) -> dict[str, list[tuple[Any, ...]]]:
        return {table: self.rows(table) for table in aggregates.TABLES}


MYSQL = pytest.mark.mysql


@pytest.fixture(
    params=[
        pytest.param("mysql-snake", marks=MYSQL),
        pytest.param("mysql-pascal", marks=MYSQL),
        "sqlite-pascal",
        "sqlite-snake",
    ]
)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    kind, naming_name = request.param.split("-")
    naming = SNAKE if naming_name == "snake" else PASCAL
    if kind == "sqlite":
        yield _sqlite_store(naming, tmp_path)
        return
    original = require_mysql("chinook" if naming is SNAKE else "Chinook")
    scratch = f"genre_agg_{secrets.token_hex(4)}"
    with connect() as conn, conn.cursor() as cursor:
        cursor.execute(f"CREATE DATABASE `{scratch}`")
        try:
            for table in naming.tables:
                cursor.execute(f"CREATE TABLE `{scratch}`.{table} LIKE `{original}`.{table}")
                cursor.execute(
                    f"INSERT INTO `{scratch}`.{table} SELECT * FROM `{original}`.{table}"  # noqa: S608
                )

            def run(sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
                with connect(scratch) as c, c.cursor() as cur:
                    cur.execute(sql, params)
                    return list(cur.fetchall())

            yield Store(mysql_source(scratch), naming, run)
        finally:
            cursor.execute(f"DROP DATABASE IF EXISTS `{scratch}`")


def _sqlite_store(naming: Naming, tmp_path: Path) -> Store:
    if naming is PASCAL:
        original = CHINOOK / "Chinook_Sqlite.sqlite"
        require(original.is_file(), f"{original} not found")
        path = Path(shutil.copy(original, tmp_path / "chinook.sqlite"))
    else:  # no snake_case Chinook ships as SQLite: the synthetic store is one
        from devtools.synthetic import generate, write_sqlite

        path = write_sqlite(generate(300, seed=7), tmp_path / "snake.sqlite", "snake_case")

    def run(sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with closing(sqlite3.connect(path)) as conn, conn:
            return conn.execute(sql.replace("%s", "?"), params).fetchall()

    return Store(SQLiteSource(path), naming, run)


def incremental(store: Store) -> list[Any]:
    return list(aggregates.summaries(store.source, "incremental"))


def test_rebuild_gives_the_full_query_rows_and_byte_identical_features(store: Store) -> None:
    full = list(store.source.customer_summaries())
    with store.source.session(write=True) as session:
        done = aggregates.rebuild(session)
        rebuilt = list(aggregates.read_summaries(session))
    assert done.lines == len(store.rows(store.naming.invoice_line)) > 0
    assert rebuilt == full
    for feature_set in ("spec", "location"):
        a, b = build_dataset(full, feature_set), build_dataset(rebuilt, feature_set)
        assert a.X.tobytes() == b.X.tobytes()
        assert list(a.y) == list(b.y)
        assert a.summaries.equals(b.summaries)


def test_folding_in_steps_equals_one_rebuild_and_a_rerun_counts_nothing_twice(
    store: Store,
) -> None:
    n = store.naming
    full = list(store.source.customer_summaries())
    lines = store.rows(n.invoice_line)
    later = [row for row in lines if row[0] > SPLIT_AT]
    store.run(  # hold the later lines back; they arrive after the first fold
        f"CREATE TABLE held AS SELECT * FROM {n.invoice_line} WHERE {n.invoice_line_id} > %s",  # noqa: S608
        (SPLIT_AT,),
    )
    store.run(f"DELETE FROM {n.invoice_line} WHERE {n.invoice_line_id} > %s", (SPLIT_AT,))  # noqa: S608
    first = incremental(store)
    assert first == list(store.source.customer_summaries()) != full  # only the first lines
    store.run(f"INSERT INTO {n.invoice_line} SELECT * FROM held")  # noqa: S608 - fixed names
    before = aggregates.measure(store.source, "incremental")
    assert (before.new_lines, before.watermark) == (len(later), SPLIT_AT)
    assert incremental(store) == full
    tables = store.tables()
    assert incremental(store) == full  # the re-run: nothing past the watermark
    assert store.tables() == tables
    after = aggregates.measure(store.source, "incremental")
    assert (after.new_lines, after.watermark) == (0, max(row[0] for row in lines))
    assert after.customers == len(store.rows(n.customer))


def test_a_fold_that_fails_half_way_leaves_every_table_as_it_was(store: Store) -> None:
    n = store.naming
    store.run(f"DELETE FROM {n.invoice_line} WHERE {n.invoice_line_id} > %s", (SPLIT_AT,))  # noqa: S608
    incremental(store)
    before = store.tables()
    store.run(  # a new line for a customer already folded: the fold must update, then fail
        f"INSERT INTO {n.invoice_line} SELECT {SPLIT_AT + 1}, {n.invoice_id}, {n.track_id}, "  # noqa: S608
        f"{n.unit_price}, {n.quantity} FROM {n.invoice_line} WHERE {n.invoice_line_id} = 1"
    )
    # The watermark's move fails after both data statements ran (a crash at the last moment).
    if isinstance(store.source, MySQLSource):
        store.run(
            f"CREATE TRIGGER refuse BEFORE UPDATE ON {aggregates.WATERMARK} FOR EACH ROW "  # noqa: S608
            "SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'crash'"
        )
    else:
        store.run(
            f"CREATE TRIGGER refuse BEFORE UPDATE ON {aggregates.WATERMARK} "
            "BEGIN SELECT RAISE(ABORT, 'crash'); END"
        )
    with pytest.raises(DataSourceError, match="crash"):
        incremental(store)
    assert store.tables() == before
    store.run("DROP TRIGGER refuse")
    assert incremental(store) == list(store.source.customer_summaries())


@MYSQL
def test_a_user_who_may_not_create_tables_gets_one_warning_and_the_full_rows(
    caplog: pytest.LogCaptureFixture,
) -> None:
    database = require_mysql("chinook")
    name, password = f"genre_agg_{secrets.token_hex(4)}", secrets.token_urlsafe(18)
    hosts = ("%", "localhost", "127.0.0.1")
    with connect() as conn, conn.cursor() as cursor:
        try:
            for host in hosts:
                cursor.execute("CREATE USER %s@%s IDENTIFIED BY %s", (name, host, password))
                cursor.execute(f"GRANT SELECT ON `{database}`.* TO %s@%s", (name, host))
            source = mysql_source(database, name, password)
            with caplog.at_level(logging.INFO, logger="genre_model"):
                rows = list(aggregates.summaries(source, "incremental"))
        finally:
            for host in hosts:
                cursor.execute("DROP USER IF EXISTS %s@%s", (name, host))
    assert rows == list(mysql_source(database).customer_summaries())
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1
    assert "full aggregation query" in warnings[0].getMessage()
    assert password not in caplog.text
    with connect(database) as conn, conn.cursor() as cursor:  # nothing was created in Chinook
        cursor.execute("SHOW TABLES LIKE 'customer%%spend'")
        assert cursor.fetchall() == ()


def test_measure_reads_without_creating_a_table(store: Store) -> None:
    measured = aggregates.measure(store.source, "incremental")
    assert measured.watermark == 0
    assert measured.new_lines == len(store.rows(store.naming.invoice_line))
    assert measured.customers == len(store.rows(store.naming.customer))
    assert measured.as_dict()["aggregates"] == "incremental"
    with store.source.session() as session:
        assert aggregates.watermark(session) == 0
    with pytest.raises(Exception, match=r"(?i)no such table|doesn't exist"):
        store.rows(aggregates.WATERMARK)


def test_measure_store_follows_the_settings(tmp_path: Path) -> None:
    store = _sqlite_store(SNAKE, tmp_path)
    path = str(tmp_path / "snake.sqlite")
    incremental(store)
    settings = load_settings({"CHINOOK_SQLITE_PATH": path, "TRAIN_AGGREGATES": "incremental"})
    measured = aggregates.measure_store(settings)
    assert (measured.new_lines, measured.aggregates) == (0, "incremental")
    full = aggregates.measure_store(load_settings({"CHINOOK_SQLITE_PATH": path}))
    assert full.new_lines == len(store.rows(SNAKE.invoice_line))
    assert full.watermark == 0


DDL_FILE = Path(__file__).resolve().parents[2] / "infra" / "db" / "aggregates.sql"


def sql_statements(path: Path) -> list[str]:
    """The file's statements (no DELIMITER in it), comments dropped."""
    text = "\n".join(line for line in path.read_text().splitlines() if not line.startswith("--"))
    return [s.strip() for s in text.split(";") if s.strip()]


def test_the_documented_ddl_is_the_code_ddl() -> None:
    created = [s for s in sql_statements(DDL_FILE) if s.startswith("CREATE TABLE")]
    documented = [s.replace(" IF NOT EXISTS", "", 1) for s in created]
    assert documented == list(aggregates.DDL.values())


@MYSQL
def test_with_the_documented_grant_a_user_without_create_folds(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    if not isinstance(store.source, MySQLSource):
        pytest.skip("grants are MySQL's")
    scratch = store.source.credentials.database
    name, password = f"genre_agg_{secrets.token_hex(4)}", secrets.token_urlsafe(18)
    hosts = ("%", "localhost", "127.0.0.1")
    with connect(scratch) as conn, conn.cursor() as cursor:
        try:
            for host in hosts:
                cursor.execute("CREATE USER %s@%s IDENTIFIED BY %s", (name, host, password))
                cursor.execute(f"GRANT SELECT ON `{scratch}`.* TO %s@%s", (name, host))
                cursor.execute("SET @train_user = %s, @train_host = %s", (name, host))
                for statement in sql_statements(DDL_FILE):  # as the DBA runs it
                    cursor.execute(statement)
            user = mysql_source(scratch, name, password)
            with caplog.at_level(logging.WARNING, logger="genre_model"):
                rows = list(aggregates.summaries(user, "incremental"))
            with connect(scratch) as check, check.cursor() as c:
                c.execute("SHOW GRANTS FOR %s@%s", (name, "%"))
                grants = " ".join(r[0] for r in c.fetchall())
        finally:
            for host in hosts:
                cursor.execute("DROP USER IF EXISTS %s@%s", (name, host))
    assert caplog.records == []  # no fallback: the fold ran
    assert rows == list(store.source.customer_summaries())
    assert aggregates.measure(store.source, "incremental").new_lines == 0
    assert "CREATE" not in grants
    assert "INSERT, UPDATE, DELETE" in grants


def test_cli_status_rebuild_fold(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from genre_model.cli import main

    store = _sqlite_store(SNAKE, tmp_path)
    db = str(tmp_path / "snake.sqlite")
    lines = len(store.rows(SNAKE.invoice_line))
    assert main(["aggregates", "status", "--db", db]) == 0
    assert f"watermark at invoice line 0, {lines} lines past it" in capsys.readouterr().out
    assert main(["aggregates", "rebuild", "--db", db]) == 0
    assert f"folded {lines} invoice lines" in capsys.readouterr().out
    assert main(["aggregates", "fold", "--db", db]) == 0
    assert "folded 0 invoice lines" in capsys.readouterr().out
    assert main(["aggregates", "fold", "--db", str(tmp_path / "missing.sqlite")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: SQLite database not found")
    assert len(err.strip().splitlines()) == 1
