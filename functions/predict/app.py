"""Predict Lambda: POST /api/predict-genre, GET /api/health, GET /api/model.

No Powertools Tracer here: importing the X-Ray SDK was the largest single item of the cold start,
and the function's active tracing (template ``Tracing: Active``) already records each
invocation's segment without it.
"""

import warnings
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.utilities.typing import LambdaContext

from genre_model.serve import handler, snapstart

logger = Logger()
metrics = Metrics()
# Most requests add no custom metric; an empty flush is expected, not worth a warning per call.
warnings.filterwarnings("ignore", message="No application metrics to publish")
copy_config_to_registered_loggers(source_logger=logger, include={"genre_model"})
snapstart.prepare()  # SnapStart: the model goes into the snapshot, a restore re-checks it


@logger.inject_lambda_context
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return handler.handle(event, context)
