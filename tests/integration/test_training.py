"""Training on synthetic data: planted signal beats the baseline; no signal is reported honestly."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from devtools.synthetic import generate, write_sqlite
from genre_model.config import ForestSettings
from genre_model.train import TrainingError
from genre_model.train.features import Dataset, build_dataset
from genre_model.train.fit import check_trainable, format_report, train
from genre_model.train.sources import CustomerRow, SQLiteSource

FAST = ForestSettings(n_estimators=30)


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory) -> Dataset:
    path = write_sqlite(generate(2000, seed=42), tmp_path_factory.mktemp("syn") / "s.sqlite")
    return build_dataset(SQLiteSource(path).customer_summaries())


@pytest.fixture(scope="module")
def planted_report(planted: Dataset) -> dict:
    return train(planted, FAST).report


def random_label_rows(n: int = 300, seed: int = 0) -> list[CustomerRow]:
    """Features drawn independently of the label: there is nothing to learn."""
    rng = np.random.default_rng(seed)
    genres = rng.choice(["Rock", "Jazz", "Metal"], size=n, p=[0.6, 0.2, 0.2])
    rows = []
    for i, genre in enumerate(genres):
        total = int(rng.integers(100, 5000))
        rows.append(
            CustomerRow(i + 1, "USA", str(genre), total, int(rng.integers(1, 50)), 0)._replace(
                genre_cents=int(rng.integers(0, total))
            )
        )
    return rows


def test_planted_signal_beats_baseline_clearly(planted: Dataset, planted_report: dict) -> None:
    h = planted_report["holdout"]
    assert h["model"]["accuracy"] - h["baseline"]["accuracy"] >= 0.15
    assert h["model"]["macro_f1"] - h["baseline"]["macro_f1"] >= 0.3
    assert planted_report["beats_baseline"] is True
    assert h["beats_baseline"] is True
    cv = planted_report["cross_validation"]
    gap = cv["model"]["accuracy"]["mean"] - cv["baseline"]["accuracy"]["mean"]
    assert gap >= 0.15
    cv_sentence, holdout_sentence, conclusion, *rest = planted_report["verdict"]
    assert f"the model is better than the baseline by {gap * 100:.1f} percentage points" in (
        cv_sentence
    )
    assert cv_sentence.startswith("Cross-validation")
    assert holdout_sentence.startswith("Hold-out")
    assert "decided on cross-validation" in conclusion
    assert "the model beats the majority-class baseline" in conclusion
    assert rest == []  # hold-out and cross-validation agree: no disagreement sentence
    assert "NOT" not in " ".join(planted_report["verdict"])


def test_report_baseline_is_the_majority_genre(planted: Dataset, planted_report: dict) -> None:
    counts = planted.customers["genre"].value_counts()
    majority = counts.idxmax()
    h = planted_report["holdout"]
    assert h["baseline_genre"] == majority
    # A stratified split keeps class shares, so the baseline scores the majority's share.
    n_test = planted_report["customers"]["test"]
    share = counts.max() / counts.sum()
    assert abs(h["baseline"]["accuracy"] - share) <= 1.5 / n_test
    assert set(h["baseline"]) == {"accuracy", "macro_f1"}


def test_macro_f1_of_both_averages_over_every_genre(planted: Dataset, planted_report: dict) -> None:
    """The baseline's only non-zero F1 is the majority's: 2p/(1+p), divided by ALL genres."""
    genres = planted_report["classes"]
    assert len(genres) >= 5
    for where, scores in (
        ("holdout", planted_report["holdout"]),
        ("cv", {k: {m: v["mean"] for m, v in planted_report["cross_validation"][k].items()}
                for k in ("model", "baseline")}),
    ):  # fmt: skip
        p = scores["baseline"]["accuracy"]  # precision of "always the majority"; recall is 1
        tolerance = 1e-12 if where == "holdout" else 0.01  # CV: mean of per-fold ratios
        assert scores["baseline"]["macro_f1"] == pytest.approx(
            2 * p / (1 + p) / len(genres), abs=tolerance
        )
    cm = np.asarray(planted_report["holdout"]["confusion_matrix"]["matrix"], dtype=float)
    tp = np.diag(cm)
    f1 = np.divide(2 * tp, cm.sum(axis=0) + cm.sum(axis=1), out=np.zeros_like(tp), where=tp > 0)
    assert planted_report["holdout"]["model"]["macro_f1"] == pytest.approx(f1.mean(), abs=1e-12)


def test_report_is_deterministic(planted: Dataset, planted_report: dict) -> None:
    again = train(planted, FAST)
    assert again.report == planted_report


def test_report_counts_and_folds(planted: Dataset, planted_report: dict) -> None:
    counts = planted.customers["genre"].value_counts()
    c = planted_report["customers"]
    assert c["read"] == 2000
    assert c["labelled"] == len(planted.customers)
    assert c["test"] == math.ceil(c["labelled"] * 0.2)
    assert c["train"] + c["test"] == c["labelled"]
    cv = planted_report["cross_validation"]
    assert cv["folds"] == min(5, int(counts.min()))
    assert cv["estimates"] == cv["folds"] * cv["repeats"] >= 10
    assert cv["customers"] == c["labelled"]
    assert cv["subsample"] is False
    assert planted_report["classes"] == sorted(counts.index)
    assert planted_report["class_counts"] == {str(k): int(v) for k, v in counts.items()}
    cm = planted_report["holdout"]["confusion_matrix"]
    assert np.asarray(cm["matrix"]).sum() == c["test"]
    importances = planted_report["feature_importances"]
    assert list(importances) == list(planted.feature_columns)
    assert sum(importances.values()) == pytest.approx(1.0)
    text = format_report(planted_report)
    assert "baseline" in text
    assert planted_report["verdict"][0] in text


def test_folds_follow_the_smallest_genre() -> None:
    rows = random_label_rows(60, seed=1)
    rows += [CustomerRow(1000 + i, "USA", "Opera", 500 + i, 5, 400) for i in range(3)]
    ds = build_dataset(rows)
    assert ds.customers["genre"].value_counts().min() == 3
    report = train(ds, ForestSettings(n_estimators=5)).report
    cv = report["cross_validation"]
    assert (cv["folds"], cv["repeats"], cv["estimates"]) == (3, 4, 12)
    assert "Cross-validation (12 estimates, 4 repeats of stratified 3-fold)" in report["verdict"][0]
    assert "Cross-validation: 12 estimates" in format_report(report)


def test_no_signal_does_not_beat_baseline() -> None:
    report = train(build_dataset(random_label_rows()), FAST).report
    h, cv = report["holdout"], report["cross_validation"]
    assert h["model"]["accuracy"] < h["baseline"]["accuracy"]
    gap = cv["baseline"]["accuracy"]["mean"] - cv["model"]["accuracy"]["mean"]
    assert gap > 0
    assert report["beats_baseline"] is False
    assert cv["beats_baseline"] is False
    assert h["beats_baseline"] is False
    # the better side and the gap, never "as good" when it is not
    assert (
        f"the baseline (always 'Rock') is better than the model by {gap * 100:.1f} percentage "
        "points" in report["verdict"][0]
    )
    holdout_gap = (h["baseline"]["accuracy"] - h["model"]["accuracy"]) * 100
    assert f"better than the model by {holdout_gap:.1f} percentage points" in report["verdict"][1]
    assert "does NOT beat the majority-class baseline" in report["verdict"][2]
    text = format_report(report)
    assert "does NOT beat" in text
    assert "as good" not in text


def test_beats_baseline_follows_cross_validation_when_the_holdout_disagrees() -> None:
    """On label noise, a 16-customer hold-out sometimes "beats" the baseline by luck."""
    few = ForestSettings(n_estimators=5)  # the verdict's rule is under test, not the forest
    for seed in range(40):  # each seed is a whole training, cross-validation included
        report = train(build_dataset(random_label_rows(80, seed=seed)), few).report
        if report["holdout"]["beats_baseline"] != report["cross_validation"]["beats_baseline"]:
            break
    else:
        pytest.fail("no seed made the hold-out and cross-validation disagree")
    assert report["beats_baseline"] is report["cross_validation"]["beats_baseline"]
    assert report["beats_baseline_decided_on"] == "cross_validation"
    disagreement = report["verdict"][-1]
    assert "hold-out split says the opposite" in disagreement
    assert f"{report['customers']['test']} test customers" in disagreement
    assert f"{report['cross_validation']['estimates']} estimates" in disagreement
    assert disagreement in format_report(report)


def test_real_chinook_report(chinook_sqlite) -> None:
    """The audit's case: TV Shows (2 customers) has no test customer; k = 2 needs repeats."""
    ds = build_dataset(SQLiteSource(chinook_sqlite).customer_summaries())
    report = train(ds, ForestSettings()).report
    h, cv = report["holdout"], report["cross_validation"]
    assert report["classes"] == ["Latin", "Metal", "Rock", "TV Shows"]
    assert h["genres_not_in_test"] == ["TV Shows"]
    assert "TV Shows" not in h["classification_report"]
    assert {"Latin", "Metal", "Rock"} <= set(h["classification_report"])
    # the baseline's macro-F1 over the same 4 genres: F1(Rock) / 4, not / 3
    p = h["baseline"]["accuracy"]
    assert h["baseline"]["macro_f1"] == pytest.approx(2 * p / (1 + p) / 4, abs=1e-12)
    assert h["baseline"]["macro_f1"] < h["model"]["macro_f1"]
    assert (cv["folds"], cv["estimates"]) == (2, 10)
    assert cv["model"]["accuracy"]["std"] > 0
    assert report["beats_baseline"] is False
    text = format_report(report)
    assert "Cross-validation: 10 estimates (5 repeats of stratified 2-fold)" in text
    tv_row = next(line for line in text.splitlines() if line.strip().startswith("TV Shows"))
    assert "no customer in the test split" in tv_row
    assert "the baseline (always 'Rock') is better than the model by" in report["verdict"][0]


def test_final_model_refit_on_everybody(planted: Dataset) -> None:
    result = train(planted, ForestSettings(n_estimators=3))
    # the published forest saw every labelled customer, not only the 80 % split
    assert result.model.n_features_in_ == 3
    assert list(result.genre_encoder.classes_) == sorted(set(planted.y))
    assert list(result.model.classes_) == list(range(len(set(planted.y))))  # fitted on codes
    assert result.model.n_jobs is None  # as it is pickled
    # bootstrap draws as many samples as the fit set holds: all labelled customers
    for tree in result.model.estimators_:
        assert tree.tree_.weighted_n_node_samples[0] == len(planted.customers)
    assert sum(result.report["class_counts"].values()) == len(planted.customers)


def test_one_genre_is_not_trainable() -> None:
    rows = [CustomerRow(i, "USA", "Rock", 100 * i, i, 50 * i) for i in range(1, 30)]
    rows.append(CustomerRow(99, "USA", "Jazz", 100, 1, 100))  # dropped: only one fan
    ds = build_dataset(rows)
    with pytest.raises(TrainingError, match="at least 2 genres"):
        check_trainable(ds)
    with pytest.raises(TrainingError):
        train(ds, FAST)


def test_too_few_customers_for_a_stratified_split() -> None:
    frame = pd.DataFrame(
        {
            "total_spent": [1.0, 2.0, 3.0],
            "total_tracks_bought": [1, 2, 3],
            "genre_spending_ratio": [1.0, 0.5, 0.3],
            "country": ["USA"] * 3,
            "genre": ["Rock", "Jazz", "Metal"],
        },
        index=pd.Index([1, 2, 3], name="customer_id"),
    )
    ds = Dataset(
        customers=frame,
        feature_columns=("total_spent", "total_tracks_bought", "genre_spending_ratio"),
        countries=(),
        dropped_genres={},
        customers_read=3,
        summaries=frame,
    )
    with pytest.raises(TrainingError, match="too few customers"):
        check_trainable(ds)


def test_smallest_trainable_dataset() -> None:
    rows = [
        CustomerRow(1, "USA", "Rock", 100, 1, 100),
        CustomerRow(2, "USA", "Rock", 200, 2, 200),
        CustomerRow(3, "USA", "Jazz", 300, 3, 100),
        CustomerRow(4, "USA", "Jazz", 400, 4, 100),
    ]
    ds = build_dataset(rows)
    assert check_trainable(ds) == (4, 2)
    report = train(ds, ForestSettings(n_estimators=3)).report
    assert report["customers"]["test"] == 2
    assert report["cross_validation"]["folds"] == 2
    assert report["cross_validation"]["estimates"] == 10


def test_report_is_json_serialisable(planted_report: dict) -> None:
    from genre_model.store.protocol import to_json

    assert to_json(planted_report)  # strict JSON: no NaN, no numpy types


@pytest.mark.parametrize(
    "names",
    [
        ("macro avg", "accuracy", "weighted avg"),
        ("accuracy", "Rock", "micro avg"),
        ("precision", "support", "f1-score"),
    ],
)
def test_per_genre_rows_hold_for_names_clashing_with_report_keys(names) -> None:
    """Each genre's row is its own, even named like scikit-learn's summary rows: recomputed
    here from the confusion matrix (rows true, columns predicted), genre by genre."""
    rename = dict(zip(["Rock", "Jazz", "Metal"], names, strict=True))
    rows = [r._replace(genre=rename[r.genre]) for r in random_label_rows(300, seed=3)]
    report = train(build_dataset(rows), FAST).report
    h = report["holdout"]
    assert set(h["classification_report"]) == set(names)
    cm = np.array(h["confusion_matrix"]["matrix"])
    for i, genre in enumerate(h["confusion_matrix"]["labels"]):
        row = h["classification_report"][genre]
        assert row["support"] == cm[i].sum()
        assert row["recall"] == pytest.approx(cm[i, i] / cm[i].sum())
        predicted = cm[:, i].sum()
        assert row["precision"] == pytest.approx(cm[i, i] / predicted if predicted else 0.0)
    text = format_report(report)
    for genre in names:  # one row per genre, with its own support
        (line,) = [t for t in text.splitlines() if t.startswith(f"  {genre}  ")]
        assert line.split()[-1] == str(h["classification_report"][genre]["support"])
