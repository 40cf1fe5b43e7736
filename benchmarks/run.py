"""Run every benchmark of the performance issue and write benchmarks/RESULTS.md.

    python -m benchmarks.run                      # what `make bench` runs (10k + 100k tiers)
    python -m benchmarks.run --tiers 10000,100000,1000000
    python -m benchmarks.run --smoke              # CI: tiny sizes, checks everything still runs

Every figure is a ratio against a baseline measured in the same process or the same run.
Smoke mode writes nothing under benchmarks/ (results go to a temporary directory).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import sys
import tempfile
import time
from pathlib import Path

from benchmarks import batch, cold, size, snapstart, throughput, training_scale, warm
from benchmarks.common import (
    HANDLER_ENV,
    RESULTS_DIR,
    ROOT,
    machine_facts,
    moto_server,
    publish_to_s3,
    train_model,
    write_json,
)

RESULTS_MD = ROOT / "benchmarks" / "RESULTS.md"
FACTS = (
    "cpu",
    "memory",
    "os",
    "python",
    "numpy / scikit-learn",
    "mariadb",
    "load average at start",
    "date",
)
PHASES = (
    "sql_aggregation",
    "features",
    "fit (hold-out + final forest)",
    "cross_validation",
    "other evaluation (predict, metrics)",
    "export",
    "upload_verify_promote",
)
DEFAULT_TIERS = "10000,100000"


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes; write nothing")
    parser.add_argument("--tiers", default=DEFAULT_TIERS, help="customers per training tier")
    parser.add_argument("--command", default="make bench", help="command to print in the report")
    parser.add_argument("--render", type=Path, help="only re-render RESULTS.md from a results JSON")
    args = parser.parse_args(argv)
    if args.render:
        data = json.loads(args.render.read_text())
        data["training"] = {int(k): x for k, x in data["training"].items()}
        RESULTS_MD.write_text(render(data))
        return 0
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    os.environ.update(HANDLER_ENV)
    tiers = [2000] if args.smoke else [int(t) for t in args.tiers.split(",") if t]
    started = time.perf_counter()
    results: dict = {"facts": machine_facts(), "smoke": args.smoke, "command": args.command}
    with tempfile.TemporaryDirectory(prefix="genre-bench-") as tmp_name:
        tmp = Path(tmp_name)
        results_dir = tmp / "results" if args.smoke else RESULTS_DIR
        log("training the benchmark model (3,000 synthetic customers, default forest)")
        model_path = train_model(tmp / "model", customers=600 if args.smoke else 3000)
        log("1/5 warm handler")
        results["warm"] = warm.run(model_path, smoke=args.smoke)
        log("1b/5 forest on many rows, explanations, batch route")
        chinook = batch.chinook_model(tmp / "chinook")
        results["batch"] = batch.run(model_path, smoke=args.smoke, chinook=chinook)
        with moto_server() as endpoint:
            log("2/5 cold start (moto S3)")
            publish_to_s3(tmp / "model", endpoint)
            results["cold"] = cold.run(endpoint, "bench-models", smoke=args.smoke, tmp=tmp)
            log("2b/5 SnapStart init and after-restore hook (moto S3)")
            results["snapstart"] = snapstart.run(
                endpoint, "bench-models", smoke=args.smoke, tmp=tmp
            )
            log("3/5 bundle size")
            results["size"] = size.run()
            log("4/5 local server throughput")
            results["throughput"] = throughput.run(model_path, smoke=args.smoke)
            log(f"5/5 training at scale on MariaDB: {tiers}")
            training_scale.run(tiers, endpoint, results_dir)
            results["training"] = training_scale.stored(results_dir)
            results["training_this_run"] = tiers
    results["elapsed_s"] = time.perf_counter() - started
    dump = Path(tempfile.gettempdir()) / "genre-bench-last.json"
    dump.write_text(json.dumps(results, indent=2, default=str))
    markdown = render(results)
    if args.smoke:
        problems = smoke_checks(results)
        print(markdown)
        for problem in problems:
            log(f"SMOKE FAILURE: {problem}")
        return 1 if problems else 0
    write_json("latest.json", results)
    RESULTS_MD.write_text(markdown)
    log(f"wrote {RESULTS_MD.relative_to(ROOT)} in {results['elapsed_s'] / 60:.1f} min")
    return 0


def smoke_checks(r: dict) -> list[str]:
    """What CI checks: everything ran and answered correctly. No timing assertions."""
    problems = []
    if r["warm"]["max_abs_delta_vs_sklearn_cached"] != 0:
        problems.append("warm: probabilities differ from scikit-learn")
    if "snapstart" in r and not r["snapstart"]["same_answer"]:
        problems.append("snapstart: the SnapStart init answers differently")
    if not r["cold"]["same_prediction"]:
        problems.append("cold: first answers differ between numpy and scikit-learn")
    for variant in r["throughput"].values():
        if any(level["non_200"] or not level["requests"] for level in variant["levels"].values()):
            problems.append("throughput: a level answered non-200 or nothing")
    if not r["training"]:
        problems.append("training: no tier produced a result")
    b = r["batch"]
    if (
        not all(x["exact"] for x in b["forest"]["sizes"].values())
        or not b["forest"]["one_row"]["exact"]
    ):
        problems.append("forest: predict_proba differs from scikit-learn")
    if b["explain"]["max_abs_delta_vs_shap"] > 1e-9 or b["explain"]["max_additivity_error"] > 1e-12:
        problems.append("explain: differs from shap.TreeExplainer or does not add up")
    if not b["batch"]["same_as_single"]:
        problems.append("batch: a result differs from the single endpoint's answer")
    for model, kinds in b.get("items_vs_single", {}).items():
        if not all(k["same_as_single"] for k in kinds.values()):
            problems.append(f"batch ({model}): an item's answer differs from the single one")
    return problems


def floor_summary(r: dict) -> list[str]:
    """Issue 26's rows: the cold start against numpy's import, a batch item against a request."""
    c, lines = r["cold"], []
    for f in c.get("floors", []):
        lines.append(
            f"| 26 | import of the predict handler <= 2.0x numpy alone (python {f['python']}) "
            f"| {_ms(f['predict_ms'])} | numpy {_ms(f['numpy_ms'])} | {f['ratio']:.2f}x "
            f"| {_met(f['ratio'] <= 2.0)} |"
        )
    if "first_answer" in c:
        a = c["first_answer"]
        lines.append(
            "| 26 | first answered request of a fresh process (moto S3, hash checked), "
            f"against the same floor | {_ms(a['init_plus_first_request_ms'])} "
            f"| numpy {_ms(a['numpy_ms'])} | {a['ratio']:.2f}x | reported |"
        )
    for model, kinds in r["batch"].get("items_vs_single", {}).items():
        for kind, x in kinds.items():
            lines.append(
                f"| 26 | batch item <= 1/4 of a single request, {model} model, {kind} "
                f"| {_us(x['item_us'])} per item | {_us(x['single_us'])} per request "
                f"| 1/{x['ratio']:.2f} | {_met(x['ratio'] >= 4 and x['same_as_single'])} |"
            )
    return lines


def floor_section(r: dict) -> list[str]:
    """Issue 26: the import floor per Python, and -X importtime's top ten before/after."""
    lines = [
        "",
        "## 7. The serve wing at its floor (issue 26)",
        "",
        "Import: fresh interpreters, interleaved, the minimum of 9, timed inside the child around "
        "the import only (`benchmarks/cold.py:import_floor`). Batch: 1,000 items in one request "
        "against the same 1,000 bodies as single requests through the handler, 5 interleaved "
        "rounds, ratio = median over rounds (`benchmarks/batch.py:batch_items`)."
        + (f" Measured {r['cold']['measured']}." if "measured" in r["cold"] else "")
        + (
            f" Batch rows measured {r['batch']['items_measured']}."
            if "items_measured" in r["batch"]
            else ""
        ),
        "",
    ]
    stored = RESULTS_DIR / "import-before-after.json"
    if stored.is_file():
        data = json.loads(stored.read_text())
        lines += [
            f"`python -X importtime` of the predict function: the ten modules with the largest "
            f"cumulative import time, before (commit {data['before_commit']}) and after "
            f"(`{data['command']}`, {data['measured']}):",
            "",
            "| before | cumulative | after | cumulative |",
            "|---|---|---|---|",
        ]
        for (bn, bu), (an, au) in zip(data["before"], data["after"], strict=True):
            lines.append(f"| {bn} | {_ms(bu / 1000)} | {an} | {_ms(au / 1000)} |")
        lines += ["", data["note"]]
    return lines


# ----------------------------------------------------------------------------- rendering


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    """A Markdown table's lines: the header, the rule, one line a row."""
    rule = "|" + "---|" * len(header)
    return [
        rule if cells is None else f"| {' | '.join(cells)} |" for cells in (header, None, *rows)
    ]


def _us(x: float) -> str:
    return f"{x:,.0f} µs" if x >= 100 else f"{x:.1f} µs"


def _ms(x: float) -> str:
    return f"{x:,.0f} ms" if x >= 10 else f"{x:.2f} ms"


def _met(ok: bool, short: str = "") -> str:
    return "**met**" if ok else f"**missed**{' - ' + short if short else ''}"


def growth(rows: dict[int, dict], key) -> str:
    """Exponent b of cost ~ lines^b between the smallest and largest tier (1.0 = linear)."""
    tiers = sorted(rows)
    if len(tiers) < 2:
        return "n/a"
    a, b = rows[tiers[0]], rows[tiers[-1]]
    ta, tb = key(a), key(b)
    if ta <= 0 or tb <= 0:
        return "n/a"
    return f"{math.log(tb / ta) / math.log(b['invoice_lines'] / a['invoice_lines']):.2f}"


def render_snapstart(sn: dict) -> list[str]:
    lazy, snap = sn["on_demand"], sn["snap_start"]
    return [
        "",
        "### 2b. SnapStart (issue 16): model loaded during init, after-restore hook",
        "",
        "Same flow, two inits (`benchmarks/snapstart.py`): on demand (the first request loads "
        "the model) and `AWS_LAMBDA_INITIALIZATION_TYPE=snap-start` (init loads it, then the "
        "after-restore hooks run as the runtime calls them: store dropped, latest.json re-read "
        f"by a fresh cache). Medians over {sn['pairs']} alternating pairs; same answer: "
        f"{sn['same_answer']}." + (f" Measured {sn['measured']}." if "measured" in sn else ""),
        "",
        "| phase (median) | on demand | SnapStart init + restore hook |",
        "|---|---|---|",
        f"| init (import of app.py) | {_ms(lazy['init_ms'])} | {_ms(snap['init_ms'])} |",
        f"| after-restore hook | - | {_ms(snap['restore_ms'])} |",
        f"| first request | {_ms(lazy['first_request_ms'])} | {_ms(snap['first_request_ms'])} |",
        "",
        "On AWS the SnapStart init runs once per published version (when the snapshot is taken), "
        "not in a user's request; a restored container pays the restore itself (only AWS can "
        "measure it: `Restore Duration` in the REPORT log line), the hook above (latest.json, "
        "manifest and predictor read again by a fresh store and verified, bounded by a 2 s "
        "deadline), then the first request from memory. The init's extra time is the model "
        "load moved out of the first request. Absolute times depend on the machine's load "
        "(other jobs shared the 2 cores during this measurement); compare within the table.",
    ]


def render(r: dict) -> str:
    w, c, s, t, tr = r["warm"], r["cold"], r["size"], r["throughput"], r["training"]
    v = w["variants"]
    big = max(tr) if tr else None
    predict = s.get("functions", {}).get("PredictFunction", {})
    train = s.get("functions", {}).get("TrainFunction", {})
    exact = w["max_abs_delta_vs_sklearn_cached"] == 0 and w["max_abs_delta_vs_original"] == 0
    cold_short = f"{4 / c['ratio']:.2f}x short; see Notes"
    lines = [
        "# Performance results",
        "",
        f"Regenerate with `{r['command']}` (`python -m benchmarks.run`; the 1M-customer tier with "
        "`make bench BENCH_TIERS=10000,100000,1000000`). Every ratio compares against a baseline "
        "measured in the same process or the same run, on the machine below. "
        f"This run took {r['elapsed_s'] / 60:.1f} min.",
        "",
        "| machine | |",
        "|---|---|",
        *[f"| {k} | {r['facts'][k]} |" for k in FACTS if k in r["facts"]],
        "",
        "## Summary",
        "",
        "| # | target | measured | baseline (same run) | ratio | status |",
        "|---|---|---|---|---|---|",
        f"| 1 | warm handler >= 200x the original path (unpickle + predict_proba per request) "
        f"| p50 {_us(v['ours']['p50_us'])} | p50 {_ms(v['sklearn_per_request']['p50_us'] / 1000)} "
        f"| {w['ratio_vs_original']:,.0f}x | {_met(w['ratio_vs_original'] >= 200)} |",
        f"| 1 | warm handler >= 50x cached scikit-learn predict_proba behind the same handler "
        f"| p50 {_us(v['ours']['p50_us'])} | p50 {_ms(v['sklearn_cached']['p50_us'] / 1000)} "
        f"| {w['ratio_vs_sklearn_cached']:,.0f}x | {_met(w['ratio_vs_sklearn_cached'] >= 50)} |",
        f"| 1 | identical probabilities (max abs delta == 0) | "
        f"{w['max_abs_delta_vs_sklearn_cached']!r} over {w['compared_bodies']['sklearn_cached']} "
        f"bodies | {w['max_abs_delta_vs_original']!r} vs the original over "
        f"{w['compared_bodies']['original']} | - | "
        f"{_met(exact)} |",
        f"| 2 | cold start >= 4x faster than the same flow with scikit-learn "
        f"| {_ms(c['ours']['total_ms'])} | {_ms(c['sklearn']['total_ms'])} "
        f"| {c['ratio']:.2f}x | {_met(c['ratio'] >= 4, cold_short)} |",
    ]
    if predict:
        lines.append(
            f"| 3 | predict bundle <= 80 MiB, no scikit-learn | {predict['total_mib']:.1f} MiB "
            f"| {train.get('total_mib', 0):.1f} MiB (train bundle, with scikit-learn) "
            f"| {train.get('total_mib', 0) / predict['total_mib']:.2f}x smaller "
            f"| {_met(predict['total_mib'] <= 80 and not predict['heavy_packages'])} |"
        )
        lines.append(
            f"| 3 | train bundle <= 200 MiB | {train['total_mib']:.1f} MiB | limit 250 MiB "
            f"| {train['total_mib'] / 200:.2f} of target | {_met(train['total_mib'] <= 200)} |"
        )
    if big:
        b = tr[big]
        scale_ok = b["total_s"] < 600 and b["peak_rss_mib"] < 3072 and big >= 1_000_000
        lines.append(
            f"| 4 | train {big:,} customers end to end < 10 min, peak RSS < 3 GiB "
            f"| {b['total_s'] / 60:.1f} min, {b['peak_rss_mib']:,.0f} MiB "
            f"| {min(tr):,} customers: {tr[min(tr)]['total_s']:.1f} s "
            f"| cost ~ lines^{growth(tr, lambda x: x['total_s'])} "
            f"| {_met(scale_ok, '' if big >= 1_000_000 else '1M tier not measured')} |"
        )
    shipped = dict(sorted(t["as_shipped"]["levels"].items(), key=lambda kv: int(kv[0])))
    if "batch" in r:
        lines += batch_summary(r["batch"])
        lines += floor_summary(r)
    lines.append(
        "| 5 | local server throughput (no numeric target) | "
        + ", ".join(f"{k} clients {x['rps']:,.0f} req/s" for k, x in shipped.items())
        + " | - | - | reported |"
    )

    # 1 ------------------------------------------------------------------------------------
    lines += [
        "",
        "## 1. Warm prediction through the whole handler",
        "",
        "`functions/predict/app.py:lambda_handler` (Powertools Logger/Metrics decorators, "
        "`api.handle`: guard, strict JSON, pydantic validation, response JSON) with an API Gateway "
        "REST event in and the proxy response out, model cached. The three variants differ only "
        f"in the object answering `predict_one`; {w['trees']} trees, depth {w['depth']} (the "
        "default forest), trained on 3,000 synthetic customers. Rounds interleave the variants; "
        "each ratio is the median over rounds of the per-round ratio of median latencies. "
        "Environment: POWERTOOLS_TRACE_DISABLED=true (no X-Ray daemon locally), "
        "POWERTOOLS_LOG_LEVEL=WARNING.",
        "",
    ]
    names = {
        "ours": "numpy forest (shipped)",
        "sklearn_cached": "scikit-learn predict_proba, estimator cached",
        "sklearn_per_request": "original: joblib.load + predict_proba per request",
    }
    lines += _table(
        ["variant", "requests", "p50", "p99", "mean"],
        [
            [label, f"{v[key]['n']:,}", *(_us(v[key][f"{s}_us"]) for s in ("p50", "p99", "mean"))]
            for key, label in names.items()
        ],
    )
    lines += [
        "",
        "Per-round ratios: vs cached scikit-learn "
        + ", ".join(f"{x:.0f}" for x in w["ratio_vs_sklearn_cached_rounds"])
        + "; vs the original "
        + ", ".join(f"{x:.0f}" for x in w["ratio_vs_original_rounds"])
        + ".",
        "",
        "Where a warm request's time goes (component medians measured alone, same process):",
        "",
        "| component | p50 |",
        "|---|---|",
        *[
            f"| {k} | {_us(x)} |"
            for k, x in sorted(w["components_p50_us"].items(), key=lambda kv: -kv[1])
        ],
        "",
        f"cProfile of {w['profile']['calls']:,} handler calls (cumulative share of the "
        "profiled time; nested rows are included in `api.handle`):",
        "",
        "| part | share |",
        "|---|---|",
        *[
            f"| {k} | {x:.0%} |"
            for k, x in sorted(w["profile"]["shares"].items(), key=lambda kv: -kv[1])
        ],
        "",
        "Top functions by own time: "
        + "; ".join(
            f"`{x['function']}` {x['tottime_share']:.0%}" for x in w["profile"]["top_tottime"][:8]
        )
        + ".",
    ]

    # 2 ------------------------------------------------------------------------------------
    o, k = c["ours"], c["sklearn"]
    lines += [
        "",
        "## 2. Cold start: fresh process -> first answered request",
        "",
        "Each sample is a new interpreter running `benchmarks/cold_child.py`: import the predict "
        "function, then answer one POST through `lambda_handler`: boto3 client, GET latest.json, "
        "manifest and the artifact from a moto S3 server, SHA-256 check, load, predict. The "
        "baseline runs the same code with the scikit-learn pickle (`model.joblib`, verified the "
        "same way) unpickled instead of the numpy predictor. Medians over "
        f"{len(c['ratios'])} alternating pairs; ratio per pair: "
        + ", ".join(f"{x:.2f}" for x in c["ratios"])
        + f". Same first prediction: {c['same_prediction']}.",
        "",
        "| phase (median) | numpy (shipped) | scikit-learn |",
        "|---|---|---|",
        f"| interpreter start | {_ms(o['interpreter_ms'])} | {_ms(k['interpreter_ms'])} |",
        f"| init (import of app.py) | {_ms(o['init_ms'])} | {_ms(k['init_ms'])} |",
        f"| first request (S3, verify, load, predict) | {_ms(o['first_request_ms'])} "
        f"| {_ms(k['first_request_ms'])} |",
        f"| **total** | **{_ms(o['total_ms'])}** | **{_ms(k['total_ms'])}** |",
        "",
        f"Heavy packages already imported after init (before the first request): "
        f"{', '.join(o['imported_at_init']) or 'none'}.",
        "",
        f"`python -X importtime` of the predict function's init, top-level modules by cumulative "
        f"time (total {c['imports']['total_us'] / 1000:,.0f} ms):",
        "",
        "| module | cumulative |",
        "|---|---|",
        *[f"| {name} | {_ms(us / 1000)} |" for name, us in c["imports"]["top_level"]],
    ]

    if "snapstart" in r:
        lines += render_snapstart(r["snapstart"])

    # 3 ------------------------------------------------------------------------------------
    lines += ["", "## 3. Bundle size (unzipped, from `sam build` output)", ""]
    if "error" in s:
        lines.append(s["error"])
    else:
        lines += [
            f"`.aws-sam/build` built {s['built']}; same accounting as `make size-check`.",
            "",
            "| function | total | parts | largest packages | target |",
            "|---|---|---|---|---|",
        ]
        for name, f in s["functions"].items():
            parts = ", ".join(f"{p} {m:.1f}" for p, m in f["parts_mib"].items())
            largest = ", ".join(f"{p} {m:.1f}" for p, m in f["largest_mib"].items())
            lines.append(
                f"| {name} | {f['total_mib']:.1f} MiB | {parts} | {largest} "
                f"| <= {f['target_mib']} MiB |"
            )
        lines += [
            "",
            "scikit-learn/scipy/pandas in the predict bundle: "
            + (", ".join(predict.get("heavy_packages", [])) or "none")
            + ".",
        ]

    # 4 ------------------------------------------------------------------------------------
    lines += [
        "",
        "## 4. Training at scale on MariaDB",
        "",
        "Synthetic stores (seed 42, ~18 invoice lines per customer) bulk-loaded into a fresh "
        "database each (CSV written column-wise, `LOAD DATA LOCAL INFILE`, secondary indexes built "
        "after the load), then one training run in a fresh process: the train Lambda's "
        "`pipeline.run_training` with `RF_N_JOBS=-1` (2 cores) and the default forest (100 trees, "
        "depth 10), publishing to a moto S3 bucket. Databases are dropped afterwards. "
        f"Tiers measured in this run: {', '.join(f'{x:,}' for x in r['training_this_run'])}; "
        "other tiers come from their last run (date in the table).",
        "",
    ]
    if tr:
        tiers = list(tr)
        header = "| phase | " + " | ".join(f"{x:,} customers" for x in tiers) + " | growth b |"
        lines += [header, "|---" * (len(tiers) + 2) + "|"]
        lines.append(
            "| invoice lines | " + " | ".join(f"{tr[x]['invoice_lines']:,}" for x in tiers) + " | |"
        )
        lines.append("| measured | " + " | ".join(tr[x]["measured"] for x in tiers) + " | |")
        lines.append(
            "| generate (not timed as training) | "
            + " | ".join(f"{tr[x]['generate_s']:.1f} s" for x in tiers)
            + f" | {growth(tr, lambda x: x['generate_s'])} |"
        )
        lines.append(
            "| load into MariaDB (not timed as training) | "
            + " | ".join(
                f"{tr[x]['load_s']:.1f} s ({tr[x]['load_rows_per_s'] / 1000:,.0f}k lines/s)"
                for x in tiers
            )
            + f" | {growth(tr, lambda x: x['load_s'])} |"
        )
        for phase in PHASES:
            lines.append(
                f"| {phase} | "
                + " | ".join(f"{tr[x]['phases_s'][phase]:.1f} s" for x in tiers)
                + f" | {growth(tr, lambda x, p=phase: x['phases_s'][p])} |"
            )
        lines.append(
            "| **training end to end** | "
            + " | ".join(f"**{tr[x]['total_s']:.1f} s**" for x in tiers)
            + f" | **{growth(tr, lambda x: x['total_s'])}** |"
        )
        lines.append(
            "| peak RSS of the training process | "
            + " | ".join(f"{tr[x]['peak_rss_mib']:,.0f} MiB" for x in tiers)
            + " | |"
        )
        lines.append(
            "| cross-validation data | "
            + " | ".join(
                f"{tr[x]['cross_validation']['folds']}-fold on "
                f"{tr[x]['cross_validation']['customers']:,}"
                + (" (stratified subsample)" if tr[x]["cross_validation"]["subsample"] else "")
                for x in tiers
            )
            + " | |"
        )
        lines.append(
            "| hold-out accuracy: model / baseline | "
            + " | ".join(
                f"{tr[x]['holdout_accuracy']:.3f} / {tr[x]['baseline_accuracy']:.3f}" for x in tiers
            )
            + " | |"
        )
        lines.append(
            "| CV accuracy: model / baseline | "
            + " | ".join(
                f"{tr[x]['cv_accuracy']:.3f} / {tr[x]['cv_baseline_accuracy']:.3f}" for x in tiers
            )
            + " | |"
        )
        lines += [
            "",
            "growth b: cost ~ (invoice lines)^b between the smallest and the largest tier "
            "(1.0 = linear). Evaluation: the hold-out forest (80 %) and the published forest "
            "(100 %) are fitted on every customer; cross-validation (k = min(5, smallest genre), "
            "model and baseline) runs on all customers up to 50,000 and on a stratified "
            "subsample of 50,000 above that (`training.CV_MAX_CUSTOMERS`), so its cost stops "
            "growing; the report's `cross_validation.customers` and `data_sources` say which.",
        ]

    # 5 ------------------------------------------------------------------------------------
    lines += [
        "",
        "## 5. Local server throughput (loopback, bounded runs)",
        "",
        "`python -m devtools serve` (ThreadingHTTPServer -> API Gateway event -> the predict "
        "handler) and an asyncio keep-alive load generator (`benchmarks/load_client.py`) share "
        f"the 2 cores; {t['as_shipped']['seconds_per_level']:.0f} s per level after a warm-up. "
        "The server sets TCP_NODELAY: before it did, every keep-alive request waited ~40 ms "
        "for a delayed ACK (23 req/s at 1 client in an earlier run of this benchmark).",
        "",
        "| clients | req/s | p50 | p99 |",
        "|---|---|---|---|",
    ]
    for level, a in shipped.items():
        lines.append(f"| {level} | {a['rps']:,.0f} | {_ms(a['p50_ms'])} | {_ms(a['p99_ms'])} |")
    if "batch" in r:
        lines += batch_section(r["batch"])
        lines += floor_section(r)
    notes = ROOT / "benchmarks" / "NOTES.md"
    if notes.is_file():
        lines += ["", notes.read_text().strip()]
    return "\n".join(lines) + "\n"


def batch_summary(b: dict) -> list[str]:
    """Issue 15's rows of the summary table."""
    f, e, route = b["forest"], b["explain"], b["batch"]
    at = f["sizes"].get(1000) or f["sizes"].get("1000")
    exact = all(x["exact"] for x in f["sizes"].values()) and f["one_row"]["exact"]
    handler_ms = e["p50_us"]["handler_explain"] / 1000
    return [
        f"| 15 | batch predict_proba >= 1.0x scikit-learn (n_jobs=None) at 1,000 rows "
        f"| {_ms(at['ours_ms'])} | {_ms(at['sklearn_ms'])} | {at['ratio_vs_sklearn']:.2f}x "
        f"| {_met(at['ratio_vs_sklearn'] >= 1.0 and exact)} |",
        f"| 15 | one-row explain in the handler < 2 ms p50, equal to shap (1e-9) "
        f"| p50 {_ms(handler_ms)}, max delta {e['max_abs_delta_vs_shap']:.1e} over "
        f"{e['rows_compared']:,} rows | shap.TreeExplainer p50 {_ms(e['p50_us']['shap'] / 1000)} "
        f"| {e['ratio_shap_vs_handler_explain']:.1f}x "
        f"| {_met(handler_ms < 2 and e['max_abs_delta_vs_shap'] <= 1e-9)} |",
        f"| 15 | batch route, {route['items']:,} items in one request "
        f"| {_ms(route['batch_ms'])} | {_ms(route['singles_ms'])} as single requests "
        f"| {route['ratio']:.1f}x | {_met(route['same_as_single'], 'results differ')} |",
    ]


def batch_section(b: dict) -> list[str]:
    f, e, route = b["forest"], b["explain"], b["batch"]
    lines = [
        "",
        "## 6. The forest on many rows, explanations, the batch route",
        "",
        f"Same process, same model ({b['trees']} trees, depth {b['depth']}). `predict_proba` "
        "walks every tree as a complete binary tree in float32 (`inference.CompleteTrees`) and "
        "sums the trees in a loop; the previous walk (slot layout, one 3-D "
        "`np.add.accumulate`) is measured alongside. Best of 5 calls per round, median over "
        "rounds; every variant bit-identical to scikit-learn on these rows: "
        f"{all(x['exact'] for x in f['sizes'].values())}.",
        "",
        "| rows | ours | scikit-learn predict_proba | previous walk | vs scikit-learn "
        "| vs previous |",
        "|---|---|---|---|---|---|",
    ]
    for n, x in sorted(f["sizes"].items(), key=lambda kv: int(kv[0])):
        lines.append(
            f"| {int(n):,} | {_ms(x['ours_ms'])} | {_ms(x['sklearn_ms'])} "
            f"| {_ms(x['previous_ms'])} | {x['ratio_vs_sklearn']:.2f}x "
            f"| {x['ratio_vs_previous']:.2f}x |"
        )
    o = f["one_row"]
    lines += [
        "",
        f"One row (`predict_one`, unchanged by this work): p50 {_us(o['ours_p50_us'])}; "
        f"scikit-learn `predict_proba` on one row p50 {_us(o['sklearn_p50_us'])}.",
        "",
        'Explanations through the whole handler (`"explain": true`), against '
        '`shap.TreeExplainer(model, feature_perturbation="tree_path_dependent").shap_values` '
        f"on one row. Compared on {e['rows_compared']:,} rows: max abs delta "
        f"{e['max_abs_delta_vs_shap']:.1e}, max |base_value + sum - confidence| "
        f"{e['max_additivity_error']:.1e}.",
        "",
    ]
    names = {
        "handler_plain": "handler, no explain",
        "handler_explain": "handler, explain: true",
        "shap": "shap.TreeExplainer, one row (no handler)",
    }
    lines += _table(
        ["variant", "p50", "p99"],
        [[label, _us(e["p50_us"][key]), _us(e["p99_us"][key])] for key, label in names.items()],
    )
    lines += [
        "",
        f"Batch route: {route['items']:,} items in one `POST /api/predict-genre/batch` through "
        f"the handler took {_ms(route['batch_ms'])} (answer {route['response_bytes'] / 1e6:.2f} "
        f"MB); the same items as single requests {_ms(route['singles_ms'])}; every result equal "
        f"to the single answer: {route['same_as_single']}.",
    ]
    return lines


if __name__ == "__main__":
    sys.exit(main())
