"""The template as CloudFormation will create it (SAM translator output), not as written."""

from __future__ import annotations

import json
from typing import Any

import pytest
from predict_fixtures import lambda_context, make_event, reset_api
from sam_translate import of_type, translate

FIXTURES = (reset_api,)

ERROR_KEYS = {"status", "message", "errors"}
# What API Gateway substitutes for $context.error.* (messageString arrives quoted and escaped).
CONTEXT_ERROR = {
    "$context.error.messageString": json.dumps('Say "hi" \\ forbidden'),
    "$context.error.responseType": "BAD_REQUEST_BODY",
}


@pytest.fixture(scope="module")
def rest() -> dict[str, Any]:
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
    from genre_model import api

    answer = api.handle(make_event({}, path="/api/unknown"), lambda_context())
    assert answer["statusCode"] == 404
    assert _rendered(template) == json.loads(answer["body"])
