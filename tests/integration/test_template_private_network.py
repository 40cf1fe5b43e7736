"""The training function's private network as CloudFormation creates it (SAM translator output).

Without TrainSubnetIds/TrainSecurityGroupIds nothing of a VPC exists; with them the function runs
in exactly those lists; with CreateTrainVpcEndpoints=true the two services it calls from the
VPC (S3, Secrets Manager) are reachable through endpoints, so no NAT is needed.
"""

from __future__ import annotations

from typing import Any

import pytest

from devtools.cfn_template import load_template
from tests.helpers import require
from tests.sam_translate import available, of_type, parameters, translate

# Interpreter-independent (the translated template):
# `make test-py313` does not run it again.
pytestmark = pytest.mark.once

SUBNETS = "subnet-0aaaaaaaaaaaaaaa1,subnet-0bbbbbbbbbbbbbbb2"
GROUPS = "sg-0ccccccccccccccc3,sg-0ddddddddddddddd4"
VPC = {"TrainSubnetIds": SUBNETS, "TrainSecurityGroupIds": GROUPS}
SECRET = "arn:aws:secretsmanager:us-east-1:123456789012:secret:genre/chinook-train-AbCdEf"
ENDPOINTS = {
    **VPC,
    "CreateTrainVpcEndpoints": "true",
    "TrainVpcId": "vpc-0eeeeeeeeeeeeeee5",
    "TrainRouteTableIds": "rtb-0fffffffffffffff6",
}
VPC_POLICY = {
    "Fn::Sub": "arn:${AWS::Partition}:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole"
}
NETWORK_TYPES = ("AWS::EC2::VPCEndpoint", "AWS::EC2::SecurityGroup")
# Whatever would give the VPC a path to the internet: none of it belongs to this stack.
INTERNET_TYPES = ("AWS::EC2::NatGateway", "AWS::EC2::EIP", "AWS::EC2::InternetGateway")


@pytest.fixture(scope="module")
def sam_translator() -> None:
    require(*available())


def _train(cfn: dict[str, Any]) -> dict[str, Any]:
    props: dict[str, Any] = cfn["Resources"]["TrainFunction"]["Properties"]
    return props


def _managed_policies(cfn: dict[str, Any]) -> list[Any]:
    policies: list[Any] = cfn["Resources"]["TrainFunctionRole"]["Properties"]["ManagedPolicyArns"]
    return policies


def _endpoint(cfn: dict[str, Any], service: str) -> dict[str, Any]:
    name = {"Fn::Sub": f"com.amazonaws.${{AWS::Region}}.{service}"}
    (endpoint,) = [
        r["Properties"]
        for r in of_type(cfn, "AWS::EC2::VPCEndpoint").values()
        if r["Properties"]["ServiceName"] == name
    ]
    return endpoint


def test_default_stack_has_no_network_resources(sam_translator):
    cfn = translate()
    assert "VpcConfig" not in _train(cfn)
    assert VPC_POLICY not in _managed_policies(cfn)
    for kind in NETWORK_TYPES + INTERNET_TYPES:
        assert not of_type(cfn, kind), kind


def test_train_runs_in_the_given_subnets_and_groups(sam_translator):
    cfn = translate(VPC)
    assert _train(cfn)["VpcConfig"] == {
        "SubnetIds": {"Ref": "TrainSubnetIds"},
        "SecurityGroupIds": {"Ref": "TrainSecurityGroupIds"},
    }
    assert VPC_POLICY in _managed_policies(cfn)
    assert "VpcConfig" not in cfn["Resources"]["PredictFunction"]["Properties"]
    # Endpoints are opt-in: a VPC that already has them (or a NAT route) gets no duplicate.
    for kind in NETWORK_TYPES + INTERNET_TYPES:
        assert not of_type(cfn, kind), kind


def test_endpoints_reach_s3_and_only_the_model_store(sam_translator):
    cfn = translate({**ENDPOINTS, "DbSecretArn": SECRET})
    s3 = _endpoint(cfn, "s3")
    assert s3["VpcEndpointType"] == "Gateway"
    assert s3["VpcId"] == {"Ref": "TrainVpcId"}
    assert s3["RouteTableIds"] == {"Ref": "TrainRouteTableIds"}
    resources = {
        str(s["Resource"])
        for s in s3["PolicyDocument"]["Statement"]
        if s["Effect"] == "Allow" and any(a != "s3:GetObject" for a in s["Action"])
    }
    # What can be written or listed through the endpoint: the model store, nothing else.
    assert resources == {
        str({"Fn::Sub": "${ModelBucket.Arn}/${ModelPrefix}*"}),
        str({"Fn::GetAtt": ["ModelBucket", "Arn"]}),
    }
    for kind in INTERNET_TYPES:
        assert not of_type(cfn, kind), kind


def test_secrets_endpoint_admits_the_function_and_reads_one_secret(sam_translator):
    cfn = translate({**ENDPOINTS, "DbSecretArn": SECRET})
    secrets = _endpoint(cfn, "secretsmanager")
    assert secrets["VpcEndpointType"] == "Interface"
    assert secrets["SubnetIds"] == {"Ref": "TrainSubnetIds"}
    assert secrets["PrivateDnsEnabled"] is True  # boto3's default endpoint name resolves to it
    (statement,) = secrets["PolicyDocument"]["Statement"]
    assert statement["Action"] == ["secretsmanager:GetSecretValue"]
    assert statement["Resource"] == {"Ref": "DbSecretArn"}
    ((group_name, group),) = of_type(cfn, "AWS::EC2::SecurityGroup").items()
    assert secrets["SecurityGroupIds"] == [{"Ref": group_name}]
    (ingress,) = group["Properties"]["SecurityGroupIngress"]
    assert (ingress["IpProtocol"], ingress["FromPort"], ingress["ToPort"]) == ("tcp", 443, 443)
    assert ingress["SourceSecurityGroupId"] == {"Fn::Select": [0, {"Ref": "TrainSecurityGroupIds"}]}
    assert "CidrIp" not in ingress
    (egress,) = group["Properties"]["SecurityGroupEgress"]
    assert egress["CidrIp"] == "127.0.0.1/32"  # replaces the default allow-all


def test_no_secret_no_secrets_endpoint(sam_translator):
    cfn = translate(ENDPOINTS)
    assert _endpoint(cfn, "s3")
    assert len(of_type(cfn, "AWS::EC2::VPCEndpoint")) == 1
    assert not of_type(cfn, "AWS::EC2::SecurityGroup")


def test_endpoints_without_a_vpc_placement_create_nothing(sam_translator):
    cfn = translate({"CreateTrainVpcEndpoints": "true", "DbSecretArn": SECRET})
    assert "VpcConfig" not in _train(cfn)
    for kind in NETWORK_TYPES:
        assert not of_type(cfn, kind), kind


# CloudFormation evaluates the template's Rules before creating anything; these evaluate the same
# assertions for a set of parameters, so a half-given placement is refused rather than ignored.
def _rule_value(node: Any, values: dict[str, Any]) -> Any:
    if not isinstance(node, dict):
        return node
    ((key, arg),) = node.items()
    if key == "Ref":
        return values[arg]
    args = [_rule_value(a, values) for a in arg]
    match key:
        case "Fn::Equals":
            return args[0] == args[1]
        case "Fn::Not":
            return not args[0]
        case "Fn::And":
            return all(args)
        case "Fn::Or":
            return any(args)
        case "Fn::EachMemberEquals":
            return all(member == args[1] for member in args[0])
    raise ValueError(f"rule function {key} not supported here")


def _refused(overrides: dict[str, str]) -> list[str]:
    values = parameters(overrides)
    refused = []
    for rule in load_template()["Rules"].values():
        if "RuleCondition" in rule and not _rule_value(rule["RuleCondition"], values):
            continue
        refused += [
            a["AssertDescription"]
            for a in rule["Assertions"]
            if not _rule_value(a["Assert"], values)
        ]
    return refused


@pytest.mark.parametrize(
    ("overrides", "refused"),
    [
        ({}, False),
        (VPC, False),
        (ENDPOINTS, False),
        ({"TrainSubnetIds": SUBNETS}, True),
        ({"TrainSecurityGroupIds": GROUPS}, True),
        ({**VPC, "CreateTrainVpcEndpoints": "true"}, True),  # no VPC id, no route tables
        ({**ENDPOINTS, "TrainRouteTableIds": ""}, True),
        ({"CreateTrainVpcEndpoints": "true"}, True),
    ],
)
def test_rules_refuse_a_half_given_network(overrides, refused):
    reasons = _refused(overrides)
    assert bool(reasons) is refused, reasons
    assert all("Train" in r for r in reasons)
