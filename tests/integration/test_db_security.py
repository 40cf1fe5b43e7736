"""The database path against a real MariaDB that only speaks TLS (tests/private_mariadb.py).

Training succeeds with the certificate verified and the least-privilege user of
infra/db/create_training_user.sql; it fails with one readable line on a wrong CA, a hostname
mismatch and a server that offers no TLS (before any credential is sent); the secret is read at
AWSCURRENT, re-read once after a rotation, and appears in no output.
"""

from __future__ import annotations

import contextlib
import json
import logging
import secrets
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pymysql
import pytest
from moto import mock_aws

from genre_model.cli import main
from genre_model.config import load_settings
from genre_model.train import db_connect
from genre_model.train.db_connect import DataSourceError, MySQLCredentials, connect
from genre_model.train.sources import open_source
from tests.helpers import require
from tests.private_mariadb import CUSTOMERS, Instance, available, private_mariadb

ROOT = Path(__file__).resolve().parents[2]
CREATE_USER_SQL = ROOT / "infra/db/create_training_user.sql"
TRAIN_USER = "genre_train_t"
CLIENT_SSL = 0x800  # capability flag: the server can switch to TLS


@pytest.fixture(scope="module")
def tls_db() -> Iterator[Instance]:
    """One private TLS-only MariaDB for the module (skip outside CI when it cannot start)."""
    require(*available())
    try:
        context = private_mariadb()
        instance = context.__enter__()
    except Exception as exc:
        require(False, f"private MariaDB did not start: {exc}")
    try:
        yield instance
    finally:
        context.__exit__(None, None, None)


def create_training_user(db: Instance, user: str) -> str:
    """infra/db/create_training_user.sql as an administrator runs it; returns the password."""
    password = secrets.token_urlsafe(18)
    script = (
        f"SET @train_user='{user}'; SET @train_host='%'; SET @train_password='{password}';\n"
        f"SOURCE {CREATE_USER_SQL};\n"
    )
    subprocess.run(
        ["mariadb", "--no-defaults", f"--socket={db.socket}", "-uroot", db.database],
        input=script.encode(),
        check=True,
        capture_output=True,  # SHOW GRANTS output, never shown
        timeout=60,
    )
    return password


def drop_user(db: Instance, user: str) -> None:
    with db.root() as conn, conn.cursor() as cursor:
        cursor.execute("DROP USER IF EXISTS %s@'%%'", (user,))


@pytest.fixture(scope="module")
def reader(tls_db: Instance) -> Iterator[str]:
    """The least-privilege training user with a random password, dropped afterwards."""
    password = create_training_user(tls_db, TRAIN_USER)
    yield password
    drop_user(tls_db, TRAIN_USER)


def env_for(db: Instance, password: str, **extra: str) -> dict[str, str]:
    return {
        "DB_HOST": db.host,
        "DB_PORT": str(db.port),
        "DB_USER": TRAIN_USER,
        "DB_PASSWORD": password,
        "DB_NAME": db.database,
        "DB_TLS": "require",
        "DB_TLS_CA": str(db.ca),
        "DB_CONNECT_TIMEOUT": "5",
        "DB_READ_TIMEOUT": "30",
        **extra,
    }


def run_cli(capsys, monkeypatch, env: dict[str, str], tmp_path: Path) -> tuple[int, str]:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("RF_N_ESTIMATORS", "10")
    monkeypatch.setenv("MIN_CUSTOMERS", "5")
    capsys.readouterr()
    status = main(["train", "--model-path", str(tmp_path / "models")])
    out, err = capsys.readouterr()
    return status, out + err


def one_error_line(status: int, output: str, *words: str) -> str:
    assert status == 1, output
    assert "Traceback" not in output
    # The run first says what it reads and where it publishes (never a password), then fails.
    lines = output.strip().splitlines()
    assert len(lines) == 2, output
    assert lines[0].startswith("Training from mysql://"), lines[0]
    error = lines[1]
    assert error.startswith("error: ")
    for word in words:
        assert word in error, error
    return error


# --------------------------------------------------------------------------- TLS


def test_training_succeeds_over_verified_tls(tls_db, reader, capsys, monkeypatch, tmp_path):
    status, output = run_cli(capsys, monkeypatch, env_for(tls_db, reader), tmp_path)
    assert status == 0, output
    assert "Published version" in output
    assert reader not in output


def test_the_session_is_encrypted_by_the_servers_own_account(tls_db, reader):
    db = load_settings(env_for(tls_db, reader)).database
    credentials = MySQLCredentials(tls_db.host, tls_db.port, TRAIN_USER, reader, tls_db.database)
    with connect(credentials, db) as conn, conn.cursor() as cursor:
        cursor.execute("SHOW SESSION STATUS LIKE 'Ssl_version'")
        (_, version) = cursor.fetchone()
    assert version.startswith("TLSv1."), version
    assert version != "TLSv1.1"


def test_a_wrong_ca_is_one_readable_line(tls_db, reader, capsys, monkeypatch, tmp_path):
    env = env_for(tls_db, reader, DB_TLS_CA=str(tls_db.other_ca))
    status, output = run_cli(capsys, monkeypatch, env, tmp_path)
    line = one_error_line(status, output, f"TLS to 127.0.0.1:{tls_db.port} refused", "CA bundle")
    assert "the certificate's CA is not in the CA bundle" in line
    assert reader not in output


def test_a_hostname_mismatch_is_one_readable_line(tls_db, reader, capsys, monkeypatch, tmp_path):
    # The certificate names 127.0.0.1 only; "localhost" reaches the same server.
    env = env_for(tls_db, reader, DB_HOST="localhost")
    status, output = run_cli(capsys, monkeypatch, env, tmp_path)
    one_error_line(status, output, "TLS to localhost", "hostname mismatch")
    assert reader not in output


def test_the_rds_bundle_does_not_vouch_for_a_private_ca(tls_db, reader):
    """The default CA (the pinned RDS bundle) refuses a server whose CA is not Amazon's."""
    env = env_for(tls_db, reader)
    del env["DB_TLS_CA"]
    source = open_source(load_settings(env).database)
    with pytest.raises(DataSourceError) as info:
        list(source.customer_summaries())
    assert "refused" in str(info.value)
    assert str(db_connect.RDS_CA_BUNDLE) in str(info.value)


class DowngradeProxy:
    """A man in the middle that strips CLIENT_SSL from the server's greeting and records every
    byte the client sends: the downgrade a plain-text fallback would fall for."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.from_client = bytearray()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        self.listener.settimeout(20)
        try:
            client, _ = self.listener.accept()
        except OSError:
            return
        with client, socket.create_connection(("127.0.0.1", self.upstream_port), 10) as server:
            client.settimeout(10)
            server.settimeout(10)
            greeting = bytearray(server.recv(65536))
            # header(4) protocol(1) version\0 thread id(4) scramble(8) filler(1) capabilities(2)
            at = 4 + 1 + greeting.index(0, 5) - 4 + 4 + 8 + 1
            flags = int.from_bytes(greeting[at : at + 2], "little") & ~CLIENT_SSL
            greeting[at : at + 2] = flags.to_bytes(2, "little")
            client.sendall(greeting)
            back = threading.Thread(target=self._pipe, args=(server, client), daemon=True)
            back.start()
            self._pipe(client, server, self.from_client)
            back.join(timeout=10)

    @staticmethod
    def _pipe(
        source: socket.socket, target: socket.socket, record: bytearray | None = None
    ) -> None:
        try:
            while data := source.recv(65536):
                if record is not None:
                    record += data
                target.sendall(data)
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):  # the other direction may have closed it
                target.shutdown(socket.SHUT_WR)

    def close(self) -> None:
        self.listener.close()
        self.thread.join(timeout=30)


def test_a_server_without_tls_gets_no_credentials(tls_db, reader, capsys, monkeypatch, tmp_path):
    proxy = DowngradeProxy(tls_db.port)
    try:
        env = env_for(tls_db, reader, DB_PORT=str(proxy.port))
        status, output = run_cli(capsys, monkeypatch, env, tmp_path)
    finally:
        proxy.close()
    one_error_line(status, output, "does not offer TLS", "no credentials were sent")
    assert TRAIN_USER.encode() not in proxy.from_client  # no login packet left the client
    assert reader not in output


def test_disable_is_plain_text_and_says_so(tls_db, reader, capsys, monkeypatch, tmp_path, caplog):
    """DB_TLS=disable really sends the login in the clear (this server then refuses it)."""
    proxy = DowngradeProxy(tls_db.port)
    try:
        env = env_for(tls_db, reader, DB_TLS="disable", DB_PORT=str(proxy.port))
        with caplog.at_level(logging.WARNING, logger="genre_model"):
            status, output = run_cli(capsys, monkeypatch, env, tmp_path)
    finally:
        proxy.close()
    assert status == 1, output
    assert "Access denied" in output  # require_secure_transport: MariaDB's answer to plain text
    assert TRAIN_USER.encode() in proxy.from_client  # the login packet crossed in plain text
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("DB_TLS=disable" in w and "plain text" in w for w in warnings), warnings
    assert reader not in output + caplog.text


def test_the_encryption_check_sees_a_plain_session(tls_db):
    """The check after connecting: a plain Unix-socket session is not taken for TLS."""
    with tls_db.root(ssl_disabled=True) as conn:
        assert db_connect._encrypted(conn) is False
    with tls_db.root() as conn:  # pymysql's default: TLS when offered (unverified)
        assert db_connect._encrypted(conn) is True


def test_a_server_that_never_answers_fails_within_its_timeouts(
    silent_server, capsys, monkeypatch, tmp_path
):
    """Accepts the TCP connection, never sends a greeting: the run ends after DB_READ_TIMEOUT
    (the greeting and the TLS handshake are reads), not at Lambda's 900 s."""
    port, accepted = silent_server
    env = {"DB_HOST": "127.0.0.1", "DB_PORT": str(port), "DB_TLS": "require"}
    started = time.monotonic()
    status, output = run_cli(capsys, monkeypatch, {**env, "DB_READ_TIMEOUT": "1"}, tmp_path)
    elapsed = time.monotonic() - started
    one_error_line(status, output, f"127.0.0.1:{port}", "timed out")
    assert accepted  # it did connect
    assert elapsed < 60  # 1 s of silence allowed; without the timeout this never returns


# --------------------------------------------------------------------------- least privilege


def test_training_user_has_exactly_select_on_the_five_tables(tls_db, reader):
    credentials = MySQLCredentials(tls_db.host, tls_db.port, TRAIN_USER, reader, tls_db.database)
    db = load_settings(env_for(tls_db, reader)).database
    with connect(credentials, db) as conn, conn.cursor() as cursor:
        cursor.execute("SHOW GRANTS FOR CURRENT_USER()")
        grants = [row[0] for row in cursor.fetchall()]
    table_grants = sorted(g for g in grants if " ON `" in g)
    assert [g.split(" ON ")[0] for g in table_grants] == ["GRANT SELECT"] * 5
    assert {g.split("`.`")[1].split("`")[0] for g in table_grants} == {
        "customer",
        "invoice",
        "invoice_line",
        "track",
        "genre",
    }
    assert not any("GRANT OPTION" in g or "ALL PRIVILEGES" in g for g in grants)


def test_training_user_is_refused_without_tls_by_the_server_itself(tls_db, reader):
    """REQUIRE SSL: even over the Unix socket (secure transport, no TLS) the login is refused."""
    with pytest.raises(pymysql.OperationalError) as info:
        pymysql.connect(
            unix_socket=str(tls_db.socket),
            user=TRAIN_USER,
            password=reader,
            ssl_disabled=True,
            connect_timeout=5,
        )
    assert info.value.args[0] == db_connect.ACCESS_DENIED
    with tls_db.root() as conn, conn.cursor() as cursor:
        cursor.execute("SELECT ssl_type FROM mysql.user WHERE user = %s", (TRAIN_USER,))
        assert cursor.fetchone() == ("ANY",)


@pytest.mark.parametrize(
    "statement",
    [
        "INSERT INTO customer (customer_id, country) VALUES (999999, 'XX')",
        "UPDATE invoice_line SET unit_price = 0",
        "DELETE FROM invoice",
        "CREATE TABLE stolen (x INT)",
        "DROP TABLE genre",
        "ALTER TABLE track ADD COLUMN x INT",
        "SELECT * FROM mysql.user",
    ],
)
def test_training_user_cannot_write_or_read_elsewhere(tls_db, reader, statement):
    credentials = MySQLCredentials(tls_db.host, tls_db.port, TRAIN_USER, reader, tls_db.database)
    db = load_settings(env_for(tls_db, reader)).database
    with connect(credentials, db) as conn, conn.cursor() as cursor:
        with pytest.raises(pymysql.MySQLError) as info:
            cursor.execute(statement)
        assert info.value.args[0] in (1142, 1044, 1143), info.value  # command/db/column denied
    with tls_db.root() as conn, conn.cursor() as cursor:
        cursor.execute(f"SELECT COUNT(*) FROM `{tls_db.database}`.customer")  # noqa: S608
        assert cursor.fetchone() == (CUSTOMERS,)  # nothing was written


# --------------------------------------------------------------------------- rotation


@pytest.fixture
def rotating_user(tls_db: Instance) -> Iterator[tuple[str, str]]:
    user = "genre_rotate_t"
    password = create_training_user(tls_db, user)
    yield user, password
    drop_user(tls_db, user)


def _secret(db: Instance, user: str, password: str) -> str:
    value = {"host": db.host, "port": db.port, "username": user, "password": password}
    return json.dumps({**value, "dbname": db.database})


def _set_password(db: Instance, user: str, password: str) -> None:
    with db.root() as conn, conn.cursor() as cursor:
        cursor.execute("ALTER USER %s@'%%' IDENTIFIED BY %s", (user, password))


def _secret_settings(db: Instance, arn: str) -> Any:
    env = {"DB_SECRET_ARN": arn, "DB_TLS": "require", "DB_TLS_CA": str(db.ca)}
    return load_settings({**env, "DB_CONNECT_TIMEOUT": "5", "DB_READ_TIMEOUT": "30"}).database


def test_a_rotation_between_read_and_connect_costs_one_retry(tls_db, rotating_user, capsys, caplog):
    user, old = rotating_user
    new = secrets.token_urlsafe(18)
    with mock_aws():
        client = boto3.client("secretsmanager", region_name="us-east-1")
        secret = _secret(tls_db, user, old)
        arn = client.create_secret(Name="chinook", SecretString=secret)["ARN"]
        capsys.readouterr()
        # every logger at DEBUG while the product reads the secret and connects
        with caplog.at_level(logging.DEBUG):
            source = open_source(_secret_settings(tls_db, arn))  # reads the old password
        # The rotation lands now: the database and the secret's AWSCURRENT move to the new one.
        _set_password(tls_db, user, new)
        client.put_secret_value(SecretId=arn, SecretString=_secret(tls_db, user, new))
        with caplog.at_level(logging.DEBUG):
            rows = list(source.customer_summaries())
    assert len(rows) > CUSTOMERS // 2
    retries = [r for r in caplog.records if "reading the secret again" in r.getMessage()]
    assert len(retries) == 1
    assert any(r.name == "botocore.endpoint" for r in caplog.records)  # DEBUG really captured
    out = capsys.readouterr()
    for text in (out.out, out.err, caplog.text, repr(source.credentials)):
        assert old not in text
        assert new not in text


def test_a_pending_rotation_is_not_read(tls_db, rotating_user):
    """AWSPENDING (a rotation's new password, not yet set in the database) is never used."""
    user, current = rotating_user
    with mock_aws():
        client = boto3.client("secretsmanager", region_name="us-east-1")
        secret = _secret(tls_db, user, current)
        arn = client.create_secret(Name="chinook", SecretString=secret)["ARN"]
        client.put_secret_value(
            SecretId=arn,
            SecretString=_secret(tls_db, user, "pending-" + secrets.token_hex(8)),
            VersionStages=["AWSPENDING"],
        )
        source = open_source(_secret_settings(tls_db, arn))
        assert source.credentials.password == current
        assert len(list(source.customer_summaries())) > CUSTOMERS // 2


def test_a_wrong_secret_fails_after_one_retry_without_leaking(
    tls_db, rotating_user, capsys, caplog
):
    user, _ = rotating_user
    wrong = "Wr0ng-" + secrets.token_hex(8)
    with mock_aws():
        client = boto3.client("secretsmanager", region_name="us-east-1")
        secret = _secret(tls_db, user, wrong)
        arn = client.create_secret(Name="chinook", SecretString=secret)["ARN"]
        capsys.readouterr()
        with caplog.at_level(logging.DEBUG), pytest.raises(DataSourceError) as info:
            list(open_source(_secret_settings(tls_db, arn)).customer_summaries())
    assert "Access denied" in str(info.value)
    retries = [r for r in caplog.records if "reading the secret again" in r.getMessage()]
    assert len(retries) == 1
    out = capsys.readouterr()
    for text in (out.out, out.err, caplog.text, str(info.value), repr(info.value)):
        assert wrong not in text
