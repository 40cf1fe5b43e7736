"""How training reaches its MySQL/MariaDB database, as a security reviewer reads it.

- Credentials come from the DB_* settings, a ``mysql://`` URL, or the Secrets Manager secret
  (stage AWSCURRENT). When the server refuses them (error 1045) and they came from the secret,
  the secret is read once more and the connection tried once more: a rotation that lands between
  the read and the connect costs one retry, not a failed night.
- TLS (``DB_TLS``): ``auto`` encrypts every connection except to this machine's loopback (an RDS
  or Aurora endpoint, or any other host, gets TLS); ``require`` encrypts even that; ``disable`` is
  the only way to plain text and logs a warning. The server's certificate is verified against
  ``DB_TLS_CA``, by default the pinned Amazon RDS bundle that ships next to this module (in the
  train layer only), and must name the host connected to. A server that offers no TLS is refused
  before any credential is sent; nothing falls back to plain text.
- Every socket operation has a timeout (``DB_CONNECT_TIMEOUT``, ``DB_READ_TIMEOUT``), and the
  secret read has botocore timeouts: each is far inside the train function's 900 s.

No message, log line or exception raised here carries a password.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from genre_model.config import DatabaseSettings

if TYPE_CHECKING:
    from pymysql.connections import Connection

logger = logging.getLogger(__name__)

# The Amazon RDS global CA bundle, pinned: its SHA-256 is recorded beside it (tests check the
# file against it; `make rds-ca-bundle` refreshes both from AWS).
RDS_CA_BUNDLE = Path(__file__).with_name("rds-ca-bundle.pem")
ACCESS_DENIED = 1045  # ER_ACCESS_DENIED_ERROR: wrong user or password
SECRET_STAGE = "AWSCURRENT"  # noqa: S105 - a version stage name, not a password
# One secret read: botocore standard-mode attempts, each with these socket timeouts (seconds).
SECRET_ATTEMPTS, SECRET_CONNECT_TIMEOUT, SECRET_READ_TIMEOUT = 3, 5, 10
# Certificate checks OpenSSL reports by code: what each means for whoever reads the error.
_VERIFY_REASONS = {
    62: "the certificate does not name this host (hostname mismatch)",
    18: "the certificate is self-signed and not in the CA bundle",
    19: "the certificate's CA is not in the CA bundle",
    20: "the certificate's CA is not in the CA bundle",
    10: "the certificate has expired",
}


class DataSourceError(RuntimeError):
    """The database cannot be reached or does not hold a usable Chinook schema."""


@dataclass(frozen=True)
class MySQLCredentials:
    host: str
    port: int
    user: str
    password: str
    database: str

    def __repr__(self) -> str:
        return f"MySQLCredentials({self.user}@{self.host}:{self.port}/{self.database})"

    @property
    def description(self) -> str:
        return f"mysql://{self.user}@{self.host}:{self.port}/{self.database}"


def port_number(text: str, where: str) -> int:
    """A TCP port from untrusted text; the message quotes it (never a password)."""
    if not text.isascii() or not text.isdigit() or not 1 <= int(text) <= 65535:
        raise DataSourceError(f"{where}: port must be a number from 1 to 65535, got {text!r}")
    return int(text)


def credentials_from_secret(secret_string: str, fallback: DatabaseSettings) -> MySQLCredentials:
    """Parse a Secrets Manager secret in the RDS format: host, port, username, password, dbname."""
    try:
        secret = json.loads(secret_string)
    except ValueError:
        raise DataSourceError("database secret is not JSON") from None
    if not isinstance(secret, dict) or "host" not in secret:
        raise DataSourceError("database secret must be a JSON object with at least 'host'")
    port = secret.get("port", fallback.port)
    if isinstance(port, bool) or not isinstance(port, int | str):
        raise DataSourceError("database secret: 'port' must be a number from 1 to 65535")
    port = port_number(str(port).strip(), "database secret")
    if secret["host"] in (None, ""):
        raise DataSourceError("database secret has an empty 'host'")
    return MySQLCredentials(
        host=str(secret["host"]),
        port=port,
        user=str(fallback.user if secret.get("username") is None else secret["username"]),
        password=str(secret.get("password") or ""),  # JSON null: no password, not "None"
        database=str(secret.get("dbname") or fallback.name),
    )


def read_secret(db: DatabaseSettings) -> MySQLCredentials:
    """The credentials of the secret's AWSCURRENT version (never a pending rotation's)."""
    import boto3  # only training with a secret needs it
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError, ClientError

    config = Config(
        connect_timeout=SECRET_CONNECT_TIMEOUT,
        read_timeout=SECRET_READ_TIMEOUT,
        retries={"mode": "standard", "max_attempts": SECRET_ATTEMPTS},
    )
    # botocore logs every response body at DEBUG (LogLevel=DEBUG in the template): this one
    # holds the password, so its parser logs nothing below WARNING while it is read.
    parsers = logging.getLogger("botocore.parsers")
    level = parsers.level
    parsers.setLevel(max(level, logging.WARNING))
    try:
        client = boto3.client("secretsmanager", config=config)
        response = client.get_secret_value(SecretId=db.secret_arn, VersionStage=SECRET_STAGE)
    except (BotoCoreError, ClientError, ValueError) as exc:
        reason = " ".join(str(exc).split())
        raise DataSourceError(f"cannot read database secret {db.secret_arn}: {reason}") from None
    finally:
        parsers.setLevel(level)
    secret = response.get("SecretString")
    if not isinstance(secret, str):
        raise DataSourceError(f"database secret {db.secret_arn} has no SecretString (binary?)")
    return credentials_from_secret(secret, db)


def is_loopback(host: str) -> bool:
    """``localhost`` or a loopback address: traffic that never leaves this machine."""
    if host.lower().rstrip(".") == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def uses_tls(host: str, mode: str) -> bool:
    """Whether a connection to ``host`` is encrypted under ``DB_TLS=mode``."""
    if mode == "disable":
        return False
    return mode == "require" or not is_loopback(host)


@cache
def tls_context(ca_path: str) -> ssl.SSLContext:
    """Verify the server's certificate against ``ca_path`` and its name against the host.

    create_default_context already requires a certificate (CERT_REQUIRED) and checks the host
    name. VERIFY_X509_STRICT (default from Python 3.13) is cleared, as PyMySQL itself does: it
    rejects CA certificates that lack optional extensions, which says nothing about who signed.
    """
    try:
        context = ssl.create_default_context(cafile=ca_path)
    except (OSError, ssl.SSLError) as exc:
        reason = getattr(exc, "strerror", None) or exc
        message = f"DB_TLS_CA {ca_path}: cannot load the CA bundle ({reason})"
        raise DataSourceError(message) from None
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.verify_flags &= ~ssl.VERIFY_X509_STRICT
    return context


def _tls_failure(exc: Exception, target: str, ca_path: str) -> str | None:
    """One readable line for a TLS failure of ``exc`` (a pymysql error), or None."""
    original = getattr(exc, "original_exception", None)
    if isinstance(original, ssl.SSLCertVerificationError):
        reason = _VERIFY_REASONS.get(original.verify_code, original.verify_message)
        return (
            f"TLS to {target} refused: {reason} (CA bundle {ca_path}; set DB_TLS_CA to the "
            "server's CA)"
        )
    if isinstance(original, ssl.SSLError):
        return f"TLS to {target} failed: {original.reason or original}"
    if "SSL is required but the server doesn't support it" in str(exc):
        return (
            f"TLS to {target} refused: the server does not offer TLS; no credentials were "
            "sent (DB_TLS=disable allows plain text, not recommended)"
        )
    return None


def _encrypted(conn: Connection[Any]) -> bool:
    """Whether this client's socket is a TLS one (pymysql keeps it in ``_sock``). The client's
    own hop, not the server's status: behind an RDS Proxy the server sees the proxy's session."""
    return isinstance(getattr(conn, "_sock", None), ssl.SSLSocket)


def _connect_once(c: MySQLCredentials, db: DatabaseSettings, **options: Any) -> Connection[Any]:
    import pymysql

    tls = uses_tls(c.host, db.tls)
    ca_path = db.tls_ca or str(RDS_CA_BUNDLE)
    if tls:
        options["ssl"] = tls_context(ca_path)
    else:
        options["ssl_disabled"] = True  # pymysql would otherwise try unverified TLS
    try:
        conn = pymysql.connect(
            host=c.host,
            port=c.port,
            user=c.user,
            # bytes: pymysql would encode a str password as latin-1 ("€" fails)
            password=c.password.encode("utf-8", "surrogateescape"),
            database=c.database,
            connect_timeout=db.connect_timeout,
            read_timeout=db.read_timeout,
            write_timeout=db.read_timeout,
            charset="utf8mb4",
            **options,
        )
    except pymysql.MySQLError as exc:
        message = _tls_failure(exc, f"{c.host}:{c.port}", ca_path) if tls else None
        if message:
            raise DataSourceError(message) from None
        raise
    if tls and not _encrypted(conn):
        conn.close()
        raise DataSourceError(f"TLS to {c.host}:{c.port} refused: the session is not encrypted")
    return conn


def connect(
    credentials: MySQLCredentials,
    db: DatabaseSettings,
    reread: Callable[[], MySQLCredentials] | None = None,
    **options: Any,
) -> Connection[Any]:
    """An open connection (TLS as ``db.tls`` says); ``options`` go to ``pymysql.connect``.

    ``reread``: where the credentials came from (the secret). On an authentication failure it
    is called once and the connection tried once more with what it returns.
    """
    import pymysql

    if db.tls == "disable":
        logger.warning(
            "DB_TLS=disable: credentials and customer data to %s:%s travel in plain text",
            credentials.host,
            credentials.port,
        )
    try:
        return _connect_once(credentials, db, **options)
    except pymysql.OperationalError as exc:
        if reread is None or exc.args[0] != ACCESS_DENIED:
            raise
    logger.warning("the database refused the secret's credentials; reading the secret again")
    return _connect_once(reread(), db, **options)
