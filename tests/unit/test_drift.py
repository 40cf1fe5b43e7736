"""Drift: the training snapshot's bins travel in the predictor, requests are counted into them,
and a population-stability figure is published at most once a minute after enough rows."""

from __future__ import annotations

import json
import logging
from bisect import bisect_right
from collections.abc import Iterator
from types import SimpleNamespace

import numpy as np
import pytest

from genre_model.config import Telemetry
from genre_model.contract import DRIFT_BINS, PredictorError, drift_bins, unpack_arrays
from genre_model.serve import drift, telemetry
from genre_model.serve.predictor import Predictor
from tests.unit.test_contract import forest

RNG_SEEDS = range(20)


def training_rows(n: int = 5_000, seed: int = 0) -> np.ndarray:
    """Spec-like features: skewed spending, whole track counts, a ratio with many zeros."""
    rng = np.random.default_rng(seed)
    spent = rng.gamma(2.0, 20.0, n)
    tracks = rng.poisson(15, n).astype(float)
    ratio = np.where(rng.random(n) < 0.3, 0.0, rng.beta(2, 5, n))
    return np.column_stack([spent, tracks, ratio])


def model_with_bins(rows: np.ndarray | None, version: str = "20261126T020000Z-1a2b3c"):
    payload = forest()
    if rows is not None:
        payload["arrays"] = {**payload["arrays"], **drift_bins(rows)}
    return SimpleNamespace(predictor=Predictor(payload), version=version)


@pytest.fixture(autouse=True)
def fresh() -> Iterator[None]:
    drift.reset()
    yield
    drift.reset()


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    now = [1000.0]
    monkeypatch.setattr(drift, "clock", lambda: now[0])
    return now


@pytest.fixture(autouse=True)
def namespace(monkeypatch: pytest.MonkeyPatch) -> None:
    """Metrics go out as EMF lines of this namespace (telemetry's configuration)."""
    monkeypatch.setattr(telemetry, "_config", Telemetry(service="drift-test", namespace="Test"))


def emitted(capsys: pytest.CaptureFixture[str]) -> list[dict]:
    """The EMF records of ``DriftPSI`` an invocation ending now would send."""
    telemetry.flush()
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines() if x.startswith("{")]
    return [r for r in lines if drift.METRIC in r]


def test_bins_are_deciles_and_expected_fractions_of_the_training_rows() -> None:
    rows = training_rows()
    arrays = unpack_arrays(drift_bins(rows))
    edges, expected = arrays["drift_edges"], arrays["drift_expected"]
    assert edges.shape == (3, DRIFT_BINS - 1)
    np.testing.assert_allclose(expected.sum(axis=1), 1.0)
    assert np.all(np.abs(expected[0] - 0.1) < 0.01)  # continuous: a tenth in each bin
    assert expected[2, 0] == 0.0  # 30 % zeros: the first deciles are equal edges, empty bins
    assert expected[2].max() >= 0.3


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("drift_edges", np.zeros((3, 4)), "10 per feature"),
        ("drift_edges", np.array([[3.0, 2, 1, 0, 0, 0, 0, 0, 0]] * 3), "sorted"),
        ("drift_edges", np.full((3, 9), np.nan), "finite"),
        ("drift_expected", np.full((3, 10), 0.2), "sum to 1"),
        ("drift_expected", np.full((3, 10), -0.1), "non-negative"),
        # the expected fractions' own shape, beside edges of the right one
        ("drift_expected", np.full((3, 9), 1 / 9), "^drift bins must be 10 per feature column$"),
        ("drift_expected", np.full((2, 10), 0.1), "^drift bins must be 10 per feature column$"),
        ("drift_edges", np.array([[0.0, 1, 2, 3, 4, 5, 6, 7, np.inf]] * 3), "^drift edges must"),
        (
            "drift_expected",
            np.array([[np.inf, *[0.0] * 9]] * 3),
            "^drift expected fractions must be finite and non-negative$",
        ),
        # one feature's fractions off by two millionths, the others exact
        (
            "drift_expected",
            np.array([[0.1] * 10, [0.1] * 10, [0.1] * 9 + [0.1 + 2e-6]]),
            "^drift expected fractions must sum to 1 per feature$",
        ),
    ],
)
def test_damaged_bins_refuse_the_predictor(name: str, value: np.ndarray, message: str) -> None:
    payload = forest()
    packed = drift_bins(training_rows())
    packed[name] = (value.dtype.str, value.shape, value.tobytes())
    payload["arrays"] = {**payload["arrays"], **packed}
    with pytest.raises(PredictorError, match=message):
        Predictor(payload)


def test_bins_are_one_row_per_predictor_column_summing_to_one_within_a_millionth() -> None:
    located = forest()
    located["feature_columns"] = [*located["feature_columns"], "country_code"]
    rows = training_rows()
    with_country = np.column_stack([rows, np.arange(len(rows)) % 5])
    located["arrays"] = {**located["arrays"], **drift_bins(with_country)}
    assert Predictor(located).drift.edges.shape == (4, DRIFT_BINS - 1)
    located["arrays"] = {**located["arrays"], **drift_bins(rows)}  # the spec model's three
    with pytest.raises(PredictorError, match=r"^drift bins must be 10 per feature column$"):
        Predictor(located)
    payload = forest()
    close = np.array([[0.1] * 10, [0.1] * 9 + [0.1 + 5e-7], [0.1] * 9 + [0.1 - 5e-7]])
    packed = {**drift_bins(rows), "drift_expected": ("<f8", close.shape, close.tobytes())}
    payload["arrays"] = {**payload["arrays"], **packed}
    assert Predictor(payload).drift.expected[1, 9] == 0.1 + 5e-7


def test_psi_of_the_training_distribution_is_sampling_noise_only() -> None:
    model = model_with_bins(training_rows())
    expected = model.predictor.drift.expected
    edges = model.predictor.drift.edges
    figures = []
    for seed in RNG_SEEDS:
        sample = training_rows(drift.MIN_ROWS, seed=seed + 1)
        for j in range(3):
            bins = np.searchsorted(edges[j], sample[:, j], side="right")
            counts = np.bincount(bins, minlength=DRIFT_BINS).tolist()
            figures.append(drift.psi(counts, expected[j].tolist()))
    assert max(figures) < 0.2  # the alarm threshold is far above noise
    assert 0.01 < float(np.mean(figures)) < 0.1  # about (bins - 1) / rows = 0.045


def test_a_shifted_population_goes_over_the_threshold() -> None:
    model = model_with_bins(training_rows())
    shifted = training_rows(drift.MIN_ROWS, seed=3) * np.array([2.0, 1.0, 1.0])  # spending x2
    for row in shifted.tolist():
        drift.observe(model, row)
    figures = drift.figures(drift._window)  # bins what is pending
    assert figures["total_spent"] > 0.2
    assert figures["total_tracks_bought"] < 0.2


def test_published_once_a_minute_after_enough_rows(
    clock: list[float], capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="genre_model.serve.drift")
    model = model_with_bins(training_rows())
    rows = training_rows(3 * drift.MIN_ROWS, seed=5).tolist()
    for row in rows[: drift.MIN_ROWS - 2]:
        drift.observe(model, row)
    clock[0] += drift.INTERVAL_SECONDS
    drift.observe(model, rows[drift.MIN_ROWS - 2])
    assert emitted(capsys) == []  # a minute passed, but too few rows
    drift.observe(model, rows[drift.MIN_ROWS - 1])
    (record,) = emitted(capsys)
    assert 0 <= record[drift.METRIC][0] < 0.2
    directive = record["_aws"]["CloudWatchMetrics"][0]
    assert directive["Namespace"] == "Test"
    assert directive["Dimensions"] == [["service"]]
    (line,) = [r.getMessage() for r in caplog.records]
    assert f"model {model.version} over {drift.MIN_ROWS} rows: PSI" in line
    assert f"{record[drift.METRIC][0]:.3f}" in line
    for row in rows[drift.MIN_ROWS :]:
        drift.observe(model, row)
    assert emitted(capsys) == []  # enough rows again, but not a minute later
    clock[0] += drift.INTERVAL_SECONDS
    for row in rows[: drift.CHECK_EVERY]:  # the clock is looked at every CHECK_EVERY rows
        drift.observe(model, row)
    (record,) = emitted(capsys)
    assert f"over {2 * drift.MIN_ROWS + drift.CHECK_EVERY} rows" in caplog.records[-1].getMessage()


def test_a_new_model_starts_a_new_window(clock: list[float]) -> None:
    old, new = model_with_bins(training_rows()), model_with_bins(training_rows(seed=9))
    for row in training_rows(50, seed=1).tolist():
        drift.observe(old, row)
    drift.observe(new, [1.0, 1.0, 0.5])
    window = drift._window
    assert window.predictor is new.predictor
    assert window.rows + window.pending_rows == 1


def test_rows_are_binned_in_batches_and_counted_once(clock: list[float]) -> None:
    model = model_with_bins(training_rows())
    rows = training_rows(drift.BIN_BATCH + drift.CHECK_EVERY, seed=2).tolist()
    for row in rows:
        drift.observe(model, row)
    window = drift._window
    assert window.rows == drift.BIN_BATCH  # binned at the batch, the rest still pending
    assert window.pending_rows == drift.CHECK_EVERY
    drift.figures(window)
    assert window.counts.sum(axis=1).tolist() == [len(rows)] * 3
    edges = model.predictor.drift.edges.tolist()
    expect = [[0] * DRIFT_BINS for _ in edges]  # the rule, one row at a time
    for row in rows:
        for j, value in enumerate(row):
            expect[j][bisect_right(edges[j], value)] += 1
    assert window.counts.tolist() == expect


def test_a_model_without_bins_is_served_and_not_measured(
    clock: list[float], capsys: pytest.CaptureFixture[str]
) -> None:
    model = model_with_bins(None)
    assert model.predictor.drift is None
    for row in training_rows(drift.MIN_ROWS + 1).tolist():
        clock[0] += drift.INTERVAL_SECONDS
        drift.observe(model, row)
    assert emitted(capsys) == []


def test_bins_of_a_single_precision_matrix_are_computed_in_double() -> None:
    """Requests are binned as float64: edges from a float32 copy of the rows would sit a
    rounding away from the training values and move rows across bins."""
    rows = training_rows()
    narrow = unpack_arrays(drift_bins(rows.astype(np.float32)))
    wide = unpack_arrays(drift_bins(rows.astype(np.float32).astype(np.float64)))
    for name in ("drift_edges", "drift_expected"):
        assert narrow[name].dtype == np.float64
        assert np.array_equal(narrow[name], wide[name])


@pytest.mark.parametrize(
    ("packed", "message"),
    [
        ({"drift_expected": None}, "^array 'drift_expected' unusable"),
        ({"drift_edges": ("<i8", (3, 9), bytes(8 * 27))}, "^array 'drift_edges' has dtype int64"),
    ],
)
def test_half_or_integer_bins_are_a_predictor_error(packed: dict, message: str) -> None:
    payload = forest()
    bins = {**drift_bins(training_rows()), **packed}
    payload["arrays"] = {**payload["arrays"], **{k: v for k, v in bins.items() if v is not None}}
    with pytest.raises(PredictorError, match=message):
        Predictor(payload)
