"""The operations dashboard and its alarms are wired to what the code really emits.

The template is read as CloudFormation will create it (SAM translator, one tier at a time). Each
custom metric a widget or an alarm names (namespace, name, dimensions) must be one the code's EMF
output contains when the train and predict handlers run here: a renamed metric, a dimension
added in the code or a typo in the template fails. Each AWS metric must name a resource of the
stack, and each log query a message the code logs.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
from pathlib import Path
from typing import Any

import pytest

from genre_model.contract import is_version
from genre_model.store.protocol import PromotionRefused
from genre_model.store.registry import REFUSAL_CODES
from tests.helpers import (
    good_answer,
    load_handler,
    moto_bucket,
    require,
    train_context,
    train_model,
)
from tests.sam_translate import available, of_type, parameters, translate

TIERS = ("REST", "HTTP", "URL")
BUCKET = "genre-model-dashboard-test"
EVENT = json.loads(
    (Path(__file__).resolve().parents[2] / "events" / "scheduled-event.json").read_text()
)
SERVICE = "<service>"  # the service dimension's value: POWERTOOLS_SERVICE_NAME, checked apart
AWS_METRICS = {
    "AWS/Lambda": {"Duration", "Errors", "Throttles", "Url4xxCount", "Url5xxCount"},
    "AWS/ApiGateway": {"4XXError", "5XXError", "4xx", "5xx", "Latency"},
    "AWS/SQS": {"ApproximateNumberOfMessagesVisible"},
}
Metric = tuple[str, str, frozenset[tuple[str, str]]]


# --------------------------------------------------------------------------- what the code emits


def _emf(text: str, service: str) -> set[Metric]:
    """(namespace, name, dimensions) of every EMF record in ``text``."""
    found = set()
    for line in text.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if not isinstance(record, dict) or "_aws" not in record:
            continue
        for directive in record["_aws"]["CloudWatchMetrics"]:
            for keys in directive["Dimensions"]:
                dims = {k: SERVICE if record[k] == service else record[k] for k in keys}
                for metric in directive["Metrics"]:
                    found.add((directive["Namespace"], metric["Name"], frozenset(dims.items())))
    return found


@pytest.fixture(scope="module")
def template_env(sam_translator: None) -> dict[str, str]:
    """The namespace and service name the functions get (Globals of the translated template)."""
    cfn = translate()
    env = cfn["Resources"]["PredictFunction"]["Properties"]["Environment"]["Variables"]
    train = cfn["Resources"]["TrainFunction"]["Properties"]["Environment"]["Variables"]
    names = ("POWERTOOLS_METRICS_NAMESPACE", "POWERTOOLS_SERVICE_NAME")
    assert all(env[n] == train[n] for n in names)
    return {n: env[n] for n in names}


@pytest.fixture(scope="module")
def sam_translator() -> None:
    require(*available())


@pytest.fixture(scope="module")
def emitted(
    template_env: dict[str, str],
    synthetic_sqlite: Path,
    predict_sqlite: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[set[Metric], str, list[str]]:
    """Run the handlers' metric paths under the template's namespace: a training run that
    promotes, one that fails, one refusal per reason, a model refused for its integrity and a
    predict container past its first drift figure. The metrics, the captured stdout and the
    messages of its JSON log lines."""
    from genre_model.config import settings
    from genre_model.serve import api, drift

    out = io.StringIO()  # what CloudWatch receives: EMF records and JSON log lines
    try:
        with pytest.MonkeyPatch.context() as mp, contextlib.redirect_stdout(out):
            for name in ("MODELO_GENERO_ENTRENADO", "MODEL_PREFIX", "DB_SECRET_ARN"):
                mp.delenv(name, raising=False)
            for name, value in {
                **template_env,
                "POWERTOOLS_SERVICE_NAME": "genre-dashboard-test",  # a fresh logger on ``out``
                "AWS_ACCESS_KEY_ID": "testing",
                "AWS_SECRET_ACCESS_KEY": "testing",
                "AWS_DEFAULT_REGION": "us-east-1",
                "POWERTOOLS_TRACE_DISABLED": "true",
                "RF_N_ESTIMATORS": "10",
            }.items():
                mp.setenv(name, value)
            settings.cache_clear()
            with moto_bucket(BUCKET):
                mp.setenv("MODEL_BUCKET", BUCKET)
                mp.setenv("CHINOOK_SQLITE_PATH", str(synthetic_sqlite))
                train = load_handler("train")
                train.lambda_handler(EVENT, train_context("dashboard-promoted"))
                for code in REFUSAL_CODES:
                    refusal = PromotionRefused("20261126T020000Z-1a2b3c", f"rule {code}", code)

                    def refuse(*_a: Any, _e: PromotionRefused = refusal, **_k: Any) -> Any:
                        raise _e

                    mp.setattr(train, "run_training", refuse)
                    with pytest.raises(PromotionRefused):
                        train.lambda_handler(EVENT, train_context(f"dashboard-{code}"))
                train = load_handler("train")
                mp.setenv("CHINOOK_SQLITE_PATH", str(synthetic_sqlite.with_name("gone.sqlite")))
                settings.cache_clear()
                with pytest.raises(Exception, match="not found"):
                    train.lambda_handler(EVENT, train_context("dashboard-failed"))
            mp.delenv("MODEL_BUCKET")
            model = train_model(tmp_path_factory.mktemp("dash"), predict_sqlite, "spec", 42)
            mp.setenv("MODELO_GENERO_ENTRENADO", str(model.path))
            mp.setattr(drift, "INTERVAL_SECONDS", 0.0)
            settings.cache_clear()
            api.reset()
            drift.reset()
            predict = load_handler("predict")
            for _ in range(drift.MIN_ROWS):
                assert good_answer(predict).status == 200
            api.reset()
            predictor = model.version_dir / "predictor.joblib"
            predictor.write_bytes(predictor.read_bytes()[:-1] + b"\0")  # hash mismatch
            assert good_answer(predict).status == 503
    finally:
        settings.cache_clear()
        api.reset()
        drift.reset()
    records = [r for r in map(_json, out.getvalue().splitlines()) if isinstance(r, dict)]
    messages = [r["message"] for r in records if isinstance(r.get("message"), str)]
    return _emf(out.getvalue(), "genre-dashboard-test"), out.getvalue(), messages


# --------------------------------------------------------------------------- what the template says

_SUB = re.compile(r"\$\{([^}]+)\}")
PSEUDO = {"AWS::Region": "us-east-1", "AWS::StackName": "stack", "AWS::Partition": "aws"}


def _sub(text: str, cfn: dict[str, Any], values: dict[str, Any]) -> str:
    """``Fn::Sub`` with each resource reference as ``<Name>`` / ``<Name.Attr>`` (it must exist)."""

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name in PSEUDO:
            return PSEUDO[name]
        if name in values:
            return str(values[name])
        resource = name.partition(".")[0]
        assert resource in cfn["Resources"], f"${{{name}}} names no resource of the stack"
        return f"<{name}>"

    return _SUB.sub(value, text)


def _string(node: Any, cfn: dict[str, Any], values: dict[str, Any]) -> str:
    if isinstance(node, str):
        return node
    ((key, arg),) = node.items()
    if key == "Fn::Sub":
        return _sub(arg, cfn, values)
    if key == "Fn::Join":
        return arg[0].join(_string(part, cfn, values) for part in arg[1])
    raise AssertionError(f"unexpected {key} in the dashboard body")


@pytest.fixture(scope="module", params=TIERS)
def tier(request, sam_translator) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """(tier, translated template, dashboard body as JSON)."""
    overrides = {"ApiType": request.param}
    cfn = translate(overrides)
    ((_, dashboard),) = of_type(cfn, "AWS::CloudWatch::Dashboard").items()
    body = _string(dashboard["Properties"]["DashboardBody"], cfn, parameters(overrides))
    return request.param, cfn, json.loads(body)


def _widget_metrics(body: dict[str, Any]) -> list[tuple[str, str, dict[str, str], dict]]:
    """Every metric line of every widget: namespace, name, dimensions, options."""
    lines = []
    for widget in body["widgets"]:
        for line in widget["properties"].get("metrics", []):
            options = line[-1] if isinstance(line[-1], dict) else {}
            names = [x for x in line if not isinstance(x, dict)]
            assert len(names) % 2 == 0, line
            assert "..." not in names, line  # no shorthand: each line says all it means
            dims = dict(zip(names[2::2], names[3::2], strict=True))
            lines.append((names[0], names[1], dims, options))
    return lines


def _alarm_metric(alarm: dict[str, Any]) -> tuple[str, str, dict[str, str]]:
    props = alarm["Properties"]
    return (
        props["Namespace"],
        props["MetricName"],
        {d["Name"]: d["Value"] for d in props["Dimensions"]},
    )


def _names(env: dict[str, str]) -> tuple[str, str]:
    return env["POWERTOOLS_METRICS_NAMESPACE"], env["POWERTOOLS_SERVICE_NAME"]


def _custom(dims: dict[str, str], service: str) -> frozenset[tuple[str, str]]:
    assert dims.get("service") == service, f"service dimension {dims.get('service')!r}"
    return frozenset({**dims, "service": SERVICE}.items())


# --------------------------------------------------------------------------- the checks


def test_every_custom_widget_metric_is_emitted_by_the_code(tier, template_env, emitted):
    _, _, body = tier
    metrics, _, _ = emitted
    namespace, service = _names(template_env)
    custom = [(ns, name, dims) for ns, name, dims, _ in _widget_metrics(body) if ns == namespace]
    assert custom, "the dashboard shows none of the code's metrics"
    for ns, name, dims in custom:
        assert (ns, name, _custom(dims, service)) in metrics, f"{name} {dims} is never emitted"
    assert all(ns in AWS_METRICS or ns == namespace for ns, *_ in _widget_metrics(body))


def test_every_refusal_reason_has_its_line(tier, emitted):
    _, _, body = tier
    reasons = {d["Reason"] for _, name, d, _ in _widget_metrics(body) if name == "ModelRefused"}
    assert reasons == set(REFUSAL_CODES)


def test_new_alarms_watch_emitted_metrics(tier, template_env, emitted):
    _, cfn, _ = tier
    metrics, _, _ = emitted
    namespace, service = _names(template_env)
    for name in ("DriftAlarm", "StaleModelAlarm"):
        ns, metric, dims = _alarm_metric(cfn["Resources"][name])
        assert ns == namespace
        assert (ns, metric, _custom(dims, service)) in metrics, name
    stale = cfn["Resources"]["StaleModelAlarm"]["Properties"]
    assert stale["TreatMissingData"] == "breaching"
    assert stale["Period"] * stale["EvaluationPeriods"] == 48 * 3600
    assert stale["DatapointsToAlarm"] == stale["EvaluationPeriods"]  # every hour without one
    drift_alarm = cfn["Resources"]["DriftAlarm"]["Properties"]
    assert drift_alarm["Period"] * drift_alarm["EvaluationPeriods"] == 15 * 60


def test_drift_threshold_is_the_documented_one(tier):
    from genre_model.serve import drift

    _, cfn, body = tier
    threshold = cfn["Resources"]["DriftAlarm"]["Properties"]["Threshold"]
    (widget,) = [w for w in body["widgets"] if "DriftPSI" in json.dumps(w)]
    assert widget["properties"]["annotations"]["horizontal"][0]["value"] == threshold
    assert f"above {threshold}" in drift.__doc__
    assert (
        f"PSI > {threshold}" in (Path(__file__).parents[2] / "docs" / "operations.md").read_text()
    )


def test_every_aws_metric_names_a_resource_of_the_stack(tier):
    _name, cfn, body = tier
    resources = cfn["Resources"]
    (alias,) = of_type(cfn, "AWS::Lambda::Alias").values()
    functions = {f"<{n}>" for n in of_type(cfn, "AWS::Lambda::Function")}
    for ns, metric, dims, _ in _widget_metrics(body):
        if ns not in AWS_METRICS:
            continue
        assert metric in AWS_METRICS[ns], (ns, metric)
        if ns == "AWS/Lambda":
            assert dims["FunctionName"] in functions
            if "Resource" in dims:
                assert dims["Resource"] == f"{dims['FunctionName']}:{alias['Properties']['Name']}"
        elif ns == "AWS/SQS":
            queue = dims["QueueName"].strip("<>").partition(".")[0]
            assert resources[queue]["Type"] == "AWS::SQS::Queue"
        elif "ApiId" in dims:
            assert resources[dims["ApiId"].strip("<>")]["Type"] == "AWS::ApiGatewayV2::Api"
        else:
            (api,) = of_type(cfn, "AWS::ApiGateway::RestApi").values()
            assert api["Properties"]["Name"] == {"Fn::Sub": "${AWS::StackName}-predict"}
            assert dims == {"ApiName": "stack-predict", "Stage": parameters()["StageName"]}


def test_the_api_widget_counts_what_the_5xx_alarm_watches(tier):
    _, cfn, body = tier
    ns, metric, _dims = _alarm_metric(cfn["Resources"]["Predict5xxAlarm"])
    lines = {(n, m) for n, m, _, _ in _widget_metrics(body)}
    assert (ns, metric) in lines


def test_dashboard_covers_what_on_call_needs(tier):
    _, _, body = tier
    lines = _widget_metrics(body)
    names = {m for _, m, _, _ in lines}
    stats = {o.get("stat") for _, m, d, o in lines if m == "Duration" and "Resource" in d}
    assert {"p50", "p99"} <= stats  # predict latency
    assert {
        "Throttles",
        "DriftPSI",
        "ModelAccuracy",
        "BaselineAccuracy",
        "TrainingSeconds",
    } <= names
    assert {"TrainingFailed", "ModelRefused", "ModelPromoted"} <= names
    assert "ApproximateNumberOfMessagesVisible" in names  # DLQ depth
    assert names & {"4XXError", "4xx", "Url4xxCount"}
    assert names & {"5XXError", "5xx", "Url5xxCount"}
    alarms = next(w for w in body["widgets"] if w["type"] == "alarm")["properties"]["alarms"]
    assert {"<DriftAlarm.Arn>", "<StaleModelAlarm.Arn>"} <= set(alarms)
    for widget in body["widgets"]:  # no overlap on the 24-column grid
        assert widget["x"] + widget["width"] <= 24


def test_log_widgets_query_messages_the_code_logs(tier, emitted):
    _, _cfn, body = tier
    _, stdout, messages = emitted
    queries = {
        w["properties"]["query"].split("'")[1]: w["properties"]["query"]
        for w in body["widgets"]
        if w["type"] == "log"
    }
    served = queries["/aws/lambda/<PredictFunction>"]
    pattern = re.search(r"filter message like /(.+?)/", served).group(1)
    parse = re.search(r"parse message '(.+?)\*' as version", served).group(1)
    loads = [m for m in messages if re.match(pattern, m)]
    assert loads
    assert all(m.startswith(parse) for m in loads)
    assert all(is_version(m[len(parse) :]) for m in loads)
    trained = queries["/aws/lambda/<TrainFunction>"]
    message = re.search(r"filter message = '(.+?)'", trained).group(1)
    fields = set(re.findall(r"summary\.(\w+)", trained))
    reports = [
        r
        for r in map(_json, stdout.splitlines())
        if isinstance(r, dict) and r.get("message") == message
    ]
    assert reports, f"the train handler logs no {message!r} record"
    assert fields <= set(reports[0]["summary"])
    for code in REFUSAL_CODES:  # the refusal's reason is in its log line
        assert any(f"rule {code}" in line and code in line for line in stdout.splitlines())


def _json(line: str) -> Any:
    try:
        return json.loads(line)
    except ValueError:
        return None
