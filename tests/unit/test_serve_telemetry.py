"""serve.telemetry: Powertools' log fields and an EMF metric line, without Powertools."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest

from devtools.lambda_context import lambda_context
from genre_model.config import Telemetry, telemetry
from genre_model.serve import telemetry as tm


@pytest.fixture(autouse=True)
def configured() -> Iterator[None]:
    """Telemetry configured for the test, the ``genre_model`` logger as it was afterwards (other
    tests of the worker read its records through the root logger)."""
    logger = logging.getLogger(tm.LOGGER)
    level, propagate = logger.level, logger.propagate
    tm.configure(Telemetry(service="genre-prediction", namespace="GenrePrediction"))
    yield
    tm.flush()
    for handler in [h for h in logger.handlers if isinstance(h, tm.Stdout)]:
        logger.removeHandler(handler)
    logger.propagate = propagate
    logger.setLevel(level)  # setLevel, not an assignment: it clears the loggers' level cache


def lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def test_a_log_line_has_powertools_fields_and_the_invocation(capsys) -> None:
    log = logging.getLogger("genre_model.serve.somewhere")
    with tm.invocation(lambda_context(request_id="req-7")):
        log.warning("Unknown country %r", "Atlantis")
    (line,) = lines(capsys.readouterr().out)
    assert line["level"] == "WARNING"
    assert line["message"] == "Unknown country 'Atlantis'"
    assert line["service"] == "genre-prediction"
    assert line["function_request_id"] == "req-7"
    assert line["location"].startswith("test_a_log_line_has_powertools_fields_and_the_invocation:")
    assert {"timestamp", "cold_start", "function_name", "function_arn"} <= set(line)


def test_an_exception_is_one_line_with_its_name(capsys) -> None:
    try:
        raise KeyError("k")
    except KeyError:
        logging.getLogger("genre_model.x").exception("boom")
    (line,) = lines(capsys.readouterr().out)
    assert line["exception_name"] == "KeyError"
    assert "Traceback" in line["exception"]


def test_metrics_are_one_emf_line_when_the_invocation_ends(capsys) -> None:
    with tm.invocation(lambda_context()):
        tm.metric("ModelIntegrityFailure")
        tm.metric("ModelIntegrityFailure")
        assert capsys.readouterr().out == ""  # buffered until the end
    (blob,) = lines(capsys.readouterr().out)
    assert blob["ModelIntegrityFailure"] == [2.0]
    assert blob["service"] == "genre-prediction"
    (directive,) = blob["_aws"]["CloudWatchMetrics"]
    assert directive == {
        "Namespace": "GenrePrediction",
        "Dimensions": [["service"]],
        "Metrics": [{"Name": "ModelIntegrityFailure", "Unit": "Count"}],
    }
    with tm.invocation(lambda_context()):
        pass
    assert capsys.readouterr().out == ""  # nothing to send, nothing written


def test_without_a_namespace_a_metric_is_dropped_with_a_warning(capsys) -> None:
    tm.configure(Telemetry(service="s"))
    tm.metric("ModelIntegrityFailure")
    tm.flush()
    (line,) = lines(capsys.readouterr().out)
    assert "POWERTOOLS_METRICS_NAMESPACE" in line["message"]


@pytest.mark.parametrize(
    ("env", "level"),
    [
        ({}, "INFO"),
        ({"POWERTOOLS_LOG_LEVEL": "warning"}, "WARNING"),
        ({"AWS_LAMBDA_LOG_LEVEL": "WARN"}, "WARNING"),
        ({"AWS_LAMBDA_LOG_LEVEL": "FATAL"}, "CRITICAL"),
        ({"POWERTOOLS_LOG_LEVEL": "DEBUG", "AWS_LAMBDA_LOG_LEVEL": "ERROR"}, "ERROR"),
        ({"POWERTOOLS_LOG_LEVEL": "loud"}, "INFO"),
    ],
)
def test_the_level_is_read_as_powertools_reads_it(env, level) -> None:
    assert telemetry(env).log_level == level
