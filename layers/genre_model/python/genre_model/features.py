"""Per-customer features and the label, from the one-row-per-customer summaries of ``sources``.

Features (the spec's): ``total_spent`` (dollars), ``total_tracks_bought`` and
``genre_spending_ratio`` (share of the customer's money spent on the favourite genre).
Label: the favourite genre, chosen in SQL (see ``sources`` for the tie rule).
The optional ``location`` feature set adds ``country_code``: an index into the sorted list of
countries seen in training; 0 is the explicit unknown bucket used for unseen or missing countries.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from genre_model.sources import CustomerRow

SPEC_FEATURES = ("total_spent", "total_tracks_bought", "genre_spending_ratio")
LOCATION_FEATURES = (*SPEC_FEATURES, "country_code")
UNKNOWN_COUNTRY = "Unknown"
MIN_CUSTOMERS_PER_GENRE = 2

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Dataset:
    """Labelled customers ready for scikit-learn."""

    customers: pd.DataFrame  # index customer_id; feature columns + country + genre
    feature_columns: tuple[str, ...]
    countries: tuple[str, ...]  # code i+1 is countries[i]; 0 is unknown
    dropped_genres: dict[str, int]  # genre -> customers dropped with it
    customers_read: int
    summaries: pd.DataFrame  # every customer read, labelled or not (the predict snapshot)

    @property
    def X(self) -> np.ndarray:
        return self.customers.loc[:, list(self.feature_columns)].to_numpy(dtype=np.float64)

    @property
    def y(self) -> np.ndarray:
        return self.customers["genre"].to_numpy(dtype=object)


def summaries_frame(rows: Iterable[CustomerRow]) -> pd.DataFrame:
    """The summaries as a frame with the spec's three features computed."""
    frame = pd.DataFrame.from_records(list(rows), columns=list(CustomerRow._fields))
    frame = frame.set_index("customer_id")
    total = frame["total_cents"].astype(np.float64)
    frame["total_spent"] = total / 100.0
    frame["total_tracks_bought"] = frame["total_tracks"].astype(np.int64)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = frame["genre_cents"].astype(np.float64) / total
    frame["genre_spending_ratio"] = ratio.fillna(0.0)
    frame["country"] = frame["country"].fillna(UNKNOWN_COUNTRY)
    return frame


def country_codes(countries: tuple[str, ...]) -> dict[str, int]:
    """Country -> code; unseen countries map to 0, the unknown bucket."""
    return {country: code for code, country in enumerate(countries, start=1)}


def build_dataset(rows: Iterable[CustomerRow], feature_set: str = "spec") -> Dataset:
    """Label customers, drop genres too rare to split, and encode the chosen feature set."""
    summaries = summaries_frame(rows)
    frame = summaries
    customers_read = len(frame)
    counts = frame["genre"].value_counts()
    rare = counts[counts < MIN_CUSTOMERS_PER_GENRE]
    if len(rare):
        logger.warning(
            "Dropping genres with fewer than %d customers: %s",
            MIN_CUSTOMERS_PER_GENRE,
            ", ".join(f"{genre} ({n})" for genre, n in sorted(rare.items())),
        )
        frame = frame[~frame["genre"].isin(rare.index)]
    countries: tuple[str, ...] = ()
    columns = SPEC_FEATURES
    if feature_set == "location":
        countries = tuple(sorted(set(frame["country"]) - {UNKNOWN_COUNTRY}))
        codes = country_codes(countries)
        frame = frame.assign(country_code=frame["country"].map(codes).fillna(0).astype(np.int64))
        columns = LOCATION_FEATURES
    keep = [*columns, "country", "genre"]
    return Dataset(
        customers=frame.loc[:, keep].copy(),
        feature_columns=columns,
        countries=countries,
        dropped_genres={str(g): int(n) for g, n in rare.items()},
        customers_read=customers_read,
        summaries=summaries.loc[:, [*SPEC_FEATURES, "country"]],
    )
