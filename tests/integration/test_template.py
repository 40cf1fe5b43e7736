"""Static checks of template.yaml and the layer pins: least privilege, wiring, schedule."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from devtools.cfn_template import load_template

# Interpreter-independent (the template, read by sam's own interpreter):
# `make test-py313` does not run it again.
pytestmark = pytest.mark.once

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template(TEMPLATE)


@pytest.fixture(scope="module")
def resources(template: dict[str, Any]) -> dict[str, Any]:
    return template["Resources"]


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _statements(node: Any) -> list[dict[str, Any]]:
    """Every IAM statement below node, including those inside Fn::If branches."""
    found: list[dict[str, Any]] = []
    if isinstance(node, dict):
        if "Effect" in node and ("Action" in node or "NotAction" in node):
            found.append(node)
        for value in node.values():
            found.extend(_statements(value))
    elif isinstance(node, list):
        for value in node:
            found.extend(_statements(value))
    return found


def _actions(statement: dict[str, Any]) -> list[str]:
    return [a.lower() for a in _as_list(statement.get("Action", []))]


def _managed_policy_strings(node: Any) -> list[str]:
    return re.findall(r"policy/[\w/-]+", repr(node))


def _pins(path: Path) -> dict[str, str]:
    pins = {}
    for raw in path.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        name, _, version = line.partition("==")
        assert version, f"{path.name}: {line!r} is not pinned with =="
        pins[re.sub(r"[-_.]+", "-", name).lower()] = version.strip()
    return pins


# ------------------------------------------------------------------ predict: read only
def test_predict_role_cannot_write_or_read_secrets(resources: dict[str, Any]) -> None:
    props = resources["PredictFunction"]["Properties"]
    assert "Role" not in props, "predict must use the SAM role built from its Policies"
    statements = _statements(props["Policies"])
    assert statements
    allowed = {"s3:getobject", "s3:listbucket"}
    for statement in statements:
        assert statement["Effect"] == "Allow"
        for action in _actions(statement):
            assert action in allowed, f"predict may not {action}"
            assert not action.startswith("secretsmanager:")
    # No managed policy grants more than logging/tracing.
    assert not [p for p in _as_list(props["Policies"]) if isinstance(p, str)]


def test_predict_reads_only_the_model_prefix(resources: dict[str, Any]) -> None:
    for statement in _statements(resources["PredictFunction"]["Properties"]["Policies"]):
        if "s3:getobject" in _actions(statement):
            assert statement["Resource"] == {"Fn::Sub": "${ModelBucket.Arn}/${ModelPrefix}*"}
        if "s3:listbucket" in _actions(statement):
            assert _actions(statement) == ["s3:listbucket"]
            assert statement["Resource"] == {"Fn::GetAtt": ["ModelBucket", "Arn"]}


def test_predict_layers_exclude_training_dependencies(resources: dict[str, Any]) -> None:
    layers = resources["PredictFunction"]["Properties"]["Layers"]
    assert {"Ref": "TrainDepsLayer"} not in layers
    assert layers == [{"Ref": "GenreModelLayer"}, {"Ref": "RuntimeDepsLayer"}]
    train_layers = resources["TrainFunction"]["Properties"]["Layers"]
    assert train_layers == [
        {"Ref": "GenreModelLayer"},
        {"Ref": "RuntimeDepsLayer"},
        {"Ref": "TrainDepsLayer"},
    ]


# ------------------------------------------- train: scoped writes, one secret
def _train_role(resources: dict[str, Any]) -> dict[str, Any]:
    role_ref = resources["TrainFunction"]["Properties"]["Role"]
    assert role_ref == {"Fn::GetAtt": ["TrainFunctionRole", "Arn"]}
    return resources["TrainFunctionRole"]["Properties"]


def test_train_s3_access_is_scoped_to_the_model_prefix(resources: dict[str, Any]) -> None:
    statements = [
        s
        for s in _statements(_train_role(resources))
        if any(a.startswith("s3:") for a in _actions(s))
    ]
    assert {a for s in statements for a in _actions(s)} == {
        "s3:getobject",
        "s3:putobject",
        "s3:listbucket",
    }
    for statement in statements:
        if "s3:listbucket" in _actions(statement):
            assert _actions(statement) == ["s3:listbucket"]
            assert statement["Resource"] == {"Fn::GetAtt": ["ModelBucket", "Arn"]}
        else:
            assert statement["Resource"] == {"Fn::Sub": "${ModelBucket.Arn}/${ModelPrefix}*"}


def test_train_secret_access_is_the_parameter_only(resources: dict[str, Any]) -> None:
    role = _train_role(resources)
    secret_statements = [
        s for s in _statements(role) if any(a.startswith("secretsmanager:") for a in _actions(s))
    ]
    assert len(secret_statements) == 1
    (statement,) = secret_statements
    assert _actions(statement) == ["secretsmanager:getsecretvalue"]
    assert statement["Resource"] == {"Ref": "DbSecretArn"}
    # ... and only when the parameter is set.
    conditional = [p for p in role["Policies"] if "Fn::If" in p]
    assert any(
        p["Fn::If"][0] == "HasDbSecret" and p["Fn::If"][2] == {"Ref": "AWS::NoValue"}
        for p in conditional
    )
    assert not any("secretsmanager" in repr(p) for p in role["Policies"] if "Fn::If" not in p)


def test_train_vpc_is_conditional(resources: dict[str, Any]) -> None:
    vpc = resources["TrainFunction"]["Properties"]["VpcConfig"]
    assert vpc["Fn::If"][0] == "UseVpc"
    assert vpc["Fn::If"][2] == {"Ref": "AWS::NoValue"}
    arns = resources["TrainFunctionRole"]["Properties"]["ManagedPolicyArns"]
    unconditional = [a for a in arns if "Fn::If" not in a]
    assert not any("VPCAccess" in p for p in _managed_policy_strings(unconditional))
    assert "VpcConfig" not in resources["PredictFunction"]["Properties"]


def test_train_function_limits(resources: dict[str, Any]) -> None:
    props = resources["TrainFunction"]["Properties"]
    assert props["Timeout"] == 900
    assert props["ReservedConcurrentExecutions"] == 1
    assert props["MemorySize"] == {"Ref": "TrainMemorySize"}
    # the schedule starts TrainStateMachine (tests/integration/test_state_machine_wiring.py)
    assert "Events" not in props
    assert resources["TrainDeadLetterQueue"]["Properties"]["SqsManagedSseEnabled"] is True


# ------------------------------------------------------------------ bucket
def test_bucket_policy_denies_insecure_transport(resources: dict[str, Any]) -> None:
    policy = resources["ModelBucketPolicy"]["Properties"]
    assert policy["Bucket"] == {"Ref": "ModelBucket"}
    denies = [
        s
        for s in policy["PolicyDocument"]["Statement"]
        if s["Effect"] == "Deny"
        and s["Condition"].get("Bool", {}).get("aws:SecureTransport") in ("false", False)
    ]
    assert denies
    (deny,) = denies
    assert deny["Principal"] == "*"
    assert deny["Action"] == "s3:*"
    assert {"Fn::GetAtt": ["ModelBucket", "Arn"]} in deny["Resource"]
    assert {"Fn::Sub": "${ModelBucket.Arn}/*"} in deny["Resource"]


def test_bucket_is_private_versioned_encrypted(resources: dict[str, Any]) -> None:
    props = resources["ModelBucket"]["Properties"]
    assert props["VersioningConfiguration"]["Status"] == "Enabled"
    assert all(props["PublicAccessBlockConfiguration"].values())
    assert len(props["PublicAccessBlockConfiguration"]) == 4
    assert props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    rules = props["LifecycleConfiguration"]["Rules"]
    assert any("NoncurrentVersionExpiration" in r for r in rules)


# ------------------------------------------------------------------ layers and globals
def test_runtime_layer_has_no_training_libraries() -> None:
    pins = _pins(ROOT / "layers/runtime_deps/requirements.txt")
    assert not {"scikit-learn", "sklearn", "scipy", "pandas"} & set(pins)
    assert {"numpy", "joblib", "aws-lambda-powertools", "pydantic"} <= set(pins)
    assert "boto3" not in pins


def test_train_layer_has_no_numpy() -> None:
    pins = _pins(ROOT / "layers/train_deps/requirements.txt")
    assert "numpy" not in pins
    assert {"scikit-learn", "scipy", "pandas", "pymysql", "threadpoolctl"} <= set(pins)


@pytest.mark.parametrize("layer", ["runtime_deps", "train_deps"])
def test_layer_pins_match_the_dev_lock(layer: str) -> None:
    lock = _pins(ROOT / "requirements-dev.txt")
    for name, version in _pins(ROOT / "layers" / layer / "requirements.txt").items():
        assert lock.get(name) == version, f"{layer}: {name}=={version} vs lock {lock.get(name)}"


def test_globals_and_build_methods(template: dict[str, Any], resources: dict[str, Any]) -> None:
    function_globals = template["Globals"]["Function"]
    assert function_globals["Runtime"] == "python3.13"
    assert function_globals["Architectures"] == ["x86_64"]
    assert function_globals["Tracing"] == "Active"
    assert function_globals["LoggingConfig"]["LogFormat"] == "JSON"
    env = function_globals["Environment"]["Variables"]
    assert {"POWERTOOLS_SERVICE_NAME", "POWERTOOLS_METRICS_NAMESPACE"} <= set(env)
    for name in ("GenreModelLayer", "RuntimeDepsLayer", "TrainDepsLayer"):
        layer = resources[name]
        assert layer["Type"] == "AWS::Serverless::LayerVersion"
        assert layer["Metadata"]["BuildMethod"] == "makefile"
        assert layer["Properties"]["CompatibleRuntimes"] == ["python3.13"]
        assert layer["Properties"]["CompatibleArchitectures"] == ["x86_64"]
    for name in ("PredictFunction", "TrainFunction"):
        assert resources[name]["Metadata"]["BuildMethod"] == "makefile"
        assert resources[name]["Properties"]["Handler"] == "app.lambda_handler"


def test_predict_api_routes(resources: dict[str, Any]) -> None:
    """The REST definition names exactly the handler's routes (wiring: test_template_wiring)."""
    from genre_model.serve.http import ROUTES

    paths = resources["PredictApi"]["Properties"]["DefinitionBody"]["paths"]
    assert set(paths) == set(ROUTES)
    for item in paths.values():
        assert set(item) == {"x-amazon-apigateway-any-method"}  # the handler answers 405
    api = resources["PredictApi"]["Properties"]
    assert api["StageName"] == {"Ref": "StageName"}
    assert api["AccessLogSetting"]["DestinationArn"]
    assert resources["PredictUsagePlan"]["Condition"] == "UseApiKey"


# ------------------------------------------------------------------ parameters and suppressions
@pytest.mark.parametrize("prefix", ["models/genre/", "a/", "team-1/genre_v2/", "x.y/(z)/"])
def test_model_prefix_accepts_key_prefixes(template: dict[str, Any], prefix: str) -> None:
    assert re.fullmatch(template["Parameters"]["ModelPrefix"]["AllowedPattern"], prefix)


@pytest.mark.parametrize(
    "prefix", ["", "/", "/models/genre/", "models/*/", "*", "models/genre", "models//genre/", "a /"]
)
def test_model_prefix_refuses_what_breaks_or_widens_the_grant(
    template: dict[str, Any], prefix: str
) -> None:
    """A leading "/" makes "<bucket>/<prefix>*" match no key; a "*" widens it to other keys."""
    assert not re.fullmatch(template["Parameters"]["ModelPrefix"]["AllowedPattern"], prefix)


def test_no_suppression_claims_an_audit_the_stack_does_not_create(resources: dict[str, Any]):
    comments = [
        skip["comment"]
        for resource in resources.values()
        for skip in resource.get("Metadata", {}).get("checkov", {}).get("skip", [])
    ]
    assert comments
    trails = [r for r in resources.values() if r["Type"] == "AWS::CloudTrail::Trail"]
    if not trails:
        for comment in comments:
            assert not re.search(r"audited by CloudTrail|CloudTrail covers", comment), comment
