"""What every benchmark shares: timing statistics, machine facts, the model they measure."""

from __future__ import annotations

import contextlib
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS_DIR = ROOT / "benchmarks" / "results"
PREDICT_APP = ROOT / "functions" / "predict" / "app.py"
PY = sys.executable

# The environment every measured handler runs with: no X-Ray daemon locally, so tracing is off
# (Tracer is a no-op), and the log level the deployed template would need to keep per-request
# logging silent. Fake credentials: the only S3 is moto. AWS_LAMBDA_FUNCTION_NAME is set, as the
# Lambda runtime sets it (code may choose its in-Lambda path by it).
HANDLER_ENV = {
    "AWS_LAMBDA_FUNCTION_NAME": "PredictFunction",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_LOG_LEVEL": "WARNING",
    "POWERTOOLS_SERVICE_NAME": "genre-prediction",
    "POWERTOOLS_METRICS_NAMESPACE": "GenrePredictionBench",
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def percentile(samples: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of ``samples``."""
    ordered = sorted(samples)
    rank = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


def median(values: list[float]) -> float:
    return statistics.median(values)


def machine_facts() -> dict[str, str]:
    cpu = platform.processor() or ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    mariadb = ""
    with contextlib.suppress(Exception):
        import pymysql

        with pymysql.connect(host="127.0.0.1", user="root", password="", connect_timeout=3) as c:
            cur = c.cursor()
            cur.execute("SELECT @@version, @@innodb_buffer_pool_size")
            version, pool = cur.fetchone()
            mariadb = f"{version} (innodb_buffer_pool_size {int(pool) // 2**20} MiB)"
    import numpy
    import sklearn

    load = ""
    with contextlib.suppress(OSError):
        load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    return {
        "cpu": f"{cpu} x {os.cpu_count()} logical cores",
        "memory": mem,
        "os": f"{platform.system()} {platform.release()}",
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "numpy / scikit-learn": f"{numpy.__version__} / {sklearn.__version__}",
        "mariadb": mariadb or "not reachable",
        "load average at start": load,
        "date": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a measured child process: ours, without inherited model/DB settings."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("MODEL", "DB_", "CHINOOK_", "RF_", "AWS_", "POWERTOOLS_"))
    }
    env.update(HANDLER_ENV)
    # the package from this tree too, ahead of the editable install (a copied tree measures itself)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT), str(ROOT / "layers" / "genre_model" / "python")]
    )
    env.update(extra or {})
    return env


def run_json(args: list[str], env: dict[str, str], timeout: float = 3600) -> dict:
    """Run a child Python script that prints one JSON object on its last stdout line."""
    done = subprocess.run(
        [PY, *args], env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"{args} failed ({done.returncode}):\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


@contextlib.contextmanager
def moto_server() -> Iterator[str]:
    """A moto S3 server on a free loopback port; yields its endpoint URL."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


def api_event(body: str) -> dict:
    """An API Gateway REST proxy event for POST /api/predict-genre (what the handler gets)."""
    return {
        "resource": "/api/predict-genre",
        "path": "/api/predict-genre",
        "httpMethod": "POST",
        "headers": {"Content-Type": "application/json", "Host": "bench.local"},
        "multiValueHeaders": {"Content-Type": ["application/json"], "Host": ["bench.local"]},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": None,
        "stageVariables": None,
        "body": body,
        "isBase64Encoded": False,
        "requestContext": {
            "resourcePath": "/api/predict-genre",
            "httpMethod": "POST",
            "path": "/prod/api/predict-genre",
            "stage": "prod",
            "requestId": "bench",
            "identity": {"sourceIp": "127.0.0.1"},
        },
    }


def bodies(count: int, seed: int = 7) -> list[str]:
    """Varied valid request bodies (spending, tracks, ratio), the shape the spec's clients send."""
    import random

    rng = random.Random(seed)
    out = []
    for _ in range(count):
        tracks = rng.randint(1, 60)
        out.append(
            json.dumps(
                {
                    "total_spent": round(tracks * rng.choice((0.99, 1.99)) * rng.random(), 2),
                    "total_tracks_bought": tracks,
                    "genre_spending_ratio": round(rng.random(), 3),
                }
            )
        )
    return out


def train_model(directory: Path, customers: int = 3000) -> Path:
    """Train the default forest on a synthetic store; returns MODELO_GENERO_ENTRENADO's path.

    Next to it are the companions the predict path reads (predictor, manifest) and the
    scikit-learn pickle the original system loaded.
    """
    from devtools.synthetic import generate, write_sqlite
    from genre_model.config import load_settings
    from genre_model.train.pipeline import run_training

    directory.mkdir(parents=True, exist_ok=True)
    db = write_sqlite(generate(customers, seed=42), directory / "store.sqlite")
    model = directory / "model" / "modelo_genero_entrenado.pkl"
    settings = load_settings(
        {"CHINOOK_SQLITE_PATH": str(db), "MODELO_GENERO_ENTRENADO": str(model)}
    )
    run_training(settings, progress=lambda _msg: None)
    return model


def publish_to_s3(model_dir: Path, endpoint: str, bucket: str = "bench-models") -> None:
    """``train_model``'s promoted version, copied into the moto bucket (every file byte for
    byte, then the pointer after predict's own load check, as training publishes): a promoted
    S3 version of the same model, without training it again."""
    from genre_model.config import load_settings
    from genre_model.serve.model_cache import load_version
    from genre_model.store.local import LocalModelPath
    from genre_model.store.target import target_registry

    os.environ["AWS_ENDPOINT_URL"] = endpoint
    for key, value in HANDLER_ENV.items():
        os.environ.setdefault(key, value)
    import boto3

    boto3.client("s3").create_bucket(Bucket=bucket)
    local = LocalModelPath(str(model_dir / "model" / "modelo_genero_entrenado.pkl")).registry
    manifest = local.latest_manifest()
    assert manifest is not None, f"no promoted version under {model_dir}"
    files = {name: local.store.get(local.key(manifest.version, name)) for name in manifest.files}
    s3, _ = target_registry(load_settings({"MODEL_BUCKET": bucket}))
    s3.write_version(manifest, files)
    s3.promote(manifest.version, validate=load_version)


STEPS_DIR = ROOT / "var" / "scale-steps"


def keep_step(database: str, step: str, data: dict) -> None:
    """A measured child's result also on disk, so an orchestrator cut short loses none of it."""
    STEPS_DIR.mkdir(parents=True, exist_ok=True)
    (STEPS_DIR / f"{database}-{step}.json").write_text(json.dumps(data) + "\n")


def write_json(name: str, data: dict, directory: Path = RESULTS_DIR) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(json.dumps(data, indent=2) + "\n")
    return path


def peak_rss_mib() -> float:
    """This process's peak resident set (VmHWM of its own address space).

    Not ``getrusage().ru_maxrss``: Linux carries the parent's high-water mark across
    fork + exec, so a child of a big parent would report the parent's peak.
    """
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
