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

from tests.helpers import ROOT, require_mysql

# Interpreter-independent (the benchmark harness, not the shipped code):
# `make test-py313` does not run it again.
pytestmark = pytest.mark.once


@pytest.mark.slow
@pytest.mark.mysql
def test_benchmarks_run_in_smoke_mode() -> None:
    require_mysql("mysql")
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


def test_bundle_sizes_read_a_built_template_with_short_tags(tmp_path: Path) -> None:
    """The size benchmark against a `sam build` output (its template keeps !Ref and friends),
    which the smoke run above only reaches on a machine that has built."""
    from benchmarks import size

    (tmp_path / "template.yaml").write_text(
        "Resources:\n"
        "  PredictFunction:\n"
        "    Type: AWS::Serverless::Function\n"
        "    Properties:\n"
        "      Role: !GetAtt PredictRole.Arn\n"
        "      Layers: [!Ref DepsLayer]\n"
    )
    (tmp_path / "PredictFunction").mkdir()
    (tmp_path / "PredictFunction" / "app.py").write_bytes(b"x" * 1024)
    (tmp_path / "DepsLayer" / "python" / "sklearn").mkdir(parents=True)
    (tmp_path / "DepsLayer" / "python" / "sklearn" / "big.so").write_bytes(b"x" * 3 * 1024 * 1024)
    report = size.run(tmp_path)["functions"]["PredictFunction"]
    assert report["heavy_packages"] == ["sklearn"]
    assert report["total_mib"] >= 3.0
    assert set(report["parts_mib"]) == {"PredictFunction", "DepsLayer"}
