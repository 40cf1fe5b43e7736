"""infra/sam-local/tcp_forward.py: what `make local-lambda` relies on to give containers MariaDB.

It listens on the wildcard address (which exists before podman's bridge does) and must pass
traffic only for the networks it is told to allow.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

# Interpreter-independent (a development tool run by the machine's python3):
# `make test-py313` does not run it again.
pytestmark = pytest.mark.once

FORWARDER = Path(__file__).resolve().parents[2] / "infra" / "sam-local" / "tcp_forward.py"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def echo_port() -> Iterator[int]:
    """A TCP server on 127.0.0.1 that answers every connection with b"hello " + what it reads."""
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(10)

    def serve() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            with conn:
                conn.sendall(b"hello " + conn.recv(100))

    threading.Thread(target=serve, daemon=True).start()
    yield server.getsockname()[1]
    server.close()


def start_forwarder(target_port: int, *allow: str) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    args = [sys.executable, str(FORWARDER), f"0.0.0.0:{port}", f"127.0.0.1:{target_port}"]
    for network in allow:
        args += ["--allow", network]
    proc = subprocess.Popen(args, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return proc, port
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise AssertionError("forwarder did not start")


def exchange(port: int) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        try:
            sock.sendall(b"db")
            return sock.recv(100)
        except ConnectionResetError:  # the forwarder closed before reading what was sent
            return b""


def test_forwards_for_an_allowed_network(echo_port):
    proc, port = start_forwarder(echo_port, "10.88.0.0/16", "127.0.0.0/8")
    try:
        assert exchange(port) == b"hello db"
    finally:
        proc.kill()


def test_refuses_peers_outside_the_allowed_networks(echo_port):
    proc, port = start_forwarder(echo_port, "10.88.0.0/16")
    try:
        assert exchange(port) == b""  # closed without a byte from the target
    finally:
        proc.kill()
        _, err = proc.communicate(timeout=5)
    assert b"refused 127.0.0.1" in err
