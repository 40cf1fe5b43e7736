"""Fit the random forest and measure it honestly, always next to the majority-class baseline.

Figures and the data they come from:
- hold-out: a stratified 80/20 split (random_state 42); model and baseline fitted on the 80 %,
  scored on the 20 % (accuracy, macro-F1, per-genre report, confusion matrix);
- cross-validation: stratified k-fold, k = min(5, smallest genre), on all labelled customers or,
  above ``CV_MAX_CUSTOMERS``, on a stratified subsample of that size (the report states which):
  five forests on a million customers would cost more than the rest of the run, and the
  spread between folds on 50,000 customers is already a fraction of a percentage point;
- the published model is then refit on ALL labelled customers; its feature importances are
  reported. A model that does not beat the baseline is still published, and the report says so.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.dummy import DummyClassifier
from sklearn.ensemble import RandomForestClassifier
from sklearn.metrics import accuracy_score, classification_report, confusion_matrix, f1_score
from sklearn.model_selection import StratifiedKFold, cross_validate, train_test_split

from genre_model.config import ForestSettings
from genre_model.features import Dataset

TEST_SIZE = 0.2
SPLIT_SEED = 42
MAX_FOLDS = 5
CV_MAX_CUSTOMERS = 50_000


class TrainingError(RuntimeError):
    """The data cannot train a model (too few customers or genres)."""


@dataclass(frozen=True)
class TrainingResult:
    model: RandomForestClassifier
    report: dict[str, Any]


def make_forest(forest: ForestSettings) -> RandomForestClassifier:
    return RandomForestClassifier(
        n_estimators=forest.n_estimators,
        max_depth=forest.max_depth,
        min_samples_split=forest.min_samples_split,
        random_state=forest.random_state,
        n_jobs=forest.n_jobs,
    )


def _scores(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    return {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "macro_f1": float(f1_score(y_true, y_pred, average="macro", zero_division=0)),
    }


def _verdict(model: dict[str, float], baseline: dict[str, float], where: str) -> str:
    gain = model["accuracy"] - baseline["accuracy"]
    if gain > 0:
        return (
            f"The model beats the majority-class baseline by {gain * 100:.1f} percentage points "
            f"of accuracy on {where} ({model['accuracy']:.1%} vs {baseline['accuracy']:.1%})."
        )
    return (
        f"The model does NOT beat the majority-class baseline on {where} "
        f"({model['accuracy']:.1%} vs {baseline['accuracy']:.1%} accuracy): predicting the most "
        "common genre for everybody is as good. More customers or more informative features "
        "are needed before trusting its predictions."
    )


def check_trainable(dataset: Dataset) -> tuple[int, int]:
    """Raise ``TrainingError`` unless a stratified split is possible; return (n, test size)."""
    n = len(dataset.customers)
    classes = dataset.customers["genre"].nunique()
    if classes < 2:
        raise TrainingError(f"need at least 2 genres with 2+ customers, found {classes}")
    n_test = max(math.ceil(n * TEST_SIZE), classes)
    if n - n_test < classes:
        raise TrainingError(f"too few customers ({n}) for a stratified split over {classes} genres")
    return n, n_test


def train(dataset: Dataset, forest: ForestSettings) -> TrainingResult:
    """Evaluate on a hold-out split and by cross-validation, then refit on everybody."""
    n, n_test = check_trainable(dataset)
    X, y = dataset.X, dataset.y
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=n_test, stratify=y, random_state=SPLIT_SEED
    )
    held_out = make_forest(forest).fit(X_train, y_train)
    baseline = DummyClassifier(strategy="most_frequent").fit(X_train, y_train)
    classes = sorted(set(y))
    predicted, predicted_base = held_out.predict(X_test), baseline.predict(X_test)
    holdout = {
        "model": _scores(y_test, predicted),
        "baseline": _scores(y_test, predicted_base),
        "baseline_genre": str(baseline.classes_[np.argmax(baseline.class_prior_)]),
        "classification_report": classification_report(
            y_test, predicted, labels=classes, output_dict=True, zero_division=0
        ),
        "confusion_matrix": {
            "labels": classes,
            "matrix": confusion_matrix(y_test, predicted, labels=classes).tolist(),
        },
    }

    X_cv, y_cv = X, y
    if n > CV_MAX_CUSTOMERS:
        X_cv, _, y_cv, _ = train_test_split(
            X, y, train_size=CV_MAX_CUSTOMERS, stratify=y, random_state=SPLIT_SEED
        )
    _, class_sizes = np.unique(y_cv, return_counts=True)
    folds = max(2, min(MAX_FOLDS, int(class_sizes.min())))
    cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=SPLIT_SEED)
    scoring = {"accuracy": "accuracy", "macro_f1": "f1_macro"}
    cross_val: dict[str, Any] = {
        "folds": folds,
        "customers": len(y_cv),
        "subsample": len(y_cv) < n,
    }
    for name, estimator in (
        ("model", make_forest(forest)),
        ("baseline", DummyClassifier(strategy="most_frequent")),
    ):
        result = cross_validate(estimator, X_cv, y_cv, cv=cv, scoring=scoring)
        cross_val[name] = {
            metric: {
                "mean": float(np.mean(result[f"test_{metric}"])),
                "std": float(np.std(result[f"test_{metric}"])),
            }
            for metric in scoring
        }
    cv_where = (
        f"stratified {folds}-fold CV on a stratified subsample of {len(y_cv)} of the {n} "
        "labelled customers"
        if cross_val["subsample"]
        else f"stratified {folds}-fold CV over all labelled customers"
    )

    final = make_forest(forest).fit(X, y)
    cv_means = {k: cross_val[k]["accuracy"]["mean"] for k in ("model", "baseline")}
    report: dict[str, Any] = {
        "customers": {
            "read": dataset.customers_read,
            "labelled": n,
            "train": n - n_test,
            "test": n_test,
            "dropped_genres": dataset.dropped_genres,
        },
        "classes": [str(c) for c in final.classes_],
        "class_counts": {
            str(k): int(v) for k, v in dataset.customers["genre"].value_counts().items()
        },
        "feature_columns": list(dataset.feature_columns),
        "forest": {
            "n_estimators": forest.n_estimators,
            "max_depth": forest.max_depth,
            "min_samples_split": forest.min_samples_split,
            "random_state": forest.random_state,
        },
        "holdout": holdout,
        "cross_validation": cross_val,
        "feature_importances": {
            col: float(w)
            for col, w in zip(dataset.feature_columns, final.feature_importances_, strict=True)
        },
        "beats_baseline": holdout["model"]["accuracy"] > holdout["baseline"]["accuracy"],
        "verdict": [
            _verdict(holdout["model"], holdout["baseline"], "the 20% hold-out split"),
            _verdict(
                {"accuracy": cv_means["model"]},
                {"accuracy": cv_means["baseline"]},
                f"{folds}-fold cross-validation",
            ),
        ],
        "data_sources": {
            "holdout": "forest and baseline fitted on the 80% split, scored on the 20% split",
            "cross_validation": cv_where,
            "feature_importances": "the published forest, refit on all labelled customers",
        },
    }
    return TrainingResult(model=final, report=report)


def format_report(report: dict[str, Any]) -> str:
    """The report as a person reads it on a terminal."""
    c, h, cv = report["customers"], report["holdout"], report["cross_validation"]
    lines = [
        f"Customers: {c['read']} read, {c['labelled']} labelled "
        f"({c['train']} train / {c['test']} test)",
    ]
    if c["dropped_genres"]:
        dropped = ", ".join(f"{g} ({n})" for g, n in c["dropped_genres"].items())
        lines.append(f"Dropped genres with fewer than 2 customers: {dropped}")
    lines += [
        f"Genres: {', '.join(f'{g} ({n})' for g, n in report['class_counts'].items())}",
        "",
        "Hold-out (20% split)          accuracy   macro-F1",
        "  random forest".ljust(30)
        + f"{h['model']['accuracy']:8.3f}   {h['model']['macro_f1']:8.3f}",
        f"  baseline (always {h['baseline_genre']!r})".ljust(30)
        + f"{h['baseline']['accuracy']:8.3f}   {h['baseline']['macro_f1']:8.3f}",
        f"{cv['folds']}-fold cross-validation       accuracy          macro-F1",
    ]
    if cv.get("subsample"):
        lines.append(f"  (on a stratified subsample of {cv['customers']} customers)")
    for name in ("model", "baseline"):
        a, f = cv[name]["accuracy"], cv[name]["macro_f1"]
        label = "random forest" if name == "model" else "baseline"
        lines.append(
            f"  {label:<28}{a['mean']:.3f} ± {a['std']:.3f}    {f['mean']:.3f} ± {f['std']:.3f}"
        )
    lines += ["", *report["verdict"], "", "Per-genre (hold-out):"]
    lines.append(f"  {'genre':<22}{'precision':>10}{'recall':>10}{'f1':>10}{'support':>10}")
    for genre in report["classes"]:
        row = h["classification_report"].get(genre, {})
        lines.append(
            f"  {genre:<22}{row.get('precision', 0):10.3f}{row.get('recall', 0):10.3f}"
            f"{row.get('f1-score', 0):10.3f}{int(row.get('support', 0)):10d}"
        )
    cm = h["confusion_matrix"]
    lines += ["", "Confusion matrix (hold-out; rows = true, columns = predicted):"]
    width = max(len(g) for g in cm["labels"]) + 2
    lines.append(" " * width + "".join(f"{g[:8]:>9}" for g in cm["labels"]))
    for genre, row in zip(cm["labels"], cm["matrix"], strict=True):
        lines.append(f"{genre:<{width}}" + "".join(f"{v:9d}" for v in row))
    lines += ["", "Feature importances (published forest, all customers):"]
    for col, weight in sorted(report["feature_importances"].items(), key=lambda kv: -kv[1]):
        lines.append(f"  {col:<24}{weight:.3f}")
    return "\n".join(lines)
