"""schemathesis against docs/openapi.json, and a bounded locust load test, on the local server.

Both run the server as a separate process (``python -m devtools serve``) so its RSS can be read
from /proc. Sized by RELIABILITY_SCHEMATHESIS_CASES / RELIABILITY_LOAD_SECONDS (conftest.py):
small in ``make test``, 1,000+ cases and 60 s in ``make test-reliability``.
"""

from __future__ import annotations

import csv
import os
import re
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import LOAD_SECONDS, OPENAPI, ROOT, SCHEMATHESIS_CASES, TrainedModel, free_port

VENV_BIN = Path(sys.executable).parent


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def _model_loaded(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/api/health", timeout=5) as response:  # noqa: S310
            return b'"model_loaded":true' in response.read()
    except OSError:
        return False


@pytest.fixture
def served(spec_model: TrainedModel, tmp_path: Path) -> Iterator[tuple[str, int]]:
    port = free_port()
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("MODEL", "DB_", "AWS_", "CHINOOK"))
    }
    env.update(MODELO_GENERO_ENTRENADO=str(spec_model.path), NO_PROXY="127.0.0.1")
    env.update(POWERTOOLS_TRACE_DISABLED="true", POWERTOOLS_LOG_LEVEL="WARNING")
    log = (tmp_path / "server.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "devtools", "serve", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        # Up to a minute: a busy CI machine can take many seconds to start the process.
        ready = time.monotonic() + 60
        while not _model_loaded(url):
            if process.poll() is not None or time.monotonic() > ready:
                log.flush()
                raise AssertionError(
                    f"server not ready (exit {process.poll()}): "
                    + (tmp_path / "server.log").read_text()
                )
            time.sleep(0.1)
        yield url, process.pid
    finally:
        process.terminate()
        process.wait(10)
        log.close()


@pytest.mark.slow
@pytest.mark.reliability
def test_schemathesis_finds_nothing(served: tuple[str, int], tmp_path: Path) -> None:
    """Every check except ``positive_data_acceptance``: the document cannot express the request
    model's cross-field rules (customer_id excludes the features; country only on location
    models), and the 422 those get is documented. Everything else must pass: no 5xx, only
    documented statuses, bodies matching the schemas, 405 for undeclared methods."""
    url, _ = served
    per_operation = SCHEMATHESIS_CASES  # GET routes exhaust their few inputs early
    result = subprocess.run(
        [
            str(VENV_BIN / "st"),
            "run",
            str(OPENAPI),
            "--url",
            url,
            "--checks",
            "all",
            "--exclude-checks",
            "positive_data_acceptance",
            "--max-examples",
            str(per_operation),
            "--seed",
            "20260101",
            "--no-color",
        ],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    out = result.stdout + result.stderr
    generated = re.search(r"(\d+) generated", out)
    assert generated, out[-3000:]
    cases = int(generated.group(1))
    print(f"\nschemathesis: {cases} cases generated")
    assert result.returncode == 0, out[-6000:]
    assert cases >= SCHEMATHESIS_CASES


@pytest.mark.slow
@pytest.mark.reliability
def test_bounded_load_zero_errors_flat_memory(served: tuple[str, int], tmp_path: Path) -> None:
    url, pid = served
    for _ in range(200):  # warm up: model cached, allocator settled
        urllib.request.urlopen(f"{url}/api/health", timeout=5).read()  # noqa: S310
    rss_start = _rss_kib(pid)
    seconds = max(1, round(LOAD_SECONDS))
    result = subprocess.run(
        [
            str(VENV_BIN / "locust"),
            "-f",
            str(Path(__file__).with_name("locustfile.py")),
            "--headless",
            "--users",
            "8",
            "--spawn-rate",
            "8",
            "--run-time",
            f"{seconds}s",
            "--host",
            url,
            "--csv",
            str(tmp_path / "load"),
            "--only-summary",
            "--stop-timeout",
            "5",
        ],
        capture_output=True,
        text=True,
        timeout=seconds + 120,
        check=False,
    )
    rss_end = _rss_kib(pid)
    with (tmp_path / "load_stats.csv").open() as fh:
        total = next(r for r in csv.DictReader(fh) if r["Name"] == "Aggregated")
    requests, failures = int(total["Request Count"]), int(total["Failure Count"])
    rps, p99 = float(total["Requests/s"]), total["99%"]
    print(
        f"\nload: {seconds} s, {requests} requests, {failures} failures, {rps:.0f} req/s, "
        f"p99 {p99} ms, RSS {rss_start / 1024:.1f} -> {rss_end / 1024:.1f} MiB"
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert requests > 0
    assert failures == 0
    assert rss_end - rss_start < 20 * 1024, (rss_start, rss_end)  # flat: < 20 MiB growth
