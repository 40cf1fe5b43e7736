"""TRAIN_SAMPLE_ROWS: a seeded stratified sample keeps every genre, the published forest is fitted
on it, and the hold-out scores customers the forest never saw."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from devtools.synthetic import generate, write_sqlite
from genre_model.config import ConfigError, ForestSettings, load_settings
from genre_model.train.features import Dataset, build_dataset
from genre_model.train.fit import format_report, make_forest, stratified_sample, train
from genre_model.train.sources import SQLiteSource

FAST = ForestSettings(n_estimators=20)
ROWS = 600


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory) -> Dataset:
    path = write_sqlite(generate(3000, seed=11), tmp_path_factory.mktemp("syn") / "s.sqlite")
    return build_dataset(SQLiteSource(path).customer_summaries())


def test_the_sample_is_seeded_stratified_and_keeps_every_class() -> None:
    y = np.array(["Rock"] * 9000 + ["Jazz"] * 990 + ["Opera"] * 8 + ["Drama"] * 2)
    picked = stratified_sample(y, 1000)
    assert np.array_equal(picked, stratified_sample(y, 1000))  # seeded
    assert not np.array_equal(picked, stratified_sample(y, 1000, seed=1))
    assert len(np.unique(picked)) == len(picked)
    genres, counts = np.unique(y[picked], return_counts=True)
    assert dict(zip(genres, counts, strict=True)) == {
        "Rock": 900,
        "Jazz": 99,
        "Opera": 2,  # its share rounds to 1: raised to 2 so cross-validation can fold it
        "Drama": 1,  # only 2 customers: one stays outside for the evaluation
    }


def test_a_sampled_fit_is_evaluated_outside_the_sample(planted: Dataset) -> None:
    report = train(planted, FAST, sample_rows=ROWS).report
    c = report["customers"]
    n = len(planted.customers)
    assert c["sample"]["of"] == c["labelled"] == n
    assert c["train"] == c["sample"]["rows"] == pytest.approx(ROWS, abs=len(report["classes"]))
    assert c["test"] == c["sample"]["evaluated_outside"] == -(-c["train"] // 4)
    assert set(report["class_counts"]) == set(report["classes"])  # no genre lost
    held_out = sum(r["support"] for r in report["holdout"]["classification_report"].values())
    assert held_out == c["test"]
    assert report["cross_validation"]["customers"] == c["train"]
    assert report["holdout"]["model"]["accuracy"] > report["holdout"]["baseline"]["accuracy"]
    text = format_report(report)
    assert f"stratified sample of {c['train']} of the {n} labelled customers" in text
    assert "outside the sample" in report["data_sources"]["holdout"]


def test_the_published_forest_is_the_one_fitted_on_the_sample(planted: Dataset) -> None:
    result = train(planted, FAST, sample_rows=ROWS)
    inside = stratified_sample(planted.y, ROWS)
    expected = make_forest(FAST).fit(
        planted.X[inside], result.genre_encoder.transform(planted.y[inside])
    )
    X = planted.X[:200]
    assert np.array_equal(result.model.predict_proba(X), expected.predict_proba(X))


def test_below_the_setting_nothing_is_sampled(planted: Dataset) -> None:
    report = train(planted, FAST, sample_rows=len(planted.customers)).report
    assert "sample" not in report["customers"]
    assert report["customers"]["train"] + report["customers"]["test"] == len(planted.customers)


@pytest.mark.parametrize(
    ("raw", "expected"), [("", 1_000_000), ("none", None), ("250000", 250_000)]
)
def test_train_sample_rows_setting(raw: str, expected: int | None) -> None:
    assert load_settings({"TRAIN_SAMPLE_ROWS": raw}).sample_rows == expected


@pytest.mark.parametrize("raw", ["1", "0", "-5", "lots", "1e6"])
def test_train_sample_rows_refuses_nonsense(raw: str) -> None:
    with pytest.raises(ConfigError, match="TRAIN_SAMPLE_ROWS"):
        load_settings({"TRAIN_SAMPLE_ROWS": raw})


def test_train_aggregates_setting(tmp_path: Path) -> None:
    assert load_settings({}).aggregates == "full"
    assert load_settings({"TRAIN_AGGREGATES": " Incremental "}).aggregates == "incremental"
    with pytest.raises(ConfigError, match="TRAIN_AGGREGATES must be one of full, incremental"):
        load_settings({"TRAIN_AGGREGATES": "sometimes"})
