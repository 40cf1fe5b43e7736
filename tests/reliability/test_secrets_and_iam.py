"""No secret in any captured output; IAM least privilege evaluated from template.yaml."""

from __future__ import annotations

import fnmatch
import json
import logging
import secrets
from pathlib import Path
from typing import Any

import boto3
import pytest

from devtools.cfn_template import load_template
from tests.helpers import load_train_handler, train_context

ROOT = Path(__file__).resolve().parents[2]
EVENT = json.loads((ROOT / "events/scheduled-event.json").read_text())


REQUEST_ID = "7e3f8a1c-0000-4000-8000-000000000002"


def test_db_password_from_a_secret_never_appears_anywhere(
    monkeypatch, capsys, caplog, mysql_chinook
):
    from moto import mock_aws

    password = "Pw-" + secrets.token_hex(8)  # wrong for root: the connection is refused
    monkeypatch.setenv("MODEL_BUCKET", "genre-secret-test")
    with mock_aws():
        boto3.client("s3", region_name="us-east-1").create_bucket(Bucket="genre-secret-test")
        arn = boto3.client("secretsmanager", region_name="us-east-1").create_secret(
            Name="chinook-db",
            SecretString=json.dumps(
                {
                    "host": "127.0.0.1",
                    "port": 3306,
                    "username": "root",
                    "password": password,
                    "dbname": mysql_chinook,
                }
            ),
        )["ARN"]
        monkeypatch.setenv("DB_SECRET_ARN", arn)
        handler = load_train_handler(monkeypatch)
        capsys.readouterr()
        # the deployed level (LogLevel=INFO) everywhere, DEBUG for the project's own loggers
        with (
            caplog.at_level(logging.INFO),
            caplog.at_level(logging.DEBUG, logger="genre_model"),
            pytest.raises(Exception, match="Access denied") as info,
        ):
            handler.lambda_handler(EVENT, train_context(REQUEST_ID))
    out = capsys.readouterr()
    texts = [out.out, out.err, caplog.text, str(info.value), repr(info.value)]
    texts += [repr(info.value.__context__), repr(info.value.__cause__)]
    assert out.out  # the error line was captured
    for text in texts:
        assert password not in text


# --------------------------------------------------------------------------- IAM


TEMPLATE = load_template()
BUCKET_ARN = "arn:aws:s3:::the-model-bucket"
SECRET = "arn:aws:secretsmanager:us-east-1:123456789012:secret:chinook-AbCdEf"
CONTEXT = {
    "ModelBucket.Arn": BUCKET_ARN,
    "ModelPrefix": "models/genre/",
    "DbSecretArn": SECRET,
    "TrainDeadLetterQueue.Arn": "arn:aws:sqs:us-east-1:123456789012:dlq",
    "AWS::Partition": "aws",
    "AWS::Region": "us-east-1",
    "AWS::AccountId": "123456789012",
}


def _resolve(node: Any, has_secret: bool) -> Any:
    """Fn::Sub / Ref / GetAtt / If (HasDbSecret) resolved with CONTEXT; others left as is."""
    if isinstance(node, list):
        return [_resolve(n, has_secret) for n in node]
    if not isinstance(node, dict):
        return node
    if "Fn::Sub" in node and isinstance(node["Fn::Sub"], str):
        text = node["Fn::Sub"]
        for key, value in CONTEXT.items():
            text = text.replace("${" + key + "}", value)
        return text
    if "Ref" in node:
        return CONTEXT.get(node["Ref"], node)
    if "Fn::GetAtt" in node:
        return CONTEXT.get(".".join(node["Fn::GetAtt"]), node)
    if "Fn::If" in node:
        condition, yes, no = node["Fn::If"]
        chosen = yes if (condition != "HasDbSecret" or has_secret) else no
        return _resolve(chosen, has_secret)
    return {k: _resolve(v, has_secret) for k, v in node.items()}


def _statements(node: Any) -> list[dict]:
    found = []
    if isinstance(node, dict):
        if "Effect" in node and "Action" in node:
            found.append(node)
        for value in node.values():
            found += _statements(value)
    elif isinstance(node, list):
        for value in node:
            found += _statements(value)
    return found


def allowed(statements: list[dict], action: str, resource: str) -> bool:
    """A small IAM evaluator: an explicit Deny wins, else any matching Allow (wildcards too)."""
    verdict = False
    for s in statements:
        actions = s["Action"] if isinstance(s["Action"], list) else [s["Action"]]
        resources = s.get("Resource", "*")
        resources = resources if isinstance(resources, list) else [resources]
        if not any(fnmatch.fnmatchcase(action.lower(), a.lower()) for a in actions):
            continue
        if not any(isinstance(r, str) and fnmatch.fnmatchcase(resource, r) for r in resources):
            continue
        if s["Effect"] == "Deny":
            return False
        verdict = True
    return verdict


def _role(name: str, has_secret: bool = True) -> list[dict]:
    resources = TEMPLATE["Resources"]
    if name == "predict":
        return _statements(_resolve(resources["PredictFunction"]["Properties"]["Policies"], True))
    return _statements(_resolve(resources["TrainFunctionRole"]["Properties"], has_secret))


MODEL_KEY = f"{BUCKET_ARN}/models/genre/20260101T000000Z-abcdef/predictor.joblib"
POINTER = f"{BUCKET_ARN}/models/genre/latest.json"
OTHER_KEY = f"{BUCKET_ARN}/other/thing"


@pytest.mark.parametrize(
    ("action", "resource"),
    [
        ("s3:PutObject", MODEL_KEY),
        ("s3:PutObject", POINTER),
        ("s3:DeleteObject", POINTER),
        ("s3:PutBucketPolicy", BUCKET_ARN),
        ("s3:GetObject", OTHER_KEY),
        ("secretsmanager:GetSecretValue", SECRET),
        ("secretsmanager:GetSecretValue", "*"),
        ("kms:Decrypt", "*"),
        ("iam:PassRole", "*"),
    ],
)
def test_predict_role_cannot(action: str, resource: str) -> None:
    assert not allowed(_role("predict"), action, resource)


def test_predict_role_can_read_the_model() -> None:
    assert allowed(_role("predict"), "s3:GetObject", MODEL_KEY)
    assert allowed(_role("predict"), "s3:GetObject", POINTER)


@pytest.mark.parametrize(
    ("action", "resource"),
    [
        ("s3:PutObject", OTHER_KEY),
        ("s3:PutObject", f"{BUCKET_ARN}/models/other/latest.json"),
        ("s3:GetObject", OTHER_KEY),
        ("s3:DeleteObject", POINTER),
        ("s3:PutBucketPolicy", BUCKET_ARN),
        ("secretsmanager:GetSecretValue", SECRET.replace("chinook", "payroll")),
        ("secretsmanager:GetSecretValue", "*"),
        ("secretsmanager:PutSecretValue", SECRET),
        ("iam:PassRole", "*"),
    ],
)
def test_train_role_cannot(action: str, resource: str) -> None:
    assert not allowed(_role("train"), action, resource)


def test_train_role_can_write_the_model_prefix_and_read_the_one_secret() -> None:
    role = _role("train")
    assert allowed(role, "s3:PutObject", MODEL_KEY)
    assert allowed(role, "s3:PutObject", POINTER)
    assert allowed(role, "s3:GetObject", POINTER)
    assert allowed(role, "secretsmanager:GetSecretValue", SECRET)
    assert not allowed(_role("train", has_secret=False), "secretsmanager:GetSecretValue", SECRET)


def test_no_wildcard_actions_in_either_role() -> None:
    for role in (_role("predict"), _role("train")):
        for statement in role:
            actions = statement["Action"]
            for action in actions if isinstance(actions, list) else [actions]:
                assert "*" not in action, statement
