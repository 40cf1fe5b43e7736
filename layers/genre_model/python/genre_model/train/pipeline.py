"""The training run end to end: read Chinook, label, fit, evaluate, write a version, promote it.

Shared by the train Lambda and the CLI so both behave identically.
"""

from __future__ import annotations

import io
import logging
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import joblib
import numpy as np

from genre_model.config import Settings
from genre_model.contract import (
    COUNTRY_FEATURE,
    CUSTOMERS_FILE,
    METRICS_FILE,
    MODEL_FILE,
    POINTER,
    PREDICTOR_FILE,
    REPORT_FILE,
    REPORT_PICTURE,
    Manifest,
    pack_arrays,
)
from genre_model.serve.model_cache import load_version
from genre_model.store.local import LocalModelPath
from genre_model.store.protocol import ArtifactError, to_json
from genre_model.store.registry import Registry, new_version
from genre_model.store.target import target_registry
from genre_model.train import TrainingError
from genre_model.train.aggregates import summaries
from genre_model.train.export import export_forest
from genre_model.train.features import Dataset, build_dataset, describe_skipped
from genre_model.train.fit import TrainingResult, train
from genre_model.train.report import HISTORY_VERSIONS, HistoryPoint, build_report, render_png
from genre_model.train.sources import ChinookSource, open_source

logger = logging.getLogger(__name__)


@dataclass
class TrainOutcome:
    version: str
    location: str
    promoted: bool
    report: dict[str, Any]
    manifest: Manifest
    reason: str = ""
    timings: dict[str, float] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        holdout, cv = self.report["holdout"], self.report["cross_validation"]
        return {
            "version": self.version,
            "location": self.location,
            "promoted": self.promoted,
            "reason": self.reason,
            "accuracy": holdout["model"]["accuracy"],
            "baseline_accuracy": holdout["baseline"]["accuracy"],
            "cv_accuracy": cv["model"]["accuracy"]["mean"],
            "cv_baseline_accuracy": cv["baseline"]["accuracy"]["mean"],
            "beats_baseline": self.report["beats_baseline"],
            "labelled_customers": self.report["customers"]["labelled"],
            "seconds": self.timings,
        }


def _joblib_bytes(value: Any) -> bytes:
    buffer = io.BytesIO()
    joblib.dump(value, buffer)
    return buffer.getvalue()


def customer_snapshot(dataset: Dataset) -> dict[str, Any]:
    """Every customer's features, so predict can answer for a ``customer_id``."""
    frame = dataset.summaries.sort_index()
    columns = [c for c in dataset.feature_columns if c != COUNTRY_FEATURE]
    return {
        "feature_columns": columns,
        "countries": frame["country"].astype(str).tolist(),
        "arrays": pack_arrays(
            {
                "customer_id": frame.index.to_numpy(dtype=np.int64),
                "features": np.ascontiguousarray(frame[columns].to_numpy(dtype=np.float64)),
            }
        ),
    }


def artifact_files(
    result: TrainingResult, dataset: Dataset, version: str, report: dict[str, Any] | None = None
) -> dict[str, bytes]:
    """The version's files; ``model.joblib`` is the original container system's pickle, and
    ``report`` (``report.build_report``) gives ``report.json`` and ``report.png``.

    That system reads ``model``, turns ``model.predict`` codes into genres with
    ``label_encoders['genre']`` and names ``predict_proba`` columns in the encoder's class order,
    so the forest is the one fitted on codes; ``genre_classes[code]`` names the same genres.
    """
    genres = [str(c) for c in result.genre_encoder.classes_]
    return {
        MODEL_FILE: _joblib_bytes(
            {
                "model": result.model,
                "label_encoders": {"genre": result.genre_encoder},
                "feature_columns": list(dataset.feature_columns),
                "genre_classes": genres,
                "countries": list(dataset.countries),
                "version": version,
                "metrics": result.report,
            }
        ),
        PREDICTOR_FILE: _joblib_bytes(
            export_forest(
                result.model, genres, dataset.feature_columns, dataset.countries, dataset.X
            )
        ),
        CUSTOMERS_FILE: _joblib_bytes(customer_snapshot(dataset)),
        METRICS_FILE: to_json(result.report),
    } | (
        {} if report is None else {REPORT_FILE: to_json(report), REPORT_PICTURE: render_png(report)}
    )


def history(registry: Registry) -> list[HistoryPoint]:
    """The last versions' hold-out accuracy and baseline, oldest first (the report's history)."""
    return [
        HistoryPoint(v.version, v.accuracy, v.baseline_accuracy)
        for v in registry.versions(last=HISTORY_VERSIONS - 1)
        if v.accuracy is not None and v.baseline_accuracy is not None
    ]


def run_manifest(
    version: str, result: TrainingResult, dataset: Dataset, settings: Settings, source: str
) -> Manifest:
    """The version's manifest, less its files (``Registry.write_version`` lists those)."""
    import pandas as pd
    import sklearn

    report = result.report
    holdout, cv = report["holdout"], report["cross_validation"]
    return Manifest(
        version=version,
        created=datetime.now(UTC).isoformat(timespec="seconds"),
        source=source,
        feature_set=settings.feature_set,
        feature_columns=dataset.feature_columns,
        classes=tuple(report["classes"]),
        countries=dataset.countries,
        rows={
            "customers_read": report["customers"]["read"],
            "labelled": report["customers"]["labelled"],
            "train": report["customers"]["train"],
            "test": report["customers"]["test"],
            "snapshot_customers": len(dataset.summaries),
            **{f"skipped_{rule}": n for rule, n in report["skipped"].items()},
        },
        libraries={
            "python": platform.python_version(),
            "scikit-learn": sklearn.__version__,
            "numpy": np.__version__,
            "pandas": pd.__version__,
            "joblib": joblib.__version__,
        },
        metrics={
            "holdout": {
                "model_accuracy": holdout["model"]["accuracy"],
                "model_macro_f1": holdout["model"]["macro_f1"],
                "baseline_accuracy": holdout["baseline"]["accuracy"],
                "baseline_macro_f1": holdout["baseline"]["macro_f1"],
                "baseline_genre": holdout["baseline_genre"],
                "beats_baseline": holdout["beats_baseline"],
            },
            "cross_validation": {
                "folds": cv["folds"],
                "repeats": cv["repeats"],
                "estimates": cv["estimates"],
                "model_accuracy": cv["model"]["accuracy"]["mean"],
                "model_macro_f1": cv["model"]["macro_f1"]["mean"],
                "baseline_accuracy": cv["baseline"]["accuracy"]["mean"],
                "baseline_macro_f1": cv["baseline"]["macro_f1"]["mean"],
                "beats_baseline": cv["beats_baseline"],
            },
            "beats_baseline": report["beats_baseline"],
            "beats_baseline_decided_on": report["beats_baseline_decided_on"],
            "verdict": report["verdict"],
        },
    )


def preflight(registry: Registry, local: LocalModelPath | None) -> None:
    """Fail before the work when the target cannot take a version: a FIFO or a directory at the
    model path, no such bucket, no credentials, a dead endpoint."""
    if local is not None:
        local.check()
    try:
        registry.store.get_tagged(registry.key(POINTER))
    except OSError as exc:
        url = registry.store.url(registry.key(POINTER))
        raise ArtifactError(f"cannot read {url}: {exc.strerror or exc}") from None


def run_training(
    settings: Settings,
    source: ChinookSource | None = None,
    registry: tuple[Registry, LocalModelPath | None] | None = None,
    progress: Callable[[str], None] = logger.info,
) -> TrainOutcome:
    """Train and publish one version; raises ``PromotionRefused`` after writing a refused one."""
    timings: dict[str, float] = {}
    started = time.perf_counter()

    def phase(name: str) -> None:
        nonlocal started
        now = time.perf_counter()
        timings[name] = round(now - started, 3)
        started = now

    source = source or open_source(settings.database)
    registry_, local = registry or target_registry(settings)
    preflight(registry_, local)
    progress(f"Reading customer summaries from {source.description} ({settings.aggregates})")
    read_at = datetime.now(UTC).isoformat(timespec="seconds")
    dataset = build_dataset(summaries(source, settings.aggregates), settings.feature_set)
    phase("query_and_features")
    progress(f"Training on {len(dataset.customers)} labelled customers")
    try:
        result = train(dataset, settings.forest, settings.sample_rows)
    except TrainingError as exc:
        if any(dataset.skipped.values()):
            left_out = describe_skipped(dataset.skipped)
            raise TrainingError(f"{exc} (data rules left out {left_out})") from None
        raise
    result.report["skipped"] = {
        **dataset.skipped,
        "customers_in_rare_genres": sum(dataset.dropped_genres.values()),
    }
    phase("fit_and_evaluate")
    version = new_version()
    draft = run_manifest(version, result, dataset, settings, source.description)
    watermark = {
        "source": source.description,
        "read_at": read_at,
        "customers_read": dataset.customers_read,
    }
    report = build_report(version, draft.created, result.report, watermark, history(registry_))
    files = artifact_files(result, dataset, version, report)
    phase("export")
    manifest = registry_.write_version(draft, files)
    location = registry_.store.url(registry_.key(version))
    registry_.check_promotion(manifest, settings.min_customers)
    try:
        # loaded as predict loads it first; a local model path switches inside the pointer's lock
        registry_.promote(version, validate=load_version)
    except ArtifactError as exc:  # written but not intact, or not publishable: never point at it
        raise ArtifactError(f"version {version} not published: {exc}") from None
    phase("upload_and_promote")
    if local is not None:
        location = str(local.path)
    return TrainOutcome(version, location, True, result.report, manifest, timings=timings)
