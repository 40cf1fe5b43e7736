"""Issue 16: what SnapStart changes, as far as it can be measured without AWS.

Two fresh-interpreter flows against the same moto S3 (``cold_child.py``): today's on-demand init
(model loaded by the first request) and a SnapStart init (``AWS_LAMBDA_INITIALIZATION_TYPE=
snap-start``: the model is loaded during init, then the after-restore hooks run as the runtime
would call them, then the first request). On AWS the snapshotted init is paid once per published
version, not per cold start; a restored container pays the restore (not measurable here) plus
the hook, then answers from memory.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

from benchmarks.cold import _sample
from benchmarks.common import api_event, child_env, median


def run(endpoint: str, bucket: str, smoke: bool = False, tmp: Path | None = None) -> dict:
    env = child_env({"AWS_ENDPOINT_URL": endpoint, "MODEL_BUCKET": bucket})
    snap_env = env | {"AWS_LAMBDA_INITIALIZATION_TYPE": "snap-start", "BENCH_AFTER_RESTORE": "1"}
    event_path = (tmp or Path(tempfile.gettempdir())) / "snapstart-event.json"
    body = json.dumps({"total_spent": 45.5, "total_tracks_bought": 15, "genre_spending_ratio": 0.6})
    event_path.write_text(json.dumps(api_event(body)))
    _sample("ours", event_path, snap_env)  # warm the page cache, not measured
    lazy, snap = [], []
    for _ in range(2 if smoke else 7):
        lazy.append(_sample("ours", event_path, env))
        snap.append(_sample("ours", event_path, snap_env))
    keys = ("init_ms", "first_request_ms", "total_ms")
    return {
        "pairs": len(lazy),
        "on_demand": {k: median([s[k] for s in lazy]) for k in keys},
        "snap_start": {k: median([s[k] for s in snap]) for k in (*keys, "restore_ms")},
        "same_answer": lazy[0]["body"] == snap[0]["body"],
    }


if __name__ == "__main__":
    print(json.dumps(run(sys.argv[1], sys.argv[2], smoke="--smoke" in sys.argv), indent=2))
