"""A MariaDB of the tests' own: TLS only, certificates made here, a tiny Chinook loaded.

The shared server at 3306 is never touched. ``private_mariadb()`` starts ``mariadbd`` on a free
port with a fresh datadir under ``var/`` (``mariadb-install-db``, about 2 s) and
``--require-secure-transport=ON``; the server certificate is signed by a CA generated here and
names ``127.0.0.1`` only (so ``localhost`` is a hostname mismatch). The instance is stopped and
its datadir removed however the block ends.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DATABASE = "chinook_tls"
CUSTOMERS = 60
START_DEADLINE = 60.0  # seconds; a loaded 2-core CI machine, usually ~3 s


@dataclass(frozen=True)
class Instance:
    host: str
    port: int
    socket: Path
    ca: Path  # the CA that signed the server certificate
    other_ca: Path  # a CA that did not
    database: str

    def root(self, **options: Any) -> Any:
        """A root connection over the Unix socket (secure transport without TLS)."""
        import pymysql

        return pymysql.connect(
            unix_socket=str(self.socket), user="root", password="", connect_timeout=5, **options
        )


def _tools() -> tuple[str, str] | None:
    server = shutil.which("mariadbd") or shutil.which("mariadbd", path="/usr/sbin:/usr/local/sbin")
    install = shutil.which("mariadb-install-db")
    return (server, install) if server and install else None


def available() -> tuple[bool, str]:
    return _tools() is not None, "mariadbd / mariadb-install-db not installed"


def _name(common_name: str) -> Any:
    from cryptography.x509 import Name, NameAttribute
    from cryptography.x509.oid import NameOID

    return Name([NameAttribute(NameOID.COMMON_NAME, common_name)])


def write_ca(directory: Path, name: str) -> tuple[Any, Any, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(name))
        .issuer_name(_name(name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    path = directory / f"{name}.pem"
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return key, cert, path


def _write_server_cert(directory: Path, ca_key: Any, ca_cert: Any) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID

    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("test mariadb"))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    cert_path, key_path = directory / "server-cert.pem", directory / "server-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    key_path.chmod(0o600)
    return cert_path, key_path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_ready(process: subprocess.Popen[bytes], instance: Instance, log: Path) -> None:
    deadline = time.monotonic() + START_DEADLINE
    last: Exception | None = None
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"mariadbd exited ({process.returncode}): {log.read_text()[-2000:]}")
        try:
            instance.root().close()
            return
        except Exception as exc:  # not listening yet
            last = exc
            time.sleep(0.1)
    raise RuntimeError(f"mariadbd not ready after {START_DEADLINE:.0f} s: {last}")


def _load_chinook(instance: Instance) -> None:
    from devtools.synthetic import generate, write_mysql

    with instance.root(local_infile=True) as conn:
        write_mysql(generate(CUSTOMERS, seed=11), conn, instance.database)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@contextmanager
def private_mariadb() -> Iterator[Instance]:
    """Start the instance, load the store, yield it; stop and remove it in every outcome."""
    tools = _tools()
    if tools is None:
        raise RuntimeError(available()[1])
    server, install = tools
    (ROOT / "var").mkdir(exist_ok=True)
    home = Path(tempfile.mkdtemp(prefix="mariadb-tls-", dir=ROOT / "var"))
    process: subprocess.Popen[bytes] | None = None
    try:
        ca_key, ca_cert, ca = write_ca(home, "test-ca")
        _, _, other_ca = write_ca(home, "other-ca")
        cert, key = _write_server_cert(home, ca_key, ca_cert)
        datadir, log = home / "data", home / "mariadbd.log"
        user = ["--user=root"] if os.geteuid() == 0 else []
        subprocess.run(
            [
                install,
                "--no-defaults",
                f"--datadir={datadir}",
                "--auth-root-authentication-method=normal",
                "--skip-test-db",
                "--skip-name-resolve",
                *user,
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )
        instance = Instance("127.0.0.1", _free_port(), home / "mysqld.sock", ca, other_ca, DATABASE)
        process = subprocess.Popen(
            [
                server,
                "--no-defaults",
                f"--datadir={datadir}",
                f"--socket={instance.socket}",
                f"--port={instance.port}",
                "--bind-address=127.0.0.1",
                f"--pid-file={home / 'mariadbd.pid'}",
                f"--log-error={log}",
                "--skip-name-resolve",
                "--skip-log-bin",
                "--local-infile=1",
                "--innodb-buffer-pool-size=32M",
                f"--ssl-ca={ca}",
                f"--ssl-cert={cert}",
                f"--ssl-key={key}",
                "--require-secure-transport=ON",
                *user,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        _wait_ready(process, instance, log)
        _load_chinook(instance)
        yield instance
    finally:
        if process is not None:
            _stop(process)
        shutil.rmtree(home, ignore_errors=True)
