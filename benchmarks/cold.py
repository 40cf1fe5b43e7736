"""Issue 2: cold start, a fresh Python process until the first answered request.

Each sample spawns a new interpreter (``python benchmarks/cold_child.py``) against a moto S3 server
holding a promoted model version, and measures wall-clock time from just before the spawn to the
moment the first response exists (imports, boto3 client, S3 GETs of pointer/manifest/model,
SHA-256 check, load, prediction). Samples alternate ours / scikit-learn; the ratio is the median
over pairs. ``python -X importtime`` of the predict function's import gives per-module times.

Issue 26's floor: importing the predict function against importing numpy alone (the one library
an answer needs), each in fresh interpreters, interleaved, the minimum of 9, timed inside the
child around the import only (interpreter start excluded); on this venv's Python and on
``.venv-py313`` (the Lambda runtime's 3.13) when it exists.
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
PY313 = ROOT / ".venv-py313" / "bin" / "python"
_TIMED = (
    "import importlib.util, time\nt = time.perf_counter()\n{}\n"
    "print((time.perf_counter() - t) * 1000)"
)
_IMPORTS = {
    "numpy": "import numpy",
    "predict": (
        f"s = importlib.util.spec_from_file_location('predict_app', {str(PREDICT_APP)!r})\n"
        "m = importlib.util.module_from_spec(s)\ns.loader.exec_module(m)"
    ),
}


def import_floor(python: str, env: dict[str, str], samples: int = 9) -> dict:
    """Milliseconds to import numpy alone and the predict function (min of ``samples`` fresh
    interpreters each, interleaved), and their ratio: the cold start against its floor."""
    best = {name: float("inf") for name in _IMPORTS}
    for _ in range(samples):
        for name, statement in _IMPORTS.items():
            done = subprocess.run(
                [python, "-c", _TIMED.format(statement)],
                env=env,
                capture_output=True,
                text=True,
                timeout=120,
                check=True,
            )
            best[name] = min(best[name], float(done.stdout.strip().splitlines()[-1]))
    version = subprocess.run(
        [python, "-c", "import platform; print(platform.python_version())"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    return {
        "python": version,
        "numpy_ms": best["numpy"],
        "predict_ms": best["predict"],
        "ratio": best["predict"] / best["numpy"],
    }


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


def import_times(
    env: dict[str, str], top: int = 15, python: str = PY, app: Path = PREDICT_APP
) -> dict:
    """``python -X importtime`` of the predict function's module: cumulative µs per module."""
    code = (
        "import importlib.util as u;"
        f"s=u.spec_from_file_location('predict_app', {str(app)!r});"
        "m=u.module_from_spec(s);s.loader.exec_module(m)"
    )
    done = subprocess.run(
        [python, "-X", "importtime", "-c", code],
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
    every = sorted(((n.strip(), c) for n, _s, c in rows), key=lambda r: -r[1])
    return {"total_us": total, "top_level": top_level[:top], "every": every}


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

    floors = [import_floor(PY, env, 3 if smoke else 9)]
    if PY313.exists():
        floors.append(import_floor(str(PY313), env, 3 if smoke else 9))
    numpy_ms = floors[0]["numpy_ms"]
    first = min(s["init_ms"] + s["first_request_ms"] for s in ours)  # as the floor: a minimum
    return {
        "floors": floors,
        "first_answer": {
            "init_plus_first_request_ms": first,
            "numpy_ms": numpy_ms,
            "ratio": first / numpy_ms,
        },
        "ours": summary(ours),
        "sklearn": summary(theirs),
        "ratio": median(ratios),
        "ratios": ratios,
        "same_prediction": same,
        "imports": import_times(env),
    }


def before_after(commit: str, runs: int = 7) -> dict:
    """-X importtime's top ten of ``commit``'s predict function against this tree's (each module's
    minimum over ``runs``), for benchmarks/results/import-before-after.json."""
    with tempfile.TemporaryDirectory(prefix="genre-before-") as before:
        archive = subprocess.run(
            ["git", "archive", commit], cwd=ROOT, capture_output=True, check=True
        )
        subprocess.run(["tar", "-x", "-C", before], input=archive.stdout, check=True)
        trees = {"before": Path(before), "after": ROOT}
        out: dict = {}
        for name, tree in trees.items():
            env = child_env({"PYTHONPATH": f"{tree / 'layers/genre_model/python'}:{tree}"})
            best: dict[str, int] = {}
            for _ in range(runs):
                app = tree / "functions/predict/app.py"
                for module, us in import_times(env, app=app)["every"]:
                    best[module] = min(best.get(module, us), us)
            out[name] = sorted(best.items(), key=lambda kv: -kv[1])[:10]
    return out | {
        "before_commit": commit,
        "command": f"python -m benchmarks.cold --before {commit}",
    }


if __name__ == "__main__":
    if "--before" in sys.argv:
        print(json.dumps(before_after(sys.argv[sys.argv.index("--before") + 1]), indent=2))
    else:
        print(json.dumps(run(sys.argv[1], sys.argv[2], smoke="--smoke" in sys.argv), indent=2))
