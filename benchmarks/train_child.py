"""One training run on a MariaDB database, in a fresh process (so its peak RSS is its own).

Runs ``pipeline.run_training`` exactly as the train Lambda does (MySQL source, moto S3 bucket),
with the source and the fits wrapped by timers so the report can split its phases:
SQL aggregation (query + fetch), features, hold-out fit, CV, final fit, the rest of the
evaluation, export (pickles), upload + verification + promotion. Prints one JSON line.
"""

from __future__ import annotations

import json
import sys
import time
from collections import defaultdict

from benchmarks.common import keep_step, peak_rss_mib
from genre_model.config import load_settings
from genre_model.train import fit as training
from genre_model.train import pipeline
from genre_model.train.pipeline import run_training


def main(database: str, bucket: str) -> dict:
    import os

    settings = load_settings(
        {
            "DB_NAME": database,
            "MODEL_BUCKET": bucket,
            "RF_N_JOBS": os.environ.get("RF_N_JOBS", "-1"),
            "MIN_CUSTOMERS": "1",
            # the scale bench's modes and read timeout; unset: the train Lambda's defaults
            **{
                k: os.environ[k]
                for k in ("TRAIN_AGGREGATES", "TRAIN_SAMPLE_ROWS", "DB_READ_TIMEOUT")
                if k in os.environ
            },
        }
    )
    spent: dict[str, float] = defaultdict(float)
    summaries = pipeline.summaries

    def timed_summaries(*args, **kwargs):  # the SQL: full query, or fold + read of the tables
        rows = summaries(*args, **kwargs)  # streamed as in the Lambda: only the wait is timed
        while True:
            started = time.perf_counter()
            try:
                row = next(rows)
            except StopIteration:
                return
            finally:
                spent["sql_aggregation"] += time.perf_counter() - started
            yield row

    fit = training.RandomForestClassifier.fit
    cross_validate = training.cross_validate
    in_cv = [False]

    def timed_fit(self, *args, **kwargs):
        started = time.perf_counter()
        try:
            return fit(self, *args, **kwargs)
        finally:
            if not in_cv[0]:
                spent["fits"] += time.perf_counter() - started
                spent["fit_count"] += 1

    def timed_cv(*args, **kwargs):
        started = time.perf_counter()
        in_cv[0] = True
        try:
            return cross_validate(*args, **kwargs)
        finally:
            in_cv[0] = False
            spent["cross_validation"] += time.perf_counter() - started

    training.RandomForestClassifier.fit = timed_fit
    training.cross_validate = timed_cv
    pipeline.summaries = timed_summaries
    outcome = run_training(settings, progress=lambda _m: None)
    t = outcome.timings
    report = outcome.report
    phases = {
        "sql_aggregation": spent["sql_aggregation"],
        "features": t["query_and_features"] - spent["sql_aggregation"],
        "fit (hold-out + final forest)": spent["fits"],
        "cross_validation": spent["cross_validation"],
        "other evaluation (predict, metrics)": t["fit_and_evaluate"]
        - spent["fits"]
        - spent["cross_validation"],
        "export": t["export"],
        "upload_verify_promote": t["upload_and_promote"],
    }
    return {
        "phases_s": phases,
        "total_s": sum(t.values()),
        "peak_rss_mib": peak_rss_mib(),
        "report_customers": report["customers"],
        "cross_validation": {
            k: report["cross_validation"][k] for k in ("folds", "customers", "subsample")
        },
        "holdout_accuracy": report["holdout"]["model"]["accuracy"],
        "holdout_macro_f1": report["holdout"]["model"]["macro_f1"],
        "baseline_accuracy": report["holdout"]["baseline"]["accuracy"],
        "cv_accuracy": report["cross_validation"]["model"]["accuracy"]["mean"],
        "cv_baseline_accuracy": report["cross_validation"]["baseline"]["accuracy"]["mean"],
        "n_jobs": settings.forest.n_jobs,
        "aggregates": settings.aggregates,
        "sample": report["customers"].get("sample"),
        "fits_timed": int(spent["fit_count"]),
        "version": outcome.version,
    }


if __name__ == "__main__":
    out = main(sys.argv[1], sys.argv[2])
    keep_step(sys.argv[1], "nightly" if out["aggregates"] == "incremental" else "full", out)
    print(json.dumps(out))
