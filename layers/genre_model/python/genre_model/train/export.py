"""Export a fitted scikit-learn forest as plain arrays that ``serve.predictor.Predictor`` evaluates.

All trees are concatenated into one node table; leaves point to themselves so a fixed number of
vectorised steps (the deepest tree's depth) walks every tree at once. Leaf values are copied
unchanged: ``DecisionTreeClassifier.predict_proba`` returns them as they are. Each node's cover
(``weighted_n_node_samples``: the bootstrap-weighted training rows that reached it) goes along:
``explain`` needs it for the tree path-dependent expectations SHAP defines.
The forest may be fitted on genre codes (the published one is); ``classes`` names its columns.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.ensemble import RandomForestClassifier

from genre_model.contract import FORMAT, drift_bins, pack_arrays


def export_forest(
    model: RandomForestClassifier,
    classes: Sequence[str],
    feature_columns: Sequence[str],
    countries: Sequence[str] = (),
    training_rows: np.ndarray | None = None,
) -> dict[str, Any]:
    """The predictor payload: genre names (one per ``model.classes_``), features, node table,
    and the drift bins of ``training_rows`` (the training matrix) when given."""
    if len(classes) != len(model.classes_):
        raise ValueError(f"{len(classes)} genre names for {len(model.classes_)} forest classes")
    features, thresholds, lefts, rights, values, covers, roots = [], [], [], [], [], [], []
    offset, depth = 0, 0
    for estimator in model.estimators_:
        tree = estimator.tree_
        n = tree.node_count
        index = np.arange(n, dtype=np.int64) + offset
        leaf = tree.children_left == -1
        lefts.append(np.where(leaf, index, tree.children_left + offset))
        rights.append(np.where(leaf, index, tree.children_right + offset))
        features.append(np.where(leaf, 0, tree.feature).astype(np.int64))
        thresholds.append(np.where(leaf, 0.0, tree.threshold))
        values.append(tree.value[:, 0, :])
        covers.append(tree.weighted_n_node_samples)
        roots.append(offset)
        depth = max(depth, int(tree.max_depth))
        offset += n
    return {
        "format": FORMAT,
        "classes": [str(c) for c in classes],
        "feature_columns": list(feature_columns),
        "countries": list(countries),
        "depth": depth,
        "arrays": pack_arrays(
            {
                "feature": np.concatenate(features),
                "threshold": np.concatenate(thresholds).astype(np.float64),
                "left": np.concatenate(lefts).astype(np.int64),
                "right": np.concatenate(rights).astype(np.int64),
                "value": np.ascontiguousarray(np.concatenate(values), dtype=np.float64),
                "roots": np.asarray(roots, dtype=np.int64),
                "cover": np.concatenate(covers).astype(np.float64),
            }
        )
        | (drift_bins(training_rows) if training_rows is not None else {}),
    }
