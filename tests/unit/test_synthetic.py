"""The synthetic Chinook generator: seeded, consistent, both namings, planted favourites."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from genre_model.sources import SQLiteSource
from genre_model.synthetic import GENRES, generate, generate_to_url, write_sqlite


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


def test_planted_favourite_is_mostly_the_label(tmp_path: Path) -> None:
    store = generate(500, seed=2)
    rows = list(SQLiteSource(write_sqlite(store, tmp_path / "s.sqlite")).customer_summaries())
    planted = np.array(GENRES)[store.favourite]
    agree = np.mean([planted[r.customer_id - 1] == r.genre for r in rows])
    assert agree >= 0.9


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
