"""Predict Lambda: POST /api/predict-genre, GET /api/health, GET /api/model."""

import warnings

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.utilities.typing import LambdaContext

from genre_model import api

logger = Logger()
tracer = Tracer()
metrics = Metrics()
# Most requests add no custom metric; an empty flush is expected, not worth a warning per call.
warnings.filterwarnings("ignore", message="No application metrics to publish")
copy_config_to_registered_loggers(source_logger=logger, include={"genre_model"})


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return api.handle(event, context)
