"""infra/scripts/stages.py, which runs CI's stages: a failure's last lines name the stage, the
failing test ids and the first line of each error; an interrupted stage leaves nothing running."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers import ROOT

# Interpreter-independent (CI's own runner, run by the machine's python3):
# `make test-py313` does not run it again.
pytestmark = pytest.mark.once

STAGES = ROOT / "infra" / "scripts" / "stages.py"


def stages(folder: Path, *args: str, **kwargs: object) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "STAGE_DIR": str(folder), "PYTEST_ADDOPTS": ""}
    return subprocess.run(
        [sys.executable, str(STAGES), *args],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        **kwargs,  # type: ignore[arg-type]
    )


def test_a_failing_pytest_stage_is_named_with_its_tests_and_first_error_lines(
    tmp_path: Path,
) -> None:
    tests = tmp_path / "tests"
    tests.mkdir()
    (tests / "test_sample.py").write_text(
        "import pytest\n"
        "def test_ok():\n    assert 1\n"
        "def test_wrong_sum():\n    assert 1 + 1 == 3, 'sum is off'\n"
        "class TestGroup:\n"
        "    def test_raises(self):\n        raise ValueError('bad value\\nsecond line')\n"
        "@pytest.fixture\ndef broken():\n    raise RuntimeError('fixture broke')\n"
        "def test_errored(broken):\n    pass\n"
    )
    pytest_cmd = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "tests"]
    ran = stages(tmp_path, "run", "checks", "--", *pytest_cmd)
    assert ran.returncode == 1
    assert stages(tmp_path, "run", "fine", "--", sys.executable, "-c", "pass").returncode == 0
    summary = stages(tmp_path, "summary")
    assert summary.returncode == 1
    out = summary.stdout
    assert "== stage checks failed: 3 failing tests" in out
    assert "tests/test_sample.py::test_wrong_sum\n      AssertionError: sum is off" in out
    assert "tests/test_sample.py::TestGroup::test_raises\n      ValueError: bad value\n" in out
    assert "tests/test_sample.py::test_errored\n" in out
    assert "fixture broke" in out.split("tests/test_sample.py::test_errored\n")[1].splitlines()[0]
    assert "second line" not in out
    table = out.split("== stage checks failed")[0].split()
    assert table[table.index("checks") + 1] == "failed"
    assert table[table.index("fine") + 1] == "passed"
    assert "test_ok" not in out


def test_a_failing_stage_that_is_not_pytest_shows_the_last_lines_of_its_output(
    tmp_path: Path,
) -> None:
    script = "import sys\nfor i in range(40): print('line', i)\nsys.exit(3)"
    assert stages(tmp_path, "run", "build", "--", sys.executable, "-c", script).returncode == 3
    out = stages(tmp_path, "summary").stdout
    assert "== stage build failed (exit status 3); last lines of its output:" in out
    assert "line 39" in out
    assert "line 10\n" not in out


def test_an_interrupted_stage_runs_its_cleanup_and_leaves_nothing_running(
    tmp_path: Path,
) -> None:
    """SIGTERM to the runner reaches the stage as SIGINT (its KeyboardInterrupt clean-up runs);
    a process of the stage that ignores SIGINT is killed once the stage has ended."""
    marker = tmp_path / "cleaned"
    stubborn = tmp_path / "stubborn.pid"
    # The stubborn process writes its pid once it ignores SIGINT; it keeps the stage's output
    # pipe open (inherited), as a server left behind would.
    ignore = (
        "import os, signal, time; signal.signal(signal.SIGINT, signal.SIG_IGN); "
        f"open({str(stubborn)!r}, 'w').write(str(os.getpid())); time.sleep(600)"
    )
    child = (
        "import subprocess, sys, time\n"
        f"subprocess.Popen([sys.executable, '-c', {ignore!r}])\n"
        "try:\n    time.sleep(600)\n"
        f"except KeyboardInterrupt:\n    open({str(marker)!r}, 'w').write('yes')\n"
        "    sys.exit(1)\n"
    )
    env = {**os.environ, "STAGE_DIR": str(tmp_path)}
    runner = subprocess.Popen(
        [sys.executable, str(STAGES), "run", "slow", "--", sys.executable, "-c", child],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while not stubborn.exists() or not stubborn.read_text():
        assert time.monotonic() < deadline, "stage did not start"
        time.sleep(0.1)
    assert (tmp_path / "running.pid").read_text() == str(runner.pid)
    runner.send_signal(signal.SIGTERM)
    assert runner.wait(90) == 128 + signal.SIGTERM
    assert marker.read_text() == "yes"
    pid = int(stubborn.read_text())
    deadline = time.monotonic() + 10
    while Path(f"/proc/{pid}").exists() and _state(pid) != "Z":
        assert time.monotonic() < deadline, f"process {pid} of the stage still running"
        time.sleep(0.1)
    assert "slow\tinterrupted" in (tmp_path / "stages.tsv").read_text()


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return "gone"
