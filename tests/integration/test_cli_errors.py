"""Bad settings and unusable S3 targets through the CLI: exit 1 and ONE line, never a traceback."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from genre_model.cli import main


def run_cli(capsys: pytest.CaptureFixture, *args: str) -> tuple[int, str]:
    capsys.readouterr()
    status = main(list(args))
    out, err = capsys.readouterr()
    return status, out + err


def assert_one_line(status: int, output: str, *words: str) -> str:
    assert status == 1, output
    assert "Traceback" not in output
    # `train` says first, before any work, what it reads and where it publishes; the error that
    # follows is still one line.
    lines = [x for x in output.strip().splitlines() if not x.startswith("Training from ")]
    assert len(lines) == 1, output
    assert lines[0].startswith("error: ")
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("RF_RANDOM_STATE", str(2**32)),
        ("RF_RANDOM_STATE", "-1"),
        ("RF_N_ESTIMATORS", str(10**9)),
        ("RF_N_JOBS", str(10**9)),
        ("DB_PORT", "99999"),
        ("DB_READ_TIMEOUT", str(10**12)),
    ],
)
def test_out_of_range_setting(name, value, monkeypatch, capsys, synthetic_sqlite, tmp_path):
    monkeypatch.setenv(name, value)
    status, output = run_cli(
        capsys, "train", "--db", str(synthetic_sqlite), "--model-path", str(tmp_path / "m.pkl")
    )
    assert_one_line(status, output, name)
    assert not list(tmp_path.iterdir())


@pytest.fixture
def no_default_session(monkeypatch: pytest.MonkeyPatch) -> None:
    """boto3's default session caches credentials: each test resolves them afresh."""
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)


@pytest.mark.usefixtures("no_default_session")
@pytest.mark.parametrize(
    ("target", "words"),
    [
        ("s3://genre-h2-no-such-bucket/models/", ("NoSuchBucket", "genre-h2-no-such-bucket")),
        ("s3://Not_A_Valid!Bucket/models/", ("Invalid bucket name",)),
    ],
)
def test_s3_target_errors(target, words, capsys, synthetic_sqlite, fast_forest):
    with mock_aws():
        for command in (
            ["train", "--db", str(synthetic_sqlite), "--model-path", target],
            ["versions", "--model-path", target],
            ["rollback", "20261201T000000Z-abcdef", "--model-path", target],
        ):
            assert_one_line(*run_cli(capsys, *command), *words)


@pytest.mark.usefixtures("no_default_session")
def test_s3_without_credentials(monkeypatch, tmp_path, capsys, synthetic_sqlite):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{closed_port()}")  # never AWS
    status, output = run_cli(
        capsys, "train", "--db", str(synthetic_sqlite), "--model-path", "s3://bucket/models/"
    )
    assert_one_line(status, output, "credentials")


@pytest.mark.usefixtures("no_default_session")
def test_s3_endpoint_unreachable_fails_fast(monkeypatch, capsys, synthetic_sqlite):
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{closed_port()}")
    started = time.monotonic()
    status, output = run_cli(
        capsys, "train", "--db", str(synthetic_sqlite), "--model-path", "s3://bucket/models/"
    )
    assert_one_line(status, output, "Could not connect")
    # before any training: the target is checked first (a full run takes far longer)
    assert time.monotonic() - started < 20


def test_no_traceback_from_a_real_process(tmp_path: Path, synthetic_sqlite: Path) -> None:
    """The installed entry point, not just main(): bad seed, bad port, special file at the path."""
    fifo = tmp_path / "fifo.pkl"
    os.mkfifo(fifo)
    cases = [
        ({"RF_RANDOM_STATE": str(2**32)}, ["--db", str(synthetic_sqlite)], "RF_RANDOM_STATE"),
        ({}, ["--db", "mysql://u:S3cr#t/Pw@127.0.0.1:70000/db"], "port"),
        ({}, ["--db", str(synthetic_sqlite), "--model-path", str(fifo)], "FIFO"),
    ]
    for extra, args, word in cases:
        env = {**os.environ, **extra}
        result = subprocess.run(
            [sys.executable, "-m", "genre_model", "train", *args]
            + ([] if "--model-path" in args else ["--model-path", str(tmp_path / "m.pkl")]),
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
            check=False,
        )
        assert_one_line(result.returncode, result.stdout + result.stderr, word)
        assert "S3cr" not in result.stderr
    assert fifo.is_fifo()


@pytest.mark.parametrize("customers", ["0", "-5"])
def test_devtools_generate_refuses_an_empty_store_in_one_line(
    capsys: pytest.CaptureFixture, tmp_path: Path, customers: str
) -> None:
    from devtools.__main__ import parser

    target = tmp_path / "store.sqlite"
    capsys.readouterr()
    status = main(["generate", str(target), "--customers", customers], build=parser)
    out, err = capsys.readouterr()
    assert_one_line(status, out + err, "--customers", customers)
    assert "unexpected" not in err
    assert not target.exists()
