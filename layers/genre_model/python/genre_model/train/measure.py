"""How big the store is, measured before any heavy work, so the nightly run can pick its engine.

Two counts, one cheap query each: customers (what the fit grows with) and the invoice lines this
run has to aggregate (what the SQL grows with). Until aggregates are kept incrementally every
line is new: a full aggregation reads them all.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from typing import Any, NamedTuple

from genre_model.config import DatabaseSettings
from genre_model.train.db_connect import connect
from genre_model.train.sources import (
    ChinookSource,
    DataSourceError,
    MySQLSource,
    Naming,
    SQLiteSource,
    detect_naming,
    open_source,
)


class StoreSize(NamedTuple):
    """What the state machine's Choice state compares with its thresholds."""

    customers: int
    new_lines: int


def count_sql(n: Naming) -> tuple[str, str]:
    """Customer count and new-line count for naming ``n`` (identifiers from the fixed namings)."""
    return (
        f"SELECT COUNT(*) FROM {n.customer}",  # noqa: S608 - fixed identifiers, no input
        f"SELECT COUNT(*) FROM {n.invoice_line}",  # noqa: S608 - fixed identifiers, no input
    )


def _sqlite_size(source: SQLiteSource) -> StoreSize:
    if not source.path.is_file():
        raise DataSourceError(f"SQLite database not found: {source.path}")
    uri = f"{source.path.resolve().as_uri()}?mode=ro"
    try:
        with closing(sqlite3.connect(uri, uri=True, timeout=10)) as conn:
            naming = detect_naming([r[0] for r in conn.execute("SELECT name FROM sqlite_master")])
            customers, lines = (conn.execute(sql).fetchone()[0] for sql in count_sql(naming))
    except sqlite3.Error as exc:
        raise DataSourceError(f"SQLite query failed on {source.path}: {exc}") from None
    return StoreSize(int(customers), int(lines))


def _mysql_size(source: MySQLSource) -> StoreSize:
    import pymysql

    try:
        with (
            connect(source.credentials, source.db, source.reread) as conn,
            conn.cursor() as cursor,
        ):
            cursor.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE()"
            )
            naming = detect_naming([r[0] for r in cursor.fetchall()])
            counts: list[Any] = []
            for sql in count_sql(naming):
                cursor.execute(sql)
                row = cursor.fetchone()
                counts.append(row[0] if row else 0)
    except (pymysql.MySQLError, OSError, UnicodeError) as exc:
        raise DataSourceError(f"MySQL error on {source.description}: {exc}") from None
    return StoreSize(int(counts[0]), int(counts[1]))


def measure_store(db: DatabaseSettings, source: ChinookSource | None = None) -> StoreSize:
    """The store's size, read from the database the settings (or ``source``) point at."""
    source = source or open_source(db)
    if isinstance(source, SQLiteSource):
        return _sqlite_size(source)
    if isinstance(source, MySQLSource):
        return _mysql_size(source)
    raise DataSourceError(f"cannot measure {source.description}: not SQLite or MySQL")
