"""Issue 1: warm prediction through the whole predict Lambda handler, model cached.

Three variants answer through the SAME handler (functions/predict/app.py ``lambda_handler``:
telemetry context, ``handler.handle``: guard, strict JSON, validation, response JSON).
Only the object answering ``predict_one`` differs:

- ours: the numpy forest (``predictor.Predictor``) the predict function ships;
- sklearn cached: the scikit-learn estimator, unpickled once, ``predict_proba`` per request;
- sklearn per request (the original system): ``joblib.load`` of the pickle and ``predict_proba``
  on every request.

Rounds interleave the variants so drift on a shared machine hits all of them; each ratio is the
median over rounds of (baseline median latency / our median latency) measured in that round.
"""

from __future__ import annotations

import cProfile
import importlib.util
import json
import os
import pstats
import sys
import time
from pathlib import Path

import numpy as np

from benchmarks.common import HANDLER_ENV, PREDICT_APP, api_event, bodies, median, percentile
from devtools.lambda_context import lambda_context


class SklearnCached:
    """The scikit-learn estimator behind the predictor's interface (loaded once)."""

    def __init__(self, ours, estimator) -> None:
        self.classes = ours.classes
        self.feature_columns = ours.feature_columns
        self.countries = ours.countries
        self.drift = ours.drift  # the same rows are counted for drift as with ours
        self.estimator = estimator

    def predict_one(self, features) -> np.ndarray:
        return self.estimator.predict_proba(np.asarray([features], dtype=np.float64))[0]


class SklearnPerRequest(SklearnCached):
    """The original system: unpickle the model file, then predict_proba, on every request."""

    def __init__(self, ours, path: Path) -> None:
        super().__init__(ours, None)
        self.path = path

    def predict_one(self, features) -> np.ndarray:
        import joblib

        estimator = joblib.load(self.path)["model"]
        return estimator.predict_proba(np.asarray([features], dtype=np.float64))[0]


def load_handler():
    path = os.environ.get("BENCH_PREDICT_APP") or PREDICT_APP  # measure a proposed handler
    spec = importlib.util.spec_from_file_location("predict_app_bench", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.lambda_handler


def _time_calls(fn, args_list: list, repeat: int) -> list[float]:
    """Latency in µs of each call, cycling through ``args_list``."""
    out = []
    n = len(args_list)
    clock = time.perf_counter_ns
    for i in range(repeat):
        args = args_list[i % n]
        t0 = clock()
        fn(*args)
        out.append((clock() - t0) / 1000)
    return out


def run(model_path: Path, smoke: bool = False) -> dict:
    os.environ.update(HANDLER_ENV)
    os.environ["MODELO_GENERO_ENTRENADO"] = str(model_path)
    os.environ["MODEL_REFRESH_SECONDS"] = "300"
    import joblib

    from genre_model.serve import api

    api.reset()
    handler = load_handler()
    context = lambda_context(request_id="bench")
    payloads = bodies(64 if smoke else 512)
    events = [(api_event(b), context) for b in payloads]
    first = handler(*events[0])
    assert first["statusCode"] == 200, first
    model = api.model_cache().get()
    ours = model.predictor
    cached = SklearnCached(ours, joblib.load(model_path)["model"])
    cached.estimator.n_jobs = None  # one row: no thread pool (its default) in the baseline
    per_request = SklearnPerRequest(ours, model_path)

    # --- identical probabilities, through the handler, for every body
    def answers(predictor, events_) -> list[dict]:
        model.predictor = predictor
        return [json.loads(handler(*e)["body"])["prediction"]["all_probabilities"] for e in events_]

    a_ours = answers(ours, events)
    a_cached = answers(cached, events)
    a_orig = answers(per_request, events[: 8 if smoke else 32])
    delta_cached = max(abs(a[k] - b[k]) for a, b in zip(a_ours, a_cached, strict=True) for k in a)
    delta_orig = max(abs(a[k] - b[k]) for a, b in zip(a_ours, a_orig, strict=False) for k in b)
    model.predictor = ours

    # --- latency, interleaved rounds
    rounds = 2 if smoke else 5
    n_ours, n_cached, n_orig = (300, 30, 5) if smoke else (6000, 300, 20)
    samples = {"ours": [], "sklearn_cached": [], "sklearn_per_request": []}
    ratios_cached, ratios_orig = [], []
    for _ in range(rounds):
        model.predictor = ours
        s_ours = _time_calls(handler, events, n_ours)
        model.predictor = cached
        s_cached = _time_calls(handler, events, n_cached)
        model.predictor = per_request
        s_orig = _time_calls(handler, events, n_orig)
        model.predictor = ours
        samples["ours"] += s_ours
        samples["sklearn_cached"] += s_cached
        samples["sklearn_per_request"] += s_orig
        ratios_cached.append(median(s_cached) / median(s_ours))
        ratios_orig.append(median(s_orig) / median(s_ours))

    # --- where a warm request spends its time: component timings in the same process
    n = 500 if smoke else 20000
    row = [45.5, 15, 0.6]
    body = payloads[0]
    from genre_model.serve import guard, http, request, service
    from genre_model.serve import handler as entry
    from genre_model.serve.http import Reply

    parsed = request.strict_json(body)
    checked = request.predict_body(parsed)
    response_body = service.predict(checked, model)
    components = {
        "lambda_handler (whole)": _time_calls(handler, events, n),
        "handler.handle (no telemetry context)": _time_calls(entry.handle, events, n),
        "guard.body_text": _time_calls(
            guard.body_text, [(e[0], http.MAX_BODY_BYTES) for e in events], n
        ),
        "json parse (request.strict_json)": _time_calls(request.strict_json, [(body,)], n),
        "validation (request.predict_body)": _time_calls(request.predict_body, [(parsed,)], n),
        "service.predict (features + predict_one + ranking)": _time_calls(
            service.predict, [(checked, model)], n
        ),
        "Predictor.predict_one": _time_calls(ours.predict_one, [(row,)], n),
        "json dumps (http.respond)": _time_calls(
            http.respond, [(Reply(200, response_body, {"X-Model-Version": "v"}),)], n
        ),
        "sklearn predict_proba, 1 row (cached)": _time_calls(
            cached.predict_one, [(row,)], max(20, n // 50)
        ),
    }
    component_p50 = {k: median(v) for k, v in components.items()}

    profile = profile_handler(handler, events, 2000 if smoke else 20000)
    s = samples["ours"]
    return {
        "variants": {
            name: {
                "n": len(v),
                "p50_us": median(v),
                "p99_us": percentile(v, 99),
                "mean_us": sum(v) / len(v),
            }
            for name, v in samples.items()
        },
        "ratio_vs_sklearn_cached": median(ratios_cached),
        "ratio_vs_sklearn_cached_rounds": ratios_cached,
        "ratio_vs_original": median(ratios_orig),
        "ratio_vs_original_rounds": ratios_orig,
        "max_abs_delta_vs_sklearn_cached": delta_cached,
        "max_abs_delta_vs_original": delta_orig,
        "compared_bodies": {"sklearn_cached": len(a_cached), "original": len(a_orig)},
        "p50_us": median(s),
        "p99_us": percentile(s, 99),
        "components_p50_us": component_p50,
        "profile": profile,
        "trees": ours.n_trees,
        "depth": ours.depth,
    }


# cProfile: cumulative time of the functions that bound each kind of work.
CATEGORIES = (
    ("predictor (Predictor.predict_one)", "predictor.py", "predict_one"),
    ("validation (request.predict_body)", "request.py", "predict_body"),
    ("JSON parse (strict_json)", "request.py", "strict_json"),
    ("JSON encode (json.dumps in http.respond)", "http.py", "respond"),
    ("guard (size/base64/UTF-8/content type/encoding)", "guard.py", "body_text"),
    ("model cache lookup (ModelCache.get)", "model_cache.py", "get"),
    ("handler.handle (all of the above + response dict)", "handler.py", "handle"),
)


def profile_handler(handler, events: list, calls: int) -> dict:
    profiler = cProfile.Profile()
    n = len(events)
    profiler.enable()
    for i in range(calls):
        handler(*events[i % n])
    profiler.disable()
    stats = pstats.Stats(profiler)
    total = stats.total_tt
    cumulative: dict[str, float] = {}
    for (filename, _line, name), (_cc, _nc, _tt, ct, _callers) in stats.stats.items():
        for label, file_part, func in CATEGORIES:
            if name == func and file_part in filename:
                cumulative[label] = cumulative.get(label, 0.0) + ct
    shares = {k: v / total for k, v in cumulative.items()}
    handle = shares.get("handler.handle (all of the above + response dict)", 0.0)
    shares["telemetry.invocation (log context, metrics flush)"] = 1 - handle
    top = []
    stats.sort_stats("tottime")
    for func in stats.fcn_list[:12]:
        _cc, nc, tt, _ct, _ = stats.stats[func]
        filename, line, name = func
        short = "/".join(Path(filename).parts[-2:]) if filename != "~" else "builtin"
        top.append(
            {"function": f"{short}:{line}({name})", "calls": nc, "tottime_share": tt / total}
        )
    return {"calls": calls, "shares": shares, "top_tottime": top}


if __name__ == "__main__":
    print(json.dumps(run(Path(sys.argv[1]), smoke="--smoke" in sys.argv), indent=2))
