"""A synthetic Chinook store of any size, seeded, with a planted link between spending and genre.

Each customer gets a favourite genre drawn from ``PROFILES``; the favourite fixes how many tracks
they tend to buy and what share of them is in that genre, and (weakly) where they live. So the
three spec features carry real signal and a model trained on them must beat the majority-class
baseline clearly. Same tables and columns as Chinook (customer, invoice, invoice_line, track,
genre, album, artist, media_type), in either naming. Development and test data only.
"""

from __future__ import annotations

import sqlite3
import tempfile
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import numpy as np

GENRES = (
    "Rock", "Jazz", "Metal", "Alternative & Punk", "Rock And Roll", "Blues", "Latin", "Reggae",
    "Pop", "Soundtrack", "Bossa Nova", "Easy Listening", "Heavy Metal", "R&B/Soul",
    "Electronica/Dance", "World", "Hip Hop/Rap", "Science Fiction", "TV Shows", "Sci Fi & Fantasy",
    "Drama", "Comedy", "Alternative", "Classical", "Opera",
)  # fmt: skip
VIDEO_GENRES = {"TV Shows", "Science Fiction", "Sci Fi & Fantasy", "Drama", "Comedy"}
COUNTRIES = (
    "USA", "Canada", "Brazil", "France", "Germany", "United Kingdom", "Portugal", "Czech Republic",
    "India", "Chile", "Argentina", "Australia", "Spain", "Italy", "Netherlands", "Poland",
)  # fmt: skip


@dataclass(frozen=True)
class Profile:
    genre: str
    weight: float  # share of customers with this favourite
    mean_tracks: float  # tracks bought, on average
    concentration: float  # share of tracks in the favourite genre
    home: str  # country over-represented among its fans


PROFILES = (
    Profile("Rock", 0.30, 22, 0.55, "USA"),
    Profile("Latin", 0.16, 12, 0.75, "Brazil"),
    Profile("Metal", 0.14, 30, 0.45, "Germany"),
    Profile("Alternative & Punk", 0.12, 8, 0.85, "United Kingdom"),
    Profile("Jazz", 0.10, 16, 0.35, "France"),
    Profile("Blues", 0.08, 26, 0.70, "Canada"),
    Profile("Classical", 0.06, 10, 0.92, "Czech Republic"),
    Profile("TV Shows", 0.04, 6, 0.60, "USA"),
)
TRACKS_PER_GENRE = 40
LINES_PER_INVOICE = 5

TABLES = {
    "snake_case": {
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
    },
    "PascalCase": {
        "genre": ("Genre", ["GenreId", "Name"]),
        "media_type": ("MediaType", ["MediaTypeId", "Name"]),
        "artist": ("Artist", ["ArtistId", "Name"]),
        "album": ("Album", ["AlbumId", "Title", "ArtistId"]),
        "track": (
            "Track",
            ["TrackId", "Name", "AlbumId", "MediaTypeId", "GenreId", "Composer", "Milliseconds",
             "Bytes", "UnitPrice"],
        ),
        "customer": (
            "Customer",
            ["CustomerId", "FirstName", "LastName", "Company", "Address", "City", "State",
             "Country", "PostalCode", "Phone", "Fax", "Email", "SupportRepId"],
        ),
        "invoice": (
            "Invoice",
            ["InvoiceId", "CustomerId", "InvoiceDate", "BillingAddress", "BillingCity",
             "BillingState", "BillingCountry", "BillingPostalCode", "Total"],
        ),
        "invoice_line": (
            "InvoiceLine", ["InvoiceLineId", "InvoiceId", "TrackId", "UnitPrice", "Quantity"]
        ),
    },
}  # fmt: skip
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
INDEXES = {"invoice": 1, "invoice_line": (1, 2), "track": 4}


@dataclass(frozen=True)
class Store:
    """A generated store as column arrays per table (logical table names)."""

    tables: dict[str, list[np.ndarray | list]]
    favourite: np.ndarray  # planted favourite genre per customer (index into GENRES)

    def rows(self, table: str) -> Iterator[tuple]:
        columns = self.tables[table]
        yield from zip(
            *(c.tolist() if isinstance(c, np.ndarray) else c for c in columns), strict=True
        )

    def count(self, table: str) -> int:
        return len(self.tables[table][0])


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
    mean = np.array([p.mean_tracks for p in PROFILES])[fav_profile]
    conc = np.array([p.concentration for p in PROFILES])[fav_profile]
    n_lines = 1 + rng.poisson(mean - 1)
    n_fav = np.maximum(1, rng.binomial(n_lines, conc))

    home = np.array([COUNTRIES.index(p.home) for p in PROFILES])[fav_profile]
    anywhere = rng.integers(0, len(COUNTRIES), customers)
    country = np.where(rng.random(customers) < 0.5, home, anywhere)

    line_customer = np.repeat(np.arange(customers), n_lines)
    starts = np.concatenate(([0], np.cumsum(n_lines)[:-1]))
    position = np.arange(len(line_customer)) - starts[line_customer]
    other = rng.integers(0, n_genres - 1, len(line_customer))
    other = other + (other >= fav_genre[line_customer])  # any genre but the favourite
    genre = np.where(position < n_fav[line_customer], fav_genre[line_customer], other)
    track_id = 1 + genre * TRACKS_PER_GENRE + rng.integers(0, TRACKS_PER_GENRE, len(genre))
    price_of_genre = np.array([1.99 if g in VIDEO_GENRES else 0.99 for g in GENRES])
    price = price_of_genre[genre]

    invoices_per_customer = -(-n_lines // LINES_PER_INVOICE)
    first_invoice = np.concatenate(([0], np.cumsum(invoices_per_customer)[:-1]))
    line_invoice = 1 + first_invoice[line_customer] + position // LINES_PER_INVOICE
    n_invoices = int(invoices_per_customer.sum())
    invoice_customer = np.repeat(np.arange(customers), invoices_per_customer)
    cents = np.round(price * 100).astype(np.int64)
    invoice_total = np.bincount(line_invoice - 1, weights=cents, minlength=n_invoices) / 100
    day = rng.integers(0, 5 * 365, n_invoices)
    dates = (np.datetime64("2021-01-01") + day).astype(str)

    ids = np.arange(1, customers + 1)
    n_tracks = n_genres * TRACKS_PER_GENRE
    track_genre = np.repeat(np.arange(n_genres), TRACKS_PER_GENRE)
    country_names = np.array(COUNTRIES)[country]
    tables: dict[str, list] = {
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


def _chunks(rows: Iterator[tuple], size: int = 50_000) -> Iterator[list[tuple]]:
    chunk: list[tuple] = []
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


def write_mysql(store: Store, conn, database: str, naming: str = "snake_case") -> None:
    """(Re)create ``database`` and bulk-load the store with LOAD DATA LOCAL INFILE.

    Each table is loaded with only its primary key; the secondary indexes the aggregation joins
    on are built afterwards (one sorted build instead of 20 M random index inserts).
    """
    with conn.cursor() as cursor, tempfile.TemporaryDirectory() as tmp:
        cursor.execute(f"DROP DATABASE IF EXISTS `{database}`")
        cursor.execute(f"CREATE DATABASE `{database}` CHARACTER SET utf8mb4")
        cursor.execute(f"USE `{database}`")
        cursor.execute("SET SESSION unique_checks = 0, foreign_key_checks = 0")
        for table in TABLES[naming]:
            name, _ = TABLES[naming][table]
            create, *indexes = _ddl(naming, table)
            cursor.execute(create)
            csv_path = Path(tmp) / f"{name}.csv"
            _write_csv(store, table, csv_path)
            cursor.execute(
                f"LOAD DATA LOCAL INFILE %s INTO TABLE {name} "
                "FIELDS TERMINATED BY ',' OPTIONALLY ENCLOSED BY '\"' LINES TERMINATED BY '\\n'",
                (str(csv_path),),
            )
            csv_path.unlink()
            for statement in indexes:
                cursor.execute(statement)
        cursor.execute("SET SESSION unique_checks = 1, foreign_key_checks = 1")
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
