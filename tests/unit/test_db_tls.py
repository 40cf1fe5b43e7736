"""TLS policy of the training database connection, and the pinned RDS CA bundle it trusts."""

from __future__ import annotations

import hashlib
import ssl
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID

from genre_model.config import ConfigError, load_settings
from genre_model.train.db_connect import (
    RDS_CA_BUNDLE,
    DataSourceError,
    is_loopback,
    tls_context,
    uses_tls,
)

SHA_FILE = RDS_CA_BUNDLE.with_name(RDS_CA_BUNDLE.name + ".sha256")

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


def test_the_context_verifies_certificate_and_name() -> None:
    context = tls_context(str(RDS_CA_BUNDLE))
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname is True
    assert context.minimum_version >= ssl.TLSVersion.TLSv1_2
    assert len(context.get_ca_certs()) == len(x509.load_pem_x509_certificates(_bundle()))


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


def _bundle() -> bytes:
    return RDS_CA_BUNDLE.read_bytes()


def test_the_pinned_bundle_matches_its_recorded_sha256() -> None:
    recorded, name = SHA_FILE.read_text().split()
    assert name == RDS_CA_BUNDLE.name
    assert hashlib.sha256(_bundle()).hexdigest() == recorded


def test_the_pinned_bundle_holds_only_amazon_rds_cas() -> None:
    certificates = x509.load_pem_x509_certificates(_bundle())
    assert len(certificates) > 50
    for cert in certificates:
        organisation = cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
        unit = cert.subject.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)
        assert [a.value for a in organisation] == ["Amazon Web Services, Inc."]
        assert [a.value for a in unit] == ["Amazon RDS"]
        assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    names = {c.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value for c in certificates}
    # the current generation of RDS CAs (valid to the 2060s) for the regions in use
    for region in ("us-east-1", "eu-west-1", "ap-southeast-2"):
        assert f"Amazon RDS {region} Root CA RSA2048 G1" in names
