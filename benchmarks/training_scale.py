"""Issue 4: training at scale on MariaDB with the synthetic generator (10k, 100k, 1M customers).

Per tier: generate the store (vectorised, seeded), bulk-load it into a fresh database
``genre_bench_<n>_<pid>`` (CSV written column-wise + LOAD DATA LOCAL INFILE, secondary indexes built
after the load), then train in a fresh process (``train_child.py``): SQL aggregation, features,
fits with n_jobs=-1, evaluation, export and upload to a moto S3 bucket. The database is dropped
afterwards. Results per tier are kept in ``benchmarks/results/training-<n>.json`` so a run
without the 1M tier still reports the last measured 1M figures (marked with their date).
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

from benchmarks.common import RESULTS_DIR, ROOT, child_env, peak_rss_mib, run_json, write_json

CHILD = ROOT / "benchmarks" / "train_child.py"
BUCKET = "bench-training"


def _connect():
    import pymysql

    return pymysql.connect(
        host="127.0.0.1", port=3306, user="root", password="", local_infile=True, connect_timeout=5
    )


def load_tier(customers: int, database: str) -> dict:
    from devtools.synthetic import generate, write_mysql

    started = time.perf_counter()
    store = generate(customers, seed=42)
    generated = time.perf_counter()
    with _connect() as conn:
        write_mysql(store, conn, database)
    loaded = time.perf_counter()
    lines = store.count("invoice_line")
    del store
    return {
        "invoice_lines": lines,
        "generate_s": generated - started,
        "load_s": loaded - generated,
        "load_rows_per_s": lines / (loaded - generated),
        "loader_peak_rss_mib": peak_rss_mib(),
    }


def drop(database: str) -> None:
    with _connect() as conn, conn.cursor() as cursor:
        cursor.execute(f"DROP DATABASE IF EXISTS `{database}`")


def run_tier(customers: int, endpoint: str, results_dir: Path = RESULTS_DIR) -> dict:
    database = f"genre_bench_{customers}_{os.getpid()}"  # concurrent runs never share one
    env = child_env({"AWS_ENDPOINT_URL": endpoint, "RF_N_JOBS": "-1"})
    try:
        # In its own process: the generator's arrays must not inflate the training's peak RSS.
        loader = ["-m", "benchmarks.training_scale", "--load", str(customers), database]
        data = run_json(loader, env)
        trained = run_json([str(CHILD), database, BUCKET], env, timeout=3600)
    finally:
        drop(database)
    result = {
        "customers": customers,
        "measured": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        **data,
        **trained,
    }
    write_json(f"training-{customers}.json", result, results_dir)
    return result


def run(tiers: list[int], endpoint: str, results_dir: Path = RESULTS_DIR) -> dict[int, dict]:
    import boto3

    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
    s3.create_bucket(Bucket=BUCKET)
    results = {}
    for customers in tiers:
        results[customers] = run_tier(customers, endpoint, results_dir)
        print(
            f"  training {customers:>9,} customers: {results[customers]['total_s']:.1f} s, "
            f"peak RSS {results[customers]['peak_rss_mib']:.0f} MiB",
            file=sys.stderr,
            flush=True,
        )
    return results


def stored(results_dir: Path = RESULTS_DIR) -> dict[int, dict]:
    """Every tier measured so far (this run or an earlier one)."""
    out = {}
    for path in sorted(results_dir.glob("training-*.json")):
        data = json.loads(path.read_text())
        out[int(data["customers"])] = data
    return dict(sorted(out.items()))


if __name__ == "__main__":
    if sys.argv[1:2] == ["--load"]:
        print(json.dumps(load_tier(int(sys.argv[2]), sys.argv[3])))
        sys.exit(0)
    from benchmarks.common import moto_server

    with moto_server() as url:
        print(json.dumps(run([int(a) for a in sys.argv[1:]], url), indent=2))
