"""The nightly state machine as CloudFormation will create it: the schedule starts it, the Choice
sends each store to the right engine, failures notify, and every role can do only its part.

The definition file is substituted with the translated template's DefinitionSubstitutions (as
Step Functions does) and run by ``tests/asl.py`` against stand-in task results.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from devtools.cfn_template import load_template
from tests.asl import StatesError, execute
from tests.helpers import require
from tests.sam_translate import available, of_type, parameters, translate

# Interpreter-independent (the translated template, read by sam's own interpreter):
# `make test-py313` does not run it again.
pytestmark = pytest.mark.once

ROOT = Path(__file__).resolve().parents[2]
ENGINE = {
    "TrainSubnetIds": "subnet-0a1,subnet-0b2",
    "TrainSecurityGroupIds": "sg-0c3",
    "TrainImageTag": "2026-12-03.1",
}
LAMBDA_INVOKE = "arn:aws:states:::lambda:invoke"
ECS_RUN_SYNC = "arn:aws:states:::ecs:runTask.sync"
SQS_SEND = "arn:aws:states:::sqs:sendMessage"
SUBSTITUTION = re.compile(r"\$\{([A-Za-z0-9_]+)\}")
SECRET = "arn:aws:secretsmanager:us-east-1:123456789012:secret:chinook-AbCdEf"
TOPIC = "arn:aws:sns:us-east-1:123456789012:ops"
# One more translation (each costs seconds): the engine with every optional parameter set.
CUSTOM = {
    **ENGINE,
    "LambdaMaxCustomers": "100",
    "LambdaMaxNewLines": "5000",
    "DbSecretArn": SECRET,
    "AlarmTopicArn": TOPIC,
    "CreateTrainVpcEndpoints": "true",
    "TrainVpcId": "vpc-0d4",
    "TrainRouteTableIds": "rtb-0e5",
}


@pytest.fixture(scope="module")
def sam_translator() -> None:
    require(*available())


@pytest.fixture(scope="module")
def lambda_only(sam_translator) -> dict[str, Any]:
    return translate()


@pytest.fixture(scope="module")
def engine(sam_translator) -> dict[str, Any]:
    return translate(ENGINE)


@pytest.fixture(scope="module")
def custom(sam_translator) -> dict[str, Any]:
    return translate(CUSTOM)


def token(node: Any, values: dict[str, Any], cfn: dict[str, Any]) -> Any:
    """A template value as Step Functions would see it: parameters by value, a resource's Ref or
    GetAtt as a stand-in naming it (so a test can compare it with the IAM policy's resource)."""
    if isinstance(node, str | int | float):
        return str(node)
    ((key, arg),) = node.items()
    if key == "Ref":
        if arg in values:
            value = values[arg]
            return value if isinstance(value, list) else str(value)
        assert arg in cfn["Resources"], f"Ref to nothing: {arg}"
        return f"<Ref {arg}>"
    if key == "Fn::GetAtt":
        assert arg[0] in cfn["Resources"], f"GetAtt of nothing: {arg}"
        return f"<GetAtt {'.'.join(arg)}>"
    if key == "Fn::Join":
        return arg[0].join(token(arg[1], values, cfn))
    raise NotImplementedError(key)


def definition(cfn: dict[str, Any], overrides: dict[str, str] | None = None) -> dict[str, Any]:
    """The definition file with the translated template's substitutions, parsed."""
    source = load_template()["Resources"]["TrainStateMachine"]["Properties"]["DefinitionUri"]
    text = (ROOT / source).read_text()
    props = cfn["Resources"]["TrainStateMachine"]["Properties"]
    values = parameters(overrides)
    subs = {k: token(v, values, cfn) for k, v in props["DefinitionSubstitutions"].items()}
    used = set(SUBSTITUTION.findall(text))
    assert used == set(subs), "every ${...} substituted, every substitution used"
    return json.loads(SUBSTITUTION.sub(lambda m: subs[m.group(1)], text))


def stand_ins(customers: int, new_lines: int, fail: dict[str, str] | None = None):
    """The services behind the Task states; ``fail`` maps a state to the error it raises."""

    def tasks(state: str, resource: str, params: dict[str, Any]) -> Any:
        if fail and state in fail:
            raise StatesError(fail[state], f"{state} failed")
        if resource == LAMBDA_INVOKE:
            if params["Payload"] == {"action": "measure"}:
                return {
                    "StatusCode": 200,
                    "Payload": {"customers": customers, "new_lines": new_lines},
                }
            assert params["Payload"] == {"action": "train"}
            return {"StatusCode": 200, "Payload": {"version": "20261203T020000Z", "promoted": True}}
        if resource == ECS_RUN_SYNC:
            return {
                "TaskArn": "arn:aws:ecs:us-east-1:123456789012:task/c/1",
                "LastStatus": "STOPPED",
            }
        if resource == SQS_SEND:
            return {"MessageId": "m-1"}
        raise NotImplementedError(resource)

    return tasks


def limits(overrides: dict[str, str] | None = None) -> tuple[int, int]:
    values = parameters(overrides)
    return int(values["LambdaMaxCustomers"]), int(values["LambdaMaxNewLines"])


CUSTOMERS, LINES = limits()
TO_LAMBDA = ["MeasureStore", "ChooseEngine", "TrainOnLambda"]
TO_CONTAINER = ["MeasureStore", "ChooseEngine", "TrainOnContainer"]
LARGE_ON_LAMBDA = ["MeasureStore", "ChooseEngine", "LargeStoreWithoutContainer", "TrainOnLambda"]


@pytest.mark.parametrize(
    ("customers", "new_lines", "with_engine", "path"),
    [
        pytest.param(59, 2_240, True, TO_LAMBDA, id="chinook"),
        pytest.param(CUSTOMERS - 1, LINES - 1, True, TO_LAMBDA, id="just-below-both"),
        pytest.param(CUSTOMERS, 0, True, TO_CONTAINER, id="at-customer-threshold"),
        pytest.param(1, LINES, True, TO_CONTAINER, id="at-line-threshold"),
        pytest.param(10_000_000, 180_000_000, True, TO_CONTAINER, id="large"),
        pytest.param(CUSTOMERS - 1, LINES - 1, False, TO_LAMBDA, id="below-no-engine"),
        pytest.param(CUSTOMERS, 0, False, LARGE_ON_LAMBDA, id="at-threshold-no-engine"),
        pytest.param(10_000_000, 180_000_000, False, LARGE_ON_LAMBDA, id="large-no-engine"),
    ],
)
def test_each_store_size_goes_to_its_engine(
    request, customers, new_lines, with_engine, path
) -> None:
    cfn = request.getfixturevalue("engine" if with_engine else "lambda_only")
    run = execute(
        definition(cfn, ENGINE if with_engine else None), {}, stand_ins(customers, new_lines)
    )
    assert run.path == path
    assert run.error is None
    assert run.output["store"]["customers"] == customers
    assert run.output["store"]["new_lines"] == new_lines


def test_the_threshold_is_the_template_parameter(custom) -> None:
    steps = definition(custom, CUSTOM)
    assert execute(steps, {}, stand_ins(99, 4_999)).path == TO_LAMBDA
    assert execute(steps, {}, stand_ins(100, 0)).path == TO_CONTAINER
    assert execute(steps, {}, stand_ins(0, 5_000)).path == TO_CONTAINER


def test_engines_are_called_with_the_stacks_resources(engine) -> None:
    small = execute(definition(engine, ENGINE), {}, stand_ins(10, 10))
    large = execute(definition(engine, ENGINE), {}, stand_ins(CUSTOMERS, 0))
    for run in (small, large):
        (measure,) = run.params("MeasureStore")
        assert measure["FunctionName"] == "<GetAtt TrainFunction.Arn>"
    (train,) = small.params("TrainOnLambda")
    assert train == {"FunctionName": "<GetAtt TrainFunction.Arn>", "Payload": {"action": "train"}}
    (task,) = large.params("TrainOnContainer")
    assert task["Cluster"] == "<GetAtt TrainCluster.Arn>"
    assert task["TaskDefinition"] == "<Ref TrainTaskDefinition>"
    assert task["LaunchType"] == "FARGATE"
    # the same network parameters as the train function's VpcConfig
    network = task["NetworkConfiguration"]["AwsvpcConfiguration"]
    assert network["Subnets"] == ENGINE["TrainSubnetIds"].split(",")
    assert network["SecurityGroups"] == ENGINE["TrainSecurityGroupIds"].split(",")
    assert network["AssignPublicIp"] == "DISABLED"
    vpc = engine["Resources"]["TrainFunction"]["Properties"]["VpcConfig"]
    assert vpc == {
        "SubnetIds": {"Ref": "TrainSubnetIds"},
        "SecurityGroupIds": {"Ref": "TrainSecurityGroupIds"},
    }


@pytest.mark.parametrize(
    ("state", "error", "attempts", "size"),
    [
        ("MeasureStore", "DataSourceError", 3, (10, 10)),  # the database may come back
        # reserved concurrency 1: a manual run may hold the function for up to 15 minutes
        ("MeasureStore", "Lambda.TooManyRequestsException", 6, (10, 10)),
        ("MeasureStore", "Lambda.ServiceException", 4, (10, 10)),
        ("TrainOnLambda", "Lambda.TooManyRequestsException", 6, (10, 10)),
        ("TrainOnLambda", "DataSourceError", 2, (10, 10)),
        ("TrainOnLambda", "PromotionRefused", 1, (10, 10)),  # deterministic: not repeated
        ("TrainOnLambda", "Sandbox.Timedout", 1, (10, 10)),  # another 900 s would time out too
        ("TrainOnContainer", "States.TaskFailed", 2, (CUSTOMERS, 0)),  # exit status 1
        ("TrainOnContainer", "ECS.AmazonECSException", 4, (CUSTOMERS, 0)),  # no capacity
    ],
)
def test_failures_are_retried_then_notified_and_fail_the_execution(
    engine, state, error, attempts, size
) -> None:
    run = execute(definition(engine, ENGINE), {}, stand_ins(*size, fail={state: error}))
    assert len(run.params(state)) == attempts
    assert run.path[-2:] == ["NotifyFailure", "TrainingFailed"]
    assert run.error == "TrainingFailed"  # counted by TrainRunFailedAlarm (ExecutionsFailed)
    (message,) = run.params("NotifyFailure")
    assert message["QueueUrl"] == "<Ref TrainDeadLetterQueue>"  # TrainDeadLetterAlarm watches it
    body = message["MessageBody"]
    assert body["failure"]["Error"] == error
    assert body["execution"] == "exec-1"


def test_a_failed_notification_still_fails_the_execution(engine) -> None:
    fail = {"TrainOnLambda": "PromotionRefused", "NotifyFailure": "SQS.ServiceUnavailable"}
    run = execute(definition(engine, ENGINE), {}, stand_ins(10, 10, fail=fail))
    assert len(run.params("NotifyFailure")) == 4  # retried
    assert run.error == "SQS.ServiceUnavailable"  # unhandled: ExecutionsFailed still counts it


def test_every_task_retries_and_reaches_the_notification(engine) -> None:
    steps = definition(engine, ENGINE)["States"]
    tasks = {n: s for n, s in steps.items() if s["Type"] == "Task" and n != "NotifyFailure"}
    assert set(tasks) == {"MeasureStore", "TrainOnLambda", "TrainOnContainer"}
    for name, state in tasks.items():
        assert state["Retry"], name
        if state["Resource"] == LAMBDA_INVOKE:  # waits out a manual run (up to 900 s) at least
            (busy,) = (
                r for r in state["Retry"] if "Lambda.TooManyRequestsException" in r["ErrorEquals"]
            )
            waits = [
                busy["IntervalSeconds"] * busy["BackoffRate"] ** i
                for i in range(busy["MaxAttempts"])
            ]
            assert sum(waits) > 900, name
        assert all(r["MaxAttempts"] >= 1 for r in state["Retry"]), name
        assert state["Catch"] == [
            {"ErrorEquals": ["States.ALL"], "ResultPath": "$.failure", "Next": "NotifyFailure"}
        ], name
        assert state["TimeoutSeconds"] > 0, name  # a hung call still ends
    assert steps["TrainOnLambda"]["TimeoutSeconds"] > 900  # the function's own limit is first
    assert steps["NotifyFailure"]["Next"] == "TrainingFailed"
    assert steps["TrainingFailed"]["Type"] == "Fail"


# ------------------------------------------------------------------ schedule and alarm
def test_the_nightly_schedule_starts_the_state_machine(lambda_only) -> None:
    (schedule,) = of_type(lambda_only, "AWS::Scheduler::Schedule").values()
    props = schedule["Properties"]
    assert props["ScheduleExpression"] == "cron(0 2 * * ? *)"
    assert props["ScheduleExpressionTimezone"] == {"Ref": "ScheduleTimezone"}
    assert props["FlexibleTimeWindow"] == {"Mode": "OFF"}
    target = props["Target"]
    assert target["Arn"] == {"Ref": "TrainStateMachine"}
    assert target["RetryPolicy"]["MaximumRetryAttempts"] >= 1
    assert target["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": ["TrainDeadLetterQueue", "Arn"]}}
    role = lambda_only["Resources"][target["RoleArn"]["Fn::GetAtt"][0]]["Properties"]
    assert _grants(role) == {
        ("states:StartExecution", json.dumps({"Ref": "TrainStateMachine"})),
        ("sqs:SendMessage", json.dumps({"Fn::GetAtt": ["TrainDeadLetterQueue", "Arn"]})),
    }
    # nothing else starts training on a timer
    assert "Events" not in load_template()["Resources"]["TrainFunction"]["Properties"]
    assert not of_type(lambda_only, "AWS::Events::Rule")


def test_a_failed_execution_raises_the_alarm(custom) -> None:
    cfn = custom
    alarm = cfn["Resources"]["TrainRunFailedAlarm"]["Properties"]
    assert (alarm["Namespace"], alarm["MetricName"]) == ("AWS/States", "ExecutionsFailed")
    assert alarm["Dimensions"] == [
        {"Name": "StateMachineArn", "Value": {"Ref": "TrainStateMachine"}}
    ]
    assert alarm["Threshold"] == 1
    assert alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    assert alarm["AlarmActions"] == [{"Ref": "AlarmTopicArn"}]
    dlq = cfn["Resources"]["TrainDeadLetterAlarm"]["Properties"]
    assert dlq["Dimensions"][0]["Value"] == {"Fn::GetAtt": ["TrainDeadLetterQueue", "QueueName"]}
    machine = cfn["Resources"]["TrainStateMachine"]["Properties"]
    assert machine["StateMachineType"] == "STANDARD"  # .sync integrations need it
    assert machine["TracingConfiguration"] == {"Enabled": True}
    assert machine["LoggingConfiguration"]["Destinations"] == [
        {
            "CloudWatchLogsLogGroup": {
                "LogGroupArn": {"Fn::GetAtt": ["TrainStateMachineLogGroup", "Arn"]}
            }
        }
    ]


# ------------------------------------------------------------------ IAM scope of each role
def _statements(role: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for p in role.get("Policies", []) for s in p["PolicyDocument"]["Statement"]]


def _grants(role: dict[str, Any]) -> set[tuple[str, str]]:
    """(action, resource) pairs of a role's inline policies (or of one ``PolicyDocument``'s
    statements, as an endpoint has); every statement an Allow."""
    statements = (
        role["PolicyDocument"]["Statement"] if "PolicyDocument" in role else _statements(role)
    )
    pairs = set()
    for statement in statements:
        assert statement["Effect"] == "Allow"
        actions = (
            statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        )
        resources = (
            statement["Resource"]
            if isinstance(statement["Resource"], list)
            else [statement["Resource"]]
        )
        pairs |= {(a, json.dumps(r, sort_keys=True)) for a in actions for r in resources}
    return pairs


LOG_DELIVERY = {
    (action, json.dumps("*"))
    for action in (
        "logs:CreateLogDelivery",
        "logs:GetLogDelivery",
        "logs:UpdateLogDelivery",
        "logs:DeleteLogDelivery",
        "logs:ListLogDeliveries",
        "logs:PutResourcePolicy",
        "logs:DescribeResourcePolicies",
        "logs:DescribeLogGroups",
    )
}
MACHINE_BASE = {
    ("lambda:InvokeFunction", json.dumps({"Fn::GetAtt": ["TrainFunction", "Arn"]})),
    ("sqs:SendMessage", json.dumps({"Fn::GetAtt": ["TrainDeadLetterQueue", "Arn"]})),
} | LOG_DELIVERY


def test_state_machine_role_without_engine_invokes_only_the_train_function(lambda_only) -> None:
    role = lambda_only["Resources"]["TrainStateMachineRole"]["Properties"]
    assert _grants(role) == MACHINE_BASE
    assert role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {
        "Service": "states.amazonaws.com"
    }
    for name in ("TrainCluster", "TrainTaskDefinition", "TrainTaskRole", "TrainTaskExecutionRole"):
        assert name not in lambda_only["Resources"]


def test_the_engine_needs_both_an_image_and_the_network(lambda_only) -> None:
    assert lambda_only["Conditions"]["HasContainerEngine"] == {
        "Fn::And": [
            {"Condition": "UseVpc"},
            {"Fn::Not": [{"Fn::Equals": [{"Ref": "TrainImageTag"}, ""]}]},
        ]
    }
    assert lambda_only["Conditions"]["UseVpc"]["Fn::And"][0] == {
        "Fn::Not": [{"Fn::Equals": [{"Fn::Join": ["", {"Ref": "TrainSubnetIds"}]}, ""]}]
    }
    source = load_template()["Resources"]
    engine_only = {n for n, r in source.items() if r.get("Condition") == "HasContainerEngine"}
    assert engine_only == {
        "TrainCluster",
        "TrainTaskDefinition",
        "TrainTaskRole",
        "TrainTaskExecutionRole",
        "TrainTaskLogGroup",
        "TrainTaskPromotedMetricFilter",  # the task's promotions, for StaleModelAlarm
    }
    subs = lambda_only["Resources"]["TrainStateMachine"]["Properties"]["DefinitionSubstitutions"]
    assert subs["ContainerEngine"] == "false"


def test_state_machine_role_runs_only_the_training_task(engine) -> None:
    role = engine["Resources"]["TrainStateMachineRole"]["Properties"]
    tasks = {"Fn::Sub": "arn:${AWS::Partition}:ecs:${AWS::Region}:${AWS::AccountId}:task/"}
    tasks["Fn::Sub"] += "${TrainCluster}/*"
    rule = {
        "Fn::Sub": "arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:rule/"
        "StepFunctionsGetEventsForECSTaskRule"
    }
    assert _grants(role) == MACHINE_BASE | {
        ("ecs:RunTask", json.dumps({"Ref": "TrainTaskDefinition"})),
        ("ecs:DescribeTasks", json.dumps(tasks, sort_keys=True)),
        ("ecs:StopTask", json.dumps(tasks, sort_keys=True)),
        ("iam:PassRole", json.dumps({"Fn::GetAtt": ["TrainTaskRole", "Arn"]})),
        ("iam:PassRole", json.dumps({"Fn::GetAtt": ["TrainTaskExecutionRole", "Arn"]})),
        ("events:PutTargets", json.dumps(rule, sort_keys=True)),
        ("events:PutRule", json.dumps(rule, sort_keys=True)),
        ("events:DescribeRule", json.dumps(rule, sort_keys=True)),
    }
    by_sid = {s["Sid"]: s for s in _statements(role)}
    assert by_sid["RunTheTrainingTask"]["Condition"] == {
        "ArnEquals": {"ecs:cluster": {"Fn::GetAtt": ["TrainCluster", "Arn"]}}
    }
    assert by_sid["PassTheTaskRoles"]["Condition"] == {
        "StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}
    }


MODEL_ACCESS = {
    ("s3:GetObject", json.dumps({"Fn::Sub": "${ModelBucket.Arn}/${ModelPrefix}*"})),
    ("s3:PutObject", json.dumps({"Fn::Sub": "${ModelBucket.Arn}/${ModelPrefix}*"})),
    ("s3:ListBucket", json.dumps({"Fn::GetAtt": ["ModelBucket", "Arn"]})),
}


@pytest.mark.parametrize("secret", [False, True])
def test_task_role_reaches_only_the_model_prefix_and_the_db_secret(request, secret: bool) -> None:
    cfn = request.getfixturevalue("custom" if secret else "engine")
    role = cfn["Resources"]["TrainTaskRole"]["Properties"]
    expected = MODEL_ACCESS | (
        {("secretsmanager:GetSecretValue", json.dumps({"Ref": "DbSecretArn"}))} if secret else set()
    )
    assert _grants(role) == expected
    assert "ManagedPolicyArns" not in role
    assert role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {
        "Service": "ecs-tasks.amazonaws.com"
    }
    # the same data access as the train function, no more
    function_role = cfn["Resources"]["TrainFunctionRole"]["Properties"]
    assert expected <= _grants(function_role)


def test_execution_role_pulls_only_the_training_image(engine) -> None:
    role = engine["Resources"]["TrainTaskExecutionRole"]["Properties"]
    repository = json.dumps({"Fn::GetAtt": ["TrainImageRepository", "Arn"]})
    logs = json.dumps({"Fn::GetAtt": ["TrainTaskLogGroup", "Arn"]})
    assert _grants(role) == {
        ("ecr:GetAuthorizationToken", json.dumps("*")),
        ("ecr:BatchCheckLayerAvailability", repository),
        ("ecr:GetDownloadUrlForLayer", repository),
        ("ecr:BatchGetImage", repository),
        ("logs:CreateLogStream", logs),
        ("logs:PutLogEvents", logs),
    }
    assert "ManagedPolicyArns" not in role


# ------------------------------------------------------------------ the task runs the train code
def _container(cfn: dict[str, Any]) -> dict[str, Any]:
    task = cfn["Resources"]["TrainTaskDefinition"]["Properties"]
    assert task["RequiresCompatibilities"] == ["FARGATE"]
    assert task["NetworkMode"] == "awsvpc"
    assert task["TaskRoleArn"] == {"Fn::GetAtt": ["TrainTaskRole", "Arn"]}
    assert task["ExecutionRoleArn"] == {"Fn::GetAtt": ["TrainTaskExecutionRole", "Arn"]}
    (container,) = task["ContainerDefinitions"]
    return container


def test_task_has_the_train_functions_settings(engine) -> None:
    from genre_model.config import VARIABLES

    container = _container(engine)
    env = {e["Name"]: e["Value"] for e in container["Environment"]}
    function_env = engine["Resources"]["TrainFunction"]["Properties"]["Environment"]["Variables"]
    # every setting config.py reads that the function is given a value for (not a local stand-in)
    settings = {k: v for k, v in function_env.items() if k in VARIABLES and v != ""}
    assert {
        "MODEL_BUCKET",
        "MODEL_PREFIX",
        "DB_SECRET_ARN",
        "FEATURE_SET",
        "MIN_CUSTOMERS",
        "TRAIN_AGGREGATES",
        "TRAIN_SAMPLE_ROWS",
    } <= set(settings)
    assert {k: env.get(k) for k in settings} == settings
    assert not any(re.search("PASSWORD|SECRET_KEY|TOKEN", name) for name in env)
    assert container["Image"] == {
        "Fn::Sub": "${TrainImageRepository.RepositoryUri}:${TrainImageTag}"
    }
    assert container["ReadonlyRootFilesystem"] is True
    assert container["LogConfiguration"]["Options"]["awslogs-group"] == {"Ref": "TrainTaskLogGroup"}


def test_deployed_training_folds_incrementally_by_default(engine) -> None:
    """A deployed store grows: the function and the task both get TrainAggregates, whose default
    is incremental (the code falls back to the full query where the tables cannot be written)."""
    parameter = engine["Parameters"]["TrainAggregates"]
    assert parameter["Default"] == "incremental"
    assert set(parameter["AllowedValues"]) == {"full", "incremental"}
    function_env = engine["Resources"]["TrainFunction"]["Properties"]["Environment"]["Variables"]
    task_env = {e["Name"]: e["Value"] for e in _container(engine)["Environment"]}
    wired = {"Ref": "TrainAggregates"}
    assert function_env["TRAIN_AGGREGATES"] == task_env["TRAIN_AGGREGATES"] == wired


def test_task_runs_the_images_command(engine) -> None:
    from tests.integration.test_container_entry import image_command

    container = _container(engine)
    assert container["EntryPoint"] + container["Command"] == image_command()


def test_image_repository_keeps_what_a_deploy_names(lambda_only) -> None:
    repository = lambda_only["Resources"]["TrainImageRepository"]
    assert repository["Properties"]["ImageTagMutability"] == "IMMUTABLE"
    assert repository["Properties"]["ImageScanningConfiguration"] == {"ScanOnPush": True}
    policy = json.loads(repository["Properties"]["LifecyclePolicy"]["LifecyclePolicyText"])
    assert [r["selection"]["tagStatus"] for r in policy["rules"]] == ["untagged"]


ENGINE_ENDPOINTS = {"ecr.api", "ecr.dkr", "logs"}


def _endpoints(cfn: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Interface endpoints by service (the part after the region)."""
    out = {}
    for endpoint in of_type(cfn, "AWS::EC2::VPCEndpoint").values():
        props = endpoint["Properties"]
        service = props["ServiceName"]["Fn::Sub"].removeprefix("com.amazonaws.${AWS::Region}.")
        out[service] = props
    return out


def test_private_subnets_get_the_engines_endpoints_only_when_asked(engine, custom) -> None:
    assert not ENGINE_ENDPOINTS & set(_endpoints(engine))
    endpoints = _endpoints(custom)
    assert set(endpoints) >= ENGINE_ENDPOINTS
    group = of_type(custom, "AWS::EC2::SecurityGroup")["TrainEngineEndpointSecurityGroup"]
    (ingress,) = group["Properties"]["SecurityGroupIngress"]
    assert (ingress["FromPort"], ingress["ToPort"]) == (443, 443)
    assert ingress["SourceSecurityGroupId"] == {"Fn::Select": [0, {"Ref": "TrainSecurityGroupIds"}]}
    repository = json.dumps({"Fn::GetAtt": ["TrainImageRepository", "Arn"]})
    expected = {
        "ecr.api": {("ecr:GetAuthorizationToken", json.dumps("*"))}
        | {
            (a, repository)
            for a in (
                "ecr:BatchCheckLayerAvailability",
                "ecr:GetDownloadUrlForLayer",
                "ecr:BatchGetImage",
            )
        },
        "logs": {
            (a, json.dumps({"Fn::GetAtt": ["TrainTaskLogGroup", "Arn"]}))
            for a in ("logs:CreateLogStream", "logs:PutLogEvents")
        },
    }
    expected["ecr.dkr"] = expected["ecr.api"]
    for service in ENGINE_ENDPOINTS:
        props = endpoints[service]
        assert props["VpcEndpointType"] == "Interface"
        assert props["PrivateDnsEnabled"] is True
        assert props["SubnetIds"] == {"Ref": "TrainSubnetIds"}
        assert props["SecurityGroupIds"] == [{"Ref": "TrainEngineEndpointSecurityGroup"}]
        assert _grants(props) == expected[service], service
