"""The predict function's log lines and metrics, without importing Powertools.

Powertools' Logger and Metrics cost ~25 ms of every cold start (they pull in jmespath, its
typing and botocore-style helpers) for two small jobs, done here with the standard library and
the same field names, so CloudWatch Logs Insights queries and metric filters written for
Powertools keep working:

- every ``genre_model.*`` record is one JSON line on stdout: ``level``, ``location``,
  ``message``, ``timestamp``, ``service``, and during an invocation ``cold_start``,
  ``function_name``, ``function_memory_size``, ``function_arn``, ``function_request_id``
  (plus ``exception``/``exception_name`` when one is attached);
- ``metric`` buffers a count that ``invocation`` flushes when the invocation ends, as one
  CloudWatch Embedded Metric Format line (namespace ``POWERTOOLS_METRICS_NAMESPACE``, dimension
  ``service``), which CloudWatch turns into the metric: no API call, no client.

The train function keeps Powertools (its cold start is not on a user's request).
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from genre_model.config import Telemetry

LOGGER = "genre_model"

_lock = threading.Lock()
_pending: dict[str, float] = {}  # metric name -> count since the last flush
_config = Telemetry()
_context: dict[str, Any] = {}  # the current invocation's fields, on every line
_cold = True


class JsonLines(logging.Formatter):
    """A record as one JSON object (Powertools Logger's fields)."""

    def format(self, record: logging.LogRecord) -> str:
        created = time.gmtime(record.created)
        line: dict[str, Any] = {
            "level": record.levelname,
            "location": f"{record.funcName}:{record.lineno}",
            "message": record.getMessage(),
            "timestamp": time.strftime("%Y-%m-%d %H:%M:%S", created)
            + f",{int(record.msecs):03d}+0000",
            "service": _config.service,
            **_context,
        }
        if record.exc_info and record.exc_info[0] is not None:
            line["exception_name"] = record.exc_info[0].__name__
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str, ensure_ascii=False)


class Stdout(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to the ``sys.stdout`` of the moment (a test's capture, Lambda's stream)."""

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stdout
        super().emit(record)


def configure(config: Telemetry) -> None:
    """JSON lines for the ``genre_model`` loggers at ``config.log_level`` (idempotent: a
    re-imported handler module does not add a second handler)."""
    global _config
    _config = config
    logger = logging.getLogger(LOGGER)
    logger.setLevel(config.log_level)
    logger.propagate = False  # Lambda's root handler would write each record a second time
    if not any(isinstance(h, Stdout) for h in logger.handlers):
        handler = Stdout()
        handler.setFormatter(JsonLines())
        logger.addHandler(handler)


def metric(name: str, value: float = 1) -> None:
    """Count ``value`` of ``name`` (unit Count), sent when the current invocation ends (from any
    thread: a model load may report while a request waits)."""
    with _lock:
        _pending[name] = _pending.get(name, 0) + value


def flush() -> None:
    """The buffered metrics as one EMF line on stdout; nothing when there are none."""
    with _lock:
        metrics = dict(_pending)
        _pending.clear()
    if not metrics:
        return
    if _config.namespace is None:
        logging.getLogger(LOGGER).warning(
            "Metrics %s dropped: POWERTOOLS_METRICS_NAMESPACE is not set", sorted(metrics)
        )
        return
    blob = {
        "_aws": {
            "Timestamp": int(time.time() * 1000),
            "CloudWatchMetrics": [
                {
                    "Namespace": _config.namespace,
                    "Dimensions": [["service"]],
                    "Metrics": [{"Name": name, "Unit": "Count"} for name in metrics],
                }
            ],
        },
        "service": _config.service,
        **{name: [float(value)] for name, value in metrics.items()},
    }
    sys.stdout.write(json.dumps(blob, separators=(",", ":")) + "\n")
    sys.stdout.flush()


@contextmanager
def invocation(context: Any) -> Iterator[None]:
    """One invocation: its Lambda context on every log line, its metrics flushed at the end."""
    global _cold
    _context.clear()
    _context.update(
        cold_start=_cold,
        function_name=getattr(context, "function_name", None),
        function_memory_size=getattr(context, "memory_limit_in_mb", None),
        function_arn=getattr(context, "invoked_function_arn", None),
        function_request_id=getattr(context, "aws_request_id", None),
    )
    _cold = False
    try:
        yield
    finally:
        flush()
        _context.clear()
