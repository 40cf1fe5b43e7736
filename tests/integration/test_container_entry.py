"""The container engine's entry point, run here: the image's ENTRYPOINT + CMD with the task
definition's environment, against MariaDB (through a Secrets Manager secret, as in AWS) or a
Chinook SQLite file, publishing to a moto S3 store through the same registry as the Lambda.

No Docker engine is needed: the command is the one ``infra/container/Dockerfile`` declares, run
with this interpreter and the package on ``PYTHONPATH`` as the image puts it (/opt/python).
"""

from __future__ import annotations

import http.client
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import LAYER, free_port, require, require_mysql
from tests.sam_translate import available, parameters, translate

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "infra" / "container" / "Dockerfile"
BUCKET = "genre-models-container"
PREFIX = "models/genre/"
ENGINE = {"TrainSubnetIds": "subnet-1", "TrainSecurityGroupIds": "sg-1", "TrainImageTag": "t1"}
REQUIREMENTS = ("layers/runtime_deps", "layers/train_deps", "infra/container")


def _instruction(name: str) -> list[str]:
    """The exec form (JSON array) of a Dockerfile instruction; the last one counts."""
    lines = [line for line in DOCKERFILE.read_text().splitlines() if line.startswith(f"{name} ")]
    assert lines, f"{name} missing from {DOCKERFILE}"
    value = json.loads(lines[-1][len(name) + 1 :])
    assert isinstance(value, list), f"{name} must be in exec form"
    return value


def image_command() -> list[str]:
    """What the image runs when the task definition adds nothing: ENTRYPOINT + CMD."""
    return _instruction("ENTRYPOINT") + _instruction("CMD")


def _pins(folder: str) -> dict[str, str]:
    text = (ROOT / folder / "requirements.txt").read_text()
    pins = re.findall(r"^([A-Za-z0-9_.-]+)==(\S+)", text, re.MULTILINE)
    return {metadata_name(name): version for name, version in pins}


def metadata_name(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_image_requirements_are_pinned_as_the_tests_run_and_complete() -> None:
    """``pip install --no-deps`` installs exactly these: a missing dependency would only show up
    as an ImportError in the task at 02:00, a different version as a model the tests never saw."""
    from packaging.requirements import Requirement

    dockerfile = DOCKERFILE.read_text()
    for folder in REQUIREMENTS:
        assert f"COPY {folder}/requirements.txt" in dockerfile
    assert "--no-deps" in dockerfile
    pins: dict[str, str] = {}
    for folder in REQUIREMENTS:
        pins |= _pins(folder)
    dev = {
        metadata_name(n): v
        for n, v in re.findall(
            r"^([A-Za-z0-9_.-]+)==(\S+)", (ROOT / "requirements-dev.txt").read_text(), re.MULTILINE
        )
    }
    assert {n: dev.get(n) for n in pins} == pins
    missing = set()
    for name in pins:
        for text in metadata.requires(name) or []:
            requirement = Requirement(text)
            if requirement.marker and not requirement.marker.evaluate({"extra": ""}):
                continue
            if metadata_name(requirement.name) not in pins:
                missing.add(f"{name} needs {requirement.name}")
    assert not missing


# ------------------------------------------------------------------ the command, run
@pytest.fixture(scope="module")
def task_environment() -> dict[str, Any]:
    """The container's Environment from the translated template, Refs as (unresolved) nodes."""
    require(*available())
    (container,) = translate(ENGINE)["Resources"]["TrainTaskDefinition"]["Properties"][
        "ContainerDefinitions"
    ]
    return {e["Name"]: e["Value"] for e in container["Environment"]}


@pytest.fixture
def aws() -> Iterator[dict[str, Any]]:
    """A moto server (S3 and Secrets Manager) on a loopback port and clients on it."""
    import boto3
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    url = f"http://127.0.0.1:{port}"
    # moto's state is per process, not per server: start from an empty account
    reset = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    reset.request("POST", "/moto-api/reset")
    assert reset.getresponse().status == 200
    reset.close()
    try:
        options = {"endpoint_url": url, "region_name": "us-east-1"}
        s3 = boto3.client("s3", **options)
        s3.create_bucket(Bucket=BUCKET)
        yield {"url": url, "s3": s3, "secrets": boto3.client("secretsmanager", **options)}
    finally:
        server.stop()


def _run(
    task_env: dict[str, Any], aws: dict[str, Any], tmp: Path, **values: str
) -> subprocess.CompletedProcess:
    """The image's command with the task's variables (``values`` fills the Refs to this stack's
    resources and parameters), this interpreter for ``python`` and the layer on PYTHONPATH."""
    defaults = {k: str(v) for k, v in parameters(ENGINE).items() if not isinstance(v, list)}
    refs = {"ModelBucket": BUCKET, "AWS::Region": "us-east-1", **defaults, **values}
    env = {
        name: refs[value["Ref"]] if isinstance(value, dict) else value
        for name, value in task_env.items()
    }
    env |= {
        "PATH": os.environ["PATH"],
        "PYTHONPATH": str(LAYER),
        "AWS_ENDPOINT_URL": aws["url"],  # stands in for AWS; the task's role gives credentials
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "RF_N_ESTIMATORS": "10",  # plumbing, not accuracy
        **{k: v for k, v in values.items() if k.isupper()},
    }
    command = image_command()
    assert command[0] == "python"
    return subprocess.run(
        [sys.executable, *command[1:]],
        cwd=tmp,  # WORKDIR /tmp: nothing found through the checkout
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def _latest(aws: dict[str, Any]) -> dict[str, Any] | None:
    try:
        body = aws["s3"].get_object(Bucket=BUCKET, Key=f"{PREFIX}latest.json")["Body"].read()
    except aws["s3"].exceptions.NoSuchKey:
        return None
    return json.loads(body)


def _published(aws: dict[str, Any], result: subprocess.CompletedProcess) -> dict[str, Any]:
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    pointer = _latest(aws)
    assert pointer is not None
    version = pointer["version"]
    assert f"Published version {version}" in result.stdout
    assert "baseline" in result.stdout  # the report names the majority-class baseline
    manifest = json.loads(
        aws["s3"].get_object(Bucket=BUCKET, Key=f"{PREFIX}{version}/manifest.json")["Body"].read()
    )
    assert manifest["version"] == version
    assert 0 <= manifest["metrics"]["holdout"]["baseline_accuracy"] <= 1
    return manifest


@pytest.mark.slow  # a training run in a fresh interpreter (~5 s of CPU)
def test_container_trains_from_mariadb_through_the_secret(
    task_environment, aws, tmp_path: Path
) -> None:
    database = require_mysql("Chinook")
    secret = aws["secrets"].create_secret(
        Name="chinook-training",
        SecretString=json.dumps(
            {
                "host": "127.0.0.1",
                "port": 3306,
                "username": "root",
                "password": "",
                "dbname": database,
            }
        ),
    )
    assert task_environment["DB_SECRET_ARN"] == {"Ref": "DbSecretArn"}
    # The deployed default folds into aggregate tables; the shared Chinook database stays
    # read-only for tests (the fold itself is tested on scratch copies in test_aggregates).
    result = _run(
        task_environment, aws, tmp_path, DbSecretArn=secret["ARN"], TrainAggregates="full"
    )
    manifest = _published(aws, result)
    assert manifest["source"].startswith("mysql://root@127.0.0.1:3306/")
    assert manifest["rows"]["customers_read"] == 59  # Chinook's customers


@pytest.mark.slow  # a training run in a fresh interpreter (~5 s of CPU)
def test_container_trains_from_sqlite_under_the_same_promotion_rules(
    task_environment, aws, tmp_path: Path, chinook_sqlite: Path
) -> None:
    sqlite = {"CHINOOK_SQLITE_PATH": str(chinook_sqlite)}
    # MinCustomers reaches the task as MIN_CUSTOMERS: the registry refuses, nothing is promoted
    refused = _run(task_environment, aws, tmp_path, MinCustomers="1000", **sqlite)
    assert refused.returncode == 1
    assert "fewer than MIN_CUSTOMERS=1000" in refused.stderr
    assert _latest(aws) is None
    manifest = _published(aws, _run(task_environment, aws, tmp_path, **sqlite))
    assert manifest["source"] == f"sqlite:{chinook_sqlite}"


def test_a_failing_run_exits_1_with_one_line_and_leaves_latest_alone(
    task_environment, aws, tmp_path: Path
) -> None:
    pointer = json.dumps({"version": "20261201T020000Z-0123abcd", "note": "published before"})
    aws["s3"].put_object(Bucket=BUCKET, Key=f"{PREFIX}latest.json", Body=pointer.encode())
    password = "Pa55-never-printed"
    result = _run(
        task_environment,
        aws,
        tmp_path,
        DB_HOST="127.0.0.1",
        DB_PORT=str(free_port()),  # nothing listens there
        DB_PASSWORD=password,
        DB_CONNECT_TIMEOUT="2",
    )
    assert result.returncode == 1  # Step Functions sees States.TaskFailed, retries, then notifies
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1
    assert "MySQL error" in lines[0]
    assert "Traceback" not in result.stderr
    assert password not in result.stdout + result.stderr
    body = aws["s3"].get_object(Bucket=BUCKET, Key=f"{PREFIX}latest.json")["Body"].read()
    assert body == pointer.encode()
    listed = aws["s3"].list_objects_v2(Bucket=BUCKET)["Contents"]
    assert [o["Key"] for o in listed] == [f"{PREFIX}latest.json"]  # no version written


def test_build_context_sends_what_the_dockerfile_copies_and_nothing_else() -> None:
    ignore = (DOCKERFILE.parent / "Dockerfile.dockerignore").read_text().splitlines()
    rules = [line for line in ignore if line and not line.startswith("#")]
    assert rules[0] == "*"  # an allowlist: .venv, .tools, var/ and env files stay out
    allowed = {line[1:] for line in rules if line.startswith("!")}
    copied = {
        line.split()[1] for line in DOCKERFILE.read_text().splitlines() if line.startswith("COPY ")
    }
    assert copied == allowed
