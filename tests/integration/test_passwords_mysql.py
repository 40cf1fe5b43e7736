"""Non-ASCII passwords on a real MariaDB user, and no password fragment in any failure output.

A scratch user (unique name, dropped afterwards) has a password with ``€``, ``ü`` and the URL's
own delimiters ``/ # @ :``. It must work through ``DB_PASSWORD``, the ``--db`` URL (raw and
percent-encoded) and the Secrets Manager secret; every failure must print one line that holds
no four consecutive characters of the password, in stdout, stderr or the logs.
"""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import boto3
import pytest
from moto import mock_aws

from genre_model.cli import main
from genre_model.config import DatabaseSettings, load_settings
from genre_model.train.sources import open_source, source_from_url

pytestmark = pytest.mark.mysql

HOST, PORT, DATABASE = "127.0.0.1", 3306, "chinook"


def fragments(password: str, size: int = 4) -> set[str]:
    return {password[i : i + size] for i in range(len(password) - size + 1)}


@pytest.fixture
def user(mysql_chinook: str) -> Iterator[tuple[str, str]]:
    """(name, password) of a scratch MariaDB user allowed to read Chinook."""
    import pymysql

    name = f"genre_h2_{secrets.token_hex(4)}"
    password = f"€ü/#@:{secrets.token_urlsafe(9)}Ünï"
    hosts = ("%", "localhost", "127.0.0.1")
    conn = pymysql.connect(host=HOST, port=PORT, user="root", password="", charset="utf8mb4")
    try:
        with conn.cursor() as cursor:
            for host in hosts:
                cursor.execute("CREATE USER %s@%s IDENTIFIED BY %s", (name, host, password))
                cursor.execute(f"GRANT SELECT ON `{mysql_chinook}`.* TO %s@%s", (name, host))
        yield name, password
    finally:
        with conn.cursor() as cursor:
            for host in hosts:
                cursor.execute("DROP USER IF EXISTS %s@%s", (name, host))
        conn.close()


def count_rows(source) -> int:
    return sum(1 for _ in source.customer_summaries())


def test_utf8_password_through_db_password(user: tuple[str, str]) -> None:
    name, password = user
    settings = load_settings(
        {"DB_HOST": HOST, "DB_USER": name, "DB_PASSWORD": password, "DB_NAME": DATABASE}
    )
    assert count_rows(open_source(settings.database)) == 59


def db_secret(name: str, password: str) -> str:
    """A Secrets Manager secret (moto, already started) for ``name`` on the test server: its ARN."""
    secret = {"host": HOST, "port": PORT, "username": name, "password": password}
    client = boto3.client("secretsmanager", region_name="us-east-1")
    return client.create_secret(Name=f"chinook/{name}", SecretString=json.dumps(secret))["ARN"]


@pytest.mark.parametrize("encode", [lambda p: quote(p, safe=""), lambda p: p], ids=["pct", "raw"])
def test_utf8_password_through_the_url(user: tuple[str, str], encode) -> None:
    name, password = user
    url = f"mysql://{name}:{encode(password)}@{HOST}:{PORT}/{DATABASE}"
    assert count_rows(source_from_url(url, DatabaseSettings())) == 59


def test_utf8_password_through_the_secret(user: tuple[str, str]) -> None:
    name, password = user
    with mock_aws():
        arn = db_secret(name, password)
        settings = load_settings({"DB_SECRET_ARN": arn, "DB_NAME": DATABASE})
        assert count_rows(open_source(settings.database)) == 59


def test_cli_trains_with_a_raw_utf8_url_password(
    user: tuple[str, str], tmp_path: Path, capsys, fast_forest
) -> None:
    name, password = user
    url = f"mysql://{name}:{password}@{HOST}:{PORT}/{DATABASE}"
    assert main(["train", "--db", url, "--model-path", str(tmp_path / "m.pkl")]) == 0
    out, err = capsys.readouterr()
    assert not [f for f in fragments(password) if f in out + err]
    assert "Published version" in out


def closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


FAILURES = {
    "wrong password in the URL": lambda n, p: (["--db", f"mysql://{n}:{p}x@{HOST}/{DATABASE}"], {}),
    "wrong user, raw password": lambda n, p: (["--db", f"mysql://x{n}:{p}@{HOST}/{DATABASE}"], {}),
    "bad port after the password": lambda n, p: (["--db", f"mysql://{n}:{p}@{HOST}:3o6/db"], {}),
    "query after the host": lambda n, p: (["--db", f"mysql://{n}:{p}@{HOST}/db?x=1"], {}),
    "nothing listening": lambda n, p: (
        ["--db", f"mysql://{n}:{quote(p)}@{HOST}:{closed_port()}/{DATABASE}"],
        {},
    ),
    "wrong DB_PASSWORD": lambda n, p: (
        [],
        {"DB_HOST": HOST, "DB_USER": n, "DB_PASSWORD": p[::-1], "DB_NAME": DATABASE},
    ),
    "DB_PASSWORD with a bad DB_PORT": lambda n, p: ([], {"DB_PASSWORD": p, "DB_PORT": "70000"}),
}


@pytest.mark.parametrize("case", FAILURES)
def test_failures_never_show_a_password_fragment(
    user: tuple[str, str], case: str, tmp_path: Path, capsys, caplog, monkeypatch
) -> None:
    name, password = user
    args, env = FAILURES[case](name, password)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    shown = env.get("DB_PASSWORD", password)
    with caplog.at_level(logging.DEBUG):
        status = main(["-v", "train", *args, "--model-path", str(tmp_path / "m.pkl")])
    out, err = capsys.readouterr()
    assert status == 1
    assert len(err.strip().splitlines()) == 1, err
    assert err.startswith("error: ")
    text = out + err + caplog.text
    leaked = {f for f in fragments(shown) | fragments(password) if f in text}
    assert not leaked, (leaked, err)
    assert not (tmp_path / "m.pkl").exists()


def test_wrong_secret_password_never_shown(
    user: tuple[str, str], tmp_path, capsys, monkeypatch
) -> None:
    name, password = user
    wrong = password.replace("€", "$")
    with mock_aws():
        arn = db_secret(name, wrong)
        monkeypatch.setenv("DB_SECRET_ARN", arn)
        status = main(["train", "--model-path", str(tmp_path / "m.pkl")])
    out, err = capsys.readouterr()
    assert status == 1
    assert "Access denied" in err
    assert not {f for f in fragments(wrong) if f in out + err}
