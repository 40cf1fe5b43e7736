"""A stand-in for the Lambda context object, for whatever calls a handler outside Lambda.

The local server, the tests and the benchmarks all call the real handlers; they need the fields
Powertools reads (name, version, ARN, memory, request id, log group/stream, time left), and one
shape of them, so that a handler sees the same context wherever it is called from.
"""

from __future__ import annotations

import uuid
from types import SimpleNamespace

ACCOUNT = "000000000000"  # a fake account id: nothing here talks to AWS with it
REGION = "us-east-1"
TIME_LEFT_MS = 30_000  # about the predict function's 29 s timeout: never the reason a call stops


def lambda_context(
    function_name: str = "PredictFunction",
    *,
    request_id: str | None = None,
    memory_mb: int = 512,
) -> SimpleNamespace:
    """A context for ``function_name``; a fresh request id unless ``request_id`` is given."""
    return SimpleNamespace(
        function_name=function_name,
        function_version="$LATEST",
        invoked_function_arn=f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{function_name}",
        memory_limit_in_mb=memory_mb,
        aws_request_id=request_id or str(uuid.uuid4()),
        log_group_name=f"/aws/lambda/{function_name}",
        log_stream_name="local",
        get_remaining_time_in_millis=lambda: TIME_LEFT_MS,
    )
