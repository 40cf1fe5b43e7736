"""One cold start, run as a fresh interpreter: import the predict function, answer one request.

argv[1] = "ours": the shipped flow (numpy predictor from S3, verified, loaded, predict_one).
argv[1] = "sklearn": the same flow, but the model answering is the scikit-learn estimator:
model.joblib is downloaded and verified against the manifest in the same way, unpickled (which
imports scikit-learn), and ``predict_proba`` answers. Prints one JSON line with the wall-clock
time at which the first answer existed, the status and what was imported before the request.
"""

import time

import_started = time.time()

import importlib.util  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
from collections.abc import Sequence  # noqa: E402
from pathlib import Path  # noqa: E402
from types import SimpleNamespace  # noqa: E402
from typing import Any  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
variant = sys.argv[1]

APP = os.environ.get("BENCH_PREDICT_APP") or ROOT / "functions/predict/app.py"
spec = importlib.util.spec_from_file_location("predict_app", APP)
if spec is None or spec.loader is None:
    raise SystemExit(f"cannot import the predict function from {APP}")
app = importlib.util.module_from_spec(spec)
spec.loader.exec_module(app)
init_done = time.time()
HEAVY = ("boto3", "botocore", "aws_xray_sdk", "sklearn", "scipy", "pandas", "pydantic", "numpy")
at_init = sorted(m for m in HEAVY if m in sys.modules)

if variant == "sklearn":
    import io

    import numpy as np  # already imported by the predict function (contract)

    from genre_model import contract
    from genre_model.serve import model_cache

    class SklearnPredictor:
        def __init__(self, payload: dict[str, Any]) -> None:
            self.estimator = payload["model"]
            self.estimator.n_jobs = None
            self.classes = tuple(payload["genre_classes"])
            self.feature_columns = tuple(payload["feature_columns"])
            self.countries = contract.country_codes(payload["countries"])
            self.drift = None  # not measured for drift (serve/drift.py skips such a model)

        @classmethod
        def from_bytes(cls, data: bytes) -> "SklearnPredictor":
            import joblib  # the original system's loader; unpickling imports scikit-learn

            return cls(joblib.load(io.BytesIO(data)))

        def predict_one(self, features: Sequence[float]) -> Any:
            return self.estimator.predict_proba(np.asarray([features], dtype=float))[0]

    # Same download + SHA-256 check + load, of the scikit-learn pickle instead of the predictor
    # (model_cache's globals replaced: a stand-in, not a Predictor, so not an attribute write).
    model_cache.__dict__.update(PREDICTOR_FILE=contract.MODEL_FILE, Predictor=SklearnPredictor)

event = json.loads(Path(sys.argv[2]).read_text())
context = SimpleNamespace(
    function_name="PredictFunction",
    function_version="$LATEST",
    invoked_function_arn="arn:aws:lambda:us-east-1:000000000000:function:PredictFunction",
    memory_limit_in_mb=512,
    aws_request_id="cold",
    log_group_name="bench",
    log_stream_name="bench",
    get_remaining_time_in_millis=lambda: 30_000,
)
restore_ms = None
if os.environ.get("BENCH_AFTER_RESTORE"):  # SnapStart: the runtime calls the hooks after restore
    import snapshot_restore_py  # type: ignore[import-untyped]  # the runtime's module, no stubs

    restore_started = time.time()
    for hook, args, kwargs in snapshot_restore_py.get_after_restore():
        hook(*args, **kwargs)
    restore_ms = (time.time() - restore_started) * 1000
request_started = time.time()
response = app.lambda_handler(event, context)
answered = time.time()
print(
    json.dumps(
        {
            "answered": answered,
            "import_started": import_started,
            "init_done": init_done,
            "request_started": request_started,
            "status": response["statusCode"],
            "body": response["body"],
            "imported_at_init": at_init,
            "modules_after_request": len(sys.modules),
            "restore_ms": restore_ms,
        }
    )
)
