"""Train Lambda: the nightly state machine's small-store engine, and its store measurer.

``{"action": "measure"}`` answers the store's size (the state machine's Choice picks the engine
from it); any other event (``{"action": "train"}``, a scheduled event, a manual invoke) trains and
publishes one version.
"""

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit, single_metric
from aws_lambda_powertools.utilities.typing import LambdaContext

from genre_model.config import settings
from genre_model.store.protocol import PromotionRefused
from genre_model.train.measure import measure_store
from genre_model.train.pipeline import run_training

logger = Logger()
tracer = Tracer()
metrics = Metrics()


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    """Raise on failure so the state machine's retries (or Lambda's and the DLQ) apply."""
    if event.get("action") == "measure":
        size = measure_store(settings().database)
        logger.info("Store measured", extra={"store": size._asdict()})
        # the growth toward the state machine's thresholds (LambdaMaxCustomers/NewLines)
        metrics.add_metric(name="StoreCustomers", unit=MetricUnit.Count, value=size.customers)
        metrics.add_metric(name="StoreNewLines", unit=MetricUnit.Count, value=size.new_lines)
        return size._asdict()
    try:
        outcome = run_training(settings(), progress=logger.info)
    except PromotionRefused as exc:  # written, not promoted: which rule, in the log and a metric
        with single_metric(name="ModelRefused", unit=MetricUnit.Count, value=1) as refused:
            refused.add_dimension(name="Reason", value=exc.code)
        logger.error(
            f"Model refused: {exc.reason}",
            extra={"version": exc.version, "reason": exc.reason, "reason_code": exc.code},
        )
        raise
    except Exception as exc:
        metrics.add_metric(name="TrainingFailed", unit=MetricUnit.Count, value=1)
        logger.error("Training failed", extra={"error": str(exc), "error_type": type(exc).__name__})
        raise
    summary = outcome.summary()
    logger.info("Training report", extra={"report": outcome.report, "summary": summary})
    metrics.add_metric(
        name="ModelAccuracy", unit=MetricUnit.Percent, value=summary["accuracy"] * 100
    )
    metrics.add_metric(
        name="BaselineAccuracy", unit=MetricUnit.Percent, value=summary["baseline_accuracy"] * 100
    )
    metrics.add_metric(name="ModelPromoted", unit=MetricUnit.Count, value=1)
    metrics.add_metric(
        name="TrainingSeconds", unit=MetricUnit.Seconds, value=sum(summary["seconds"].values())
    )
    return summary
