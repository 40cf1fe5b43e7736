"""bench-scale: a failed step is reported by its one error line, and the tier's other steps stay."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.scale import StepFailed, render, step

RUN = {
    "total_s": 80.0,
    "peak_rss_mib": 400.0,
    "phases_s": {"sql_aggregation": 9.0, "fit (hold-out + final forest)": 20.0},
}


def test_a_failing_child_raises_its_last_error_line(tmp_path: Path) -> None:
    log = tmp_path / "step.log"
    code = "import sys; print('50%|###', file=sys.stderr); sys.exit('Lost connection: timed out')"
    with pytest.raises(StepFailed, match=r"^exit status 1: Lost connection: timed out$"):
        step(["-c", code], {}, log)
    assert "50%|###" in log.read_text()  # the progress bar stays in the step's log


def test_a_child_answers_its_last_stdout_line(tmp_path: Path) -> None:
    code = "print('noise'); print('{\"seconds\": 1.5}')"
    assert step(["-c", code], {}, tmp_path / "step.log") == {"seconds": 1.5}


def test_a_failed_step_is_shown_beside_the_steps_that_ran() -> None:
    tier = {
        "customers": 1000,
        "measured": "today",
        "db_read_timeout_s": 3600,
        "load": {"invoice_lines": 18000, "generate_and_load_s": 12.0, "peak_rss_mib": 300.0},
        "full": {"failed": "exit status 1: Lost connection to server (timed out)"},
        "rebuild": {"seconds": 30.0, "peak_rss_mib": 50.0},
        "nightly": RUN,
    }
    text = render({1000: tier}, {"cpu": "test"}, "make bench-scale")
    (row,) = [line for line in text.splitlines() if line.startswith("| 1,000 |")]
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[3] == "failed: exit status 1: Lost connection to server (timed out)"
    assert cells[4] == "30 s, 50 MiB"
    assert cells[5] == "not measured (run cut short)"  # append never ran
    assert cells[6] == "80 s (9.0 s / 20 s), 400 MiB"
    assert "`DB_READ_TIMEOUT` to 3,600 s" in text
