"""Per-customer features and the label, from the one-row-per-customer summaries of ``sources``.

Features (the spec's): ``total_spent`` (dollars), ``total_tracks_bought`` and
``genre_spending_ratio`` (share of the customer's money spent on the favourite genre).
Label: the favourite genre, chosen in SQL (see ``sources`` for the tie rule).
The optional ``location`` feature set adds ``country_code``, the country encoding of
``contract`` (an index into the sorted countries seen in training; 0 the unknown bucket).

Data rules after the query's line rule (README "Data rules"), each counted in ``Dataset.skipped``:
customers none of whose lines counted are left out entirely; customers whose favourite genre has
no name stay in the predict snapshot but are not labelled; a feature that is not finite or beyond
float32 (scikit-learn's tree dtype) refuses the run, because clipping would invent a customer.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import islice

import numpy as np
import pandas as pd

from genre_model.contract import (
    COUNTRY_FEATURE,
    FEATURE_COLUMNS,
    MAX_COUNTRY_LENGTH,
    MAX_FEATURE_VALUE,
    MAX_RATIO,
    MAX_TRACKS,
    SPEC_FEATURES,
    UNKNOWN_COUNTRY,
    UNKNOWN_COUNTRY_CODE,
    country_codes,
)
from genre_model.train.sources import CustomerRow, DataSourceError

MIN_CUSTOMERS_PER_GENRE = 2
MAX_FEATURE = MAX_FEATURE_VALUE  # scikit-learn's trees compare in float32; the API's limit
BLOCK_ROWS = 65_536  # summary rows read into one frame at a time (a few MiB of tuples)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Dataset:
    """Labelled customers ready for scikit-learn."""

    customers: pd.DataFrame  # index customer_id; feature columns + country + genre
    feature_columns: tuple[str, ...]
    countries: tuple[str, ...]  # code i+1 is countries[i]; 0 is unknown
    dropped_genres: dict[str, int]  # genre -> customers dropped with it
    customers_read: int
    summaries: pd.DataFrame  # every customer kept, labelled or not (the predict snapshot)
    skipped: dict[str, int] = field(default_factory=dict)  # what the data rules left out

    @property
    def X(self) -> np.ndarray:
        values: np.ndarray = self.customers.loc[:, list(self.feature_columns)].to_numpy(np.float64)
        return values

    @property
    def y(self) -> np.ndarray:
        labels: np.ndarray = self.customers["genre"].to_numpy(dtype=object)
        return labels


def summaries_frame(rows: Iterable[CustomerRow], block_rows: int = BLOCK_ROWS) -> pd.DataFrame:
    """The summaries as a frame with the spec's three features computed.

    Read ``block_rows`` rows at a time (``_read_blocks``): the store's rows are never all held as
    Python tuples, only their columns (numpy arrays, one string object per distinct country or
    genre). The frame equals the one built from all rows at once, dtypes included.
    """
    frame = _read_blocks(rows, block_rows)
    _refuse_duplicate_ids(frame["customer_id"])
    frame = frame.set_index("customer_id")
    total = frame["total_cents"].astype(np.float64)
    frame["total_spent"] = total / 100.0
    frame["total_tracks_bought"] = frame["total_tracks"].astype(np.int64)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = frame["genre_cents"].astype(np.float64) / total
    # A share is at most 1; sums past 2**53 cents come back from MySQL as rounded doubles, so a
    # favourite genre holding all the money can read as 1.0000000001 (the API refuses that).
    frame["genre_spending_ratio"] = ratio.fillna(0.0).clip(upper=MAX_RATIO)
    country = frame["country"]
    too_long = country.str.len() > MAX_COUNTRY_LENGTH  # no request could send it back
    frame["country"] = country.mask(too_long).fillna(UNKNOWN_COUNTRY)
    _refuse_out_of_range(frame)
    return frame


def _read_blocks(rows: Iterable[CustomerRow], block_rows: int) -> pd.DataFrame:
    """``DataFrame.from_records(list(rows))``, one block of rows at a time.

    Each block becomes a small frame; repeated countries and genres share one string object.
    Where the blocks' dtypes of a column disagree (a block without any country, ids that are
    numbers in one block and text in another), that column is inferred again over all its
    values, as the one-frame read would infer it.
    """
    columns = list(CustomerRow._fields)
    shared: dict[object, object] = {}
    keep = shared.setdefault
    iterator = iter(rows)
    blocks = []
    while block := [
        (r[0], keep(r[1], r[1]), keep(r[2], r[2]), *r[3:]) for r in islice(iterator, block_rows)
    ]:
        blocks.append(pd.DataFrame.from_records(block, columns=columns))
    if len(blocks) < 2:
        return blocks[0] if blocks else pd.DataFrame.from_records([], columns=columns)
    frame = pd.concat(blocks, ignore_index=True)
    for name in columns:
        if len({str(b[name].dtype) for b in blocks}) > 1:
            values = np.concatenate([_objects(b[name]) for b in blocks])
            frame[name] = pd.DataFrame.from_records(zip(values), columns=[name])[name]
    return frame


def _objects(column: pd.Series) -> np.ndarray:
    """A block's column as the Python objects it was read from (``None`` for a missing string,
    which a ``str`` column holds as NaN)."""
    values: np.ndarray = column.to_numpy(dtype=object)
    if isinstance(column.dtype, pd.StringDtype):
        values[column.isna().to_numpy()] = None
    return values


def _refuse_duplicate_ids(ids: pd.Series) -> None:
    """Two summary rows with one id (``'01'`` and ``'1'`` in a text column): which customer a
    ``customer_id`` request means cannot be told, so the run is refused."""
    twice = ids[ids.duplicated()].unique()
    if len(twice):
        shown = ", ".join(str(i) for i in sorted(twice)[:5])
        ids = f"ids {shown}{', ...' if len(twice) > 5 else ''} each stand" if len(twice) > 1 else ""
        raise DataSourceError(
            f"customer {ids or f'id {shown} stands'} for more than one customer once read as "
            "numbers ('01' and '1'): refusing to train (fix the ids)"
        )


def _refuse_out_of_range(frame: pd.DataFrame) -> None:
    values = frame.loc[:, list(SPEC_FEATURES)].to_numpy(dtype=np.float64)
    bad = ~(np.isfinite(values) & (np.abs(values) <= MAX_FEATURE)).all(axis=1)
    bad |= values[:, 1] > MAX_TRACKS  # what a request may send, and so what the snapshot holds
    if bad.any():
        ids = ", ".join(str(i) for i in frame.index[bad][:5])
        raise DataSourceError(
            f"{int(bad.sum())} customers have totals beyond what the API accepts (customer ids "
            f"{ids}{', ...' if bad.sum() > 5 else ''}): refusing to train on them"
        )


def describe_skipped(skipped: dict[str, int]) -> str:
    """``3 invoice lines, 1 customers without valid lines`` (only the rules that left out any)."""
    return ", ".join(f"{n} {rule.replace('_', ' ')}" for rule, n in skipped.items() if n)


def build_dataset(
    rows: Iterable[CustomerRow], feature_set: str = "spec", block_rows: int = BLOCK_ROWS
) -> Dataset:
    """Apply the data rules, label customers, drop genres too rare to split, encode features."""
    everyone = summaries_frame(rows, block_rows)
    no_lines = everyone["total_tracks"] <= 0
    summaries = everyone[~no_lines]
    unnamed = summaries["genre"].isna()
    frame = summaries[~unnamed]
    skipped = {
        "invoice_lines": int(everyone["skipped_lines"].sum()),
        "customers_without_valid_lines": int(no_lines.sum()),
        "customers_with_unnamed_genre": int(unnamed.sum()),
    }
    if any(skipped.values()):  # the report says it too; a refusal quotes it (pipeline)
        logger.info("Data rules skipped: %s", describe_skipped(skipped))
    customers_read = len(everyone)
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
    columns = FEATURE_COLUMNS[feature_set]
    if COUNTRY_FEATURE in columns:
        countries = tuple(sorted(set(frame["country"]) - {UNKNOWN_COUNTRY}))
        codes = frame["country"].map(country_codes(countries)).fillna(UNKNOWN_COUNTRY_CODE)
        frame = frame.assign(**{COUNTRY_FEATURE: codes.astype(np.int64)})
    keep = [*columns, "country", "genre"]
    return Dataset(
        customers=frame.loc[:, keep].copy(),
        feature_columns=columns,
        countries=countries,
        dropped_genres={str(g): int(n) for g, n in rare.items()},
        customers_read=customers_read,
        summaries=summaries.loc[:, [*SPEC_FEATURES, "country"]],
        skipped=skipped,
    )
