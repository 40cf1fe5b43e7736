"""Do requests still look like the data the model was trained on? A population-stability index
(PSI) per container, published as the ``DriftPSI`` metric.

Training stores each feature's decile edges on its training rows, and the fraction of those rows
in each bin, in the predictor (``contract.DriftBins``). Every feature row a request builds is
kept here and counted into those bins in batches (``observe``: one list extend, measured in
``benchmarks/drift.py``). Once a window holds ``MIN_ROWS`` rows and ``INTERVAL_SECONDS`` have
passed since the last figure (looked at every ``CHECK_EVERY`` rows), each feature's PSI of the
window against training is computed, the largest is published (with every feature's in the log
line) and the window starts again.

PSI = sum over bins of (actual - expected) * ln(actual / expected). Reading it: below 0.1 the
two distributions are alike, 0.1-0.2 a moderate shift, above 0.2 a shift worth acting on (the
usual credit-scoring convention; the alarm uses 0.2, docs/operations.md says why). With
``MIN_ROWS`` rows drawn from the training distribution itself PSI is about (bins - 1) / rows =
0.045 from sampling noise alone, well under the threshold (``tests/unit/test_drift.py``).

A model without bins (published before drift) is served as always and simply not measured.
Counts are per container and per model: a new version starts a new window. The local threaded
server may extend while a batch is binned; a lost row changes a figure by 1/200 at most.
"""

from __future__ import annotations

import logging
import math
import time
from typing import TYPE_CHECKING

import numpy as np

from genre_model.contract import DRIFT_BINS
from genre_model.serve import telemetry

if TYPE_CHECKING:
    from collections.abc import Sequence

    from genre_model.serve.model_cache import LoadedModel
    from genre_model.serve.predictor import Predictor

logger = logging.getLogger(__name__)

METRIC = "DriftPSI"
MIN_ROWS = 200  # fewer rows make a figure of sampling noise (see the module docstring)
INTERVAL_SECONDS = 60.0  # at most one figure a minute per container
clock = time.monotonic  # replaced in tests
CHECK_EVERY = 50  # rows between two looks at the clock (MIN_ROWS is a multiple)
BIN_BATCH = 2_000  # pending rows binned at once: ~0.2 ms once per 2,000 requests
SMOOTHING = 1e-4  # an empty bin of the window counts as this fraction (ln 0 is undefined)


class _Window:
    """The rows of one model's requests since its last figure: ``pending`` keeps their values
    as they came (one list extend per request) and numpy bins them together, ``BIN_BATCH`` rows
    at a time or when a figure is due, so a request pays an extend, not a bin search."""

    __slots__ = (
        "check",
        "counts",
        "due",
        "edges",
        "expected",
        "features",
        "pending",
        "predictor",
        "rows",
        "version",
    )

    def __init__(self, predictor: Predictor, version: str, now: float) -> None:
        self.predictor = predictor
        self.version = version
        bins = predictor.drift
        self.edges = None if bins is None else bins.edges
        self.expected = None if bins is None else bins.expected
        self.counts = np.zeros(() if bins is None else bins.expected.shape, dtype=np.int64)
        self.features = 0 if bins is None else len(bins.edges)
        self.check = CHECK_EVERY * self.features  # pending values between two ticks
        self.pending: list[float] = []  # the rows' values end to end (one extend per request)
        self.rows = 0  # binned into ``counts``
        self.due = now + INTERVAL_SECONDS

    @property
    def pending_rows(self) -> int:
        return len(self.pending) // self.features if self.features else 0

    def bin_pending(self) -> None:
        pending, self.pending = self.pending, []
        if not pending or self.edges is None:
            return
        rows = np.array(pending, dtype=np.float64).reshape(-1, self.features)
        for j, edges in enumerate(self.edges):
            found = np.searchsorted(edges, rows[:, j], side="right")
            self.counts[j] += np.bincount(found, minlength=DRIFT_BINS)
        self.rows += len(rows)


_window: _Window | None = None


def observe(model: LoadedModel, row: Sequence[float]) -> None:
    """Keep one request's feature row (predictor column order); publish when a figure is due."""
    global _window
    window = _window
    if window is None or window.predictor is not model.predictor:
        window = _window = _Window(model.predictor, model.version, clock())
    if window.edges is None:
        return  # a model published before drift bins
    pending = window.pending
    pending.extend(row)
    if len(pending) % window.check == 0:
        _tick(window)


def _tick(window: _Window) -> None:
    """Every ``CHECK_EVERY`` rows: publish when due with enough rows, else bin a full batch."""
    global _window
    now = clock()
    if now >= window.due and window.rows + window.pending_rows >= MIN_ROWS:
        window.bin_pending()
        _publish(window)
        _window = _Window(window.predictor, window.version, now)
    elif window.pending_rows >= BIN_BATCH:
        window.bin_pending()


def psi(counts: Sequence[int], expected: Sequence[float]) -> float:
    """The population-stability index of ``counts`` (one feature's window) against training."""
    total = sum(counts)
    value = 0.0
    for count, e in zip(counts, expected, strict=True):
        a = count / total
        if a == 0 and e == 0:
            continue  # a bin between equal edges: empty on both sides, no information
        a, e = max(a, SMOOTHING), max(e, SMOOTHING)
        value += (a - e) * math.log(a / e)
    return value


def figures(window: _Window) -> dict[str, float]:
    """Each feature's PSI for the window (its pending rows binned first), by feature column."""
    window.bin_pending()
    if window.expected is None:
        return {}
    columns = window.predictor.feature_columns
    counts, expected = window.counts, window.expected
    return {
        column: round(psi(counts[j].tolist(), expected[j].tolist()), 6)
        for j, column in enumerate(columns)
    }


def _publish(window: _Window) -> None:
    """The ``DriftPSI`` metric (the largest feature's) and one log line with them all (the
    version and the rows are in the line: a metric of the served version would be one alarm
    per version)."""
    per_feature = figures(window)
    worst = max(per_feature, key=per_feature.__getitem__)
    logger.info(
        "Request drift of model %s over %d rows: PSI %.3f (%s); per feature %s",
        window.version,
        window.rows,
        per_feature[worst],
        worst,
        per_feature,
    )
    # the predict function's EMF (namespace, service dimension), sent as its invocation ends:
    # at most one figure a minute per container, so one per invocation, never a sum of two
    telemetry.metric(METRIC, per_feature[worst])


def reset() -> None:
    """Forget the counts (tests)."""
    global _window
    _window = None
