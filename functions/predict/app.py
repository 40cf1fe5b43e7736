"""Predict Lambda: POST /api/predict-genre (and /batch), GET /api/health, GET /api/model.

No Powertools here: its Logger and Metrics (and the X-Ray SDK of its Tracer) were the largest
items of the cold start after numpy; ``serve.telemetry`` writes the same JSON log lines and EMF
metrics, and the function's active tracing (template ``Tracing: Active``) records each
invocation's segment without an SDK.
"""

from typing import Any

from genre_model.config import telemetry as telemetry_settings
from genre_model.serve import handler, snapstart, telemetry

telemetry.configure(telemetry_settings())
snapstart.prepare()  # SnapStart: the model goes into the snapshot, a restore re-checks it


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    with telemetry.invocation(context):
        return handler.handle(event, context)
