"""The benchmarks still run: `python -m benchmarks.run --smoke` (tiny sizes, nothing written).

No timing is asserted here or anywhere in the tests; smoke mode only checks that each benchmark
runs and that its correctness checks hold (identical probabilities, 200 answers, a training tier).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def root_conftest(config: pytest.Config):
    """tests/conftest.py as pytest loaded it (``require``, ``mysql_available``)."""
    path = ROOT / "tests" / "conftest.py"
    for module in [*config.pluginmanager.get_plugins(), *sys.modules.values()]:
        file = getattr(module, "__file__", None)
        if file and Path(file).resolve() == path:
            return module
    raise RuntimeError(f"{path} was not loaded by pytest")


@pytest.mark.slow
@pytest.mark.mysql
def test_benchmarks_run_in_smoke_mode(pytestconfig: pytest.Config) -> None:
    helpers = root_conftest(pytestconfig)
    reason = helpers.mysql_available("mysql")
    helpers.require(reason is None, reason or "")
    results = ROOT / "benchmarks" / "RESULTS.md"
    before = results.read_bytes() if results.is_file() else None
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MODEL", "DB_", "RF_"))}
    env["PYTHONPATH"] = str(ROOT)
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.run", "--smoke"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    assert "# Performance results" in done.stdout
    assert "SMOKE FAILURE" not in done.stderr
    assert (results.read_bytes() if results.is_file() else None) == before
