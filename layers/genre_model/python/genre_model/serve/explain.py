"""Exact SHAP values of one prediction, from the exported forest arrays with numpy only.

What is computed is SHAP's "tree path-dependent" definition (``shap.TreeExplainer(model,
feature_perturbation="tree_path_dependent")``): the value of a feature subset S is each tree's
expected output when only the features in S are known, where an unknown feature's split sends
the row down both branches weighted by the training rows (covers) that went each way. With 3 or
4 features every subset can be evaluated, so the Shapley values are exact by definition rather
than by TreeSHAP's polynomial recursion.

Why leaves and boxes: a leaf's weight in v(S) is the product, over the features on its path, of
"x lies in the leaf's interval" (feature in S) or "the cover fraction along that feature's
splits" (feature not in S). Both come from per-leaf arrays built once per model, so a request
is a few vectorised passes over the leaves.
"""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass
from math import factorial
from typing import Any

import numpy as np

from genre_model.serve.predictor import Predictor

METHOD = "shap-tree-path-dependent"


class ExplainUnavailable(ValueError):
    """This model version cannot be explained (published without node covers, or damaged)."""


@dataclass(frozen=True)
class Explanation:
    genre: str
    base_value: float
    contributions: dict[str, float]

    def as_json(self) -> dict[str, Any]:
        return {
            "method": METHOD,
            "genre": self.genre,
            "base_value": self.base_value,
            "contributions": self.contributions,
        }


def shapley_weights(n_features: int) -> np.ndarray:
    """K with phi = v @ K: row s is a subset (bit j set: feature j in it), column j a feature."""
    subsets = 1 << n_features
    members = (np.arange(subsets)[:, None] >> np.arange(n_features)) & 1
    sizes = members.sum(axis=1)
    k = np.zeros((subsets, n_features))
    for s in range(subsets):
        size = int(sizes[s])
        for j in range(n_features):
            if members[s, j]:  # v(S) with j in S enters phi_j with +|S-1|!(n-|S|)!/n!
                k[s, j] = factorial(size - 1) * factorial(n_features - size)
            else:  # v(S) without j enters phi_j with -|S|!(n-|S|-1)!/n!
                k[s, j] = -factorial(size) * factorial(n_features - size - 1)
    return k / factorial(n_features)


class ForestExplainer:
    """Per-leaf intervals and cover fractions of one forest; ``explain`` answers one row."""

    def __init__(self, predictor: Predictor) -> None:
        arrays = predictor.arrays
        if "cover" not in arrays:
            raise ExplainUnavailable("published without node covers; retrain to explain")
        n_features = len(predictor.feature_columns)
        lo, hi, fraction, leaves = _leaf_boxes(arrays, predictor.depth, n_features)
        self.classes = predictor.classes
        self.feature_columns = predictor.feature_columns
        # Feature-major (features, leaves) and class-major (classes, leaves): every pass below
        # runs over contiguous leaves.
        self._lo, self._hi = np.ascontiguousarray(lo.T), np.ascontiguousarray(hi.T)
        self._fraction = np.ascontiguousarray(fraction.T)
        self._value = np.ascontiguousarray(arrays["value"][leaves].T) / predictor.n_trees
        self._weights = shapley_weights(n_features)

    def explain(self, features: list[float], genre: str) -> Explanation:
        """SHAP values of ``genre``'s probability for one row (columns in model order)."""
        x = np.asarray(features, dtype=np.float32).astype(np.float64)  # as the forest compares
        n_features, n_leaves = self._lo.shape
        # weight[s, leaf]: the leaf's share of v(s); built by doubling, one feature at a time.
        weight = np.empty((1 << n_features, n_leaves))
        weight[0] = self._value[self.classes.index(genre)]
        for j in range(n_features):
            k = 1 << j
            inside = (x[j] > self._lo[j]) & (x[j] <= self._hi[j])
            np.multiply(weight[:k], inside, out=weight[k : 2 * k])  # subsets with feature j
            weight[:k] *= self._fraction[j]  # ... and without it
        v = weight.sum(axis=1)  # numpy's pairwise sum: one fixed order on every CPU
        # Not ``v @ weights``: BLAS picks its kernel by CPU (FMA, unrolling), so the same model
        # and row would explain differently in the last bit from one machine to the next. A
        # product and a sum over the subsets, in subset order, round the same everywhere.
        phi = (v[:, None] * self._weights).sum(axis=0)
        return Explanation(
            genre=genre,
            base_value=float(v[0]),
            contributions=dict(zip(self.feature_columns, phi.tolist(), strict=True)),
        )


def _leaf_boxes(
    arrays: dict[str, np.ndarray], depth: int, n_features: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Walk every tree top-down once: each leaf's (lo, hi] per feature and cover fractions."""
    left, right = arrays["left"], arrays["right"]
    feature, threshold, cover = arrays["feature"], arrays["threshold"], arrays["cover"]
    n = len(left)
    if cover.shape != (n,) or not np.all(np.isfinite(cover)) or not np.all(cover > 0):
        raise ExplainUnavailable("node covers are missing, non-finite or not positive")
    internal = left != np.arange(n)
    lo = np.full((n, n_features), -np.inf)
    hi = np.full((n, n_features), np.inf)
    fraction = np.ones((n, n_features))
    frontier = arrays["roots"]
    leaves = [frontier[~internal[frontier]]]
    frontier = frontier[internal[frontier]]
    for _ in range(depth):
        if not frontier.size:
            break
        f, t = feature[frontier], threshold[frontier]
        for child, is_right in ((left[frontier], False), (right[frontier], True)):
            lo[child], hi[child], fraction[child] = lo[frontier], hi[frontier], fraction[frontier]
            if is_right:  # x > t went right: the interval's lower end rises to t
                lo[child, f] = np.maximum(lo[child, f], t)
            else:
                hi[child, f] = np.minimum(hi[child, f], t)
            fraction[child, f] *= cover[child] / cover[frontier]
        children = np.concatenate((left[frontier], right[frontier]))
        leaves.append(children[~internal[children]])
        frontier = children[internal[children]]
    if frontier.size:
        raise ExplainUnavailable("a tree is deeper than the predictor's depth")
    index = np.sort(np.concatenate(leaves))
    return lo[index], hi[index], fraction[index], index


_explainers: weakref.WeakKeyDictionary[Predictor, ForestExplainer | str] = (
    weakref.WeakKeyDictionary()
)
_lock = threading.Lock()


def explainer_for(predictor: Predictor) -> ForestExplainer:
    """The predictor's explainer, built on its first explain request and kept while it lives."""
    with _lock:
        built = _explainers.get(predictor)
        if built is None:
            try:
                built = ForestExplainer(predictor)
            except ExplainUnavailable as exc:
                built = str(exc)
            except (IndexError, KeyError, TypeError, ValueError) as exc:  # damaged node table
                built = f"the node table cannot be walked: {type(exc).__name__}"
            _explainers[predictor] = built
    if isinstance(built, str):
        raise ExplainUnavailable(built)
    return built
