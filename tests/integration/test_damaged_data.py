"""Damaged Chinook data, on a real MariaDB scratch database and on a SQLite copy, through the CLI.

Every case either trains, with the data rules' counts in the report and metrics.json, or is
refused with ONE line and exit 1 while everything a reader uses stays byte-identical.
"""

from __future__ import annotations

import json
import secrets
import shutil
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from genre_model.cli import main
from genre_model.contract import unpack_arrays
from genre_model.serve.predictor import load_payload
from genre_model.train.sources import PASCAL, SNAKE, Naming, SQLiteSource

HOST, PORT = "127.0.0.1", 3306
TABLES = ("customer", "invoice", "invoice_line", "track", "genre")


@dataclass
class Store:
    """A damageable Chinook copy: ``run`` executes SQL, ``url`` is the CLI's ``--db``."""

    url: str
    naming: Naming
    run: Callable[[str], int]  # returns the affected row count

    def sql(self, template: str, **values: object) -> int:
        """Run ``template`` with the naming's identifiers (and ``values``) filled in."""
        line_id = "invoice_line_id" if self.naming is SNAKE else "InvoiceLineId"
        return self.run(template.format(**vars(self.naming), line_id=line_id, **values))


def _mysql_store() -> Iterator[Store]:
    import pymysql

    name = f"genre_h2_damaged_{secrets.token_hex(4)}"
    conn = pymysql.connect(host=HOST, port=PORT, user="root", password="", autocommit=True)
    try:
        with conn.cursor() as cursor:
            cursor.execute(f"CREATE DATABASE `{name}`")
            for table in TABLES:
                cursor.execute(f"CREATE TABLE `{name}`.{table} LIKE chinook.{table}")
                cursor.execute(f"INSERT INTO `{name}`.{table} SELECT * FROM chinook.{table}")  # noqa: S608
            # the damage below needs what the schema forbids: NULLs and doubles
            cursor.execute(
                f"ALTER TABLE `{name}`.invoice_line MODIFY unit_price DOUBLE NULL, "
                "MODIFY quantity BIGINT NULL"
            )
        conn.select_db(name)

        def run(statement: str) -> int:
            with conn.cursor() as cursor:
                return cursor.execute(statement)

        yield Store(f"mysql://root@{HOST}:{PORT}/{name}", SNAKE, run)
    finally:
        with conn.cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")
        conn.close()


def _sqlite_store(chinook_sqlite: Path, tmp_path: Path) -> Iterator[Store]:
    path = tmp_path / "chinook.sqlite"
    shutil.copyfile(chinook_sqlite, path)
    conn = sqlite3.connect(path, isolation_level=None)
    # SQLite cannot drop NOT NULL: rebuild the table without constraints
    conn.executescript(
        "CREATE TABLE il AS SELECT * FROM InvoiceLine; DROP TABLE InvoiceLine;"
        "ALTER TABLE il RENAME TO InvoiceLine;"
    )

    def run(statement: str) -> int:
        return conn.execute(statement).rowcount

    try:
        yield Store(str(path), PASCAL, run)
    finally:
        conn.close()


@pytest.fixture(params=["mariadb", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "mariadb":
        request.applymarker(pytest.mark.mysql)
        request.getfixturevalue("mysql_chinook")  # skips, or fails under CI, without MariaDB
        yield from _mysql_store()
    else:
        yield from _sqlite_store(request.getfixturevalue("chinook_sqlite"), tmp_path)


@pytest.fixture(autouse=True)
def _fast(fast_forest: None) -> None:
    """Ten trees: these tests check the data rules, not accuracy."""


@pytest.fixture(scope="module")
def _undamaged_versions() -> dict[str, Path]:
    """The model folder of one run on an undamaged store, by store kind (filled on first use)."""
    return {}


@pytest.fixture
def published(
    store: Store,
    _undamaged_versions: dict[str, Path],
    tmp_path_factory: pytest.TempPathFactory,
    tmp_path: Path,
    capsys: pytest.CaptureFixture,
) -> Path:
    """The model path of the run before the damage: a version trained by ``train`` from this
    kind of store while undamaged, trained once for the module and copied for each test."""
    kind = "mariadb" if store.naming is SNAKE else "sqlite"
    if kind not in _undamaged_versions:
        first = tmp_path_factory.mktemp(f"undamaged-{kind}") / "m.pkl"
        status, _, err = train(store, first, capsys)
        assert status == 0, err
        _undamaged_versions[kind] = first.parent
    model = tmp_path / "published" / "m.pkl"
    shutil.copytree(_undamaged_versions[kind], model.parent, symlinks=True)
    return model


OF_CUSTOMER = "{invoice_id} IN (SELECT {invoice_id} FROM {invoice} WHERE {customer_id} = {who})"


def update_lines(store: Store, assignment: str, customer: int, where: str = "") -> int:
    """``UPDATE`` the invoice lines of one customer; returns how many changed."""
    template = "UPDATE {invoice_line} SET " + assignment + " WHERE " + OF_CUSTOMER + where  # noqa: S608
    return store.sql(template, who=customer)


def refund_lines(store: Store, customer: int, offset: int, price: str, quantity: str) -> int:
    """Insert a copy of every purchase of ``customer`` with the given (negative) price/quantity."""
    template = (
        "INSERT INTO {invoice_line} SELECT {line_id} + {offset}, {invoice_id}, {track_id}, "  # noqa: S608
        + f"{price}, {quantity} FROM {{invoice_line}} WHERE {{line_id}} < 100000 AND "
        + OF_CUSTOMER
    )
    return store.sql(template, who=customer, offset=offset)


def train(
    store: Store, model: Path, capsys: pytest.CaptureFixture, *extra: str
) -> tuple[int, dict, str]:
    """Run ``train --json``; returns (exit status, parsed stdout or {}, stderr)."""
    capsys.readouterr()
    status = main(["train", "--db", store.url, "--model-path", str(model), "--json", *extra])
    out, err = capsys.readouterr()
    return status, (json.loads(out) if status == 0 else {}), err


def served(model: Path) -> dict[str, bytes]:
    """Every byte a reader of the model path can see, where its links lead, and the pointer."""
    names = ("manifest.json", "predictor.joblib", "customers.joblib", "metrics.json")
    files = {name: model.with_name(f"{model.stem}.{name}").read_bytes() for name in names}
    files["pickle"] = model.read_bytes()
    files["current"] = str(model.with_name(f"{model.stem}.current").readlink()).encode()
    files["latest.json"] = (model.parent / f"{model.stem}.versions" / "latest.json").read_bytes()
    return files


def summaries(store: Store) -> dict[int, tuple]:
    if store.naming is PASCAL:
        return {r.customer_id: r for r in SQLiteSource(store.url).customer_summaries()}
    from genre_model.config import DatabaseSettings
    from genre_model.train.sources import source_from_url

    source = source_from_url(store.url, DatabaseSettings())
    return {r.customer_id: r for r in source.customer_summaries()}


def assert_one_line_error(status: int, err: str, *words: str) -> None:
    assert status == 1
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, err
    for word in words:
        assert word in lines[0]


def test_null_price_or_quantity_on_every_line_of_a_customer(store, tmp_path, capsys) -> None:
    skipped = update_lines(store, "{unit_price} = NULL", 1)
    skipped += update_lines(store, "{quantity} = NULL", 2)
    status, out, err = train(store, tmp_path / "m.pkl", capsys)
    assert status == 0, err
    report = out["report"]
    assert report["skipped"]["invoice_lines"] == skipped == 76
    assert report["skipped"]["customers_without_valid_lines"] == 2
    assert report["customers"]["read"] == 59
    metrics = json.loads((tmp_path / "m.metrics.json").read_text())
    assert metrics["skipped"] == report["skipped"]
    manifest = json.loads((tmp_path / "m.manifest.json").read_text())
    assert manifest["rows"]["snapshot_customers"] == 57  # left out of the snapshot too
    assert manifest["rows"]["skipped_invoice_lines"] == 76


def test_refunds_are_skipped_not_netted(store, tmp_path, capsys) -> None:
    before = summaries(store)[3]
    # a refund of every line of customer 3, twice over: netted, the spend would be negative
    inserted = refund_lines(store, 3, 100000, "-{unit_price}", "{quantity}")
    inserted += refund_lines(store, 3, 200000, "{unit_price}", "-2 * {quantity}")
    after = summaries(store)[3]
    assert after._replace(skipped_lines=0) == before
    assert after.skipped_lines == inserted == 76
    status, out, err = train(store, tmp_path / "m.pkl", capsys)
    assert status == 0, err
    assert out["report"]["skipped"]["invoice_lines"] == 76
    assert out["report"]["skipped"]["customers_without_valid_lines"] == 0


@pytest.mark.parametrize("name", ["NULL", "'   '"])
def test_genre_without_a_name_is_not_a_label(store, tmp_path, capsys, name: str) -> None:
    favourites = [r.genre for r in summaries(store).values()]
    metal = favourites.count("Metal")
    assert metal >= 2, "the data no longer has several Metal fans"
    store.sql(f"UPDATE {{genre}} SET {{genre_name}} = {name} WHERE {{genre_name}} = 'Metal'")  # noqa: S608
    status, out, err = train(store, tmp_path / "m.pkl", capsys)
    assert status == 0, err
    report = out["report"]
    assert report["skipped"]["customers_with_unnamed_genre"] == metal
    assert None not in report["classes"]
    assert "Metal" not in report["classes"]
    assert report["customers"]["read"] == 59
    manifest = json.loads((tmp_path / "m.manifest.json").read_text())
    assert manifest["rows"]["snapshot_customers"] == 59  # features are fine: still predictable


def test_absurd_prices_are_skipped(store, tmp_path, capsys) -> None:
    n = update_lines(store, "{unit_price} = 1e300", 4, " AND {track_id} % 2 = 0")
    n += update_lines(store, "{quantity} = 2147483648", 5)
    assert n > 38
    status, out, err = train(store, tmp_path / "m.pkl", capsys)
    assert status == 0, err
    assert out["report"]["skipped"]["invoice_lines"] == n
    # the largest line the schema can hold still trains, with finite features
    update_lines(store, "{unit_price} = 99999999.99, {quantity} = 2147483647", 6)
    status, out, err = train(store, tmp_path / "m2.pkl", capsys)
    assert status == 0, err


def test_missing_and_empty_countries_are_unknown(store, tmp_path, capsys) -> None:
    store.sql("UPDATE {customer} SET {country} = NULL WHERE {customer_id} = 7")
    store.sql("UPDATE {customer} SET {country} = '' WHERE {customer_id} = 8")
    status, _, err = train(store, tmp_path / "m.pkl", capsys, "--feature-set", "location")
    assert status == 0, err
    manifest = json.loads((tmp_path / "m.manifest.json").read_text())
    assert "" not in manifest["countries"]
    assert None not in manifest["countries"]
    snapshot = load_payload((tmp_path / "m.customers.joblib").read_bytes())
    ids = unpack_arrays(snapshot["arrays"])["customer_id"].tolist()
    countries = dict(zip(ids, snapshot["countries"], strict=True))
    assert (countries[7], countries[8], countries[1]) == ("Unknown", "Unknown", "Brazil")


def test_dangling_references(store, tmp_path, capsys) -> None:
    """Tracks, genres and customers that lines or invoices point at but that do not exist."""
    before = summaries(store)
    favourites = [r.genre for r in before.values()]
    tracks_of_12 = "SELECT {track_id} FROM {invoice_line} WHERE " + OF_CUSTOMER  # noqa: S608
    deleted = store.sql("DELETE FROM {track} WHERE {track_id} IN (" + tracks_of_12 + ")", who=12)  # noqa: S608
    assert deleted > 0
    store.sql("DELETE FROM {genre} WHERE {genre_name} = 'Metal'")
    store.sql("DELETE FROM {customer} WHERE {customer_id} = 13")
    after = summaries(store)
    lost = sum(r.total_tracks for r in before.values()) - sum(
        r.total_tracks for r in after.values()
    )
    assert lost >= 38  # every quantity in Chinook is 1: tracks lost = lines skipped
    assert sum(r.skipped_lines for r in after.values()) == lost
    status, out, err = train(store, tmp_path / "m.pkl", capsys, "--feature-set", "location")
    assert status == 0, err
    skipped = out["report"]["skipped"]
    assert skipped["invoice_lines"] == lost
    assert skipped["customers_with_unnamed_genre"] == favourites.count("Metal")
    assert out["report"]["customers"]["read"] == 59  # 13 kept: a customer of unknown country
    snapshot = load_payload((tmp_path / "m.customers.joblib").read_bytes())
    ids = unpack_arrays(snapshot["arrays"])["customer_id"].tolist()
    assert dict(zip(ids, snapshot["countries"], strict=True))[13] == "Unknown"


@pytest.mark.parametrize("store", ["sqlite"], indirect=True)  # MariaDB's columns are typed
def test_text_in_numeric_columns_sqlite(store, tmp_path, capsys) -> None:
    n = update_lines(store, "{unit_price} = 'abc'", 9)
    n += update_lines(store, "{quantity} = 2.5", 10)
    store.sql("UPDATE {customer} SET {country} = CAST(X'FF' AS TEXT) WHERE {customer_id} = 11")
    status, out, err = train(store, tmp_path / "m.pkl", capsys)
    assert status == 0, err
    assert out["report"]["skipped"]["invoice_lines"] == n
    assert out["report"]["skipped"]["customers_without_valid_lines"] == 2


@pytest.mark.parametrize("store", ["mariadb"], indirect=True)
@pytest.mark.parametrize(
    ("price_type", "quantity_type"),
    [("VARCHAR(30)", "VARCHAR(30)"), ("TEXT", "DECIMAL(10,2)"), ("DECIMAL(10,2)", "DOUBLE")],
)
def test_line_rules_hold_whatever_the_mysql_column_types(
    store, tmp_path, capsys, price_type: str, quantity_type: str
) -> None:
    """An altered schema: text that is not exactly a number and fractional quantities are
    skipped and counted, as in SQLite; numbers stored as text or DECIMAL still count."""
    before = summaries(store)
    store.sql(
        f"ALTER TABLE {{invoice_line}} MODIFY {{unit_price}} {price_type} NULL, "
        f"MODIFY {{quantity}} {quantity_type} NULL"
    )
    assert summaries(store) == before  # the same numbers in other types: nothing changes
    n = update_lines(store, "{quantity} = 1.5", 9)
    textual = price_type != "DECIMAL(10,2)"
    if textual:
        for who, price in [(10, "'abc'"), (11, "'  0.99x'"), (12, "'0.99 '"), (13, "''")]:
            n += update_lines(store, f"{{unit_price}} = {price}", who)
        update_lines(store, "{unit_price} = '1.99'", 14)  # a number as text: counts
    status, out, err = train(store, tmp_path / "m.pkl", capsys)
    assert status == 0, err
    assert out["report"]["skipped"]["invoice_lines"] == n
    after = summaries(store)
    assert 9 not in after or after[9].total_tracks == 0
    if textual:
        assert after[14].total_cents == 199 * before[14].total_tracks
        for who in (10, 11, 12, 13):
            assert after[who].total_cents == 0
            assert after[who].skipped_lines == before[who].total_tracks


@pytest.mark.parametrize("parts", [("'Rock'", "CHAR(0)"), ("CHAR(9)", "'Rock'", "CHAR(10)")])
def test_control_characters_are_removed_from_genre_names(store, tmp_path, capsys, parts) -> None:
    """'Rock\\0' is Rock: an invisible difference would show as two Rocks everywhere."""
    name = " || ".join(parts) if store.naming is PASCAL else f"CONCAT({', '.join(parts)})"
    store.sql(f"UPDATE {{genre}} SET {{genre_name}} = {name} WHERE {{genre_name}} = 'Rock'")  # noqa: S608
    status, out, err = train(store, tmp_path / "m.pkl", capsys)
    assert status == 0, err
    assert "Rock" in out["report"]["classes"]
    assert all(name.isprintable() for name in out["report"]["classes"])


@pytest.mark.parametrize(
    "damage",
    [
        "UPDATE {invoice_line} SET {unit_price} = NULL",
        "UPDATE {invoice_line} SET {quantity} = -1",
        "UPDATE {invoice_line} SET {unit_price} = -0.99",
        "UPDATE {genre} SET {genre_name} = NULL",
    ],
)
def test_refused_run_changes_nothing_served(store, published, capsys, damage: str) -> None:
    before = served(published)
    store.sql(damage)
    status, _, err = train(store, published, capsys)
    assert_one_line_error(status, err)
    assert served(published) == before


def assert_id_damage_refused(store: Store, model: Path, capsys, column: str, value: str) -> None:
    """Half of customer 1's invoices get the id ``value``: the run is refused with one line,
    never published as a version whose snapshot predict would refuse (503 for every request)."""
    before = served(model)
    if store.naming is SNAKE:  # MariaDB: the column is typed; SQLite stores what it is given
        store.sql("ALTER TABLE {invoice} MODIFY {customer_id} " + column)
    where = " WHERE {customer_id} = 1 AND {invoice_id} % 2 = 0"
    changed = store.sql("UPDATE {invoice} SET {customer_id} = " + value + where)  # noqa: S608
    assert changed > 0
    status, _, err = train(store, model, capsys)
    assert_one_line_error(status, err, "customer id")
    assert served(model) == before


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("VARCHAR(20)", "'abc'"),  # not a number
        ("DECIMAL(10,2)", "1.4"),  # beside customer 1 once truncated
        ("BIGINT UNSIGNED", "18446744073709551615"),  # past int64 (SQLite: a REAL)
    ],
)
def test_customer_ids_predict_could_not_serve_refuse_the_run(
    store, published, capsys, column: str, value: str
) -> None:
    assert_id_damage_refused(store, published, capsys, column, value)


@pytest.mark.parametrize("store", ["mariadb"], indirect=True)  # SQLite's affinity makes '01' 1
def test_customer_ids_equal_once_read_as_numbers_refuse_the_run(store, published, capsys) -> None:
    assert_id_damage_refused(store, published, capsys, "VARCHAR(20)", "'01'")
