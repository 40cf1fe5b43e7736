"""Incremental aggregates: per-customer spend kept in tables, so a nightly run reads only new lines.

Three tables live next to Chinook (DDL and grants: ``infra/db/aggregates.sql``):

- ``customer_genre_spend``: per customer and genre, cents, tracks and skipped lines, exactly the
  inner GROUP BY of ``sources.customer_summary_sql`` (``genre_key`` is the genre id, or
  ``NO_GENRE`` for lines without one, because a primary key cannot hold NULL);
- ``customer_spend``: one row per customer, the totals and the favourite genre ranked as the full
  query ranks them; the nightly read is one scan of it, joined to names and countries;
- ``aggregate_watermark``: the last ``invoice_line`` id folded in.

A fold reads the lines with ``last < id <= MAX(id)``, adds their per-genre sums, re-ranks only
the customers they touch and moves the watermark, all in ONE transaction: a crash leaves every
table as it was, a re-run finds nothing past the watermark, two runs at once queue on the
watermark row's lock. What the watermark cannot see: lines edited or deleted after they were
folded, and lines committed late with an id below the watermark; ``rebuild`` (the CLI's
``aggregates rebuild``) re-derives everything from the lines, giving the rows of the full query.
"""

# ruff: noqa: S608 - every identifier here is a fixed table name or one of the two Chinook
# namings; every value is a bound parameter.
from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any

from genre_model.config import AGGREGATES_INCREMENTAL, Settings
from genre_model.train.sources import (
    AccessDenied,
    ChinookSource,
    CustomerRow,
    Session,
    customer_genre_spend_sql,
    open_source,
    ranked_sql,
    summary_select_sql,
)

logger = logging.getLogger(__name__)

SPEND, SUMMARY, WATERMARK = "customer_genre_spend", "customer_spend", "aggregate_watermark"
TABLES = (SPEND, SUMMARY, WATERMARK)
WATERMARK_NAME = "invoice_line"
NO_GENRE = -(2**63) + 1  # genre_key of lines without a genre (genre_id NULL); a literal both
# databases read as an integer (SQLite reads -2**63 as a float)
# One DDL for both databases; DECIMAL(65,0) holds any sum of MySQL's exact cents (SQLite reads it
# as NUMERIC). Also in infra/db/aggregates.sql, which a test keeps equal to this.
DDL = {
    SPEND: f"""CREATE TABLE {SPEND} (
    customer_id BIGINT NOT NULL,
    genre_key BIGINT NOT NULL,
    genre_id BIGINT NULL,
    cents DECIMAL(65,0) NOT NULL,
    tracks DECIMAL(65,0) NOT NULL,
    skipped BIGINT NOT NULL,
    PRIMARY KEY (customer_id, genre_key)
)""",
    SUMMARY: f"""CREATE TABLE {SUMMARY} (
    customer_id BIGINT NOT NULL,
    genre_id BIGINT NULL,
    total_cents DECIMAL(65,0) NOT NULL,
    total_tracks DECIMAL(65,0) NOT NULL,
    cents DECIMAL(65,0) NOT NULL,
    skipped_lines BIGINT NOT NULL,
    PRIMARY KEY (customer_id)
)""",
    WATERMARK: f"""CREATE TABLE {WATERMARK} (
    name VARCHAR(64) NOT NULL,
    last_line_id BIGINT NOT NULL,
    lines_folded BIGINT NOT NULL,
    PRIMARY KEY (name)
)""",
}


@dataclass(frozen=True)
class FoldResult:
    """What one fold did: the id range folded (``after`` < id <= ``to``) and its line count."""

    after: int
    to: int
    lines: int


@dataclass(frozen=True)
class StoreMeasure:
    """How big the store is and how much is new: what picks the path of a nightly run."""

    customers: int
    new_lines: int  # invoice lines past the watermark (all lines when there is none)
    watermark: int  # last folded invoice_line id; 0 when nothing is folded
    aggregates: str  # the mode the run would use: "incremental" or "full"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _existing(session: Session) -> set[str]:
    cursor = session.conn.cursor()
    if session.mysql:
        cursor.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE()"
        )
    else:
        cursor.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
    return {str(r[0]) for r in cursor.fetchall()} & set(TABLES)


def ensure_tables(session: Session) -> None:
    """Create the missing aggregate tables and the watermark row (0: nothing folded yet).

    Only missing tables are created: a user granted writes on tables a DBA created (the
    least-privilege setup of infra/db/aggregates.sql) needs no CREATE privilege.
    """
    present = _existing(session)
    cursor = session.conn.cursor()
    for table in TABLES:
        if table not in present:
            cursor.execute(DDL[table])
    ignore = "INSERT IGNORE" if session.mysql else "INSERT OR IGNORE"
    cursor.execute(
        f"{ignore} INTO {WATERMARK} (name, last_line_id, lines_folded) "
        f"VALUES ({session.mark}, 0, 0)",
        (WATERMARK_NAME,),
    )
    if session.mysql:
        session.conn.commit()


def _begin(session: Session) -> Any:
    cursor = session.conn.cursor()
    if session.mysql:
        session.conn.begin()
    else:
        cursor.execute("BEGIN IMMEDIATE")  # the write lock now: two folds never interleave
    return cursor


def _one(cursor: Any, sql: str, params: tuple[Any, ...] = ()) -> Any:
    cursor.execute(sql, params)
    row = cursor.fetchone()
    return None if row is None else row[0]


def _fold_sql(session: Session) -> tuple[str, str]:
    """The two statements of a fold: add the new lines' per-genre sums, re-rank who they touch."""
    n, m = session.naming, session.mark
    lines = f"AND il.{n.invoice_line_id} > {m} AND il.{n.invoice_line_id} <= {m}"
    spend = customer_genre_spend_sql(n, session.mysql, lines)
    columns = "customer_id, genre_key, genre_id, cents, tracks, skipped"
    select = f"SELECT customer_id, COALESCE(genre_id, {NO_GENRE}), genre_id, cents, tracks, skipped"
    if session.mysql:
        upsert = "ON DUPLICATE KEY UPDATE " + ", ".join(
            f"{SPEND}.{c} = {SPEND}.{c} + VALUES({c})" for c in ("cents", "tracks", "skipped")
        )
    else:  # WHERE true: SQLite's parser needs it before ON CONFLICT after a SELECT
        upsert = (
            "WHERE true ON CONFLICT (customer_id, genre_key) DO UPDATE SET "
            "cents = cents + excluded.cents, tracks = tracks + excluded.tracks, "
            "skipped = skipped + excluded.skipped"
        )
    add = f"INSERT INTO {SPEND} ({columns}) {select} FROM ({spend}) AS new_lines {upsert}"
    join = "STRAIGHT_JOIN" if session.mysql else "JOIN"
    touched = (
        f"SELECT DISTINCT i.{n.customer_id} AS customer_id FROM {n.invoice_line} il "
        f"{join} {n.invoice} i ON i.{n.invoice_id} = il.{n.invoice_id} "
        f"WHERE i.{n.customer_id} IS NOT NULL {lines}"
    )
    touched_spend = (
        f"(SELECT s.customer_id, s.genre_id, s.cents, s.tracks, s.skipped FROM ({touched}) AS d "
        f"JOIN {SPEND} s ON s.customer_id = d.customer_id) AS touched_spend"
    )
    rerank = (
        f"REPLACE INTO {SUMMARY} (customer_id, genre_id, total_cents, total_tracks, cents, "
        "skipped_lines) SELECT customer_id, genre_id, total_cents, total_tracks, cents, "
        f"skipped_lines FROM ({ranked_sql(touched_spend)}) AS ranked WHERE genre_rank = 1"
    )
    return add, rerank


def _fold(session: Session, cursor: Any, last: int) -> FoldResult:
    """The fold's statements inside the caller's transaction (see the module docstring)."""
    n, m = session.naming, session.mark
    high = _one(cursor, f"SELECT MAX({n.invoice_line_id}) FROM {n.invoice_line}")
    high = int(high or 0)
    if high <= last:
        return FoldResult(last, last, 0)
    count = f"SELECT COUNT(*) FROM {n.invoice_line} WHERE {n.invoice_line_id} > {m} AND "
    lines = int(_one(cursor, f"{count}{n.invoice_line_id} <= {m}", (last, high)))
    add, rerank = _fold_sql(session)
    cursor.execute(add, (last, high))
    cursor.execute(rerank, (last, high))
    cursor.execute(
        f"UPDATE {WATERMARK} SET last_line_id = {m}, "
        f"lines_folded = lines_folded + {m} WHERE name = {m}",
        (high, lines, WATERMARK_NAME),
    )
    return FoldResult(last, high, lines)


def _transaction(session: Session, work: Any) -> FoldResult:
    cursor = _begin(session)
    try:
        result: FoldResult = work(cursor)
    except BaseException:
        session.conn.rollback() if session.mysql else cursor.execute("ROLLBACK")
        raise
    session.conn.commit() if session.mysql else cursor.execute("COMMIT")
    return result


def fold(session: Session) -> FoldResult:
    """Fold every line past the watermark, in one transaction with the watermark's move."""
    ensure_tables(session)

    def work(cursor: Any) -> FoldResult:
        lock = " FOR UPDATE" if session.mysql else ""
        last = _one(
            cursor,
            f"SELECT last_line_id FROM {WATERMARK} WHERE name = {session.mark}{lock}",
            (WATERMARK_NAME,),
        )
        return _fold(session, cursor, int(last))

    return _transaction(session, work)


def rebuild(session: Session) -> FoldResult:
    """Empty the tables and fold every line, in one transaction: the rows of the full query."""
    ensure_tables(session)

    def work(cursor: Any) -> FoldResult:
        lock = " FOR UPDATE" if session.mysql else ""
        cursor.execute(
            f"SELECT last_line_id FROM {WATERMARK} WHERE name = {session.mark}{lock}",
            (WATERMARK_NAME,),
        )
        for table in (SPEND, SUMMARY):
            cursor.execute(f"DELETE FROM {table}")
        cursor.execute(
            f"UPDATE {WATERMARK} SET last_line_id = 0, lines_folded = 0 "
            f"WHERE name = {session.mark}",
            (WATERMARK_NAME,),
        )
        return _fold(session, cursor, 0)

    return _transaction(session, work)


def read_summaries(session: Session) -> Iterator[CustomerRow]:
    """The customers' rows from ``customer_spend``: what ``customer_summaries`` returns."""
    select = summary_select_sql(session.naming, SUMMARY)
    yield from session.stream(f"{select}ORDER BY r.customer_id")


def watermark(session: Session) -> int:
    """The last folded line id; 0 when no table or nothing folded (never creates a table)."""
    if WATERMARK not in _existing(session):
        return 0
    cursor = session.conn.cursor()
    sql = f"SELECT last_line_id FROM {WATERMARK} WHERE name = {session.mark}"
    return int(_one(cursor, sql, (WATERMARK_NAME,)) or 0)


def _count(session: Session, table: str, where: str = "", params: tuple[Any, ...] = ()) -> int:
    return int(_one(session.conn.cursor(), f"SELECT COUNT(*) FROM {table} {where}", params) or 0)


def measure(source: ChinookSource, mode: str) -> StoreMeasure:
    """Customers in the store and lines past the watermark: two indexed counts, no table made."""
    with source.session() as session:
        n = session.naming
        last = watermark(session) if mode == AGGREGATES_INCREMENTAL else 0
        where = f"WHERE {n.invoice_line_id} > {session.mark}"
        return StoreMeasure(
            customers=_count(session, n.customer),
            new_lines=_count(session, n.invoice_line, where, (last,)),
            watermark=last,
            aggregates=mode,
        )


def measure_store(settings: Settings) -> StoreMeasure:
    """``measure`` on the store the settings point at (the state machine's first step)."""
    return measure(open_source(settings.database), settings.aggregates)


def summaries(source: ChinookSource, mode: str) -> Iterator[CustomerRow]:
    """The customer rows training reads: folded incrementally, or by today's full query.

    Incremental where the user may not create or write the tables: one warning line, then the
    full query (the same rows, slower). The fold commits before the first row is read, so a
    fallback never follows rows already handed out.
    """
    if mode != AGGREGATES_INCREMENTAL:
        yield from source.customer_summaries()
        return
    try:
        with source.session(write=True) as session:
            done = fold(session)
    except AccessDenied as exc:
        logger.warning(
            "TRAIN_AGGREGATES=incremental but the aggregate tables cannot be written (%s); "
            "reading with the full aggregation query instead (see infra/db/aggregates.sql)",
            exc,
        )
        yield from source.customer_summaries()
        return
    logger.info(
        "Folded %d invoice lines into %s; watermark at line %d", done.lines, SUMMARY, done.to
    )
    with source.session() as session:
        yield from read_summaries(session)
