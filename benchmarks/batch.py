"""Issue 15: the numpy forest on many rows, exact explanations, and the batch route.

    python -m benchmarks.batch                   # issue 26's batch item vs a request, both models
    python -m benchmarks.batch --repeat 3 --record  # ... 3 runs; the last one into RESULTS.md

Every figure is against a baseline measured in the same process and the same rounds:
scikit-learn's ``predict_proba`` (``n_jobs=None``) on the same rows, ``shap.TreeExplainer``
(tree path-dependent) on the same row, and the previous batch walk of our own forest (slot
layout + one 3-D ``np.add.accumulate``). Rounds interleave the variants; each ratio is the median
over rounds of baseline time / our time in that round.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.common import (
    HANDLER_ENV,
    RESULTS_DIR,
    ROOT,
    api_event,
    median,
    percentile,
    train_model,
    write_json,
)
from benchmarks.warm import _time_calls, load_handler
from devtools.lambda_context import lambda_context


def _rows(n: int, seed: int) -> np.ndarray:
    """Profiles like the spec's clients send (the synthetic store's ranges)."""
    rng = np.random.default_rng(seed)
    tracks = rng.integers(1, 60, n)
    spent = np.round(tracks * rng.choice((0.99, 1.99), n) * rng.random(n), 2)
    return np.column_stack([spent, tracks, np.round(rng.random(n), 3)]).astype(np.float64)


def _best_ms(fn, arg, repeat: int) -> float:
    """Fastest of ``repeat`` calls, in ms (a batch call is long enough for the minimum)."""
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn(arg)
        best = min(best, time.perf_counter() - t0)
    return best * 1000


def _previous_walk(predictor):
    """The batch walk before issue 15, kept here as the same-run baseline."""

    def predict(x: np.ndarray) -> np.ndarray:
        leaves = predictor._slot_leaves(np.asarray(x, dtype=np.float32).astype(np.float64))
        per_tree = predictor._value[leaves]
        return np.add.accumulate(per_tree, axis=1)[:, -1, :] / predictor.n_trees

    return predict


def _forest(ours, estimator, smoke: bool) -> dict:
    sizes = (1000,) if smoke else (100, 1000, 10_000)
    rounds, repeat = (2, 2) if smoke else (7, 5)
    previous = _previous_walk(ours)
    out: dict = {"sizes": {}}
    for n in sizes:
        x = _rows(n, seed=n)
        exact = bool(np.array_equal(ours.predict_proba(x), estimator.predict_proba(x)))
        exact = exact and bool(np.array_equal(previous(x), estimator.predict_proba(x)))
        per = {"ours_ms": [], "sklearn_ms": [], "previous_ms": []}
        for _ in range(rounds):
            per["ours_ms"].append(_best_ms(ours.predict_proba, x, repeat))
            per["sklearn_ms"].append(_best_ms(estimator.predict_proba, x, repeat))
            per["previous_ms"].append(_best_ms(previous, x, repeat))
        out["sizes"][n] = {
            "exact": exact,
            **{k: median(v) for k, v in per.items()},
            "ratio_vs_sklearn": median(
                [s / o for s, o in zip(per["sklearn_ms"], per["ours_ms"], strict=True)]
            ),
            "ratio_vs_previous": median(
                [p / o for p, o in zip(per["previous_ms"], per["ours_ms"], strict=True)]
            ),
        }
    one = _rows(256, seed=1)
    calls = 2000 if smoke else 20_000
    ours_one = _time_calls(ours.predict_one, [(r.tolist(),) for r in one], calls)
    sk_one = _time_calls(estimator.predict_proba, [(r[None, :],) for r in one], calls // 20)
    out["one_row"] = {
        "exact": all(
            np.array_equal(ours.predict_one(r.tolist()), estimator.predict_proba(r[None, :])[0])
            for r in one
        ),
        "ours_p50_us": percentile(ours_one, 50),
        "sklearn_p50_us": percentile(sk_one, 50),
    }
    return out


def _explain(handler, context, ours, estimator, smoke: bool) -> dict:
    import shap

    oracle = shap.TreeExplainer(estimator, feature_perturbation="tree_path_dependent")
    rows = _rows(64 if smoke else 1000, seed=3).astype(np.float32).astype(np.float64)
    expected = np.asarray(oracle.shap_values(rows))
    worst = 0.0
    worst_sum = 0.0
    for i, row in enumerate(rows):
        body = {"total_spent": row[0], "total_tracks_bought": int(row[1])}
        body["genre_spending_ratio"] = row[2]
        answer = json.loads(
            handler(api_event(json.dumps({**body, "explain": True})), context)["body"]
        )
        explanation = answer["explanation"]
        c = ours.classes.index(explanation["genre"])
        phi = np.array(list(explanation["contributions"].values()))
        worst = max(worst, float(np.abs(phi - expected[i, :, c]).max()))
        total = explanation["base_value"] + phi.sum()
        worst_sum = max(worst_sum, abs(total - answer["prediction"]["confidence"]))
    plain = [json.dumps({"total_spent": r[0], "total_tracks_bought": int(r[1])}) for r in rows]
    explained = [p[:-1] + ', "explain": true}' for p in plain]
    calls = 300 if smoke else 3000
    rounds = 2 if smoke else 5
    samples: dict[str, list[float]] = {"handler_plain": [], "handler_explain": [], "shap": []}
    for _ in range(rounds):
        samples["handler_plain"] += _time_calls(
            handler, [(api_event(b), context) for b in plain], calls
        )
        samples["handler_explain"] += _time_calls(
            handler, [(api_event(b), context) for b in explained], calls
        )
        samples["shap"] += _time_calls(
            oracle.shap_values, [(r[None, :],) for r in rows], calls // 3
        )
    p50 = {k: percentile(v, 50) for k, v in samples.items()}
    return {
        "rows_compared": len(rows),
        "max_abs_delta_vs_shap": worst,
        "max_additivity_error": worst_sum,
        "p50_us": p50,
        "p99_us": {k: percentile(v, 99) for k, v in samples.items()},
        "ratio_shap_vs_handler_explain": p50["shap"] / p50["handler_explain"],
    }


def _batch_route(handler, context, smoke: bool, explain: bool = False) -> dict:
    """Issue 26: a batch item against a whole single request through the handler, 1,000 items,
    rounds interleaved; ``ratio`` is the median over rounds of (all singles / the batch), so
    >= 4 means a batch item costs at most a quarter of a request."""
    items = [
        {"total_spent": float(r[0]), "total_tracks_bought": int(r[1]), "genre_spending_ratio": r[2]}
        | ({"explain": True} if explain else {})
        for r in _rows(100 if smoke else 1000, seed=5)
    ]
    batch = api_event(json.dumps({"items": items}))
    batch["path"] = batch["resource"] = "/api/predict-genre/batch"
    singles = [api_event(json.dumps(item)) for item in items]
    answer = handler(batch, context)
    results = json.loads(answer["body"])["results"]
    same = [json.loads(handler(e, context)["body"]) for e in singles] == results
    rounds = 2 if smoke else 5
    batch_ms, singles_ms = [], []
    for _ in range(rounds):
        t0 = time.perf_counter()
        handler(batch, context)
        batch_ms.append((time.perf_counter() - t0) * 1000)
        t0 = time.perf_counter()
        for event in singles:
            handler(event, context)
        singles_ms.append((time.perf_counter() - t0) * 1000)
    return {
        "items": len(items),
        "explain": explain,
        "same_as_single": same,
        "response_bytes": len(answer["body"]),
        "batch_ms": median(batch_ms),
        "singles_ms": median(singles_ms),
        "item_us": median(batch_ms) * 1000 / len(items),
        "single_us": median(singles_ms) * 1000 / len(items),
        "ratio": median([s / b for s, b in zip(singles_ms, batch_ms, strict=True)]),
    }


def batch_items(model_path: Path, smoke: bool = False) -> dict:
    """A batch item against a single request on the model at ``model_path``, plain and explain."""
    os.environ["MODELO_GENERO_ENTRENADO"] = str(model_path)
    from genre_model.serve import api

    api.reset()
    handler = load_handler()
    context = lambda_context(request_id="bench")
    assert handler(api_event("{}"), context)["statusCode"] == 200
    return {
        "plain": _batch_route(handler, context, smoke),
        "explain": _batch_route(handler, context, smoke, explain=True),
    }


def run(model_path: Path, smoke: bool = False, chinook: Path | None = None) -> dict:
    os.environ.update(HANDLER_ENV)
    os.environ["MODELO_GENERO_ENTRENADO"] = str(model_path)
    import joblib

    from genre_model.serve import api

    api.reset()
    handler = load_handler()
    context = lambda_context(request_id="bench")
    assert handler(api_event("{}"), context)["statusCode"] == 200
    ours = api.model_cache().get().predictor
    estimator = joblib.load(model_path)["model"]
    estimator.set_params(n_jobs=None)  # the baseline the issue names
    return {
        "trees": ours.n_trees,
        "depth": ours.depth,
        "forest": _forest(ours, estimator, smoke),
        "explain": _explain(handler, context, ours, estimator, smoke),
        "batch": _batch_route(handler, context, smoke),
        "items_vs_single": _items_vs_single(model_path, smoke, chinook),
    }


def _items_vs_single(model_path: Path, smoke: bool, chinook: Path | None) -> dict:
    out = {"synthetic": batch_items(model_path, smoke)}
    if chinook is not None:
        out["chinook"] = batch_items(chinook, smoke)
    os.environ["MODELO_GENERO_ENTRENADO"] = str(model_path)  # as the other benchmarks expect
    from genre_model.serve import api

    api.reset()
    return out


def chinook_model(directory: Path) -> Path | None:
    """The default forest trained on the real Chinook SQLite file (CHINOOK_DIR, else
    ../shared/chinook), or None when it is not there."""
    source = Path(os.environ.get("CHINOOK_DIR") or ROOT.parent / "shared" / "chinook")
    sqlite = source / "Chinook_Sqlite.sqlite"
    if not sqlite.is_file():
        return None
    from genre_model.config import load_settings
    from genre_model.train.pipeline import run_training

    model = directory / "modelo_genero_entrenado.pkl"
    settings = load_settings(
        {"CHINOOK_SQLITE_PATH": str(sqlite), "MODELO_GENERO_ENTRENADO": str(model)}
    )
    run_training(settings, progress=lambda _msg: None)
    return model


SCALE_MARK = "<!-- scale:begin -->"


def _per_run(ratios: dict[str, list[float]]) -> str:
    return "; ".join(f"{k} {', '.join(f'1/{r:.2f}' for r in v)}" for k, v in ratios.items())


def _load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def main(argv: list[str] | None = None) -> int:
    """Issue 26's batch rows alone (both models trained as ``make bench`` trains them), each run
    printed; ``--record`` puts the last run into results/latest.json and re-renders RESULTS.md."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--repeat", type=int, default=1, help="runs, one after the other")
    parser.add_argument("--record", action="store_true", help="record the last run")
    args = parser.parse_args(argv)
    os.environ.update(HANDLER_ENV)
    started = time.strftime("%Y-%m-%d %H:%M", time.gmtime())
    load = [_load()]
    runs = []
    with tempfile.TemporaryDirectory(prefix="genre-bench-batch-") as tmp:
        synthetic = train_model(Path(tmp) / "model", customers=3000)
        chinook = chinook_model(Path(tmp) / "chinook")
        for _ in range(args.repeat):
            runs.append(_items_vs_single(synthetic, False, chinook))
            for model, kinds in runs[-1].items():
                for kind, x in kinds.items():
                    print(
                        f"{model:9} {kind:7} item {x['item_us']:7.1f} us  request "
                        f"{x['single_us']:7.1f} us  1/{x['ratio']:.2f}  same {x['same_as_single']}",
                        flush=True,
                    )
            load.append(_load())
    ratios = {
        f"{model} {kind}": [round(run[model][kind]["ratio"], 2) for run in runs]
        for model, kinds in runs[-1].items()
        for kind in kinds
    }
    print(json.dumps(ratios))
    if args.record:
        from benchmarks import run

        latest = json.loads((RESULTS_DIR / "latest.json").read_text())
        latest["batch"]["items_vs_single"] = runs[-1]
        latest["batch"]["items_measured"] = (
            f"{started} UTC with `python -m benchmarks.batch --repeat {args.repeat} --record` "
            f"(the last of {args.repeat} runs; ratio per run: {_per_run(ratios)}; load average "
            f"{' -> '.join(load)})"
        )
        write_json("latest.json", latest)
        latest["training"] = {int(k): x for k, x in latest["training"].items()}
        kept = run.RESULTS_MD.read_text().partition(SCALE_MARK)  # bench-scale's own section
        rendered = run.render(latest)
        run.RESULTS_MD.write_text(rendered + ("\n" + kept[1] + kept[2] if kept[1] else ""))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
