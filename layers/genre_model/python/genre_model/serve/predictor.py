"""Random-forest inference with numpy only, equal bit for bit to scikit-learn's ``predict_proba``
for finite inputs within float32 range (|x| <= 3.4e38), which is all the API lets through.

Why it is exact there: scikit-learn casts X to float32 before comparing ``x <= threshold``
(threshold float64), so we do the same; each leaf holds the class fractions ``predict_proba``
returns; the forest (pickled with ``n_jobs=None``) sums the trees' rows in tree order starting
from zeros, then divides by the tree count, and ``np.add.accumulate`` (one row) or a loop over
the trees (many rows) adds in exactly that order.
Outside that range the two differ: NaN goes left at every split here (``NaN > t`` is False)
while scikit-learn routes it by its missing-value rule, and infinities or values that overflow
float32 get an answer here where scikit-learn refuses them. The request schema rejects all of
these (finite numbers up to ``schemas.MAX_FEATURE_VALUE``) before they reach the predictor.

Many rows walk a second layout, built on first use: every tree padded to a complete binary tree
(padding nodes have threshold +inf, so every row goes left to the same leaf), so a child is
``2 * node + offset + (x > threshold)`` with no child table to read, in float32 throughout (a
float64 threshold t is replaced by the largest float32 <= t, which no float32 x tells apart).

The predictor file is a plain pickle of built-in types (arrays travel as bytes), so loading it
needs neither scikit-learn nor joblib's import time; joblib can still read and write it.
"""

from __future__ import annotations

import pickle
from collections.abc import Mapping, Sequence
from functools import cached_property
from typing import Any

import numpy as np

from genre_model.contract import PredictorError, country_codes, validate_forest

# Deepest forest given the complete-tree layout: 2**12 slots per tree (a few MB for 100 trees).
COMPLETE_LAYOUT_MAX_DEPTH = 12
# Rows walked together: (rows x trees) work arrays of this size stay in cache (measured best
# between 256 and 1,024 rows for 100 trees on 2 cores; 10,000 rows at once ran ~30 % slower).
ROW_BLOCK = 512


def load_payload(data: bytes) -> dict[str, Any]:
    """Unpickle an artifact the caller checked against the manifest SHA-256 (a pickle is code)."""
    payload = pickle.loads(data)  # noqa: S301 - only ever called on hash-verified bytes
    if not isinstance(payload, dict):
        raise PredictorError("artifact payload is not a dict")
    return payload


class Predictor:
    """A forest ready to answer; built from the payload ``train.export.export_forest`` writes."""

    def __init__(self, payload: Mapping[str, Any]) -> None:
        forest = validate_forest(payload)  # indexes, depth, leaves: checked before any request
        # The node table as validated (explain reads the covers; old versions have none).
        self.arrays = {
            name: getattr(forest, name)
            for name in ("feature", "threshold", "left", "right", "value", "roots", "cover")
            if getattr(forest, name) is not None
        }
        self.classes: tuple[str, ...] = forest.classes
        self.feature_columns: tuple[str, ...] = forest.feature_columns
        self.countries = country_codes(forest.countries)
        self.depth = forest.depth
        self.drift = forest.drift  # the training snapshot's bins (serve/drift.py); None: older
        # "Slot" layout: slot 2*i+0/1 of node i leads to its left/right child's slot, so one
        # step is ``slot = child[slot + (x[feature[slot]] > threshold[slot])]``: the fewest
        # numpy calls per tree level, which is what a one-row prediction costs.
        self._feature = np.repeat(forest.feature.astype(np.int64), 2)
        self._threshold = np.repeat(forest.threshold.astype(np.float64), 2)
        child = np.empty(2 * len(forest.left), dtype=np.int64)
        child[0::2] = 2 * forest.left.astype(np.int64)
        child[1::2] = 2 * forest.right.astype(np.int64)
        self._child = child
        self._value = forest.value.astype(np.float64, copy=False)
        self._roots = 2 * forest.roots.astype(np.int64)
        self.n_trees = len(self._roots)

    @classmethod
    def from_bytes(cls, data: bytes) -> Predictor:
        return cls(load_payload(data))

    def predict_proba(self, X: Sequence[Sequence[float]] | np.ndarray) -> np.ndarray:
        """Class probabilities for each row of ``X`` (columns in ``feature_columns`` order)."""
        x = np.asarray(X, dtype=np.float32)
        if x.ndim != 2 or x.shape[1] != len(self.feature_columns):
            raise PredictorError(f"expected rows of {len(self.feature_columns)} features")
        total = np.zeros((len(x), self._value.shape[1]))
        for start in range(0, len(x), ROW_BLOCK):
            block = x[start : start + ROW_BLOCK]
            if self.depth <= COMPLETE_LAYOUT_MAX_DEPTH:
                leaves = self._complete.leaves(block)
            else:
                leaves = self._slot_leaves(block.astype(np.float64))
            subtotal = total[start : start + ROW_BLOCK]
            for tree in range(self.n_trees):  # tree order, from zeros: scikit-learn's sum
                subtotal += self._value[leaves[:, tree]]
        return total / self.n_trees

    def _slot_leaves(self, x: np.ndarray) -> np.ndarray:
        """Leaf node of each (row, tree), walking the slot layout (any depth)."""
        rows = np.arange(len(x))[:, None]
        slot = np.broadcast_to(self._roots, (len(x), self.n_trees))
        feature, threshold, child = self._feature, self._threshold, self._child
        for _ in range(self.depth):  # leaves loop on themselves
            slot = child[slot + (x[rows, feature[slot]] > threshold[slot])]
        return slot >> 1

    @cached_property
    def _complete(self) -> CompleteTrees:
        return CompleteTrees(self.arrays, self.depth)

    def predict_one(self, features: Sequence[float]) -> np.ndarray:
        """Probabilities for one customer: the API's hot path, without batch bookkeeping."""
        x = np.asarray(features, dtype=np.float32).astype(np.float64)
        slot = self._roots
        feature, threshold, child = self._feature, self._threshold, self._child
        for _ in range(self.depth):
            slot = child[slot + (x[feature[slot]] > threshold[slot])]
        total: np.ndarray = np.add.accumulate(self._value[slot >> 1], axis=0)[-1]
        return total / self.n_trees


def _float32_at_most(threshold: np.ndarray) -> np.ndarray:
    """The largest float32 <= each threshold: ``x <= t`` and ``x <= t32`` agree for float32 x."""
    t32 = threshold.astype(np.float32)
    over = t32.astype(np.float64) > threshold
    t32[over] = np.nextafter(t32[over], np.float32(-np.inf))
    return t32


class CompleteTrees:
    """Every tree as a complete binary tree of ``depth`` levels: the batch walk."""

    def __init__(self, arrays: Mapping[str, np.ndarray], depth: int) -> None:
        left, right, roots = arrays["left"], arrays["right"], arrays["roots"]
        n_trees, inner = len(roots), (1 << depth) - 1
        feature = np.zeros((n_trees, inner), dtype=np.intp)
        threshold = np.full((n_trees, inner), np.inf)
        node = roots[:, None]
        for level in range(depth):  # breadth first: level l holds slots 2**l - 1 ...
            start, internal = (1 << level) - 1, left[node] != node
            feature[:, start : 2 * start + 1] = np.where(internal, arrays["feature"][node], 0)
            threshold[:, start : 2 * start + 1] = np.where(
                internal, arrays["threshold"][node], np.inf
            )
            children = np.empty((n_trees, 2 * node.shape[1]), dtype=np.intp)
            children[:, 0::2] = np.where(internal, left[node], node)
            children[:, 1::2] = np.where(internal, right[node], node)
            node = children
        self.depth = depth
        self._feature = feature.ravel()
        self._threshold = _float32_at_most(threshold.ravel())
        self._first = np.arange(n_trees) * inner  # each tree's root
        self._offset = 1 - self._first  # child = 2 * node + offset + went_right
        self._leaf = node.ravel()  # node table index of each tree's 2**depth bottom slots
        self._leaf_base = np.arange(n_trees) * (1 << depth) - inner - self._first

    def leaves(self, x: np.ndarray) -> np.ndarray:
        """Leaf node (in the exported table) of each (row, tree); ``x`` float32 rows."""
        n_rows = len(x)
        flat = x.T.ravel()  # feature-major: feature f of row r at f * n_rows + r
        column = self._feature * n_rows
        rows = np.arange(n_rows)[:, None]
        node = np.broadcast_to(self._first, (n_rows, len(self._first)))
        for _ in range(self.depth):
            node = 2 * node + self._offset + (flat[column[node] + rows] > self._threshold[node])
        return self._leaf[node + self._leaf_base]
