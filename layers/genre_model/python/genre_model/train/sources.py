"""Chinook data sources: MySQL/MariaDB through pymysql and an embedded SQLite file.

Both answer one question, "per customer: country, favourite genre, total spend, tracks bought and
spend on the favourite genre", with ONE aggregate query run inside the database: the lines are
grouped per customer and genre (GROUP BY), ranked with a window function, and only one row per
customer crosses the wire. That is what lets training scale to millions of invoice lines.

Money is summed in integer cents so MySQL (DECIMAL) and SQLite (REAL) agree to the cent and a
tie is a tie in both. Tie rule for the favourite genre: most money spent; then most tracks
bought in that genre; then the genre with the lowest id (first in the store's catalogue).

Data rules (README "Data rules"): a line counts only when its price is a number in
[0, ``MAX_UNIT_PRICE``], its quantity a whole number in [1, ``MAX_QUANTITY``] and its track has a
genre; any other line (NULL, refund, absurd, text in SQLite's untyped columns, a missing track)
is skipped and counted per customer in ``skipped_lines``. Refunds are not netted: nothing links
a refund to the purchase it undoes, and netting gives negative spend and ratios outside [0, 1]
that the predict API rejects.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, closing, contextmanager
from dataclasses import dataclass, fields
from decimal import Decimal
from pathlib import Path
from typing import Any, NamedTuple, Protocol

from genre_model.config import DatabaseSettings
from genre_model.contract import MAX_CUSTOMER_ID, MIN_CUSTOMER_ID, clean_name
from genre_model.train.db_connect import (
    DataSourceError as DataSourceError,  # re-exported: the error of every source
)
from genre_model.train.db_connect import (
    MySQLCredentials,
    connect,
    port_number,
    read_secret,
)

FETCH_CHUNK = 20_000
# Per-session cap for MySQL's in-memory temporary tables (GROUP BY and window functions). The
# server default (16 MiB) spills a million customers' per-genre groups to an on-disk table, which
# made the aggregation 3-6x slower; the table only grows to what the query needs.
MYSQL_TMP_TABLE_BYTES = 1024 * 1024 * 1024
# The largest values Chinook's own column types hold (UnitPrice NUMERIC(10,2), Quantity INTEGER):
# anything beyond is damage, and these bounds keep every sum far below float32's range.
MAX_UNIT_PRICE = 99_999_999.99
MAX_QUANTITY = 2**31 - 1
NUMBER_REGEXP = "^-?[0-9]+([.][0-9]+)?([eE][-+]?[0-9]+)?$"  # how MySQL prints a number as text
# "The user may not": table/column/database access denied, no privilege for the operation, and
# a read-only server; SQLite: SQLITE_READONLY and SQLITE_CANTOPEN (a read-only directory).
MYSQL_DENIED = frozenset({1044, 1142, 1143, 1227, 1290, 1370})
SQLITE_DENIED = frozenset({8, 14})


class AccessDenied(DataSourceError):
    """The database user may not do what was asked (create or write a table, a read-only file)."""


class CustomerRow(NamedTuple):
    """One customer's purchase summary, as the aggregate query returns it."""

    customer_id: int
    country: str | None
    genre: str
    total_cents: int
    total_tracks: int
    genre_cents: int
    skipped_lines: int = 0


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
    invoice_line_id: str
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
    invoice_line_id="invoice_line_id",
    track_id="track_id",
    genre_id="genre_id",
    unit_price="unit_price",
    quantity="quantity",
    genre_name="name",
    country="country",
)


def pascal_case(name: str) -> str:
    """The official Chinook's spelling of a snake_case name: invoice_line_id -> InvoiceLineId."""
    return "".join(word.capitalize() for word in name.split("_"))


# The official Chinook names are the snake_case ones, spelled in PascalCase.
PASCAL = Naming(
    name="PascalCase",
    **{f.name: pascal_case(getattr(SNAKE, f.name)) for f in fields(Naming) if f.name != "name"},
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


def valid_line_sql(n: Naming, mysql: bool) -> str:
    """The data rule for one invoice line, as a SQL condition (see the module docstring).

    Whatever the column types: SQLite stores whatever was inserted, so its values must BE
    numbers; a MySQL column may have been altered to DECIMAL, DOUBLE or text, so its value's
    text must be exactly a number (MySQL reads ``'  0.99x'`` as 0.99 and ``'abc'`` as 0).
    Either way the quantity must equal its floor: a DECIMAL 1.5 is no whole number.
    """
    price, quantity = f"il.{n.unit_price}", f"il.{n.quantity}"
    if mysql:
        typed = " AND ".join(
            f"CAST({c} AS CHAR) REGEXP '{NUMBER_REGEXP}'" for c in (price, quantity)
        )
        whole = f"{quantity} = FLOOR({quantity})"
    else:
        typed = (
            f"typeof({price}) IN ('integer', 'real') AND typeof({quantity}) IN ('integer', 'real')"
        )
        whole = f"{quantity} = ROUND({quantity})"
    return (
        f"{typed} AND {whole} AND {price} >= 0 AND {price} <= {MAX_UNIT_PRICE} "
        f"AND {quantity} >= 1 AND {quantity} <= {MAX_QUANTITY} AND t.{n.genre_id} IS NOT NULL"
    )


def customer_genre_spend_sql(n: Naming, mysql: bool = False, lines: str = "") -> str:
    """Per customer and genre: cents, tracks and skipped lines (the query's inner GROUP BY).

    ``mysql``: join with ``STRAIGHT_JOIN`` so MySQL/MariaDB scans ``invoice_line`` once in primary
    key order and looks invoices and tracks up by primary key. Left alone, the optimiser starts
    from ``track`` and reaches every line through the track index: one random read per line.
    Dangling references are damage: a line whose track is missing or has no genre is skipped
    (genre NULL). Lines of invoices without a customer id belong to nobody and are not read.
    ``lines``: an extra condition on ``il`` (the incremental fold's id range), bound by the caller.
    """
    join = "STRAIGHT_JOIN" if mysql else "JOIN"
    valid = valid_line_sql(n, mysql)
    return f"""
    SELECT i.{n.customer_id} AS customer_id, t.{n.genre_id} AS genre_id,
           SUM(CASE WHEN {valid} THEN ROUND(il.{n.unit_price} * 100) * il.{n.quantity} ELSE 0 END)
               AS cents,
           SUM(CASE WHEN {valid} THEN il.{n.quantity} ELSE 0 END) AS tracks,
           SUM(CASE WHEN {valid} THEN 0 ELSE 1 END) AS skipped
    FROM {n.invoice_line} il
    {join} {n.invoice} i ON i.{n.invoice_id} = il.{n.invoice_id}
    LEFT JOIN {n.track} t ON t.{n.track_id} = il.{n.track_id}
    WHERE i.{n.customer_id} IS NOT NULL {lines}
    GROUP BY i.{n.customer_id}, t.{n.genre_id}
"""  # noqa: S608 - identifiers come from the two fixed namings, never from input


def ranked_sql(spend: str) -> str:
    """Per customer: totals over every genre row of ``spend`` and the favourite genre ranked first.

    Tie rule (module docstring): most cents, then most tracks, then the lowest genre id; NULL
    (no genre) sorts first in both MySQL and SQLite, as it always has.
    """
    return f"""
    SELECT customer_id, genre_id, cents,
           SUM(cents) OVER (PARTITION BY customer_id) AS total_cents,
           SUM(tracks) OVER (PARTITION BY customer_id) AS total_tracks,
           SUM(skipped) OVER (PARTITION BY customer_id) AS skipped_lines,
           ROW_NUMBER() OVER (
               PARTITION BY customer_id ORDER BY cents DESC, tracks DESC, genre_id ASC
           ) AS genre_rank
    FROM {spend}
"""  # noqa: S608 - a fixed table name or subquery, never input


def summary_select_sql(n: Naming, favourites: str) -> str:
    """The one-row-per-customer result, names joined: ``favourites`` has one row per customer
    (customer_id, genre_id, total_cents, total_tracks, cents, skipped_lines)."""
    return f"""
SELECT r.customer_id, c.{n.country}, g.{n.genre_name}, r.total_cents, r.total_tracks, r.cents,
       r.skipped_lines
FROM {favourites} r
LEFT JOIN {n.genre} g ON g.{n.genre_id} = r.genre_id
LEFT JOIN {n.customer} c ON c.{n.customer_id} = r.customer_id
"""  # noqa: S608 - identifiers come from the two fixed namings, never from input


def customer_summary_sql(n: Naming, mysql: bool = False) -> str:
    """The full aggregate query for naming ``n``: every line, grouped, ranked, one row each.

    Customers whose every line is skipped still get a row (zero spend) so they are counted; a
    genre id without a genre row is an unnamed genre, an invoice's customer missing from the
    customer table is a customer of unknown country.
    """
    spend = customer_genre_spend_sql(n, mysql)
    select = summary_select_sql(n, "ranked")
    return f"""
WITH spend AS ({spend}), ranked AS ({ranked_sql("spend")})
{select}WHERE r.genre_rank = 1
ORDER BY r.customer_id
"""


def _lenient_text(data: bytes) -> str:
    return data.decode("utf-8", "replace")


def _text_or_none(value: Any) -> str | None:
    """A name as text (``contract.clean_name``: no control characters, 'Rock\\0' is Rock);
    NULL, blank, or bytes that are not UTF-8 become None (unknown)."""
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    return clean_name(None if value is None else str(value))


def customer_id(value: Any) -> int:
    """The id as the whole number it holds (``7``, ``Decimal("7.00")``, ``7.0``, text ``"7"``),
    or ``DataSourceError``: an id that is fractional, not a number, or outside the ids the
    predict API accepts would be a customer no request can name (or two merged into one)."""
    if isinstance(value, str) and value.isascii() and value.isdigit():
        number: Any = int(value)
    elif isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        number = value
    else:
        number = None
    try:
        whole = number is not None and number == int(number)
    except (ValueError, OverflowError, ArithmeticError):  # NaN, infinity
        whole = False
    if not whole or not MIN_CUSTOMER_ID <= int(number) <= MAX_CUSTOMER_ID:
        shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:37] + "..."
        raise DataSourceError(
            f"customer id {shown} is not a whole number from {MIN_CUSTOMER_ID} to "
            f"{MAX_CUSTOMER_ID}: refusing to train (fix the invoice's customer id)"
        )
    return int(number)


def _rows(raw: Iterator[Sequence[Any]]) -> Iterator[CustomerRow]:
    for cid, country, genre, total_cents, total_tracks, genre_cents, skipped in raw:
        yield CustomerRow(
            customer_id(cid),
            _text_or_none(country),
            _text_or_none(genre),  # type: ignore[arg-type]  # None: a genre without a name
            int(total_cents or 0),
            int(total_tracks or 0),
            int(genre_cents or 0),
            int(skipped or 0),
        )


@dataclass(frozen=True)
class Session:
    """One open connection to a Chinook store: what the aggregate tables' code needs to run SQL.

    ``conn`` is the DB-API connection (pymysql or sqlite3, SQLite in autocommit mode: a caller
    that writes opens its own transaction); ``mark`` is the driver's parameter placeholder.
    """

    conn: Any
    naming: Naming
    mysql: bool

    @property
    def mark(self) -> str:
        return "%s" if self.mysql else "?"

    def stream(self, sql: str, params: Sequence[Any] = ()) -> Iterator[CustomerRow]:
        """The rows of a summary query, fetched in chunks (a server-side cursor on MySQL)."""
        cursor = self.conn.cursor(streaming_cursor()) if self.mysql else self.conn.cursor()
        with closing(cursor):
            cursor.execute(sql, params)
            while chunk := cursor.fetchmany(FETCH_CHUNK):
                yield from _rows(iter(chunk))


def streaming_cursor() -> Any:
    import pymysql.cursors

    return pymysql.cursors.SSCursor


class ChinookSource(Protocol):
    """What training needs from a store's database."""

    description: str

    def customer_summaries(self) -> Iterator[CustomerRow]:
        """One row per customer who bought at least one track with a genre."""
        ...

    def session(self, write: bool = False) -> AbstractContextManager[Session]:
        """An open connection; ``write``: the aggregate tables will be written (else read-only)."""
        ...


class SQLiteSource:
    """Chinook in an embedded SQLite file (the demo, and users without a server)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.description = f"sqlite:{self.path}"

    def customer_summaries(self) -> Iterator[CustomerRow]:
        with self.session() as session:
            yield from session.stream(customer_summary_sql(session.naming))

    @contextmanager
    def session(self, write: bool = False) -> Iterator[Session]:
        if not self.path.is_file():
            raise DataSourceError(f"SQLite database not found: {self.path}")
        uri = f"{self.path.resolve().as_uri()}?mode={'rw' if write else 'ro'}"
        try:
            with closing(sqlite3.connect(uri, uri=True, timeout=10, isolation_level=None)) as conn:
                conn.text_factory = _lenient_text  # one bad byte must not sink the whole run
                tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master")]
                yield Session(conn, detect_naming(tables), mysql=False)
        except sqlite3.Error as exc:
            if getattr(exc, "sqlite_errorcode", None) in SQLITE_DENIED:
                raise AccessDenied(f"SQLite {self.path} is read-only: {exc}") from None
            raise DataSourceError(f"SQLite query failed on {self.path}: {exc}") from None


class MySQLSource:
    """Chinook on MySQL or MariaDB, read through pymysql with a server-side (streaming) cursor.

    Connecting (TLS, timeouts, the secret re-read on a rotation) is ``db_connect``'s job."""

    def __init__(
        self,
        credentials: MySQLCredentials,
        db: DatabaseSettings,
        reread: Callable[[], MySQLCredentials] | None = None,
    ) -> None:
        self.credentials = credentials
        self.db = db
        self.reread = reread
        self.description = credentials.description

    def customer_summaries(self) -> Iterator[CustomerRow]:
        with self.session() as session:
            yield from session.stream(customer_summary_sql(session.naming, mysql=True))

    @contextmanager
    def session(self, write: bool = False) -> Iterator[Session]:
        """``write`` changes nothing here: what the user may do is the server's grants."""
        import pymysql

        c = self.credentials
        try:
            with connect(c, self.db, self.reread) as conn:
                with conn.cursor() as cursor:
                    # DATABASE(): the one connected to (a re-read secret may name another)
                    cursor.execute(
                        "SELECT table_name FROM information_schema.tables "
                        "WHERE table_schema = DATABASE()"
                    )
                    naming = detect_naming([r[0] for r in cursor.fetchall()])
                    cursor.execute(
                        "SET SESSION tmp_table_size = %s, max_heap_table_size = %s",
                        (MYSQL_TMP_TABLE_BYTES, MYSQL_TMP_TABLE_BYTES),
                    )
                yield Session(conn, naming, mysql=True)
        except pymysql.MySQLError as exc:
            if exc.args and exc.args[0] in MYSQL_DENIED:
                raise AccessDenied(f"MySQL user {c.user} on {self.description}: {exc}") from None
            raise DataSourceError(f"MySQL error on {self.description}: {exc}") from None
        except (OSError, UnicodeError) as exc:  # a host name IDNA rejects
            raise DataSourceError(f"MySQL error on {self.description}: {exc}") from None


def open_source(db: DatabaseSettings) -> ChinookSource:
    """The source the settings point at: SQLite when a path is set, else MySQL (credentials from
    the secret when ``DB_SECRET_ARN`` is set, read now and again on a refused login)."""
    if db.sqlite_path:
        return SQLiteSource(db.sqlite_path)
    if db.secret_arn:
        return MySQLSource(read_secret(db), db, reread=lambda: read_secret(db))
    return MySQLSource(MySQLCredentials(db.host, db.port, db.user, db.password, db.name), db)


def parse_mysql_url(url: str, db: DatabaseSettings) -> MySQLCredentials:
    """``mysql://user[:password]@host[:port]/db`` without urllib, so no error quotes a password.

    The host is what follows the LAST ``@``, and the password everything between the first ``:``
    and that ``@``: a raw ``/``, ``#``, ``@`` or ``:`` in a password therefore works. User and
    password are percent-decoded as UTF-8 (write a literal ``%`` as ``%25``).
    """
    from urllib.parse import unquote

    rest = url.split("://", 1)[1]
    userinfo, at, location = rest.rpartition("@")
    user, _, password = userinfo.partition(":")
    hostport, _, database = location.partition("/")
    if any(c in location for c in "?#@") or "/" in database:
        raise DataSourceError(
            "database URL: after the host only /<database> may follow "
            "(percent-encode / # @ ? in the password)"
        )
    if hostport.startswith("["):  # [IPv6]:port
        host, _, port_text = hostport[1:].partition("]")
        port_text = port_text.removeprefix(":")
    else:
        host, _, port_text = hostport.partition(":")
    if not host:
        raise DataSourceError("database URL has no host: mysql://user[:password]@host[:port]/db")
    return MySQLCredentials(
        host=host,
        port=port_number(port_text, "database URL") if port_text else 3306,
        user=unquote(user) if at and user else db.user,
        password=unquote(password) if at else "",
        database=unquote(database) or db.name,
    )


def source_from_url(url: str, db: DatabaseSettings) -> ChinookSource:
    """A source from a CLI ``--db`` value: ``mysql://user[:password]@host[:port]/db`` or a path."""
    if not url.startswith(("mysql://", "mariadb://")):
        return SQLiteSource(url.removeprefix("sqlite://"))
    return MySQLSource(parse_mysql_url(url, db), db)
