"""The streamed generator: blocks whose ids run on, loaded block by block into MariaDB, and a
day's new lines appended; the incremental fold of that day equals a full aggregation."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import numpy as np
import pytest

from devtools.synthetic import (
    append_mysql,
    generate,
    generate_blocks,
    new_lines_block,
    write_mysql,
)
from genre_model.config import DatabaseSettings
from genre_model.train import aggregates
from genre_model.train.sources import MySQLCredentials, MySQLSource
from tests.helpers import require_mysql


def test_blocks_ids_run_on_and_reference_their_own_block() -> None:
    blocks = list(generate_blocks(700, seed=3, block=300))
    assert [b.count("customer") for b in blocks] == [300, 300, 100]
    customer = np.concatenate([b.tables["customer"][0] for b in blocks])
    invoice = np.concatenate([b.tables["invoice"][0] for b in blocks])
    line = np.concatenate([b.tables["invoice_line"][0] for b in blocks])
    for ids in (customer, invoice, line):
        assert np.array_equal(ids, np.arange(1, len(ids) + 1))
    for b in blocks:  # an invoice's customer and a line's invoice are in the same block
        c, i = b.tables["customer"][0], b.tables["invoice"][0]
        assert set(b.tables["invoice"][1]) <= set(c)
        assert set(b.tables["invoice_line"][1]) <= set(i)
    assert not np.array_equal(blocks[0].favourite, blocks[1].favourite)  # each block its seed
    only = next(generate_blocks(200, seed=3, block=300))
    assert np.array_equal(only.favourite, generate(200, seed=3).favourite)


def test_a_days_lines_belong_to_existing_customers_and_follow_the_ids() -> None:
    day = new_lines_block(1000, invoices=7000, lines=38000, share=0.01)
    assert day.tables["invoice"][0][0] == 7001
    assert day.tables["invoice_line"][0][0] == 38001
    assert set(day.tables["invoice"][1]) <= set(range(1, 1001))
    assert set(day.tables["invoice_line"][1]) <= set(day.tables["invoice"][0])


@pytest.fixture
def database() -> Iterator[str]:
    import pymysql

    require_mysql("chinook")
    name = f"genre_blocks_{secrets.token_hex(4)}"
    conn = pymysql.connect(host="127.0.0.1", user="root", password="", local_infile=True)
    try:
        yield name
    finally:
        with conn.cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")
        conn.close()


@pytest.mark.mysql
def test_loaded_in_blocks_then_a_day_appended_the_fold_equals_the_full_query(
    database: str,
) -> None:
    import pymysql

    conn = pymysql.connect(host="127.0.0.1", user="root", password="", local_infile=True)
    with conn:
        blocks = list(generate_blocks(500, seed=5, block=200))
        write_mysql(iter(blocks), conn, database)
        source = MySQLSource(
            MySQLCredentials("127.0.0.1", 3306, "root", "", database), DatabaseSettings()
        )
        assert len(list(aggregates.summaries(source, "incremental"))) == 500
        lines = sum(b.count("invoice_line") for b in blocks)
        invoices = sum(b.count("invoice") for b in blocks)
        day = new_lines_block(500, invoices, lines, share=0.05)
        append_mysql(day, conn, database)
    assert aggregates.measure(source, "incremental").new_lines == day.count("invoice_line")
    assert list(aggregates.summaries(source, "incremental")) == list(source.customer_summaries())
    assert aggregates.measure(source, "incremental").new_lines == 0
