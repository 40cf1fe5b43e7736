"""The template as CloudFormation will create it (SAM translator output), not as written."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import lambda_context, make_event, require
from tests.sam_translate import available, of_type, translate

# Interpreter-independent (the translated template, read by sam's own interpreter):
# `make test-py313` does not run it again.
pytestmark = pytest.mark.once

ROOT = Path(__file__).resolve().parents[2]
ERROR_KEYS = {"status", "message", "errors"}
# What API Gateway substitutes for $context.error.* (messageString arrives quoted and escaped).
CONTEXT_ERROR = {
    "$context.error.messageString": json.dumps('Say "hi" \\ forbidden'),
    "$context.error.responseType": "BAD_REQUEST_BODY",
}


@pytest.fixture(scope="module")
def sam_translator() -> None:
    """The SAM translator of `make tools` (skip outside CI when absent, fail in CI)."""
    require(*available())


@pytest.fixture(scope="module")
def rest(sam_translator) -> dict[str, Any]:
    return translate()


def _rendered(template: str) -> dict[str, Any]:
    for variable, value in CONTEXT_ERROR.items():
        template = template.replace(variable, value)
    assert "$" not in template, template
    return json.loads(template)


def _gateway_responses(cfn: dict[str, Any]) -> dict[str, Any]:
    (api,) = of_type(cfn, "AWS::ApiGateway::RestApi").values()
    return api["Properties"]["Body"]["x-amazon-apigateway-gateway-responses"]


@pytest.mark.parametrize(
    ("kind", "status"),
    [
        ("DEFAULT_4XX", None),
        ("DEFAULT_5XX", None),
        ("MISSING_AUTHENTICATION_TOKEN", "404"),
        ("INVALID_API_KEY", "403"),
        ("THROTTLED", "429"),
        ("QUOTA_EXCEEDED", "429"),
        ("REQUEST_TOO_LARGE", "413"),
        ("INTEGRATION_FAILURE", "502"),
        ("INTEGRATION_TIMEOUT", "504"),
    ],
)
def test_every_gateway_error_has_the_api_error_shape(rest, kind, status):
    response = _gateway_responses(rest)[kind]
    assert response.get("statusCode") == status
    header = response["responseParameters"]["gatewayresponse.header.Content-Type"]
    assert header == "'application/json'"
    (template,) = response["responseTemplates"].values()
    body = _rendered(template)
    assert set(body) == ERROR_KEYS
    assert body["status"] == "ERROR"
    assert isinstance(body["message"], str)
    assert body["message"]
    assert body["errors"]
    for item in body["errors"]:
        assert set(item) == {"field", "reason"}
        assert all(isinstance(v, str) and v for v in item.values())


def test_default_responses_pass_api_gateways_message_through(rest):
    for kind in ("DEFAULT_4XX", "DEFAULT_5XX"):
        (template,) = _gateway_responses(rest)[kind]["responseTemplates"].values()
        body = _rendered(template)
        assert body["message"] == 'Say "hi" \\ forbidden'
        assert body["errors"] == [{"field": "request", "reason": "BAD_REQUEST_BODY"}]


def test_unknown_path_answers_like_the_handler(rest):
    (template,) = _gateway_responses(rest)["MISSING_AUTHENTICATION_TOKEN"][
        "responseTemplates"
    ].values()
    from genre_model.serve import handler

    answer = handler.handle(make_event({}, path="/api/unknown"), lambda_context())
    assert answer["statusCode"] == 404
    assert _rendered(template) == json.loads(answer["body"])


# ------------------------------------------------------------------ wiring, per front door
TIERS = ("REST", "HTTP", "URL")
FRONT_DOORS = {
    "REST": "AWS::ApiGateway::RestApi",
    "HTTP": "AWS::ApiGatewayV2::Api",
    "URL": "AWS::Lambda::Url",
}


@pytest.fixture(scope="module", params=TIERS)
def tier(request, sam_translator) -> tuple[str, dict[str, Any]]:
    return request.param, translate({"ApiType": request.param})


def _alias(cfn: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    ((name, alias),) = of_type(cfn, "AWS::Lambda::Alias").items()
    assert alias["Properties"]["FunctionName"] == {"Ref": "PredictFunction"}
    return name, alias


def _permissions(cfn: dict[str, Any]) -> list[dict[str, Any]]:
    return [p["Properties"] for p in of_type(cfn, "AWS::Lambda::Permission").values()]


def test_exactly_one_front_door_per_tier(tier):
    name, cfn = tier
    for other, kind in FRONT_DOORS.items():
        assert len(of_type(cfn, kind)) == (1 if other == name else 0), kind
    assert ("ApiKeyId" in cfn["Outputs"]) is False  # AuthMode NONE
    assert cfn["Outputs"]["ApiUrl"]["Value"]


def test_every_route_reaches_the_predict_alias_with_a_permission(tier):
    from genre_model.serve.http import ROUTES

    name, cfn = tier
    alias_id, alias = _alias(cfn)
    alias_name = alias["Properties"]["Name"]
    permissions = _permissions(cfn)
    if name == "REST":
        (api,) = of_type(cfn, FRONT_DOORS["REST"]).values()
        paths = api["Properties"]["Body"]["paths"]
        assert set(paths) == set(ROUTES)
        for item in paths.values():
            integration = item["x-amazon-apigateway-any-method"]["x-amazon-apigateway-integration"]
            assert integration["type"] == "aws_proxy"
            assert integration["uri"]["Fn::Sub"].endswith(
                f"/functions/${{PredictFunction.Arn}}:{alias_name}/invocations"
            )
        (permission,) = permissions
        assert permission["Principal"] == "apigateway.amazonaws.com"
        assert "${PredictApi}/${StageName}/*/api/*" in permission["SourceArn"]["Fn::Sub"]
    elif name == "HTTP":
        (api,) = of_type(cfn, FRONT_DOORS["HTTP"]).values()
        (route,) = api["Properties"]["Body"]["paths"].values()  # $default: every path
        integration = route["x-amazon-apigateway-any-method"]["x-amazon-apigateway-integration"]
        assert integration["payloadFormatVersion"] == "2.0"
        assert integration["uri"] == {"Fn::Sub": f"${{PredictFunction.Arn}}:{alias_name}"}
        (permission,) = permissions
        assert permission["Principal"] == "apigateway.amazonaws.com"
        assert permission["SourceArn"]["Fn::Sub"].endswith(":${PredictHttpApi}/*")
    else:
        (url,) = of_type(cfn, FRONT_DOORS["URL"]).values()
        assert url["Properties"]["AuthType"] == "AWS_IAM"
        assert url["Properties"]["TargetFunctionArn"] == {"Ref": "PredictFunction"}
        assert url["Properties"]["Qualifier"] == alias_name
        assert url["DependsOn"] == alias_id
        assert permissions == []  # IAM callers only: nothing public to allow
    for permission in permissions:
        assert permission["Action"] == "lambda:InvokeFunction"
        assert permission["FunctionName"] == {"Ref": alias_id}  # the alias, never $LATEST


def test_predict_alias_is_a_snapstart_version(tier):
    _, cfn = tier
    _, alias = _alias(cfn)
    version_id = alias["Properties"]["FunctionVersion"]["Fn::GetAtt"][0]
    version = cfn["Resources"][version_id]
    assert version["Type"] == "AWS::Lambda::Version"
    assert version["Properties"]["FunctionName"] == {"Ref": "PredictFunction"}
    predict = cfn["Resources"]["PredictFunction"]["Properties"]
    assert predict["SnapStart"] == {"ApplyOn": "PublishedVersions"}
    assert "SnapStart" not in cfn["Resources"]["TrainFunction"]["Properties"]


def test_rollouts_watch_the_predict_alarms_of_the_tier(tier):
    name, cfn = tier
    _, alias = _alias(cfn)
    ((group_id, group),) = of_type(cfn, "AWS::CodeDeploy::DeploymentGroup").items()
    assert alias["UpdatePolicy"]["CodeDeployLambdaAliasUpdate"]["DeploymentGroupName"] == {
        "Ref": group_id
    }
    props = group["Properties"]
    alarms = {a["Name"]["Ref"] for a in props["AlarmConfiguration"]["Alarms"]}
    assert alarms == {"PredictErrorsAlarm", "Predict5xxAlarm", "PredictLatencyAlarm"}
    assert props["AlarmConfiguration"]["Enabled"] is True
    assert "DEPLOYMENT_STOP_ON_ALARM" in props["AutoRollbackConfiguration"]["Events"]
    metric = {
        a: (
            cfn["Resources"][a]["Properties"]["Namespace"],
            cfn["Resources"][a]["Properties"]["MetricName"],
            {d["Name"] for d in cfn["Resources"][a]["Properties"]["Dimensions"]},
        )
        for a in alarms
    }
    assert metric["PredictErrorsAlarm"] == ("AWS/Lambda", "Errors", {"FunctionName", "Resource"})
    assert (
        metric["Predict5xxAlarm"]
        == {
            "REST": ("AWS/ApiGateway", "5XXError", {"ApiName", "Stage"}),
            "HTTP": ("AWS/ApiGateway", "5xx", {"ApiId", "Stage"}),
            "URL": ("AWS/Lambda", "Url5xxCount", {"FunctionName", "Resource"}),
        }[name]
    )
    assert (
        metric["PredictLatencyAlarm"][:2]
        == {
            "REST": ("AWS/ApiGateway", "Latency"),
            "HTTP": ("AWS/ApiGateway", "Latency"),
            "URL": ("AWS/Lambda", "Duration"),
        }[name]
    )


def _samconfig_overrides(env: str) -> dict[str, str]:
    import tomllib

    config = tomllib.loads((ROOT / "samconfig.toml").read_text())
    text = config[env]["deploy"]["parameters"]["parameter_overrides"]
    return dict(item.split("=", 1) for item in text.split())


@pytest.mark.parametrize(
    ("env", "config"),
    [
        ("dev", "AllAtOnce"),
        ("prod", "Canary10Percent5Minutes"),
        ("default", "Canary10Percent5Minutes"),
    ],
)
def test_samconfig_chooses_the_rollout_per_environment(sam_translator, env, config):
    cfn = translate(_samconfig_overrides(env))
    (group,) = of_type(cfn, "AWS::CodeDeploy::DeploymentGroup").values()
    name = group["Properties"]["DeploymentConfigName"]["Fn::Sub"]
    assert name == ["CodeDeployDefault.Lambda${ConfigName}", {"ConfigName": config}]


def _layer_sources(cfn: dict[str, Any], function: str) -> list[str]:
    """The source layer (GenreModelLayer, ...) behind each of a function's layer versions."""
    layers = cfn["Resources"][function]["Properties"]["Layers"]
    names = [layer["Ref"] for layer in layers]
    return [
        next(
            s for s in ("GenreModelLayer", "RuntimeDepsLayer", "TrainDepsLayer") if n.startswith(s)
        )
        for n in names
    ]


def test_each_function_gets_its_layers_and_predict_no_training_deps(tier):
    _, cfn = tier
    assert _layer_sources(cfn, "PredictFunction") == ["GenreModelLayer", "RuntimeDepsLayer"]
    assert _layer_sources(cfn, "TrainFunction") == [
        "GenreModelLayer",
        "RuntimeDepsLayer",
        "TrainDepsLayer",
    ]
    train_layer = next(
        r for n, r in of_type(cfn, "AWS::Lambda::LayerVersion").items() if n.startswith("TrainDeps")
    )
    assert "scikit-learn" in train_layer["Properties"]["Description"]


@pytest.mark.parametrize(
    ("function", "variables"),
    [
        ("PredictFunction", {"MODEL_BUCKET", "MODEL_PREFIX", "MODEL_REFRESH_SECONDS"}),
        (
            "TrainFunction",
            {"MODEL_BUCKET", "MODEL_PREFIX", "DB_SECRET_ARN", "FEATURE_SET", "MIN_CUSTOMERS"},
        ),
    ],
)
def test_each_function_has_the_variables_it_reads(rest, function, variables):
    from genre_model.config import VARIABLES

    assert variables <= set(VARIABLES)  # names config.py really reads
    env = rest["Resources"][function]["Properties"]["Environment"]["Variables"]
    assert variables <= set(env)
    assert env["MODEL_BUCKET"] == {"Ref": "ModelBucket"}
    assert {"POWERTOOLS_SERVICE_NAME", "POWERTOOLS_METRICS_NAMESPACE"} <= set(env)
    assert not any(re.search("PASSWORD|SECRET_KEY|TOKEN", name) for name in env)


def test_predict_role_is_read_only_on_the_model_prefix(tier):
    _, cfn = tier
    role = cfn["Resources"]["PredictFunctionRole"]["Properties"]
    assert sorted(role["ManagedPolicyArns"]) == [
        "arn:aws:iam::aws:policy/AWSXrayWriteOnlyAccess",
        "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
    ]
    statements = [s for p in role["Policies"] for s in p["PolicyDocument"]["Statement"]]
    grants = {(tuple(s["Action"]), json.dumps(s["Resource"], sort_keys=True)) for s in statements}
    assert grants == {
        (("s3:GetObject",), json.dumps({"Fn::Sub": "${ModelBucket.Arn}/${ModelPrefix}*"})),
        (("s3:ListBucket",), json.dumps({"Fn::GetAtt": ["ModelBucket", "Arn"]})),
    }
    assert all(s["Effect"] == "Allow" for s in statements)
