"""One heavy step of ``make bench-scale`` in a fresh process, so its peak RSS is its own.

    python benchmarks/scale_child.py load <customers> <database>      generate (streamed) + load
    python benchmarks/scale_child.py rebuild <database>               aggregates rebuild
    python benchmarks/scale_child.py append <share> <database>        a day's new lines
    python benchmarks/scale_child.py accuracy <database> <rows,...>   full vs sampled fits

Prints one JSON line (the last line of stdout); progress bars go to stderr.
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any

from benchmarks.common import keep_step, peak_rss_mib
from genre_model.config import ForestSettings, load_settings
from genre_model.train import aggregates


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

        write_mysql(
            generate_blocks(customers, 42, BLOCK_CUSTOMERS), conn, database, "snake_case", advance
        )
    return {
        "invoice_lines": lines,
        "generate_and_load_s": time.perf_counter() - started,
        "block_customers": block,
        "peak_rss_mib": peak_rss_mib(),
    }


def _source(database: str) -> Any:
    from genre_model.train.sources import open_source

    return open_source(load_settings({"DB_NAME": database}).database)


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
    }


def accuracy(database: str, rows: list[int]) -> dict:
    """Read the store once, then fit the default forest on each sample size."""
    from genre_model.train.features import build_dataset
    from genre_model.train.fit import train

    dataset = build_dataset(aggregates.summaries(_source(database), "incremental"))
    forest = ForestSettings(n_jobs=-1)
    fits = []
    for sample in rows:  # the full fit is the full step's run (train_child)
        started = time.perf_counter()
        report = train(dataset, forest, sample).report
        h, cv = report["holdout"], report["cross_validation"]
        fits.append(
            {
                "sample_rows": sample,
                "fitted_on": report["customers"]["train"],
                "evaluated_on": report["customers"]["test"],
                "holdout_accuracy": h["model"]["accuracy"],
                "holdout_macro_f1": h["model"]["macro_f1"],
                "baseline_accuracy": h["baseline"]["accuracy"],
                "cv_accuracy": cv["model"]["accuracy"]["mean"],
                "cv_baseline_accuracy": cv["baseline"]["accuracy"]["mean"],
                "train_and_evaluate_s": time.perf_counter() - started,
            }
        )
        print(f"  fit sample={sample}: {fits[-1]}", file=sys.stderr, flush=True)
    return {"customers": len(dataset.customers), "fits": fits, "peak_rss_mib": peak_rss_mib()}


if __name__ == "__main__":
    step, *args = sys.argv[1:]
    if step == "load":
        out, database = load(int(args[0]), args[1]), args[1]
    elif step == "rebuild":
        out, database = rebuild(args[0]), args[0]
    elif step == "append":
        out, database = append(float(args[0]), args[1]), args[1]
    else:
        out, database = accuracy(args[0], [int(r) for r in args[1].split(",") if r]), args[0]
    keep_step(database, step, out)
    print(json.dumps(out))
