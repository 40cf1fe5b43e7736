"""A synthetic Chinook store of any size, seeded, whose customers look like Chinook's.

Like the real Chinook, almost every customer buys exactly ``TRACKS`` (38) tracks in seven
invoices of 1, 2, 2, 4, 6, 9 and 14 lines; audio tracks cost $0.99 and video tracks $1.99.
What is planted, and only where a real store's data could carry it:
- each customer gets a favourite genre drawn from ``PROFILES``; the favourite fixes what share of
  their tracks is in that genre (``concentration``: Classical fans buy little else, Jazz fans
  are eclectic), so ``genre_spending_ratio`` carries the signal;
- ``total_spent`` carries it only through what customers buy: fans of a video genre pay $1.99
  for most of their favourite tracks;
- half of each genre's fans live in its ``home`` country (the ``location`` feature set);
- ``total_tracks_bought`` carries nothing: the few customers not at 38 tracks (``OTHER_COUNTS``)
  are drawn independently of their favourite.
The other tracks are spread evenly over the other genres (a video genre a quarter as often as an
audio one), capped so that no other genre ever gets as much of a customer's money as the
favourite: the label the SQL derives is the planted favourite for every customer, and no genre
becomes a class by accident.

Written tables (either naming): genre, media_type, artist, album, track, customer, invoice,
invoice_line, each with all of Chinook's columns; names, addresses, composers and support reps
are placeholders or NULL. Not written: employee, playlist, playlist_track. Primary keys and the
indexes the aggregate query joins on, no foreign keys. Development and test data only.
"""

from __future__ import annotations

import sqlite3
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from genre_model.train.sources import pascal_case

if TYPE_CHECKING:
    from pymysql.connections import Connection

GENRES = (
    "Rock", "Jazz", "Metal", "Alternative & Punk", "Rock And Roll", "Blues", "Latin", "Reggae",
    "Pop", "Soundtrack", "Bossa Nova", "Easy Listening", "Heavy Metal", "R&B/Soul",
    "Electronica/Dance", "World", "Hip Hop/Rap", "Science Fiction", "TV Shows", "Sci Fi & Fantasy",
    "Drama", "Comedy", "Alternative", "Classical", "Opera",
)  # fmt: skip
VIDEO_GENRES = {"TV Shows", "Science Fiction", "Sci Fi & Fantasy", "Drama", "Comedy"}
CENTS = np.array([199 if g in VIDEO_GENRES else 99 for g in GENRES])  # Chinook's two prices
COUNTRIES = (
    "USA", "Canada", "Brazil", "France", "Germany", "United Kingdom", "Portugal", "Czech Republic",
    "India", "Chile", "Argentina", "Australia", "Spain", "Italy", "Netherlands", "Poland",
)  # fmt: skip


@dataclass(frozen=True)
class Profile:
    genre: str
    weight: float  # share of customers with this favourite
    concentration: float  # share of their tracks in the favourite genre, on average
    home: str  # country where half of its fans live


PROFILES = (
    Profile("Rock", 0.34, 0.40, "USA"),
    Profile("Latin", 0.16, 0.52, "Brazil"),
    Profile("Metal", 0.13, 0.30, "Germany"),
    Profile("Alternative & Punk", 0.11, 0.64, "United Kingdom"),
    Profile("Jazz", 0.09, 0.22, "France"),
    Profile("Blues", 0.07, 0.76, "Canada"),
    Profile("Classical", 0.06, 0.88, "Czech Republic"),
    Profile("TV Shows", 0.04, 0.30, "USA"),
)
TRACKS = 38  # what 58 of the real Chinook's 59 customers bought
OTHER_COUNTS = (0.03, 30, 45)  # share of customers with another count, drawn from this range
MIN_FAVOURITE_TRACKS = 5
INVOICE_SIZES = (1, 2, 2, 4, 6, 9, 14)  # Chinook's seven invoices per customer, 38 lines
TRACKS_PER_GENRE = 40
VIDEO_NOISE_WEIGHT = 0.25
REDRAW_ROUNDS = 20

# Table and column names by table, as the snake_case Chinook spells them.
SNAKE_TABLES = {
    "genre": ("genre", ["genre_id", "name"]),
    "media_type": ("media_type", ["media_type_id", "name"]),
    "artist": ("artist", ["artist_id", "name"]),
    "album": ("album", ["album_id", "title", "artist_id"]),
    "track": (
        "track",
        ["track_id", "name", "album_id", "media_type_id", "genre_id", "composer",
         "milliseconds", "bytes", "unit_price"],
    ),
    "customer": (
        "customer",
        ["customer_id", "first_name", "last_name", "company", "address", "city", "state",
         "country", "postal_code", "phone", "fax", "email", "support_rep_id"],
    ),
    "invoice": (
        "invoice",
        ["invoice_id", "customer_id", "invoice_date", "billing_address", "billing_city",
         "billing_state", "billing_country", "billing_postal_code", "total"],
    ),
    "invoice_line": (
        "invoice_line", ["invoice_line_id", "invoice_id", "track_id", "unit_price", "quantity"]
    ),
}  # fmt: skip
# The official Chinook's names are the same, spelled in PascalCase (invoice_line -> InvoiceLine).
TABLES = {
    "snake_case": SNAKE_TABLES,
    "PascalCase": {
        key: (pascal_case(table), [pascal_case(column) for column in columns])
        for key, (table, columns) in SNAKE_TABLES.items()
    },
}
# Column types in table order; the same DDL serves SQLite and MySQL.
TYPES = {
    "genre": ["INTEGER NOT NULL", "VARCHAR(120)"],
    "media_type": ["INTEGER NOT NULL", "VARCHAR(120)"],
    "artist": ["INTEGER NOT NULL", "VARCHAR(120)"],
    "album": ["INTEGER NOT NULL", "VARCHAR(160) NOT NULL", "INTEGER NOT NULL"],
    "track": ["INTEGER NOT NULL", "VARCHAR(200) NOT NULL", "INTEGER", "INTEGER NOT NULL",
              "INTEGER", "VARCHAR(220)", "INTEGER NOT NULL", "INTEGER", "NUMERIC(10,2) NOT NULL"],
    "customer": ["INTEGER NOT NULL", "VARCHAR(40) NOT NULL", "VARCHAR(20) NOT NULL", "VARCHAR(80)",
                 "VARCHAR(70)", "VARCHAR(40)", "VARCHAR(40)", "VARCHAR(40)", "VARCHAR(10)",
                 "VARCHAR(24)", "VARCHAR(24)", "VARCHAR(60) NOT NULL", "INTEGER"],
    "invoice": ["INTEGER NOT NULL", "INTEGER NOT NULL", "DATETIME NOT NULL", "VARCHAR(70)",
                "VARCHAR(40)", "VARCHAR(40)", "VARCHAR(40)", "VARCHAR(10)",
                "NUMERIC(10,2) NOT NULL"],
    "invoice_line": ["INTEGER NOT NULL", "INTEGER NOT NULL", "INTEGER NOT NULL",
                     "NUMERIC(10,2) NOT NULL", "INTEGER NOT NULL"],
}  # fmt: skip
# Indexes the aggregate query joins on (beyond primary keys).
INDEXES: dict[str, int | tuple[int, ...]] = {"invoice": 1, "invoice_line": (1, 2), "track": 4}


@dataclass(frozen=True)
class Store:
    """A generated store as column arrays per table (logical table names)."""

    tables: dict[str, list[np.ndarray | list[Any]]]
    favourite: np.ndarray  # planted favourite genre per customer (index into GENRES)

    def rows(self, table: str) -> Iterator[tuple[Any, ...]]:
        columns = self.tables[table]
        yield from zip(
            *(c.tolist() if isinstance(c, np.ndarray) else c for c in columns), strict=True
        )

    def count(self, table: str) -> int:
        return len(self.tables[table][0])


def _track_counts(rng: np.random.Generator, customers: int) -> np.ndarray:
    """38 for almost everybody, as in Chinook; the rest uniform in a range, whatever they like."""
    share, low, high = OTHER_COUNTS
    other = rng.integers(low, high + 1, customers)
    return np.where(rng.random(customers) < share, other, TRACKS)


def _other_genres(
    rng: np.random.Generator, owner: np.ndarray, favourite: np.ndarray, fav_cents: np.ndarray
) -> np.ndarray:
    """A genre other than the favourite for each line of customer ``owner`` (sorted).

    Lines in a genre that would get as much of the customer's money as the favourite are drawn
    again (rarely needed twice); after ``REDRAW_ROUNDS`` the few still left go to the favourite.
    """
    weights = np.array([VIDEO_NOISE_WEIGHT if g in VIDEO_GENRES else 1.0 for g in GENRES])
    cum = np.cumsum(weights)
    genre = np.empty(len(owner), dtype=np.int64)
    lines = redraw = np.arange(len(owner))  # lines of the customers still being checked
    for _ in range(REDRAW_ROUNDS):
        fav = favourite[owner[redraw]]
        # a weighted draw that skips the favourite's slot of the cumulative weights
        u = rng.random(len(redraw)) * (cum[-1] - weights[fav])
        u += np.where(u >= cum[fav] - weights[fav], weights[fav], 0.0)
        genre[redraw] = np.minimum(np.searchsorted(cum, u, side="right"), len(GENRES) - 1)
        who, kind = owner[lines], genre[lines]
        local = np.concatenate(([0], np.cumsum(who[1:] != who[:-1])))  # owner is sorted
        key = local * len(GENRES) + kind
        over = np.bincount(key)[key] * CENTS[kind] >= fav_cents[who]
        if not over.any():
            return genre
        redraw = lines[over]
        recheck = np.zeros(local[-1] + 1, dtype=bool)
        recheck[local[over]] = True
        lines = lines[recheck[local]]
    genre[redraw] = favourite[owner[redraw]]
    return genre


def generate(customers: int, seed: int = 42) -> Store:
    """Build a store in memory (vectorised: a million customers take seconds)."""
    if customers < 1:
        raise ValueError("customers must be >= 1")
    rng = np.random.default_rng(seed)
    n_genres = len(GENRES)
    genre_index = {g: i for i, g in enumerate(GENRES)}
    weights = np.array([p.weight for p in PROFILES])
    fav_profile = rng.choice(len(PROFILES), size=customers, p=weights / weights.sum())
    fav_genre = np.array([genre_index[p.genre] for p in PROFILES])[fav_profile]
    conc = np.array([p.concentration for p in PROFILES])[fav_profile]
    n_lines = _track_counts(rng, customers)
    n_fav = np.clip(rng.binomial(n_lines, conc), MIN_FAVOURITE_TRACKS, n_lines)
    price_of_genre = CENTS / 100

    home = np.array([COUNTRIES.index(p.home) for p in PROFILES])[fav_profile]
    anywhere = rng.integers(0, len(COUNTRIES), customers)
    country = np.where(rng.random(customers) < 0.5, home, anywhere)

    line_customer = np.repeat(np.arange(customers), n_lines)
    starts = np.concatenate(([0], np.cumsum(n_lines)[:-1]))
    position = np.arange(len(line_customer)) - starts[line_customer]
    genre = fav_genre[line_customer].copy()
    noise = position >= n_fav[line_customer]
    genre[noise] = _other_genres(rng, line_customer[noise], fav_genre, n_fav * CENTS[fav_genre])
    genre = genre[np.argsort(line_customer + rng.random(len(genre)))]  # mixed within a customer
    track_id = 1 + genre * TRACKS_PER_GENRE + rng.integers(0, TRACKS_PER_GENRE, len(genre))
    price = price_of_genre[genre]

    bounds = np.cumsum(np.tile(INVOICE_SIZES, -(-int(n_lines.max()) // TRACKS)))
    invoices_per_customer = np.searchsorted(bounds, n_lines - 1, side="right") + 1
    first_invoice = np.concatenate(([0], np.cumsum(invoices_per_customer)[:-1]))
    line_invoice = 1 + first_invoice[line_customer] + np.searchsorted(bounds, position, "right")
    n_invoices = int(invoices_per_customer.sum())
    invoice_customer = np.repeat(np.arange(customers), invoices_per_customer)
    invoice_total = np.bincount(line_invoice - 1, weights=CENTS[genre], minlength=n_invoices) / 100
    day = rng.integers(0, 5 * 365, n_invoices)
    dates = (np.datetime64("2021-01-01") + day).astype(str)

    ids = np.arange(1, customers + 1)
    n_tracks = n_genres * TRACKS_PER_GENRE
    track_genre = np.repeat(np.arange(n_genres), TRACKS_PER_GENRE)
    country_names = np.array(COUNTRIES)[country]
    tables: dict[str, list[np.ndarray | list[Any]]] = {
        "genre": [np.arange(1, n_genres + 1), list(GENRES)],
        "media_type": [np.array([1, 2]), ["MPEG audio file", "Protected MPEG-4 video file"]],
        "artist": [np.arange(1, n_genres + 1), [f"{g} Artist" for g in GENRES]],
        "album": [
            np.arange(1, n_genres + 1),
            [f"Best of {g}" for g in GENRES],
            np.arange(1, n_genres + 1),
        ],
        "track": [
            np.arange(1, n_tracks + 1),
            [f"Track {i}" for i in range(1, n_tracks + 1)],
            track_genre + 1,
            np.where(price_of_genre[track_genre] > 1, 2, 1),
            track_genre + 1,
            [None] * n_tracks,
            rng.integers(120_000, 420_000, n_tracks),
            rng.integers(2_000_000, 9_000_000, n_tracks),
            price_of_genre[track_genre],
        ],
        "customer": [
            ids,
            [f"Customer{i}" for i in ids],
            ["Synthetic"] * customers,
            [None] * customers,
            [None] * customers,
            [None] * customers,
            [None] * customers,
            country_names.tolist(),
            [None] * customers,
            [None] * customers,
            [None] * customers,
            [f"customer{i}@example.com" for i in ids],
            [None] * customers,
        ],
        "invoice": [
            np.arange(1, n_invoices + 1),
            invoice_customer + 1,
            [f"{d} 00:00:00" for d in dates],
            [None] * n_invoices,
            [None] * n_invoices,
            [None] * n_invoices,
            country_names[invoice_customer].tolist(),
            [None] * n_invoices,
            invoice_total,
        ],
        "invoice_line": [
            np.arange(1, len(genre) + 1),
            line_invoice,
            track_id,
            price,
            np.ones(len(genre), dtype=np.int64),
        ],
    }
    return Store(tables=tables, favourite=fav_genre)


def _ddl(naming: str, table: str) -> list[str]:
    name, columns = TABLES[naming][table]
    cols = ", ".join(f"{c} {t}" for c, t in zip(columns, TYPES[table], strict=True))
    statements = [f"CREATE TABLE {name} ({cols}, PRIMARY KEY ({columns[0]}))"]
    index = INDEXES.get(table, ())
    for position in (index,) if isinstance(index, int) else index:
        column = columns[position]
        statements.append(f"CREATE INDEX ix_{name}_{column} ON {name} ({column})")
    return statements


def _chunks(rows: Iterator[tuple[Any, ...]], size: int = 50_000) -> Iterator[list[tuple[Any, ...]]]:
    chunk: list[tuple[Any, ...]] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def write_sqlite(
    store: Store,
    path: str | Path,
    naming: str = "snake_case",
    progress: Callable[[int], object] | None = None,
) -> Path:
    """Write the store to a new SQLite file (replacing one already there).

    ``progress`` is called with the number of rows written after each chunk.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.unlink(missing_ok=True)
    with closing(sqlite3.connect(tmp)) as conn:
        for table in TABLES[naming]:
            name, columns = TABLES[naming][table]
            for statement in _ddl(naming, table):
                conn.execute(statement)
            marks = ", ".join("?" * len(columns))
            sql = f"INSERT INTO {name} VALUES ({marks})"  # noqa: S608 - fixed identifiers
            for chunk in _chunks(store.rows(table)):
                conn.executemany(sql, chunk)
                if progress:
                    progress(len(chunk))
        conn.commit()
    tmp.replace(path)
    return path


def _write_csv(store: Store, table: str, path: Path, chunk_rows: int = 1_000_000) -> None:
    """One table as the CSV ``LOAD DATA`` reads, written column-wise by pandas in chunks.

    No Python tuple per row: at a million customers (20 M invoice lines) building rows one by
    one costs minutes and gigabytes. Money columns are written with two decimals (exact cents).
    """
    import pandas as pd

    columns = store.tables[table]
    n = store.count(table)
    with path.open("w", newline="") as fh:
        for start in range(0, n, chunk_rows):
            stop = min(start + chunk_rows, n)
            frame = pd.DataFrame(
                {i: column[start:stop] for i, column in enumerate(columns)}, copy=False
            )
            frame.to_csv(
                fh,
                header=False,
                index=False,
                na_rep="\\N",
                float_format="%.2f",
                lineterminator="\n",
            )


# Tables every block has its own rows of; the catalogue (genre, track, ...) is written once.
CUSTOMER_TABLES = ("customer", "invoice", "invoice_line")
BLOCK_CUSTOMERS = 250_000  # ~4.5 M invoice lines: the generator's arrays stay near 1 GiB


def shifted(store: Store, customers: int, invoices: int, lines: int) -> Store:
    """The store with its customer, invoice and line ids moved past the given counts."""
    t = dict(store.tables)
    customer, invoice, line = t["customer"], t["invoice"], t["invoice_line"]
    t["customer"] = [_ids(customer[0]) + customers, *customer[1:]]
    t["invoice"] = [_ids(invoice[0]) + invoices, _ids(invoice[1]) + customers, *invoice[2:]]
    t["invoice_line"] = [_ids(line[0]) + lines, _ids(line[1]) + invoices, *line[2:]]
    return Store(tables=t, favourite=store.favourite)


def _ids(column: np.ndarray | list[Any]) -> np.ndarray:
    return np.asarray(column, dtype=np.int64)


def generate_blocks(
    customers: int, seed: int = 42, block: int = BLOCK_CUSTOMERS
) -> Iterator[Store]:
    """The store in blocks of ``block`` customers (block ``i`` seeded ``(seed, i)``), ids running
    on across blocks: a store of any size with at most one block in memory. One block is the
    same store ``generate(customers, seed)`` gives only when ``customers <= block``."""
    if customers <= block:
        yield generate(customers, seed)
        return
    done = invoices = lines = 0
    for i, start in enumerate(range(0, customers, block)):
        block_seed = int(np.random.SeedSequence([seed, i]).generate_state(1)[0])
        part = shifted(
            generate(min(block, customers - start), seed=block_seed), done, invoices, lines
        )
        done += part.count("customer")
        invoices += part.count("invoice")
        lines += part.count("invoice_line")
        yield part
        del part  # not alive while the next block is generated


def _load(cursor: Any, store: Store, naming: str, tables: tuple[str, ...], tmp: Path) -> None:
    for table in tables:
        name, _ = TABLES[naming][table]
        csv_path = tmp / f"{name}.csv"
        _write_csv(store, table, csv_path)
        cursor.execute(
            f"LOAD DATA LOCAL INFILE %s INTO TABLE {name} "
            "FIELDS TERMINATED BY ',' OPTIONALLY ENCLOSED BY '\"' LINES TERMINATED BY '\\n'",
            (str(csv_path),),
        )
        csv_path.unlink()


def write_mysql(
    store: Store | Iterable[Store],
    conn: Connection[Any],
    database: str,
    naming: str = "snake_case",
    progress: Callable[[Store], object] | None = None,
) -> None:
    """(Re)create ``database`` and bulk-load the store (or its blocks) with LOAD DATA LOCAL INFILE.

    Each table is loaded with only its primary key; the secondary indexes the aggregation joins
    on are built afterwards (one sorted build instead of 20 M random index inserts). Blocks are
    written to a temporary CSV and loaded one at a time (``progress`` is called after each), so
    the disk and memory a store needs are one block's.
    """
    blocks = [store] if isinstance(store, Store) else store
    with conn.cursor() as cursor, tempfile.TemporaryDirectory() as tmp:
        cursor.execute(f"DROP DATABASE IF EXISTS `{database}`")
        cursor.execute(f"CREATE DATABASE `{database}` CHARACTER SET utf8mb4")
        cursor.execute(f"USE `{database}`")
        cursor.execute("SET SESSION unique_checks = 0, foreign_key_checks = 0")
        for table in TABLES[naming]:
            cursor.execute(_ddl(naming, table)[0])
        for i, block in enumerate(blocks):
            tables = tuple(TABLES[naming]) if i == 0 else CUSTOMER_TABLES
            _load(cursor, block, naming, tables, Path(tmp))
            conn.commit()
            if progress:
                progress(block)
            del block  # one block in memory: not this one while the next is generated
        for table in TABLES[naming]:
            for statement in _ddl(naming, table)[1:]:
                cursor.execute(statement)
        cursor.execute("SET SESSION unique_checks = 1, foreign_key_checks = 1")
    conn.commit()


def new_lines_block(
    existing_customers: int, invoices: int, lines: int, share: float, seed: int = 7
) -> Store:
    """About ``share`` of ``lines`` new invoice lines, in new invoices of random existing customers
    (a day's sales): ids continue after ``invoices`` and ``lines``."""
    buyers = max(1, round(existing_customers * share))
    day = shifted(generate(buyers, seed), 0, invoices, lines)
    rng = np.random.default_rng(seed)
    who = rng.integers(1, existing_customers + 1, buyers)
    invoice = day.tables["invoice"]
    return Store(
        tables={**day.tables, "invoice": [invoice[0], who[_ids(invoice[1]) - 1], *invoice[2:]]},
        favourite=day.favourite,
    )


def append_mysql(
    store: Store, conn: Connection[Any], database: str, naming: str = "snake_case"
) -> None:
    """Add a block's invoices and lines to an existing store (its indexes stay in place)."""
    with conn.cursor() as cursor, tempfile.TemporaryDirectory() as tmp:
        cursor.execute(f"USE `{database}`")
        _load(cursor, store, naming, ("invoice", "invoice_line"), Path(tmp))
    conn.commit()


def generate_to_url(target: str, customers: int, seed: int = 42, naming: str = "snake_case") -> str:
    """Generate and write to a SQLite path or a ``mysql://user[:pw]@host[:port]/db`` URL."""
    store = generate(customers, seed)
    lines = store.count("invoice_line")
    if not target.startswith(("mysql://", "mariadb://")):
        path = write_sqlite(store, target.removeprefix("sqlite://"), naming)
        return f"wrote {customers} customers, {lines} invoice lines to {path}"
    from urllib.parse import unquote, urlsplit

    import pymysql

    url = urlsplit(target)
    database = url.path.lstrip("/") or "chinook_synthetic"
    with pymysql.connect(
        host=url.hostname or "127.0.0.1",
        port=url.port or 3306,
        user=unquote(url.username or "root"),
        password=unquote(url.password or ""),
        local_infile=True,
        connect_timeout=10,
    ) as conn:
        write_mysql(store, conn, database, naming)
    return f"wrote {customers} customers, {lines} invoice lines to MySQL database {database}"
