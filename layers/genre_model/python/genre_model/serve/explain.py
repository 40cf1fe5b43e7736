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
# Elements of one block's (rows, subsets, leaves) work arrays (~2 MB of float64).
ROW_BLOCK_ELEMENTS = 1 << 18


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
    """Per-leaf intervals and each class's per-leaf terms of one forest; ``explain_rows`` answers
    many rows at once, ``explain`` one."""

    def __init__(self, predictor: Predictor) -> None:
        arrays = predictor.arrays
        if "cover" not in arrays:
            raise ExplainUnavailable("published without node covers; retrain to explain")
        n_features = len(predictor.feature_columns)
        lo, hi, fraction, leaves = _leaf_boxes(arrays, predictor.depth, n_features)
        self.classes = predictor.classes
        self.feature_columns = predictor.feature_columns
        # Feature-major (features, leaves): every pass below runs over contiguous leaves.
        self._lo, self._hi = np.ascontiguousarray(lo.T), np.ascontiguousarray(hi.T)
        value = np.ascontiguousarray(arrays["value"][leaves].T) / predictor.n_trees
        self._terms = _terms(value, np.ascontiguousarray(fraction.T))
        # v(empty set) does not depend on the row: each class's base value, summed once.
        self._base = self._terms[:, 0].sum(axis=1)
        self._weights = shapley_weights(n_features)
        # Rows explained together: their (rows, subsets, leaves) work arrays stay in cache.
        self._block = max(1, ROW_BLOCK_ELEMENTS // self._terms[0].size)

    def explain(self, features: list[float], genre: str) -> Explanation:
        """SHAP values of ``genre``'s probability for one row (columns in model order)."""
        x = np.asarray(features, dtype=np.float32).astype(np.float64)  # as the forest compares
        c = self.classes.index(genre)
        v = np.empty(1 << len(self.feature_columns))
        v[0] = self._base[c]
        v[1:] = self._known_values(x, c, *self._work(()))
        return Explanation(
            genre=genre,
            base_value=float(v[0]),
            contributions=dict(zip(self.feature_columns, self._shapley(v).tolist(), strict=True)),
        )

    def explain_rows(self, rows: np.ndarray, genres: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Base value and SHAP values (rows, features) of each row's class ``genres[i]`` (an
        index into ``classes``), rows in model column order: for each row, bit for bit what
        ``explain`` gives it alone (the same terms summed in the same order), in blocks of rows
        of one class."""
        x = np.asarray(rows, dtype=np.float32).astype(np.float64)
        v = np.empty((len(x), 1 << len(self.feature_columns)))
        v[:, 0] = self._base[genres]
        known, shares = self._work((min(self._block, len(x)),))
        for genre in np.unique(genres).tolist():
            chosen = np.flatnonzero(genres == genre)
            for start in range(0, len(chosen), self._block):
                block = chosen[start : start + self._block]
                v[block, 1:] = self._known_values(
                    x[block], genre, known[: len(block)], shares[: len(block)]
                )
        return v[:, 0], self._shapley(v)

    def _work(self, rows: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
        """Work arrays for one row (``()``) or a block of rows at a time, made once per call (a
        fresh pair per block costs more than the block's arithmetic)."""
        subsets, leaves = self._terms.shape[1:]
        known = np.empty((*rows, subsets, leaves), dtype=bool)
        known[..., 0, :] = True  # subset 0, no feature: every leaf; the others are written anew
        return known, np.empty((*rows, subsets - 1, leaves))

    def _known_values(
        self, x: np.ndarray, genre: int, known: np.ndarray, shares: np.ndarray
    ) -> np.ndarray:
        """v(s) of class ``genre`` for every subset s but the empty one: x (..., features) one
        row or a block of rows, the work arrays shaped to match."""
        # known[..., s, leaf]: the row lies in the leaf's box on every feature of subset s;
        # built by doubling, one feature at a time, from subset 0 (all True).
        for j, (lo, hi) in enumerate(zip(self._lo, self._hi, strict=True)):
            xj, k = x[..., j, None], 1 << j
            inside = ((xj > lo) & (xj <= hi))[..., None, :]
            np.logical_and(known[..., :k, :], inside, out=known[..., k : 2 * k, :])
        # A leaf's share of v(s): its term where the row is inside, else 0 (exactly what
        # multiplying by 0/1 one feature at a time gives). numpy's pairwise sum over the leaves:
        # one fixed order on every CPU.
        np.multiply(self._terms[genre, 1:], known[..., 1:, :], out=shares)
        v: np.ndarray = shares.sum(axis=-1)
        return v

    def _shapley(self, v: np.ndarray) -> np.ndarray:
        """SHAP values (..., features) from v (..., subsets). Not ``v @ weights``: BLAS picks
        its kernel by CPU (FMA, unrolling), so the same model and row would explain differently
        in the last bit from one machine to the next. A product and a sum over the subsets, in
        subset order, round the same everywhere."""
        phi: np.ndarray = (v[..., :, None] * self._weights).sum(axis=-2)
        return phi


def _terms(value: np.ndarray, fraction: np.ndarray) -> np.ndarray:
    """terms[c, s, leaf]: class c's leaf value times the cover fraction of every feature not in
    subset s, multiplied in feature order: a leaf's share of v(s) when the row is in its box."""
    n_features, n_leaves = fraction.shape
    terms = np.empty((len(value), 1 << n_features, n_leaves))
    terms[:, 0] = value
    for j in range(n_features):
        k = 1 << j
        terms[:, k : 2 * k] = terms[:, :k]  # subsets with feature j: known, a factor of 1
        terms[:, :k] *= fraction[j]  # ... and without it
    return terms


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
