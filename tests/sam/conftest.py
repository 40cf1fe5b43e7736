"""Fixtures for the `sam local` tests (marker ``sam``): the podman set-up, a moto server the
containers can reach, and a helper that runs ``sam local invoke`` on the built template.

How the containers reach the host is described in infra/sam-local/README.md: env.json points the
functions at ``host.containers.internal`` (moto on 0.0.0.0:<port>, MariaDB through a forwarder).
"""

from __future__ import annotations

import importlib
import json
import os
import socket
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.helpers import ROOT, require

ENV_JSON = ROOT / "env.json"
BUILT_TEMPLATE = ROOT / ".aws-sam" / "build" / "template.yaml"
SAM_LOCAL_DIR = Path(os.environ.get("SAM_LOCAL_DIR", ROOT / ".tools" / "sam-local"))
SETUP_TIMEOUT = 1800  # first run: apt-get install + image build
INVOKE_TIMEOUT = 300


def _run(
    cmd: list[str], timeout: float, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``cmd`` in the repository root, output captured, its exit status left to the caller."""
    return subprocess.run(
        cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


def _tail(text: str, lines: int = 15) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Every test under tests/sam carries the ``sam`` marker (so ``-m "not sam"`` skips them)."""
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.fspath).parents:
            item.add_marker(pytest.mark.sam)


def _env_json() -> dict[str, dict[str, str]]:
    return json.loads(ENV_JSON.read_text())


def _sourced_env(path: Path) -> dict[str, str]:
    """The ``export NAME=value`` lines of .tools/sam-local/env.sh."""
    values: dict[str, str] = {}
    if path.is_file():
        for line in path.read_text().splitlines():
            line = line.strip()
            if line.startswith("export ") and "=" in line:
                name, _, value = line.removeprefix("export ").partition("=")
                values[name.strip()] = value.strip().strip("'\"")
    return values


@dataclass(frozen=True)
class SamLocal:
    """What `make local-lambda` set up: the sam executable and the environment to run it with."""

    sam: Path
    env: dict[str, str] = field(repr=False)


@pytest.fixture(scope="session")
def sam_local() -> SamLocal:
    """Run `make local-lambda` (fast when already done); skip with the reason if it cannot work
    here (fail instead under CI=true)."""
    try:
        proc = _run(["make", "--no-print-directory", "local-lambda"], SETUP_TIMEOUT)
    except (OSError, subprocess.TimeoutExpired) as exc:
        require(False, f"`make local-lambda` did not run: {exc}")
        raise AssertionError("unreachable") from exc
    require(
        proc.returncode == 0,
        f"`make local-lambda` failed (rc {proc.returncode}):\n{_tail(proc.stdout + proc.stderr)}",
    )
    sam = ROOT / ".tools" / "sam" / "bin" / "sam"
    require(sam.is_file(), f"{sam} not installed (make tools)")
    env = dict(os.environ)
    env.update(_sourced_env(SAM_LOCAL_DIR / "env.sh"))
    env["SAM_CLI_TELEMETRY"] = "0"
    return SamLocal(sam=sam, env=env)


@pytest.fixture(scope="session")
def sam_built(sam_local: SamLocal) -> Path:
    """`make build` once per session; returns .aws-sam/build/template.yaml (what sam local runs)."""
    proc = _run(["make", "--no-print-directory", "build"], SETUP_TIMEOUT, sam_local.env)
    if proc.returncode != 0:
        output = _tail(proc.stdout + proc.stderr)
        pytest.fail(f"`make build` failed (rc {proc.returncode}):\n{output}")
    assert BUILT_TEMPLATE.is_file(), f"{BUILT_TEMPLATE} missing after make build"
    return BUILT_TEMPLATE


@dataclass(frozen=True)
class MotoEndpoint:
    port: int
    url: str  # for the tests, on the host (http://127.0.0.1:<port>)
    container_url: str  # what env.json gives the functions (http://host.containers.internal:<port>)
    bucket: str  # MODEL_BUCKET from env.json

    def reset(self) -> None:
        """Drop every moto resource (POST /moto-api/reset)."""
        import urllib.request

        reset = urllib.request.Request(f"{self.url}/moto-api/reset", method="POST")  # noqa: S310
        with urllib.request.urlopen(reset, timeout=10):  # noqa: S310 (our own http URL)
            pass


@pytest.fixture(scope="session")
def moto_server() -> Iterator[MotoEndpoint]:
    """A ThreadedMotoServer on 0.0.0.0:<the port of AWS_ENDPOINT_URL in env.json>, so that both the
    tests (127.0.0.1) and the sam local containers (host.containers.internal) reach it."""
    config = _env_json()
    container_url = config["PredictFunction"]["AWS_ENDPOINT_URL"]
    port = urlsplit(container_url).port
    assert port, f"no port in AWS_ENDPOINT_URL {container_url!r} (env.json)"
    with socket.socket() as probe:
        busy = probe.connect_ex(("127.0.0.1", port)) == 0
    require(not busy, f"port {port} (env.json AWS_ENDPOINT_URL) is already in use")

    # moto would read "host" from host.containers.internal as a bucket name (virtual-host style);
    # the setting is read at import time, so set it in the environment and on the loaded modules.
    os.environ["S3_IGNORE_SUBDOMAIN_BUCKETNAME"] = "true"
    from moto.server import ThreadedMotoServer

    flag = "S3_IGNORE_SUBDOMAIN_BUCKETNAME"
    modules = [importlib.import_module(name) for name in ("moto.settings", "moto.s3.utils")]
    saved = [getattr(module, flag) for module in modules]
    for module in modules:
        setattr(module, flag, True)
    server = ThreadedMotoServer(ip_address="0.0.0.0", port=port, verbose=False)  # noqa: S104
    server.start()
    try:
        yield MotoEndpoint(
            port=port,
            url=f"http://127.0.0.1:{port}",
            container_url=container_url,
            bucket=config["PredictFunction"]["MODEL_BUCKET"],
        )
    finally:
        server.stop()
        for module, value in zip(modules, saved, strict=True):
            setattr(module, flag, value)
        os.environ.pop("S3_IGNORE_SUBDOMAIN_BUCKETNAME", None)


@pytest.fixture
def model_bucket(moto_server: MotoEndpoint) -> str:
    """Fresh moto state with env.json's MODEL_BUCKET created; returns the bucket name."""
    import boto3

    moto_server.reset()
    s3 = boto3.client(
        "s3",
        endpoint_url=moto_server.url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    s3.create_bucket(Bucket=moto_server.bucket)
    return moto_server.bucket


@pytest.fixture
def sam_invoke(sam_local: SamLocal, sam_built: Path, tmp_path: Path) -> Callable[..., Any]:
    """``sam_invoke("PredictFunction", event, env_vars=env.json)`` -> the function's JSON result.

    ``event`` is a dict, or a path (absolute or relative to the repo root, e.g.
    ``"events/predict-genre.json"``), or None for ``{}``. Runs
    ``sam local invoke <fn> --skip-pull-image -t .aws-sam/build/template.yaml -e <event>
    --env-vars <env_vars>`` and parses its stdout (the function's logs go to stderr).
    """

    def invoke(
        function: str,
        event: dict[str, Any] | str | Path | None = None,
        *,
        env_vars: str | Path = ENV_JSON,
        extra_args: tuple[str, ...] = (),
        timeout: float = INVOKE_TIMEOUT,
    ) -> Any:
        if event is None or isinstance(event, dict):
            event_file = tmp_path / f"event-{function}.json"
            event_file.write_text(json.dumps(event or {}))
        else:
            event_file = Path(event) if Path(event).is_absolute() else ROOT / event
        cmd = [
            str(sam_local.sam), "local", "invoke", function,
            "--skip-pull-image",
            "-t", str(sam_built),
            "-e", str(event_file),
            "--env-vars", str(env_vars),
            *extra_args,
        ]  # fmt: skip
        proc = _run(cmd, timeout, sam_local.env)
        if proc.returncode != 0:
            pytest.fail(f"{' '.join(cmd)} -> rc {proc.returncode}:\n{_tail(proc.stderr, 30)}")
        out = proc.stdout.strip()
        try:
            return json.loads(out)
        except json.JSONDecodeError:
            try:
                return json.loads(out.splitlines()[-1])
            except (IndexError, json.JSONDecodeError):
                log = _tail(proc.stderr, 30)
                pytest.fail(f"sam local invoke printed no JSON.\nstdout:\n{out}\nstderr:\n{log}")

    return invoke
