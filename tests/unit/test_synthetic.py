"""The synthetic Chinook generator: seeded, consistent, both namings, Chinook-like customers,
favourites planted only where a store's data could carry them."""

from __future__ import annotations

import sqlite3
from collections import Counter
from contextlib import closing
from pathlib import Path

import numpy as np
import pytest

from devtools.synthetic import (
    GENRES,
    INVOICE_SIZES,
    PROFILES,
    TRACKS,
    VIDEO_GENRES,
    generate,
    generate_to_url,
    write_sqlite,
)
from genre_model.train.sources import SQLiteSource


def test_same_seed_same_store() -> None:
    a, b = generate(200, seed=5), generate(200, seed=5)
    for table in a.tables:
        assert list(a.rows(table)) == list(b.rows(table))
    c = generate(200, seed=6)
    assert list(a.rows("invoice_line")) != list(c.rows("invoice_line"))


def test_store_is_consistent() -> None:
    store = generate(300, seed=1)
    assert store.count("customer") == 300
    lines = list(store.rows("invoice_line"))
    invoices = {row[0]: row for row in store.rows("invoice")}
    tracks = {row[0]: row for row in store.rows("track")}
    cents: dict[int, int] = {}
    for _, invoice_id, track_id, price, quantity in lines:
        assert invoice_id in invoices
        assert price == tracks[track_id][8]  # line price is the track's price
        cents[invoice_id] = cents.get(invoice_id, 0) + round(price * 100) * quantity
    for invoice_id, row in invoices.items():
        assert round(row[8] * 100) == cents[invoice_id]  # invoice total = sum of its lines
    assert {row[1] for row in invoices.values()} == set(range(1, 301))  # everybody bought


def test_zero_customers_rejected() -> None:
    with pytest.raises(ValueError, match="customers"):
        generate(0)


def test_both_namings_give_the_same_summaries(tmp_path: Path) -> None:
    store = generate(150, seed=9)
    snake = write_sqlite(store, tmp_path / "snake.sqlite", "snake_case")
    pascal = write_sqlite(store, tmp_path / "pascal.sqlite", "PascalCase")
    rows = list(SQLiteSource(snake).customer_summaries())
    assert len(rows) == 150
    assert rows == list(SQLiteSource(pascal).customer_summaries())


@pytest.mark.parametrize(("customers", "seed"), [(500, 2), (3000, 42), (4000, 7)])
def test_the_label_is_the_planted_favourite_for_everybody(
    tmp_path: Path, customers: int, seed: int
) -> None:
    """Other lines never outspend the favourite, so no genre becomes a class by accident."""
    store = generate(customers, seed=seed)
    rows = list(SQLiteSource(write_sqlite(store, tmp_path / "s.sqlite")).customer_summaries())
    planted = np.array(GENRES)[store.favourite]
    assert len(rows) == customers
    assert [r.customer_id for r in rows if r.genre != planted[r.customer_id - 1]] == []
    assert {r.genre for r in rows} <= {p.genre for p in PROFILES}
    # not by the tie rule: every other genre gets strictly less money than the favourite
    lines = store.tables["invoice_line"]
    customer = np.asarray(store.tables["invoice"][1])[np.asarray(lines[1]) - 1] - 1
    genre = np.asarray(store.tables["track"][4])[np.asarray(lines[2]) - 1] - 1
    cents = np.zeros((customers, len(GENRES)), dtype=np.int64)
    np.add.at(cents, (customer, genre), np.round(np.asarray(lines[3]) * 100).astype(np.int64))
    favourite = cents[np.arange(customers), store.favourite]
    cents[np.arange(customers), store.favourite] = -1
    assert (cents.max(axis=1) < favourite).all()


def test_customers_buy_like_chinook_customers(chinook_like) -> None:
    """38 tracks for almost everybody, in Chinook's seven invoices; $0.99 audio, $1.99 video."""
    store, _, ds = chinook_like
    tracks = ds.customers["total_tracks_bought"]
    assert (tracks == TRACKS).mean() >= 0.95
    video = {i + 1 for i, g in enumerate(GENRES) if g in VIDEO_GENRES}
    track_rows = {row[0]: row for row in store.rows("track")}
    for _, _, _, media_type, genre_id, *_, price in track_rows.values():
        assert price == (1.99 if genre_id in video else 0.99)
        assert media_type == (2 if genre_id in video else 1)
    prices = Counter(row[3] for row in store.rows("invoice_line"))
    assert set(prices) == {0.99, 1.99}
    assert 0.02 <= prices[1.99] / sum(prices.values()) <= 0.10  # Chinook: 111 of 2,240 lines
    sizes: dict[int, list[int]] = {}
    lines_per_invoice = Counter(row[1] for row in store.rows("invoice_line"))
    for invoice_id, customer_id, *_ in store.rows("invoice"):
        sizes.setdefault(customer_id, []).append(lines_per_invoice[invoice_id])
    at_38 = [s for c, s in sizes.items() if tracks[c] == TRACKS]
    assert at_38
    assert all(s == list(INVOICE_SIZES) for s in at_38)


def test_docstring_tables_are_the_written_ones(chinook_like) -> None:
    _, path, _ = chinook_like
    with closing(sqlite3.connect(path)) as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        keys = [r for t in tables for r in conn.execute(f"PRAGMA foreign_key_list({t})")]
    written = {"genre", "media_type", "artist", "album", "track", "customer", "invoice"}
    assert tables == written | {"invoice_line"}
    assert keys == []  # "no foreign keys", as the docstring says


def test_rewriting_replaces_the_file(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    write_sqlite(generate(80, seed=3), path)
    write_sqlite(generate(40, seed=3), path)
    assert len(list(SQLiteSource(path).customer_summaries())) == 40
    assert not path.with_suffix(".sqlite.tmp").exists()


def test_generate_to_sqlite_url(tmp_path: Path) -> None:
    target = tmp_path / "g.sqlite"
    message = generate_to_url(f"sqlite://{target}", customers=25, seed=1)
    assert str(target) in message
    assert "25 customers" in message
    assert len(list(SQLiteSource(target).customer_summaries())) == 25
