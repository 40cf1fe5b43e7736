"""Interrupt `.ci/run` in each stage and report what it left running.

For every stage and signal asked for, this starts ``.ci/run STAGE`` in this checkout (which must
have been installed: `.ci/run install` is the first thing each run does, quickly when it is),
waits until the stage has been running for its delay (long enough for its servers, containers or
workers to exist), sends the signal to ``.ci/run``, and waits for it to exit. Then it looks, from
outside, for what should be gone: processes whose working directory or command line is in this
checkout, podman containers that were not there before, and MariaDB's state (running or not) as
it was before.

    python3 infra/scripts/ci_interrupts.py                      # every stage, SIGINT and SIGTERM
    python3 infra/scripts/ci_interrupts.py --stages sam py313 --signals TERM

Prints one line per run and exits 1 when anything was left behind. Standard library only.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Seconds into the stage before the signal: when its servers, workers or containers are up.
# install: its stamp is removed first, so that it really installs (uv, about 15 s).
DELAYS = {
    "install": 4,
    "sam-setup": 20,
    "lint": 5,
    "unit": 10,
    "integration": 45,
    "sam": 30,
    "py313": 60,
    "reliability": 30,
}
EXIT_WAIT_SECONDS = 180


def ours(exclude: set[int]) -> dict[int, str]:
    """Processes working in or naming this checkout, except ``exclude``: pid -> command line."""
    found = {}
    root = str(ROOT)
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) in exclude:
            continue
        try:
            cwd = os.readlink(entry / "cwd")
            args = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if cwd == root or cwd.startswith(root + "/") or root in args:
            found[int(entry.name)] = args.strip()[:160]
    return found


def containers() -> set[str]:
    podman = shutil.which("podman")
    if podman is None:
        return set()
    done = subprocess.run(  # noqa: S603 - a fixed command
        [podman, "ps", "-aq"], capture_output=True, text=True, timeout=60, check=False
    )
    return set(done.stdout.split())


def mariadb_up() -> bool:
    probe = [shutil.which("mysqladmin") or "mysqladmin", "--protocol=tcp", "-h127.0.0.1", "-uroot"]
    done = subprocess.run([*probe, "ping"], capture_output=True, timeout=30, check=False)  # noqa: S603
    return done.returncode == 0


def interrupt(stage: str, signum: signal.Signals, log: Path) -> tuple[int | None, float, list[str]]:
    """One run: exit status (None: did not exit), seconds from signal to exit, what was left."""
    before_pids = set(ours({os.getpid()})) | {os.getpid()}
    before_containers, before_db = containers(), mariadb_up()
    marker = f"== stage {stage}:"
    if stage == "install":
        (ROOT / ".venv" / ".installed").unlink(missing_ok=True)
    with log.open("wb") as out:
        run = subprocess.Popen(  # noqa: S603 - our own script
            ["/bin/bash", str(ROOT / ".ci/run"), "lint" if stage == "install" else stage],
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 900
        while marker not in log.read_text(errors="replace"):
            if run.poll() is not None or time.monotonic() > deadline:
                return run.poll(), 0.0, [f"stage never started (see {log})"]
            time.sleep(1)
        time.sleep(DELAYS[stage])
        sent = time.monotonic()
        run.send_signal(signum)
        try:
            status: int | None = run.wait(EXIT_WAIT_SECONDS)
        except subprocess.TimeoutExpired:
            status = None
        took = time.monotonic() - sent
    if status is None:
        os.killpg(run.pid, signal.SIGKILL)
    time.sleep(2)
    left = [f"process {pid}: {args}" for pid, args in ours(before_pids).items()]
    left += [f"container {c}" for c in containers() - before_containers]
    if mariadb_up() != before_db:
        left.append(f"MariaDB {'up' if before_db else 'down'} before, not after")
    if status is None:
        left.append(f".ci/run still running {EXIT_WAIT_SECONDS} s after the signal")
    return status, took, left


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stages", nargs="+", default=list(DELAYS), choices=list(DELAYS))
    parser.add_argument("--signals", nargs="+", default=["INT", "TERM"], choices=["INT", "TERM"])
    args = parser.parse_args()
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    # Started in the background of a non-interactive shell (`... &`, nohup), this process has
    # SIGINT ignored, and every child would inherit that: bash cannot trap a signal ignored on
    # entry, so each SIGINT run would test nothing. A handled signal is reset to its default on
    # exec: the children start as from a terminal.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    logs = ROOT / "var" / "ci-interrupts"
    logs.mkdir(parents=True, exist_ok=True)
    failed = False
    for stage in args.stages:
        for name in args.signals:
            signum = signal.Signals[f"SIG{name}"]
            status, took, left = interrupt(stage, signum, logs / f"{stage}-{name}.log")
            verdict = "nothing left" if not left else "LEFT: " + "; ".join(left)
            print(f"{stage:12} SIG{name:5} exit {status} after {took:5.1f} s  {verdict}")
            failed |= bool(left) or status is None
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
