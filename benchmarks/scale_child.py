"""One heavy step of ``make bench-scale`` in a fresh process, so its peak RSS is its own.

    python benchmarks/scale_child.py load <customers> <database>      generate (streamed) + load
    python benchmarks/scale_child.py rebuild <database>               aggregates rebuild
    python benchmarks/scale_child.py append <share> <database>        a day's new lines
    python benchmarks/scale_child.py accuracy <database> <rows,...>   full vs sampled fits
    python benchmarks/scale_child.py features <customers> <block>     build_dataset's memory

Prints one JSON line (the last line of stdout); progress bars go to stderr.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Iterator
from typing import Any

from benchmarks.common import keep_step, peak_rss_mib
from genre_model.config import ForestSettings, load_settings
from genre_model.train import aggregates
from genre_model.train.sources import CustomerRow


def _connect() -> Any:
    import pymysql

    return pymysql.connect(
        host="127.0.0.1", port=3306, user="root", password="", local_infile=True, connect_timeout=5
    )


def load(customers: int, database: str) -> dict:
    from tqdm import tqdm

    from devtools.synthetic import BLOCK_CUSTOMERS, generate_blocks, write_mysql

    block = int(os.environ.get("SCALE_BLOCK_CUSTOMERS") or BLOCK_CUSTOMERS)
    started = time.perf_counter()
    lines = 0
    with (
        _connect() as conn,
        tqdm(total=customers, unit=" customers", unit_scale=True, desc="generate+load") as bar,
    ):

        def advance(block: Any) -> None:
            nonlocal lines
            lines += block.count("invoice_line")
            bar.update(block.count("customer"))

        write_mysql(generate_blocks(customers, 42, block), conn, database, "snake_case", advance)
    return {
        "invoice_lines": lines,
        "generate_and_load_s": time.perf_counter() - started,
        "block_customers": block,
        "peak_rss_mib": peak_rss_mib(),
    }


def _source(database: str) -> Any:
    from genre_model.train.sources import open_source

    # the bench's DB_READ_TIMEOUT: a rebuild of a million customers' lines is one long statement
    env = {"DB_NAME": database, "DB_READ_TIMEOUT": os.environ.get("DB_READ_TIMEOUT", "600")}
    return open_source(load_settings(env).database)


def rebuild(database: str) -> dict:
    started = time.perf_counter()
    with _source(database).session(write=True) as session:
        done = aggregates.rebuild(session)
    return {
        "lines": done.lines,
        "seconds": time.perf_counter() - started,
        "peak_rss_mib": peak_rss_mib(),
    }


def append(share: float, database: str) -> dict:
    from devtools.synthetic import append_mysql, new_lines_block

    started = time.perf_counter()
    with _connect() as conn, conn.cursor() as cursor:
        cursor.execute(f"USE `{database}`")
        cursor.execute("SELECT COUNT(*), MAX(customer_id) FROM customer")
        customers = int(cursor.fetchone()[1])
        cursor.execute("SELECT MAX(invoice_id) FROM invoice")
        invoices = int(cursor.fetchone()[0])
        cursor.execute("SELECT MAX(invoice_line_id), COUNT(*) FROM invoice_line")
        last_line, lines = (int(v) for v in cursor.fetchone())
        block = new_lines_block(customers, invoices, last_line, share)
        append_mysql(block, conn, database)
    return {
        "new_lines": block.count("invoice_line"),
        "of_lines": lines,
        "share": block.count("invoice_line") / lines,
        "seconds": time.perf_counter() - started,
        "peak_rss_mib": peak_rss_mib(),
    }


def accuracy(database: str, rows: list[int]) -> dict:
    """Sampled vs full fits of the default forest, all scored on the SAME held-out customers.

    The store is read once and split 80/20 as the full fit's hold-out is (stratified, seed 42).
    Each sample is drawn from the 80 % as ``TRAIN_SAMPLE_ROWS`` draws it (``stratified_sample``),
    the full fit takes all of the 80 %; every forest and the majority baseline are scored on the
    20 %, which is outside every sample."""
    import numpy as np
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import LabelEncoder

    from genre_model.train import fit
    from genre_model.train.features import build_dataset

    with _source(database).session() as session:  # the tables as they stand: no fold
        dataset = build_dataset(aggregates.read_summaries(session))
    X, y = dataset.X, dataset.y
    _, n_test = fit.check_trainable(dataset)
    encoder = LabelEncoder().fit(y)
    labels = [str(c) for c in encoder.classes_]
    train_idx, test_idx = train_test_split(
        np.arange(len(y)), test_size=n_test, stratify=y, random_state=fit.SPLIT_SEED
    )
    forest = ForestSettings(n_jobs=-1)
    fits = []
    for sample in [*rows, None]:  # None: the full fit, on all of the 80 %
        started = time.perf_counter()
        inside = (
            train_idx if sample is None else train_idx[fit.stratified_sample(y[train_idx], sample)]
        )
        model = fit.make_forest(forest).fit(X[inside], encoder.transform(y[inside]))
        predicted = encoder.inverse_transform(model.predict(X[test_idx]))
        scores = fit._scored(predicted, y[inside], y[test_idx], labels)
        fits.append(
            {
                "sample_rows": sample,
                "fitted_on": len(inside),
                "evaluated_on": len(test_idx),
                "holdout_accuracy": scores["model"]["accuracy"],
                "holdout_macro_f1": scores["model"]["macro_f1"],
                "baseline_accuracy": scores["baseline"]["accuracy"],
                "baseline_macro_f1": scores["baseline"]["macro_f1"],
                "fit_and_predict_s": time.perf_counter() - started,
            }
        )
        print(f"  fit sample={sample}: {fits[-1]}", file=sys.stderr, flush=True)
    return {
        "customers": len(y),
        "held_out": len(test_idx),
        "fits": fits,
        "peak_rss_mib": peak_rss_mib(),
    }


def _streamed_rows(customers: int) -> Iterator[CustomerRow]:
    """Seeded summary rows, one at a time, each string a fresh object as a driver returns it."""
    import numpy as np

    genres = [f"Genre {i}" for i in range(20)]
    countries = [f"Country {i}" for i in range(24)]
    rng = np.random.default_rng(42)
    for start in range(0, customers, 100_000):
        n = min(100_000, customers - start)
        tracks = rng.integers(1, 60, n)
        cents = tracks * 99
        share = rng.integers(1, 100, n)
        genre, country = rng.integers(0, 20, n), rng.integers(0, 24, n)
        for i in range(n):
            yield CustomerRow(
                start + i + 1,
                "".join(countries[country[i]]),  # a new str, not the list's
                "".join(genres[genre[i]]),
                int(cents[i]),
                int(tracks[i]),
                int(cents[i] * share[i] // 100),
            )


def features(customers: int, block: int) -> dict:
    """``build_dataset`` over streamed rows in blocks of ``block`` (the store's size: one block,
    as before issue 20's streaming); no database, so its memory is the features' alone."""
    from genre_model.train.features import build_dataset

    started = time.perf_counter()
    dataset = build_dataset(_streamed_rows(customers), block_rows=block)
    return {
        "customers": len(dataset.summaries),
        "block_rows": block,
        "seconds": time.perf_counter() - started,
        "peak_rss_mib": peak_rss_mib(),
    }


if __name__ == "__main__":
    step, *args = sys.argv[1:]
    if step == "load":
        out, database = load(int(args[0]), args[1]), args[1]
    elif step == "rebuild":
        out, database = rebuild(args[0]), args[0]
    elif step == "append":
        out, database = append(float(args[0]), args[1]), args[1]
    elif step == "features":
        out, database = features(int(args[0]), int(args[1])), f"features-{args[0]}-{args[1]}"
    else:
        out, database = accuracy(args[0], [int(r) for r in args[1].split(",") if r]), args[0]
    keep_step(database, step, out)
    print(json.dumps(out))
