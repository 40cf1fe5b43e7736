"""Fit the random forest and measure it honestly, always next to the majority-class baseline.

Figures and the data they come from:
- hold-out: a stratified 80/20 split (random_state 42); model and baseline fitted on the 80 %,
  scored on the 20 % (accuracy, macro-F1, per-genre report, confusion matrix). Genres with no
  customer in the 20 % get no per-genre row; they are listed instead;
- cross-validation: repeated stratified k-fold, k = min(5, smallest genre), repeated until it
  gives at least ``MIN_ESTIMATES`` estimates (k = 2 on the real Chinook, whose TV Shows has two
  customers: two folds alone would make a "±" from two numbers). It runs on all labelled
  customers or, above ``CV_MAX_CUSTOMERS``, on a stratified subsample of that size (the report
  states which): the forests on a million customers would cost more than the rest of the run,
  and the spread on 50,000 customers is already a fraction of a percentage point;
- macro-F1 always averages over every genre the model knows (``labels=``), for the model and the
  baseline alike: scikit-learn's default averages over the genres present in y_true or y_pred,
  which differ between the two and make the baseline look better than it is;
- ``beats_baseline`` is decided on cross-validation, the estimate with the most data; the
  hold-out verdict is reported beside it and a sentence says when the two disagree;
- the published model is then refit on ALL labelled customers; its feature importances are
  reported. A model that does not beat the baseline is still published, and the report says so;
- above ``sample_rows`` labelled customers (``TRAIN_SAMPLE_ROWS``) the forest is fitted once, on
  a seeded stratified sample of that size in which every genre keeps at least two customers
  (``stratified_sample``); that forest is the published one, the hold-out scores it on a random
  draw of customers OUTSIDE the sample (a quarter of the sample's size, as 80/20 would), and
  cross-validation runs inside the sample. The report's ``customers.sample`` says so.

The published forest is fitted on integer genre codes, with the ``LabelEncoder`` that maps them
back: the original container system reads ``label_encoders['genre']`` from the pickle and turns
``model.predict`` codes into genres with it. Its trees are the ones a fit on the genre names
grows (scikit-learn encodes string labels in the same sorted order), so predictions are equal.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.dummy import DummyClassifier
from sklearn.ensemble import RandomForestClassifier
from sklearn.metrics import (
    accuracy_score,
    confusion_matrix,
    f1_score,
    make_scorer,
    precision_recall_fscore_support,
)
from sklearn.model_selection import RepeatedStratifiedKFold, cross_validate, train_test_split
from sklearn.preprocessing import LabelEncoder

from genre_model.config import ForestSettings
from genre_model.train import TrainingError
from genre_model.train.features import Dataset

TEST_SIZE = 0.2
SPLIT_SEED = 42
MAX_FOLDS = 5
MIN_ESTIMATES = 10
CV_MAX_CUSTOMERS = 50_000


@dataclass(frozen=True)
class TrainingResult:
    model: RandomForestClassifier  # fitted on genre codes; ``genre_encoder`` names them
    genre_encoder: LabelEncoder
    report: dict[str, Any]


def make_forest(forest: ForestSettings) -> RandomForestClassifier:
    return RandomForestClassifier(
        n_estimators=forest.n_estimators,
        max_depth=forest.max_depth,
        min_samples_split=forest.min_samples_split,
        random_state=forest.random_state,
        n_jobs=forest.n_jobs,
    )


def _macro_f1(y_true: np.ndarray, y_pred: np.ndarray, labels: list[str]) -> float:
    return float(f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0))


def _scores(y_true: np.ndarray, y_pred: np.ndarray, labels: list[str]) -> dict[str, float]:
    return {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "macro_f1": _macro_f1(y_true, y_pred, labels),
    }


def _points(gap: float) -> str:
    """An accuracy gap in percentage points, never rounded down to a misleading "0.0"."""
    points = abs(gap) * 100
    return f"{points:.1f} percentage points" if points >= 0.05 else "under 0.1 percentage points"


def _comparison(
    model: dict[str, Any], baseline: dict[str, Any], genre: str, where: str, genres: int
) -> str:
    """One estimate in words: which side is better and by how much."""
    figures = (
        f"accuracy: model {model['accuracy']:.1%}, baseline {baseline['accuracy']:.1%}; "
        f"macro-F1 over the same {genres} genres: model {model['macro_f1']:.3f}, "
        f"baseline {baseline['macro_f1']:.3f}"
    )
    gap = model["accuracy"] - baseline["accuracy"]
    if gap > 0:
        return f"{where}: the model is better than the baseline by {_points(gap)} ({figures})."
    if gap < 0:
        return (
            f"{where}: the baseline (always {genre!r}) is better than the model by "
            f"{_points(gap)} ({figures})."
        )
    return f"{where}: the model and the baseline are equally accurate ({figures})."


def _conclusion(cv_beats: bool, holdout_beats: bool, n_test: int, estimates: int) -> list[str]:
    decided = "Verdict, decided on cross-validation (the estimate with the most data): "
    lines = [
        decided + "the model beats the majority-class baseline."
        if cv_beats
        else decided + "the model does NOT beat the majority-class baseline. More customers or "
        "more informative features are needed before trusting its predictions."
    ]
    if cv_beats != holdout_beats:
        lines.append(
            f"The hold-out split says the opposite; it rests on {n_test} test customers, "
            f"cross-validation on {estimates} estimates, so cross-validation decides."
        )
    return lines


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


def _per_genre(
    y_true: np.ndarray, y_pred: np.ndarray, labels: list[str]
) -> dict[str, dict[str, Any]]:
    """Precision, recall, F1 and support of each tested genre, by label INDEX: a report keyed
    by name would mix genres called 'accuracy' or 'macro avg' with its own summary rows."""
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, y_pred, labels=labels, zero_division=0
    )
    return {
        genre: {
            "precision": float(precision[i]),
            "recall": float(recall[i]),
            "f1-score": float(f1[i]),
            "support": int(support[i]),
        }
        for i, genre in enumerate(labels)
        if support[i] > 0  # a row of zeros would read as "never recognised"
    }


def _holdout(
    X: np.ndarray, y: np.ndarray, n_test: int, labels: list[str], forest: ForestSettings
) -> dict[str, Any]:
    """Model and baseline fitted on the 80 % and scored on the same 20 %, over the same genres."""
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=n_test, stratify=y, random_state=SPLIT_SEED
    )
    model = make_forest(forest).fit(X_train, y_train)
    return _scored(model.predict(X_test), y_train, y_test, labels)


def _scored(
    predicted: np.ndarray, y_train: np.ndarray, y_test: np.ndarray, labels: list[str]
) -> dict[str, Any]:
    """The hold-out figures of a model's ``predicted`` genres, next to the majority baseline."""
    # The majority baseline ignores features: it sees none, so a sample's scores need no X.
    baseline = DummyClassifier(strategy="most_frequent").fit(np.zeros((len(y_train), 1)), y_train)
    per_genre = _per_genre(y_test, predicted, labels)
    untested = [g for g in labels if g not in per_genre]
    scores = {"model": _scores(y_test, predicted, labels)}
    scores["baseline"] = _scores(y_test, baseline.predict(np.zeros((len(y_test), 1))), labels)
    return {
        **scores,
        "baseline_genre": str(baseline.classes_[np.argmax(baseline.class_prior_)]),
        "beats_baseline": scores["model"]["accuracy"] > scores["baseline"]["accuracy"],
        "classification_report": per_genre,
        "genres_not_in_test": untested,
        "confusion_matrix": {
            "labels": labels,
            "matrix": confusion_matrix(y_test, predicted, labels=labels).tolist(),
        },
    }


def stratified_sample(y: np.ndarray, rows: int, seed: int = SPLIT_SEED) -> np.ndarray:
    """Sorted indices of a seeded sample of about ``rows`` labels with every class kept.

    Each class gets its share of ``rows``, at least 2 (cross-validation folds it) and at most
    all but one of its members (the evaluation outside the sample can still meet it).
    """
    rng = np.random.default_rng(seed)
    _, inverse, counts = np.unique(y, return_inverse=True, return_counts=True)
    quota = np.minimum(np.maximum(np.round(rows * counts / len(y)), 2), counts - 1).astype(int)
    order = rng.permutation(len(y))
    order = order[np.argsort(inverse[order], kind="stable")]  # by class, shuffled within
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    rank = np.arange(len(y)) - starts[inverse[order]]
    return np.sort(order[rank < quota[inverse[order]]])


def _sampled_fit(
    X: np.ndarray,
    y: np.ndarray,
    rows: int,
    encoder: LabelEncoder,
    labels: list[str],
    forest: ForestSettings,
) -> tuple[RandomForestClassifier, dict[str, Any], np.ndarray, dict[str, Any]]:
    """The forest fitted on a stratified sample, scored on customers outside it."""
    inside = stratified_sample(y, rows)
    outside = np.setdiff1d(np.arange(len(y)), inside, assume_unique=True)
    wanted = max(math.ceil(len(inside) * TEST_SIZE / (1 - TEST_SIZE)), len(labels))
    rng = np.random.default_rng(SPLIT_SEED)
    tested = np.sort(rng.choice(outside, size=min(wanted, len(outside)), replace=False))
    model = make_forest(forest).fit(X[inside], encoder.transform(y[inside]))
    predicted = encoder.inverse_transform(model.predict(X[tested]))
    holdout = _scored(predicted, y[inside], y[tested], labels)
    sample = {
        "rows": len(inside),
        "requested": rows,
        "of": len(y),
        "seed": SPLIT_SEED,
        "evaluated_outside": len(tested),
    }
    return model, holdout, inside, sample


def _cross_validation(
    X: np.ndarray, y: np.ndarray, labels: list[str], forest: ForestSettings
) -> dict[str, Any]:
    """Mean and spread of at least ``MIN_ESTIMATES`` fold scores, model and baseline alike."""
    n = len(y)
    X_cv, y_cv = X, y
    if n > CV_MAX_CUSTOMERS:
        X_cv, _, y_cv, _ = train_test_split(
            X, y, train_size=CV_MAX_CUSTOMERS, stratify=y, random_state=SPLIT_SEED
        )
    _, class_sizes = np.unique(y_cv, return_counts=True)
    folds = max(2, min(MAX_FOLDS, int(class_sizes.min())))
    repeats = math.ceil(MIN_ESTIMATES / folds)
    cv = RepeatedStratifiedKFold(n_splits=folds, n_repeats=repeats, random_state=SPLIT_SEED)
    scoring = {
        "accuracy": "accuracy",
        "macro_f1": make_scorer(_macro_f1, labels=labels),
    }
    cross_val: dict[str, Any] = {
        "folds": folds,
        "repeats": repeats,
        "estimates": folds * repeats,
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
    cross_val["beats_baseline"] = (
        cross_val["model"]["accuracy"]["mean"] > cross_val["baseline"]["accuracy"]["mean"]
    )
    return cross_val


def train(
    dataset: Dataset, forest: ForestSettings, sample_rows: int | None = None
) -> TrainingResult:
    """Evaluate on a hold-out split and by cross-validation, then refit on everybody; above
    ``sample_rows`` customers, fit once on a stratified sample and evaluate outside it."""
    n, n_test = check_trainable(dataset)
    X, y = dataset.X, dataset.y
    encoder = LabelEncoder().fit(y)
    labels = [str(c) for c in encoder.classes_]
    sample: dict[str, Any] | None = None
    if sample_rows is not None and n > sample_rows:
        final, holdout, inside, sample = _sampled_fit(X, y, sample_rows, encoder, labels, forest)
        n_train, n_test = sample["rows"], sample["evaluated_outside"]
        X_cv, y_cv = X[inside], y[inside]
    else:
        holdout = _holdout(X, y, n_test, labels, forest)
        n_train, X_cv, y_cv = n - n_test, X, y
        final = make_forest(forest).fit(X, encoder.transform(y))
    # n_jobs is reset before the forest is pickled: scikit-learn's own predict_proba on the
    # loaded file would otherwise add the trees in thread-finishing order (answers that change
    # in the last bit from call to call) and pay for a thread pool on every one-row call.
    final.set_params(n_jobs=None)
    cross_val = _cross_validation(X_cv, y_cv, labels, forest)
    scheme = f"{cross_val['repeats']} repeats of stratified {cross_val['folds']}-fold"
    cv_where = (
        f"{scheme} CV on a stratified subsample of {cross_val['customers']} of the {n} "
        "labelled customers"
        if cross_val["subsample"]
        else f"{scheme} CV over all {n} labelled customers"
    )

    cv_scores = {k: {m: v["mean"] for m, v in cross_val[k].items()} for k in ("model", "baseline")}
    genre, genres = holdout["baseline_genre"], len(labels)
    holdout_where = (
        f"Hold-out ({n_test} customers outside the fitted sample)"
        if sample
        else f"Hold-out (20% split, {n_test} test customers)"
    )
    report: dict[str, Any] = {
        "customers": {
            "read": dataset.customers_read,
            "labelled": n,
            "train": n_train,
            "test": n_test,
            "dropped_genres": dataset.dropped_genres,
            **({"sample": sample} if sample else {}),
        },
        "classes": labels,
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
        "beats_baseline": cross_val["beats_baseline"],
        "beats_baseline_decided_on": "cross_validation",
        "verdict": [
            _comparison(
                cv_scores["model"],
                cv_scores["baseline"],
                genre,
                f"Cross-validation ({cross_val['estimates']} estimates, {scheme})",
                genres,
            ),
            _comparison(
                holdout["model"],
                holdout["baseline"],
                genre,
                holdout_where,
                genres,
            ),
            *_conclusion(
                cross_val["beats_baseline"],
                holdout["beats_baseline"],
                n_test,
                cross_val["estimates"],
            ),
        ],
        "data_sources": {
            "holdout": f"the published forest and the baseline, fitted on a stratified sample of "
            f"{n_train} of the {n} labelled customers (seed {SPLIT_SEED}, every genre kept), "
            f"scored on {n_test} customers drawn from outside the sample"
            if sample
            else "forest and baseline fitted on the 80% split, scored on the 20% split",
            "cross_validation": cv_where,
            "macro_f1": f"averaged over all {genres} genres the model knows, for model and "
            "baseline alike; a genre with no test customer counts 0 for both",
            "feature_importances": "the published forest, fitted on the stratified sample"
            if sample
            else "the published forest, refit on all labelled customers",
        },
    }
    return TrainingResult(model=final, genre_encoder=encoder, report=report)


def format_report(report: dict[str, Any]) -> str:
    """The report as a person reads it on a terminal."""
    c, h, cv = report["customers"], report["holdout"], report["cross_validation"]
    lines = [
        f"Customers: {c['read']} read, {c['labelled']} labelled "
        f"({c['train']} train / {c['test']} test)",
    ]
    if c.get("sample"):
        lines.append(
            f"Fitted on a stratified sample of {c['sample']['rows']} of the {c['labelled']} "
            f"labelled customers (TRAIN_SAMPLE_ROWS={c['sample']['requested']}, seed "
            f"{c['sample']['seed']}, every genre kept); hold-out on {c['test']} customers "
            "outside the sample"
        )
    if c["dropped_genres"]:
        dropped = ", ".join(f"{g} ({n})" for g, n in c["dropped_genres"].items())
        lines.append(f"Dropped genres with fewer than 2 customers: {dropped}")
    lines += [
        f"Genres: {', '.join(f'{g} ({n})' for g, n in report['class_counts'].items())}",
        f"Macro-F1 averages over all {len(report['classes'])} genres, model and baseline alike.",
        "",
        (
            f"Hold-out ({c['test']} customers outside the sample)"
            if c.get("sample")
            else f"Hold-out (20% split, {c['test']} customers)"
        ).ljust(40)
        + "accuracy   macro-F1",
        "  random forest".ljust(40)
        + f"{h['model']['accuracy']:8.3f}   {h['model']['macro_f1']:8.3f}",
        f"  baseline (always {h['baseline_genre']!r})".ljust(40)
        + f"{h['baseline']['accuracy']:8.3f}   {h['baseline']['macro_f1']:8.3f}",
        f"Cross-validation: {cv['estimates']} estimates "
        f"({cv['repeats']} repeats of stratified {cv['folds']}-fold)",
        "".ljust(30) + "accuracy          macro-F1",
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
        row = h["classification_report"].get(genre)
        if row is None:
            lines.append(f"  {genre:<22}{'no customer in the test split':>40}")
            continue
        lines.append(
            f"  {genre:<22}{row['precision']:10.3f}{row['recall']:10.3f}"
            f"{row['f1-score']:10.3f}{int(row['support']):10d}"
        )
    cm = h["confusion_matrix"]
    lines += ["", "Confusion matrix (hold-out; rows = true, columns = predicted):"]
    width = max(len(g) for g in cm["labels"]) + 2
    lines.append(" " * width + "".join(f"{g[:8]:>9}" for g in cm["labels"]))
    for genre, row in zip(cm["labels"], cm["matrix"], strict=True):
        lines.append(f"{genre:<{width}}" + "".join(f"{v:9d}" for v in row))
    fitted_on = "the sample" if c.get("sample") else "all customers"
    lines += ["", f"Feature importances (published forest, {fitted_on}):"]
    for col, weight in sorted(report["feature_importances"].items(), key=lambda kv: -kv[1]):
        lines.append(f"  {col:<24}{weight:.3f}")
    return "\n".join(lines)
