"""`make bench-scale` still runs end to end: a tiny tier in three generator blocks, written to a
temporary results folder (nothing under benchmarks/ changes). No timing is asserted."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import ROOT, require_mysql

pytestmark = [pytest.mark.once, pytest.mark.slow, pytest.mark.mysql]


def test_bench_scale_runs_every_step_on_a_tiny_store(tmp_path: Path) -> None:
    require_mysql("chinook")
    results = tmp_path / "results"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MODEL", "DB_", "RF_"))}
    env["PYTHONPATH"] = str(ROOT)
    args = ["--tiers", "1500", "--accuracy-tier", "1500", "--samples", "400", "--block", "600"]
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.scale", *args, "--results", str(results)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    tier = json.loads((results / "scale-1500.json").read_text())
    assert tier["complete"] is True
    assert tier["load"]["invoice_lines"] == tier["rebuild"]["lines"] > 1500
    assert tier["append"]["share"] == pytest.approx(0.01, rel=0.3)
    assert tier["full"]["aggregates"] == "full"
    assert tier["nightly"]["aggregates"] == "incremental"
    assert tier["nightly"]["report_customers"]["read"] == 1500
    fits = tier["accuracy"]["fits"]
    assert fits[0]["fitted_on"] == pytest.approx(400, abs=30)
    # sampled and full fits are scored on the same held-out customers, outside every sample
    assert {f["evaluated_on"] for f in fits} == {tier["accuracy"]["held_out"]}
    assert fits[-1]["sample_rows"] is None
    assert fits[-1]["fitted_on"] == tier["accuracy"]["customers"] - tier["accuracy"]["held_out"]
    assert tier["db_read_timeout_s"] == 3600
    text = (results / "scale.md").read_text()
    assert "| 1,500 |" in text
    assert "not measured" not in text
    assert "<!-- scale:begin -->" in (tmp_path / "RESULTS.md").read_text()
    assert "1,500 customers" in done.stderr  # the tier's progress bar; each step's is in its log
    load_log = ROOT / "var" / "scale-steps" / f"genre_scale_1500_{tier['pid']}-load.log"
    assert "generate+load" in load_log.read_text()
