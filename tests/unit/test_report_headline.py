"""The headline of ``report.json`` as serve reads it (``GET /api/model``, ``versions``): a report
written by training reads back equal, each figure is a fraction from 0 to 1 inclusive (and one
step past either end is refused), and a report of the wrong shape raises ``ReportError`` naming
what is wrong; a hash only proves the bytes were published, not that they are figures."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from genre_model.contract import REPORT_FORMAT, ContractError, Headline, ReportError

VERSION = "20261126T020000Z-1a2b3c"


def figures(model: float, baseline: float) -> dict[str, float]:
    return {
        "model_accuracy": model,
        "baseline_accuracy": baseline,
        "model_macro_f1": model / 2,
        "baseline_macro_f1": baseline / 2,
    }


def report(**headline: Any) -> dict[str, Any]:
    """A report as ``train.report.build_report`` writes it (only what the headline reads)."""
    return {
        "format": REPORT_FORMAT,
        "version": VERSION,
        "headline": {
            "holdout": figures(0.5, 0.25),
            "cross_validation": figures(0.4, 0.3),
            "beats_baseline": True,
            "baseline_genre": "Rock",
            "labelled_customers": 59,
            "data_watermark": {"source": "mysql", "customers_read": 59},
            **headline,
        },
    }


def refused(value: object, version: str = VERSION) -> str:
    with pytest.raises(ReportError) as error:
        Headline.from_report(value, version)
    return str(error.value)


def test_a_written_report_reads_back_as_its_headline() -> None:
    written = report()
    head = Headline.from_report(written, VERSION)
    assert head.holdout == figures(0.5, 0.25)
    assert head.cross_validation == figures(0.4, 0.3)
    assert (head.beats_baseline, head.baseline_genre, head.labelled_customers) == (
        True,
        "Rock",
        59,
    )
    assert head.data_watermark == {"source": "mysql", "customers_read": 59}
    assert head.to_json() == written["headline"]
    # what GET /api/model shows is a copy: changing it changes neither the report nor the headline
    shown = head.to_json()
    shown["holdout"]["model_accuracy"] = 0.0
    shown["data_watermark"]["source"] = "x"
    assert head.holdout["model_accuracy"] == 0.5
    assert head.data_watermark["source"] == "mysql"
    assert written["headline"]["data_watermark"]["source"] == "mysql"


@pytest.mark.parametrize("block", ["holdout", "cross_validation"])
@pytest.mark.parametrize("figure", Headline.FIGURES)
def test_each_figure_may_be_zero_or_one_and_not_one_step_past(block: str, figure: str) -> None:
    for edge in (0, 1, 0.0, 1.0):
        written = report()
        written["headline"][block][figure] = edge
        value = getattr(Headline.from_report(written, VERSION), block)[figure]
        assert value == edge
        assert type(value) is float  # an integer 0 or 1 is shown as a number like the others
    for past in (-1e-9, 1 + 1e-9, True, "0.5", None):
        written = report()
        written["headline"][block][figure] = past
        assert refused(written) == f"headline {block}.{figure} must be a number from 0 to 1"


@pytest.mark.parametrize("block", ["holdout", "cross_validation"])
def test_a_missing_estimate_block_is_named(block: str) -> None:
    assert refused(report(**{block: None})) == f"headline {block} is missing"
    assert refused(report(**{block: [0.5]})) == f"headline {block} is missing"


def test_labelled_customers_is_a_count_from_zero() -> None:
    assert Headline.from_report(report(labelled_customers=0), VERSION).labelled_customers == 0
    for bad in (-1, True, 1.0, "59", None):
        assert refused(report(labelled_customers=bad)) == (
            "headline labelled_customers must be a count"
        )


@pytest.mark.parametrize(
    "changes",
    [
        {"beats_baseline": 1},
        {"beats_baseline": None},
        {"baseline_genre": None},
        {"baseline_genre": 3},
    ],
)
def test_the_verdict_is_a_boolean_and_the_baseline_a_genre_name(changes: dict) -> None:
    assert refused(report(**changes)) == (
        "headline beats_baseline must be a boolean, baseline_genre a name"
    )


def test_beats_baseline_false_is_a_verdict_too() -> None:
    assert Headline.from_report(report(beats_baseline=False), VERSION).beats_baseline is False


def test_the_data_watermark_is_a_map_of_strings_and_integers() -> None:
    assert Headline.from_report(report(data_watermark={}), VERSION).data_watermark == {}
    assert refused(report(data_watermark=["mysql"])) == "headline data_watermark must be a map"
    for bad in (True, 1.5, None, ["x"]):
        assert refused(report(data_watermark={"source": "mysql", "read": bad})) == (
            "headline data_watermark values must be strings or integers"
        )


def test_a_report_of_another_shape_or_version_is_refused_by_name() -> None:
    shape = "report.json is not a genre-model-report/1 object"
    assert refused([report()]) == shape
    assert refused({**report(), "format": "genre-model-report/2"}) == shape
    assert refused({k: v for k, v in report().items() if k != "format"}) == shape
    assert refused(report(), "20261126T020000Z-ffffff") == (
        f"report.json names version '{VERSION}'"
    )
    assert refused({**report(), "headline": [1]}) == "report.json has no headline"
    assert refused({k: v for k, v in report().items() if k != "headline"}) == (
        "report.json has no headline"
    )
    assert issubclass(ReportError, ContractError)


def test_reading_a_report_leaves_it_as_it_was() -> None:
    written = report()
    kept = copy.deepcopy(written)
    Headline.from_report(written, VERSION)
    assert written == kept
