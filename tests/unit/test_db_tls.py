"""TLS policy of the training database connection, and what it trusts when no CA is given."""

from __future__ import annotations

import socket
import ssl
from pathlib import Path

import pymysql
import pytest

from genre_model.config import ConfigError, load_settings
from genre_model.train import db_connect
from genre_model.train.db_connect import (
    DataSourceError,
    MySQLCredentials,
    connect,
    is_loopback,
    tls_context,
    uses_tls,
)
from tests.private_mariadb import write_ca

RDS_HOSTS = [
    "chinook.abcdefghijkl.us-east-1.rds.amazonaws.com",
    "chinook.cluster-abcdefghijkl.eu-west-1.rds.amazonaws.com",  # Aurora writer
    "chinook.cluster-ro-abcdefghijkl.eu-west-1.rds.amazonaws.com",  # Aurora reader
    "proxy.proxy-abcdefghijkl.us-east-2.rds.amazonaws.com",  # RDS Proxy
    "chinook.abcdefghijkl.rds.cn-north-1.amazonaws.com.cn",
]


@pytest.mark.parametrize("host", [*RDS_HOSTS, "10.0.3.17", "db.internal.example", "::ffff:1"])
def test_auto_encrypts_every_host_that_is_not_this_machine(host: str) -> None:
    assert uses_tls(host, "auto")
    assert uses_tls(host, "require")
    assert not uses_tls(host, "disable")


@pytest.mark.parametrize("host", ["127.0.0.1", "127.8.9.10", "::1", "localhost", "LOCALHOST."])
def test_loopback_is_plain_unless_required(host: str) -> None:
    assert is_loopback(host)
    assert not uses_tls(host, "auto")
    assert uses_tls(host, "require")


@pytest.mark.parametrize("host", ["localhost.example", "127.0.0.1.nip.io", "0.0.0.0", ""])  # noqa: S104
def test_names_that_only_look_local_get_tls(host: str) -> None:
    assert not is_loopback(host)
    assert uses_tls(host, "auto")


def test_db_tls_setting() -> None:
    assert load_settings({}).database.tls == "auto"
    assert load_settings({"DB_TLS": " Require "}).database.tls == "require"
    assert load_settings({"DB_TLS": "disable"}).database.tls == "disable"
    assert load_settings({}).database.tls_ca is None
    assert load_settings({"DB_TLS_CA": "/ca.pem"}).database.tls_ca == "/ca.pem"
    for bad in ("off", "false", "prefer", "0"):
        with pytest.raises(ConfigError, match="DB_TLS must be one of auto, require, disable"):
            load_settings({"DB_TLS": bad})


def test_the_context_verifies_certificate_and_name(tmp_path: Path) -> None:
    _, _, ca = write_ca(tmp_path, "test-ca")
    context = tls_context(str(ca))
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname is True
    assert context.minimum_version >= ssl.TLSVersion.TLSv1_2
    assert [c["subject"] for c in context.get_ca_certs()] == [((("commonName", "test-ca"),),)]


def test_an_unreadable_ca_bundle_is_one_line(tmp_path: Path) -> None:
    for path, reason in ((tmp_path / "missing.pem", "No such file"), (tmp_path, "")):
        with pytest.raises(DataSourceError, match="cannot load the CA bundle") as info:
            tls_context(str(path))
        assert str(path) in str(info.value)
        assert reason in str(info.value)
        assert "\n" not in str(info.value)
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate\n")
    with pytest.raises(DataSourceError, match="cannot load the CA bundle"):
        tls_context(str(junk))


def _no_bundle(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A build without a fetched RDS CA bundle (what this repository and CI have)."""
    monkeypatch.setattr(db_connect, "RDS_CA_BUNDLE", tmp_path / "rds-ca-bundle.pem")


@pytest.mark.parametrize(("host", "mode"), [(RDS_HOSTS[0], "auto"), ("127.0.0.1", "require")])
def test_tls_without_a_ca_is_one_line_naming_the_fix(monkeypatch, tmp_path, host, mode) -> None:
    """No bundle shipped and no DB_TLS_CA: refused before any socket is opened, never plain."""
    _no_bundle(monkeypatch, tmp_path)
    opened: list[object] = []
    monkeypatch.setattr(socket, "create_connection", lambda *a, **k: opened.append(a))
    db = load_settings({"DB_TLS": mode}).database
    credentials = MySQLCredentials(host, 3306, "genre_train", "pw-never-shown", "Chinook")
    with pytest.raises(DataSourceError) as info:
        connect(credentials, db)
    message = str(info.value)
    assert message.startswith(f"TLS to {host}:3306 needs a CA")
    for fix in ("make rds-ca-bundle", "DB_TLS_CA", "var/rds-ca/global-bundle.pem"):
        assert fix in message
    assert "\n" not in message
    assert "pw-never-shown" not in message
    assert opened == []


def test_loopback_needs_no_bundle(monkeypatch, tmp_path) -> None:
    """DB_TLS=auto to this machine stays plain (no CA needed); DB_TLS_CA alone is enough."""
    _no_bundle(monkeypatch, tmp_path)
    _, _, ca = write_ca(tmp_path, "test-ca")
    opened: list[tuple[str, int]] = []

    def refuse(address: tuple[str, int], *args: object, **kwargs: object) -> None:
        opened.append(address)
        raise ConnectionRefusedError(111, "Connection refused")

    monkeypatch.setattr(socket, "create_connection", refuse)
    for env, host in (({}, "127.0.0.1"), ({"DB_TLS_CA": str(ca)}, RDS_HOSTS[0])):
        db = load_settings({**env, "DB_CONNECT_TIMEOUT": "1"}).database
        with pytest.raises(pymysql.OperationalError):
            connect(MySQLCredentials(host, 3306, "u", "p", "Chinook"), db)
    assert opened == [("127.0.0.1", 3306), (RDS_HOSTS[0], 3306)]
