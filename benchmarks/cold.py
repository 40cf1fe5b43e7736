"""Issue 2: cold start, a fresh Python process until the first answered request.

Each sample spawns a new interpreter (``python benchmarks/cold_child.py``) against a moto S3 server
holding a promoted model version, and measures wall-clock time from just before the spawn to the
moment the first response exists (imports, boto3 client, S3 GETs of pointer/manifest/model,
SHA-256 check, load, prediction). Samples alternate ours / scikit-learn; the ratio is the median
over pairs. ``python -X importtime`` of the predict function's import gives per-module times.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import PREDICT_APP, PY, ROOT, api_event, child_env, median

CHILD = ROOT / "benchmarks" / "cold_child.py"


def _sample(variant: str, event_path: Path, env: dict[str, str]) -> dict:
    started = time.time()
    done = subprocess.run(
        [PY, str(CHILD), variant, str(event_path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"cold start {variant} failed:\n{done.stderr[-3000:]}")
    out = json.loads(done.stdout.strip().splitlines()[-1])
    if out["status"] != 200:
        raise RuntimeError(f"cold start {variant} answered {out['status']}: {out['body']}")
    out["total_ms"] = (out["answered"] - started) * 1000
    out["interpreter_ms"] = (out["import_started"] - started) * 1000
    out["init_ms"] = (out["init_done"] - out["import_started"]) * 1000
    out["first_request_ms"] = (out["answered"] - out["request_started"]) * 1000
    return out


def import_times(env: dict[str, str], top: int = 15) -> dict:
    """``python -X importtime`` of the predict function's module: cumulative µs per module."""
    code = (
        "import importlib.util as u;"
        f"s=u.spec_from_file_location('predict_app', {str(PREDICT_APP)!r});"
        "m=u.module_from_spec(s);s.loader.exec_module(m)"
    )
    done = subprocess.run(
        [PY, "-X", "importtime", "-c", code],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    rows = []
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        self_us, cumulative_us, name = line.removeprefix("import time:").split("|", 2)
        rows.append((name[1:].rstrip(), int(self_us), int(cumulative_us)))
    top_level = [(n.strip(), c) for n, s, c in rows if not n.startswith(" ")]
    top_level.sort(key=lambda r: -r[1])
    total = sum(c for _, c in top_level)
    return {"total_us": total, "top_level": top_level[:top]}


def run(endpoint: str, bucket: str, smoke: bool = False, tmp: Path | None = None) -> dict:
    # The widest S3 limits: a timeout only fires when moto, in this busy process, answers late,
    # and then the sample would be a 503 instead of a cold start (nothing measured is changed).
    limits = {
        "S3_CONNECT_TIMEOUT": "10",
        "S3_READ_TIMEOUT": "10",
        "MODEL_LOAD_DEADLINE_SECONDS": "20",
    }
    env = child_env({"AWS_ENDPOINT_URL": endpoint, "MODEL_BUCKET": bucket, **limits})
    tmp = tmp or Path(tempfile.gettempdir())
    event_path = tmp / "cold-event.json"
    body = json.dumps({"total_spent": 45.5, "total_tracks_bought": 15, "genre_spending_ratio": 0.6})
    event_path.write_text(json.dumps(api_event(body)))
    pairs = 2 if smoke else 7
    _sample("ours", event_path, env)  # warm the OS page cache for both, not measured
    _sample("sklearn", event_path, env)
    ours, theirs, ratios = [], [], []
    for _ in range(pairs):
        a = _sample("ours", event_path, env)
        b = _sample("sklearn", event_path, env)
        ours.append(a)
        theirs.append(b)
        ratios.append(b["total_ms"] / a["total_ms"])
    same = json.loads(ours[0]["body"])["prediction"] == json.loads(theirs[0]["body"])["prediction"]

    def summary(samples: list[dict]) -> dict:
        return {
            k: median([s[k] for s in samples])
            for k in ("total_ms", "interpreter_ms", "init_ms", "first_request_ms")
        } | {"imported_at_init": samples[0]["imported_at_init"]}

    return {
        "ours": summary(ours),
        "sklearn": summary(theirs),
        "ratio": median(ratios),
        "ratios": ratios,
        "same_prediction": same,
        "imports": import_times(env),
    }


if __name__ == "__main__":
    print(json.dumps(run(sys.argv[1], sys.argv[2], smoke="--smoke" in sys.argv), indent=2))
