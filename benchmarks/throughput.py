"""Issue 5: the local server (``python -m devtools serve``) on loopback, bounded runs.

The server (ThreadingHTTPServer -> API Gateway event -> the predict Lambda handler) and the load
generator (``load_client.py``, asyncio keep-alive connections) run as two processes on the same
2-core machine, so the client's CPU is taken from the server's: the figures are a floor.
"""

from __future__ import annotations

import json
import subprocess
import time
import urllib.request
from pathlib import Path

from benchmarks.common import PY, ROOT, child_env, free_port, run_json

CLIENT = ROOT / "benchmarks" / "load_client.py"


def _wait_ready(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=2) as r:
                if json.loads(r.read()).get("model_loaded"):
                    return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("local server did not become ready")


# The server as `make serve` runs it.
SERVE = "import sys; from devtools.__main__ import main, parser; sys.exit(main(build=parser))"


def run(model_path: Path, smoke: bool = False, levels: tuple[int, ...] = (1, 8, 32)) -> dict:
    return {"as_shipped": _run(model_path, SERVE, smoke, levels)}


def _run(model_path: Path, code: str, smoke: bool, levels: tuple[int, ...]) -> dict:
    port = free_port()
    env = child_env({"MODELO_GENERO_ENTRENADO": str(model_path)})
    server = subprocess.Popen(
        [PY, "-c", code, "serve", "--host", "127.0.0.1", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_ready(port)
        seconds = 1.0 if smoke else 6.0
        results = {}
        for level in levels:
            results[str(level)] = run_json([str(CLIENT), str(port), str(level), str(seconds)], env)
        return {"levels": results, "seconds_per_level": seconds}
    finally:
        server.terminate()
        server.wait(timeout=10)


if __name__ == "__main__":
    import sys

    print(json.dumps(run(Path(sys.argv[1]), smoke="--smoke" in sys.argv), indent=2))
