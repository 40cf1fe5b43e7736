"""Each version's report: ``report.json`` (the figures training prints) and ``report.png`` (the
picture an operator looks at: confusion matrix, feature importances, model vs baseline over the
last versions).

matplotlib is imported here only, with its Agg backend (no display, no GUI toolkit): the train
wing draws, the serve wing never imports this module (``test_package_layout``) and reads only
``report.json``'s headline through ``contract.Headline``.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from genre_model.contract import REPORT_FORMAT, Headline

HISTORY_VERSIONS = 10  # versions drawn in the model-vs-baseline panel, this one included


@dataclass(frozen=True)
class HistoryPoint:
    """One earlier (or this) version's hold-out accuracy next to its baseline."""

    version: str
    model_accuracy: float
    baseline_accuracy: float


def build_report(
    version: str,
    created: str,
    report: dict[str, Any],
    watermark: dict[str, Any],
    history: Sequence[HistoryPoint],
) -> dict[str, Any]:
    """``report.json``: the headline ``Headline.from_report`` reads, and the detail behind it.

    ``report`` is ``fit.train``'s report; ``history`` the earlier versions, oldest first (this
    one is appended; at most ``HISTORY_VERSIONS`` are kept)."""
    holdout, cv = report["holdout"], report["cross_validation"]

    def figures(model: dict[str, Any], baseline: dict[str, Any]) -> dict[str, float]:
        return {
            "model_accuracy": model["accuracy"],
            "baseline_accuracy": baseline["accuracy"],
            "model_macro_f1": model["macro_f1"],
            "baseline_macro_f1": baseline["macro_f1"],
        }

    means = {k: {m: v["mean"] for m, v in cv[k].items()} for k in ("model", "baseline")}
    this = HistoryPoint(version, holdout["model"]["accuracy"], holdout["baseline"]["accuracy"])
    points = [*history, this][-HISTORY_VERSIONS:]
    value = {
        "format": REPORT_FORMAT,
        "version": version,
        "created": created,
        "headline": {
            "holdout": figures(holdout["model"], holdout["baseline"]),
            "cross_validation": figures(means["model"], means["baseline"]),
            "beats_baseline": report["beats_baseline"],
            "baseline_genre": holdout["baseline_genre"],
            "labelled_customers": report["customers"]["labelled"],
            "data_watermark": watermark,
        },
        "sample": {
            **{k: v for k, v in report["customers"].items() if k != "dropped_genres"},
            "class_counts": report["class_counts"],
            "dropped_genres": report["customers"]["dropped_genres"],
            "cross_validation_customers": cv["customers"],
            "cross_validation_estimates": cv["estimates"],
        },
        "per_genre": holdout["classification_report"],
        "genres_not_in_test": holdout["genres_not_in_test"],
        "confusion_matrix": holdout["confusion_matrix"],
        "feature_importances": report["feature_importances"],
        "verdict": report["verdict"],
        "history": [p.__dict__ for p in points],
    }
    Headline.from_report(value, version)  # what serve will read back: refuse to write less
    return value


def render_png(report: dict[str, Any]) -> bytes:
    """The picture of a ``build_report`` value, as PNG bytes (Agg: no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure  # no pyplot: no global figure state, nothing to close

    figure = Figure(figsize=(15, 5), dpi=100, layout="constrained")
    matrix_ax, importance_ax, history_ax = figure.subplots(1, 3)
    _confusion(matrix_ax, report["confusion_matrix"])
    _importances(importance_ax, report["feature_importances"])
    _history(history_ax, report["history"], report["headline"])
    head = report["headline"]
    figure.suptitle(
        f"{report['version']}: hold-out accuracy {head['holdout']['model_accuracy']:.1%} vs "
        f"baseline {head['holdout']['baseline_accuracy']:.1%}; CV "
        f"{head['cross_validation']['model_accuracy']:.1%} vs "
        f"{head['cross_validation']['baseline_accuracy']:.1%} "
        f"({head['labelled_customers']} labelled customers)"
    )
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", metadata={"Software": None})  # bytes of the figures only
    return buffer.getvalue()


def _confusion(ax: Any, confusion: dict[str, Any]) -> None:
    labels, matrix = confusion["labels"], confusion["matrix"]
    ax.imshow(matrix, cmap="Blues")
    ax.set_xticks(range(len(labels)), labels, rotation=60, ha="right", fontsize=7)
    ax.set_yticks(range(len(labels)), labels, fontsize=7)
    top = max((max(row) for row in matrix), default=0)
    for i, row in enumerate(matrix):
        for j, count in enumerate(row):
            if count:
                colour = "white" if count > top / 2 else "black"
                ax.text(j, i, str(count), ha="center", va="center", fontsize=7, color=colour)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title("Confusion matrix (hold-out)")


def _importances(ax: Any, importances: dict[str, float]) -> None:
    ranked = sorted(importances.items(), key=lambda kv: kv[1])
    ax.barh([name for name, _ in ranked], [weight for _, weight in ranked], color="tab:green")
    ax.set_xlabel("importance (published forest)")
    ax.set_title("Feature importances")


def _history(ax: Any, history: list[dict[str, Any]], head: dict[str, Any]) -> None:
    names = [p["version"][:15] for p in history]  # the time part: the suffix adds nothing here
    x = range(len(history))
    ax.plot(x, [p["model_accuracy"] for p in history], "o-", label="model")
    ax.plot(x, [p["baseline_accuracy"] for p in history], "s--", label="baseline")
    ax.set_xticks(list(x), names, rotation=60, ha="right", fontsize=7)
    ax.set_ylim(0, 1)
    ax.set_ylabel("hold-out accuracy")
    ax.set_title(f"Model vs baseline (always {head['baseline_genre']!r})")
    ax.legend(loc="lower right")
