"""Run test stages one at a time, time each, and say at the end what failed and why.

``make test`` and ``.ci/run`` run every stage through ``run``; ``summary`` prints the table of
stages with their seconds and, for each failed stage, its failing test ids with the first line of
each error (from the stage's JUnit XML), or the last lines of its output when it is not pytest.

    python3 infra/scripts/stages.py run NAME -- COMMAND...   # exit status: the command's
    python3 infra/scripts/stages.py summary                  # exit status: 1 if a stage failed
    python3 infra/scripts/stages.py reset                    # forget the stages recorded so far

Where: ``$STAGE_DIR`` (default ``var/stages``): ``stages.tsv`` (one line per stage run),
``NAME.log`` (its output), ``NAME.xml`` (pytest's JUnit report: ``run`` adds ``--junitxml`` to
``PYTEST_ADDOPTS``). Standard library only: it runs before and without the project's venv.

A stage runs in its own process group. SIGINT or SIGTERM to this script reaches the whole group
as SIGINT (pytest, its workers and the servers they started: Python's KeyboardInterrupt runs
their clean-up, where SIGTERM would kill them without it), which then gets ``GRACE_SECONDS``
before the group is killed; the stage is recorded as interrupted and this script exits with
128 + the signal number. ``running.pid`` names this script while a stage runs.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import IO

GRACE_SECONDS = 30
DRAIN_SECONDS = 10  # after the stage ends, for its output to reach the end of the pipe
SHOWN_FAILURES = 20
LOG_TAIL_LINES = 15


def stage_dir() -> Path:
    return Path(os.environ.get("STAGE_DIR") or "var/stages")


def run(name: str, command: list[str]) -> int:
    """Run ``command`` as stage ``name``: output to the terminal and to NAME.log, timed."""
    folder = stage_dir()
    folder.mkdir(parents=True, exist_ok=True)
    junit = folder / f"{name}.xml"
    junit.unlink(missing_ok=True)
    env = dict(os.environ)
    env["PYTEST_ADDOPTS"] = f"{env.get('PYTEST_ADDOPTS', '')} --junitxml={junit.resolve()}".strip()
    received: list[int] = []
    group: list[int] = []

    def interrupt(signum: int, _frame: object) -> None:
        received.append(signum)
        if group:  # SIGINT, whatever arrived: Python (pytest) then runs its clean-up
            _signal_group(group[0], signal.SIGINT)

    # Before the child starts: it must not inherit an ignored SIGINT (bash ignores it in
    # background jobs), or pytest would never see the interrupt.
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, interrupt)
    print(f"== stage {name}: {' '.join(command)}", flush=True)
    started = time.monotonic()
    running = folder / "running.pid"
    running.write_text(str(os.getpid()))
    try:
        with open(folder / f"{name}.log", "wb") as log:
            child = subprocess.Popen(  # noqa: S603 - the command is the caller's own
                command,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
            )
            group.append(child.pid)
            if received:  # interrupted while starting
                _signal_group(child.pid, signal.SIGINT)
            # The output is copied by a thread: a process of the stage that outlives it (say a
            # server that ignores SIGINT) may hold the pipe open, and the grace period and the
            # kill must not wait for an end of file that never comes.
            copier = threading.Thread(target=_copy, args=(child.stdout, log), daemon=True)
            copier.start()
            status = _wait(child, received)
            copier.join(DRAIN_SECONDS)
            if copier.is_alive():  # the stage has ended; what still holds its output goes
                _signal_group(child.pid, signal.SIGKILL)
                copier.join()
    finally:
        running.unlink(missing_ok=True)
    seconds = time.monotonic() - started
    outcome = "interrupted" if received else ("passed" if status == 0 else "failed")
    with open(folder / "stages.tsv", "a", encoding="utf-8") as table:
        table.write(f"{name}\t{outcome}\t{status}\t{seconds:.0f}\n")
    print(f"== stage {name} {outcome} in {seconds:.0f} s", flush=True)
    if received:
        return 128 + received[0]
    return status


def _signal_group(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):  # the group has gone already
        os.killpg(pid, signum)


def _copy(output: IO[bytes] | None, log: IO[bytes]) -> None:
    """The stage's output to its log and to our terminal, until the pipe closes."""
    for chunk in iter(lambda: output.read1(65536) if output else b"", b""):
        log.write(chunk)
        try:
            sys.stdout.buffer.write(chunk)
            sys.stdout.buffer.flush()
        except OSError:  # nobody reads our output any more: the log still does
            pass


def _wait(child: subprocess.Popen[bytes], received: list[int]) -> int:
    """The child's status; once interrupted, the group gets GRACE_SECONDS, then SIGKILL.

    Polled each second: a signal arriving during a blocking wait must start the grace period."""
    deadline: float | None = None
    while True:
        try:
            status = child.wait(timeout=1)
        except subprocess.TimeoutExpired:
            if received and deadline is None:
                deadline = time.monotonic() + GRACE_SECONDS
            if deadline is not None and time.monotonic() > deadline:
                _signal_group(child.pid, signal.SIGKILL)
            continue
        if received:  # the leader is gone; whatever it left in its group goes with it
            _signal_group(child.pid, signal.SIGKILL)
        return status


def _junit_failures(path: Path) -> list[tuple[str, str]]:
    """(test id, first line of its error) of every failed or errored test in a JUnit report."""
    try:
        root = ET.parse(path).getroot()  # noqa: S314 - written by our own pytest run
    except (OSError, ET.ParseError):
        return []
    failures = []
    for case in root.iter("testcase"):
        for problem in list(case.findall("failure")) + list(case.findall("error")):
            test_id = _test_id(case.get("classname") or "", case.get("name") or "")
            message = (problem.get("message") or problem.text or "").strip()
            first = next((line for line in message.splitlines() if line.strip()), "(no message)")
            failures.append((test_id, first[:200]))
    return failures


def _test_id(classname: str, name: str) -> str:
    """pytest's id from JUnit's dotted classname: ``tests.unit.test_x.TestY`` and ``test_z``
    -> ``tests/unit/test_x.py::TestY::test_z`` (the longest prefix that is a file)."""
    parts = classname.split(".")
    for cut in range(len(parts), 0, -1):
        module = "/".join(parts[:cut]) + ".py"
        if Path(module).is_file():
            return "::".join([module, *parts[cut:], name])
    return "::".join(filter(None, [classname, name]))


def _log_tail(path: Path) -> list[str]:
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return []
    return [line for line in lines if line.strip()][-LOG_TAIL_LINES:]


def summary() -> int:
    """The table of stages, then what failed in each failed stage; 1 when any stage failed."""
    folder = stage_dir()
    try:
        rows = [
            line.split("\t")
            for line in (folder / "stages.tsv").read_text(encoding="utf-8").splitlines()
        ]
    except OSError:
        print("== no stage ran")
        return 1
    print("== stages")
    print(f"   {'stage':<14}{'result':<13}{'seconds':>8}")
    for name, outcome, _status, seconds in rows:
        print(f"   {name:<14}{outcome:<13}{seconds:>8}")
    print(f"   {'total':<27}{sum(int(r[3]) for r in rows):>8}")
    failed = [row for row in rows if row[1] != "passed"]
    for name, outcome, status, _seconds in failed:
        failures = _junit_failures(folder / f"{name}.xml")
        if failures:
            print(f"== stage {name} {outcome}: {len(failures)} failing tests")
            for test_id, first in failures[:SHOWN_FAILURES]:
                print(f"   {test_id}\n      {first}")
            if len(failures) > SHOWN_FAILURES:
                print(f"   ... and {len(failures) - SHOWN_FAILURES} more ({folder / name}.xml)")
        else:
            print(f"== stage {name} {outcome} (exit status {status}); last lines of its output:")
            for line in _log_tail(folder / f"{name}.log"):
                print(f"   {line}")
    return 1 if failed else 0


def main(argv: list[str]) -> int:
    if argv[:1] == ["run"] and len(argv) >= 4 and argv[2] == "--":
        return run(argv[1], argv[3:])
    if argv == ["summary"]:
        return summary()
    if argv == ["reset"]:
        (stage_dir() / "stages.tsv").unlink(missing_ok=True)
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
