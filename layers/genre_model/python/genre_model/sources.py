"""Chinook data sources: MySQL/MariaDB through pymysql and an embedded SQLite file.

Both answer one question, "per customer: country, favourite genre, total spend, tracks bought and
spend on the favourite genre", with ONE aggregate query run inside the database: the lines are
grouped per customer and genre (GROUP BY), ranked with a window function, and only one row per
customer crosses the wire. That is what lets training scale to millions of invoice lines.

Money is summed in integer cents so MySQL (DECIMAL) and SQLite (REAL) agree to the cent and a
tie is a tie in both. Tie rule for the favourite genre: most money spent; then most tracks
bought in that genre; then the genre with the lowest id (first in the store's catalogue).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple, Protocol

from genre_model.config import DatabaseSettings

FETCH_CHUNK = 20_000
# Per-session cap for MySQL's in-memory temporary tables (GROUP BY and window functions). The
# server default (16 MiB) spills a million customers' per-genre groups to an on-disk table, which
# made the aggregation 3-6x slower; the table only grows to what the query needs.
MYSQL_TMP_TABLE_BYTES = 1024 * 1024 * 1024


class DataSourceError(RuntimeError):
    """The database cannot be reached or does not hold a usable Chinook schema."""


class CustomerRow(NamedTuple):
    """One customer's purchase summary, as the aggregate query returns it."""

    customer_id: int
    country: str | None
    genre: str
    total_cents: int
    total_tracks: int
    genre_cents: int


@dataclass(frozen=True)
class Naming:
    """Table and column names of one Chinook flavour."""

    name: str
    customer: str
    invoice: str
    invoice_line: str
    track: str
    genre: str
    customer_id: str
    invoice_id: str
    track_id: str
    genre_id: str
    unit_price: str
    quantity: str
    genre_name: str
    country: str

    @property
    def tables(self) -> tuple[str, ...]:
        return (self.customer, self.invoice, self.invoice_line, self.track, self.genre)


SNAKE = Naming(
    name="snake_case",
    customer="customer",
    invoice="invoice",
    invoice_line="invoice_line",
    track="track",
    genre="genre",
    customer_id="customer_id",
    invoice_id="invoice_id",
    track_id="track_id",
    genre_id="genre_id",
    unit_price="unit_price",
    quantity="quantity",
    genre_name="name",
    country="country",
)
PASCAL = Naming(
    name="PascalCase",
    customer="Customer",
    invoice="Invoice",
    invoice_line="InvoiceLine",
    track="Track",
    genre="Genre",
    customer_id="CustomerId",
    invoice_id="InvoiceId",
    track_id="TrackId",
    genre_id="GenreId",
    unit_price="UnitPrice",
    quantity="Quantity",
    genre_name="Name",
    country="Country",
)
NAMINGS = (SNAKE, PASCAL)


def detect_naming(tables: Sequence[str]) -> Naming:
    """Pick the Chinook naming whose five tables are all present, or explain what is missing."""
    present = set(tables)
    for naming in NAMINGS:
        if present.issuperset(naming.tables):
            return naming
    missing = "; ".join(
        f"{naming.name}: {', '.join(t for t in naming.tables if t not in present)}"
        for naming in NAMINGS
    )
    raise DataSourceError(f"no Chinook schema found, missing tables ({missing})")


def customer_summary_sql(n: Naming, mysql: bool = False) -> str:
    """The aggregate query for naming ``n`` (identifiers come from the fixed namings above).

    ``mysql``: join with ``STRAIGHT_JOIN`` so MySQL/MariaDB scans ``invoice_line`` once in primary
    key order and looks invoices and tracks up by primary key. Left alone, the optimiser starts
    from ``track`` and reaches every line through the track index: one random read per line.
    """
    join = "STRAIGHT_JOIN" if mysql else "JOIN"
    return f"""
WITH spend AS (
    SELECT i.{n.customer_id} AS customer_id, t.{n.genre_id} AS genre_id,
           SUM(ROUND(il.{n.unit_price} * 100) * il.{n.quantity}) AS cents,
           SUM(il.{n.quantity}) AS tracks
    FROM {n.invoice_line} il
    {join} {n.invoice} i ON i.{n.invoice_id} = il.{n.invoice_id}
    {join} {n.track} t ON t.{n.track_id} = il.{n.track_id}
    WHERE t.{n.genre_id} IS NOT NULL
    GROUP BY i.{n.customer_id}, t.{n.genre_id}
), ranked AS (
    SELECT customer_id, genre_id, cents,
           SUM(cents) OVER (PARTITION BY customer_id) AS total_cents,
           SUM(tracks) OVER (PARTITION BY customer_id) AS total_tracks,
           ROW_NUMBER() OVER (
               PARTITION BY customer_id ORDER BY cents DESC, tracks DESC, genre_id ASC
           ) AS genre_rank
    FROM spend
)
SELECT r.customer_id, c.{n.country}, g.{n.genre_name}, r.total_cents, r.total_tracks, r.cents
FROM ranked r
JOIN {n.genre} g ON g.{n.genre_id} = r.genre_id
JOIN {n.customer} c ON c.{n.customer_id} = r.customer_id
WHERE r.genre_rank = 1
ORDER BY r.customer_id
"""  # noqa: S608 - identifiers come from the two fixed namings, never from input


def _rows(raw: Iterator[Sequence[Any]]) -> Iterator[CustomerRow]:
    for customer_id, country, genre, total_cents, total_tracks, genre_cents in raw:
        yield CustomerRow(
            int(customer_id),
            country,
            genre,
            int(total_cents),
            int(total_tracks),
            int(genre_cents),
        )


class ChinookSource(Protocol):
    """What training needs from a store's database."""

    description: str

    def customer_summaries(self) -> Iterator[CustomerRow]:
        """One row per customer who bought at least one track with a genre."""
        ...


class SQLiteSource:
    """Chinook in an embedded SQLite file (the demo, and users without a server)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.description = f"sqlite:{self.path}"

    def customer_summaries(self) -> Iterator[CustomerRow]:
        if not self.path.is_file():
            raise DataSourceError(f"SQLite database not found: {self.path}")
        uri = f"{self.path.resolve().as_uri()}?mode=ro"
        try:
            with closing(sqlite3.connect(uri, uri=True, timeout=10)) as conn:
                tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master")]
                naming = detect_naming(tables)
                cursor = conn.execute(customer_summary_sql(naming))
                while chunk := cursor.fetchmany(FETCH_CHUNK):
                    yield from _rows(iter(chunk))
        except sqlite3.Error as exc:
            raise DataSourceError(f"SQLite query failed on {self.path}: {exc}") from None


@dataclass(frozen=True)
class MySQLCredentials:
    host: str
    port: int
    user: str
    password: str
    database: str

    def __repr__(self) -> str:
        return f"MySQLCredentials({self.user}@{self.host}:{self.port}/{self.database})"


def credentials_from_secret(secret_string: str, fallback: DatabaseSettings) -> MySQLCredentials:
    """Parse a Secrets Manager secret in the RDS format: host, port, username, password, dbname."""
    try:
        secret = json.loads(secret_string)
    except ValueError:
        raise DataSourceError("database secret is not JSON") from None
    if not isinstance(secret, dict) or "host" not in secret:
        raise DataSourceError("database secret must be a JSON object with at least 'host'")
    try:
        port = int(secret.get("port", fallback.port))
    except (TypeError, ValueError):
        raise DataSourceError("database secret has a non-integer 'port'") from None
    return MySQLCredentials(
        host=str(secret["host"]),
        port=port,
        user=str(secret.get("username", fallback.user)),
        password=str(secret.get("password", "")),
        database=str(secret.get("dbname") or fallback.name),
    )


def resolve_credentials(db: DatabaseSettings) -> MySQLCredentials:
    """Credentials from the secret when ``DB_SECRET_ARN`` is set, else from the DB_* settings."""
    if not db.secret_arn:
        return MySQLCredentials(db.host, db.port, db.user, db.password, db.name)
    import boto3  # only training with a secret needs it
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        response = boto3.client("secretsmanager").get_secret_value(SecretId=db.secret_arn)
    except (BotoCoreError, ClientError) as exc:
        raise DataSourceError(f"cannot read database secret {db.secret_arn}: {exc}") from None
    return credentials_from_secret(response["SecretString"], db)


class MySQLSource:
    """Chinook on MySQL or MariaDB, read through pymysql with a server-side (streaming) cursor."""

    def __init__(self, credentials: MySQLCredentials, db: DatabaseSettings) -> None:
        self.credentials = credentials
        self.connect_timeout = db.connect_timeout
        self.read_timeout = db.read_timeout
        c = credentials
        self.description = f"mysql://{c.user}@{c.host}:{c.port}/{c.database}"

    def customer_summaries(self) -> Iterator[CustomerRow]:
        import pymysql
        import pymysql.cursors

        c = self.credentials
        try:
            with (
                pymysql.connect(
                    host=c.host,
                    port=c.port,
                    user=c.user,
                    password=c.password,
                    database=c.database,
                    connect_timeout=self.connect_timeout,
                    read_timeout=self.read_timeout,
                    write_timeout=self.read_timeout,
                    charset="utf8mb4",
                    cursorclass=pymysql.cursors.SSCursor,
                ) as conn,
                conn.cursor() as cursor,
            ):
                cursor.execute(
                    "SELECT table_name FROM information_schema.tables WHERE table_schema = %s",
                    (c.database,),
                )
                naming = detect_naming([r[0] for r in cursor.fetchall()])
                cursor.execute(
                    "SET SESSION tmp_table_size = %s, max_heap_table_size = %s",
                    (MYSQL_TMP_TABLE_BYTES, MYSQL_TMP_TABLE_BYTES),
                )
                cursor.execute(customer_summary_sql(naming, mysql=True))
                while chunk := cursor.fetchmany(FETCH_CHUNK):
                    yield from _rows(iter(chunk))
        except pymysql.MySQLError as exc:
            raise DataSourceError(f"MySQL error on {self.description}: {exc}") from None


def open_source(db: DatabaseSettings) -> ChinookSource:
    """The source the settings point at: SQLite when a path is set, else MySQL."""
    if db.sqlite_path:
        return SQLiteSource(db.sqlite_path)
    return MySQLSource(resolve_credentials(db), db)


def source_from_url(url: str, db: DatabaseSettings) -> ChinookSource:
    """A source from a CLI ``--db`` value: ``mysql://user[:password]@host[:port]/db`` or a path."""
    from urllib.parse import unquote, urlsplit

    if not url.startswith(("mysql://", "mariadb://")):
        return SQLiteSource(url.removeprefix("sqlite://"))
    parts = urlsplit(url)
    if not parts.hostname:
        raise DataSourceError(f"database URL has no host: {parts.scheme}://...")
    return MySQLSource(
        MySQLCredentials(
            host=parts.hostname,
            port=parts.port or 3306,
            user=unquote(parts.username or db.user),
            password=unquote(parts.password or ""),
            database=parts.path.lstrip("/") or db.name,
        ),
        db,
    )
