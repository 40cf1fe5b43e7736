"""`make demo`: the whole product on one machine, no AWS account, no database server, no Docker.

1. a synthetic Chinook store in SQLite (or the store named by DB=...),
2. the training job with its full report (baseline included) and a report picture,
3. the model written to MODELO_GENERO_ENTRENADO (or to S3 on a local moto server: DEMO_STORE=s3),
4. the local API on 127.0.0.1:8000 answering the spec's example request (its port is bound
   before anything else, so a busy port fails at once, naming DEMO_PORT),
5. serving until Ctrl-C (DEMO_ONCE=1 stops after the example).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import threading
import urllib.request
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

from tqdm import tqdm

from devtools import demo_models
from devtools.server import LOCAL_REFRESH_SECONDS

SPEC_REQUEST = {"total_spent": 45.50, "total_tracks_bought": 15, "genre_spending_ratio": 0.6}


def banner(text: str) -> None:
    print(f"\n\033[1m== {text}\033[0m", flush=True)


def make_store(path: Path, customers: int, seed: int) -> Path:
    from devtools.synthetic import generate, write_sqlite

    banner(f"Generating a synthetic Chinook store: {customers} customers (seed {seed})")
    store = generate(customers, seed)
    total = sum(store.count(t) for t in store.tables)
    with tqdm(total=total, unit="rows", desc="writing SQLite", leave=True) as bar:
        write_sqlite(store, path, progress=bar.update)
    print(f"{store.count('invoice_line')} invoice lines -> {path}")
    return path


def start_moto(port: int) -> str:
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no access log line per S3 call
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    os.environ["AWS_ENDPOINT_URL"] = endpoint
    for name, value in (
        ("AWS_ACCESS_KEY_ID", "demo"),
        ("AWS_SECRET_ACCESS_KEY", "demo"),
        ("AWS_DEFAULT_REGION", "us-east-1"),
    ):
        os.environ.setdefault(name, value)
    import boto3

    boto3.client("s3").create_bucket(Bucket=os.environ["MODEL_BUCKET"])
    print(f"moto S3 server on {endpoint}, bucket {os.environ['MODEL_BUCKET']}")
    return endpoint


def train(db: str) -> dict[str, Any]:
    from genre_model.config import load_settings
    from genre_model.train.fit import format_report
    from genre_model.train.pipeline import run_training
    from genre_model.train.sources import source_from_url

    settings = load_settings()
    banner(f"Training on {db}")
    steps = tqdm(total=3, desc="training", unit="step", leave=True)

    def progress(message: str) -> None:
        steps.set_postfix_str(message[:40])
        steps.update(1)

    outcome = run_training(
        settings, source=source_from_url(db, settings.database), progress=progress
    )
    steps.set_postfix_str("published")
    steps.update(steps.total - steps.n)  # the last step (fit, export, publish) is done
    steps.close()
    banner("Training report")
    print(format_report(outcome.report))
    print(f"\nVersion {outcome.version} published to {outcome.location}")
    return outcome.report


def report_picture(report: dict[str, Any], path: Path) -> Path:
    """Confusion matrix and feature importances, as a picture."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    cm = report["holdout"]["confusion_matrix"]
    labels, matrix = cm["labels"], np.array(cm["matrix"])
    importances = report["feature_importances"]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(14, 6), width_ratios=[3, 2])
    image = ax1.imshow(matrix, cmap="Blues")
    ax1.set_xticks(range(len(labels)), labels, rotation=60, ha="right", fontsize=8)
    ax1.set_yticks(range(len(labels)), labels, fontsize=8)
    ax1.set_xlabel("predicted genre")
    ax1.set_ylabel("true genre")
    for (i, j), value in np.ndenumerate(matrix):
        if value:
            ax1.text(j, i, str(value), ha="center", va="center", fontsize=7)
    fig.colorbar(image, ax=ax1, shrink=0.7)
    h = report["holdout"]
    ax1.set_title(
        f"Hold-out confusion matrix: accuracy {h['model']['accuracy']:.1%} "
        f"(baseline {h['baseline']['accuracy']:.1%})",
        fontsize=10,
    )
    names = sorted(importances, key=importances.get)
    ax2.barh(names, [importances[n] for n in names], color="#4c72b0")
    ax2.set_title("Feature importances (published forest)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def listen(host: str, port: int) -> ThreadingHTTPServer:
    """The local API's socket, bound before any other work: a busy port fails in one line."""
    from devtools.server import find_handler, open_server

    return open_server(host, port, find_handler(), setting="DEMO_PORT")


def serve(server: ThreadingHTTPServer, host: str, port: int, once: bool) -> None:
    from genre_model.serve import api

    api.reset()  # the model was just written: read settings and the model afresh
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://{host}:{port}/api/predict-genre"
    banner(f"Local API on http://{host}:{port}")
    print(f"curl -X POST {url} -H 'Content-Type: application/json' -d '{json.dumps(SPEC_REQUEST)}'")
    request = urllib.request.Request(
        url,
        data=json.dumps(SPEC_REQUEST).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - loopback
        answer = json.load(response)
    print(json.dumps(answer, indent=2))
    try:
        if not once:
            print("\nServing until Ctrl-C ...", flush=True)
            threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.shutdown()
        server.server_close()
    if os.environ.get("MODELO_GENERO_ENTRENADO"):
        print("\n`make serve` serves this model from now on (the newest `make demo` wrote).")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--db", default=os.environ.get("DB") or "")
    parser.add_argument(
        "--customers", type=int, default=int(os.environ.get("DEMO_CUSTOMERS", 3000))
    )
    parser.add_argument("--seed", type=int, default=int(os.environ.get("DEMO_SEED", 42)))
    parser.add_argument(
        "--store", choices=("local", "s3"), default=os.environ.get("DEMO_STORE") or "local"
    )
    parser.add_argument("--host", default=os.environ.get("DEMO_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("DEMO_PORT", 8000)))
    parser.add_argument("--once", action="store_true", default=os.environ.get("DEMO_ONCE") == "1")
    args = parser.parse_args()

    work = demo_models.DEMO_DIR
    work.mkdir(parents=True, exist_ok=True)
    for name in list(os.environ):  # the demo decides where the model goes
        if name in {"MODEL_BUCKET", "MODELO_GENERO_ENTRENADO", "MODEL_PREFIX"}:
            del os.environ[name]
    if args.store == "s3":
        os.environ["MODEL_BUCKET"] = "genre-model-demo"
    else:
        os.environ["MODELO_GENERO_ENTRENADO"] = str(demo_models.model_path(args.db))
    os.environ.setdefault("MODEL_REFRESH_SECONDS", LOCAL_REFRESH_SECONDS)
    os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
    os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "genre-model-demo")
    os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "GenreModelDemo")
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")

    from genre_model.config import ConfigError
    from genre_model.store.protocol import ArtifactError, PromotionRefused
    from genre_model.train import TrainingError
    from genre_model.train.sources import DataSourceError

    try:
        server = listen(args.host, args.port)
        if args.store == "s3":
            start_moto(int(os.environ.get("DEMO_MOTO_PORT", 5005)))
        db = args.db or str(
            make_store(work / "chinook-synthetic.sqlite", args.customers, args.seed)
        )
        report = train(db)
        picture = report_picture(report, demo_models.report_picture(args.db))
        banner(f"Training report picture: {picture}")
        serve(server, args.host, args.port, args.once)
    except (ConfigError, DataSourceError, TrainingError, ArtifactError, PromotionRefused) as exc:
        print(f"demo failed: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:  # the moto server's port (DEMO_MOTO_PORT), a full disk, ...
        print(f"demo failed: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
