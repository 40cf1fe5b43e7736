"""Random-forest inference with numpy only, equal bit for bit to scikit-learn's ``predict_proba``.

Why it is exact: scikit-learn casts X to float32 before comparing ``x <= threshold`` (threshold
float64), so we do the same; each leaf holds the class fractions ``predict_proba`` returns; the
forest sums the trees' rows in tree order starting from zeros, then divides by the tree count, and
``np.add.accumulate`` adds in exactly that order.

The predictor file is a plain pickle of built-in types (arrays travel as bytes), so loading it
needs neither scikit-learn nor joblib's import time; joblib can still read and write it.
"""

from __future__ import annotations

import pickle
from collections.abc import Mapping, Sequence

import numpy as np

FORMAT = "genre-model-forest/1"


class PredictorError(ValueError):
    """The predictor payload is not one this code can evaluate."""


def pack_arrays(arrays: Mapping[str, np.ndarray]) -> dict[str, tuple[str, tuple[int, ...], bytes]]:
    return {k: (a.dtype.str, a.shape, a.tobytes()) for k, a in arrays.items()}


def unpack_arrays(
    packed: Mapping[str, tuple[str, tuple[int, ...], bytes]],
) -> dict[str, np.ndarray]:
    return {
        k: np.frombuffer(raw, dtype=dt).reshape(shape) for k, (dt, shape, raw) in packed.items()
    }


def load_payload(data: bytes) -> dict:
    """Unpickle an artifact the caller checked against the manifest SHA-256 (a pickle is code)."""
    payload = pickle.loads(data)  # noqa: S301 - only ever called on hash-verified bytes
    if not isinstance(payload, dict):
        raise PredictorError("artifact payload is not a dict")
    return payload


class Predictor:
    """A forest ready to answer; built from the payload ``forest.export_forest`` writes."""

    def __init__(self, payload: Mapping) -> None:
        if payload.get("format") != FORMAT:
            raise PredictorError(f"unsupported predictor format {payload.get('format')!r}")
        arrays = unpack_arrays(payload["arrays"])
        self.arrays = arrays  # the exported node table as published (explain reads covers)
        self.classes: tuple[str, ...] = tuple(payload["classes"])
        self.feature_columns: tuple[str, ...] = tuple(payload["feature_columns"])
        self.countries: dict[str, int] = {c: i for i, c in enumerate(payload["countries"], 1)}
        self.depth = int(payload["depth"])
        # "Slot" layout: slot 2*i+0/1 of node i leads to its left/right child's slot, so one
        # step is ``slot = child[slot + (x[feature[slot]] > threshold[slot])]``: the fewest
        # numpy calls per tree level, which is what a one-row prediction costs.
        self._feature = np.repeat(arrays["feature"], 2)
        self._threshold = np.repeat(arrays["threshold"], 2)
        child = np.empty(2 * len(arrays["left"]), dtype=np.int64)
        child[0::2] = 2 * arrays["left"]
        child[1::2] = 2 * arrays["right"]
        self._child = child
        self._value = arrays["value"]
        self._roots = 2 * arrays["roots"]
        self.n_trees = len(self._roots)

    @classmethod
    def from_bytes(cls, data: bytes) -> Predictor:
        return cls(load_payload(data))

    def predict_proba(self, X: Sequence[Sequence[float]] | np.ndarray) -> np.ndarray:
        """Class probabilities for each row of ``X`` (columns in ``feature_columns`` order)."""
        x = np.asarray(X, dtype=np.float32).astype(np.float64)
        if x.ndim != 2 or x.shape[1] != len(self.feature_columns):
            raise PredictorError(f"expected rows of {len(self.feature_columns)} features")
        rows = np.arange(len(x))[:, None]
        slot = np.broadcast_to(self._roots, (len(x), self.n_trees))
        feature, threshold, child = self._feature, self._threshold, self._child
        for _ in range(self.depth):  # leaves loop on themselves
            slot = child[slot + (x[rows, feature[slot]] > threshold[slot])]
        per_tree = self._value[slot >> 1]  # (rows, trees, classes)
        return np.add.accumulate(per_tree, axis=1)[:, -1, :] / self.n_trees

    def predict_one(self, features: Sequence[float]) -> np.ndarray:
        """Probabilities for one customer: the API's hot path, without batch bookkeeping."""
        x = np.asarray(features, dtype=np.float32).astype(np.float64)
        slot = self._roots
        feature, threshold, child = self._feature, self._threshold, self._child
        for _ in range(self.depth):
            slot = child[slot + (x[feature[slot]] > threshold[slot])]
        return np.add.accumulate(self._value[slot >> 1], axis=0)[-1] / self.n_trees
