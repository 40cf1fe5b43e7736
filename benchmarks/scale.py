"""``make bench-scale``: training at store sizes past one machine's comfort (issue 20).

Per tier (synthetic customers, MariaDB database ``genre_scale_<n>_<pid>``, dropped afterwards),
each step in a fresh process (``scale_child.py``, ``train_child.py``) so each peak RSS is its own:

1. generate + load: the generator streamed in blocks of ``BLOCK_CUSTOMERS`` (one block in memory);
2. full run on the sampled path: ``TRAIN_AGGREGATES=full`` (today's query over every line), the
   default ``TRAIN_SAMPLE_ROWS``, publish to a moto S3 bucket: what one train Lambda would run;
3. (accuracy tier only) the same data fitted on everybody and on samples, accuracy side by side;
4. ``aggregates rebuild`` (once per store), then 1 % new invoice lines (a day's sales);
5. incremental nightly run: ``TRAIN_AGGREGATES=incremental`` (fold the new lines, read
   ``customer_spend``), sampled fit, publish.

Results: ``benchmarks/results/scale-<n>.json`` per tier, rendered with every stored tier into
``benchmarks/results/scale.md``, and a summary block in ``benchmarks/RESULTS.md``. Peak RSS is the
Python process's (VmHWM); MariaDB's own memory is the server's, outside it.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from benchmarks.common import (
    HANDLER_ENV,
    PY,
    RESULTS_DIR,
    ROOT,
    STEPS_DIR,
    child_env,
    machine_facts,
    moto_server,
)

CHILD = str(ROOT / "benchmarks" / "scale_child.py")
TRAIN_CHILD = str(ROOT / "benchmarks" / "train_child.py")
BUCKET = "bench-scale"
NEW_LINES_SHARE = 0.01
ACCURACY_SAMPLES = "100000,250000"
GOALS = {"nightly_s": 120.0, "nightly_rss_mib": 3 * 1024.0, "full_s": 900.0}
SUMMARY_BEGIN, SUMMARY_END = "<!-- scale:begin -->", "<!-- scale:end -->"


def step(args: list[str], env: dict[str, str], timeout: float = 7200) -> dict:
    """A child's JSON (last stdout line); its stderr (progress bars) goes to ours."""
    done = subprocess.run(
        [PY, *args], env=env, stdout=subprocess.PIPE, text=True, timeout=timeout, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"{args[:2]} failed with exit status {done.returncode}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def drop(database: str) -> None:
    import pymysql

    with (
        pymysql.connect(host="127.0.0.1", user="root", password="", connect_timeout=5) as conn,
        conn.cursor() as cursor,
    ):
        cursor.execute(f"DROP DATABASE IF EXISTS `{database}`")


def run_tier(
    customers: int,
    endpoint: str,
    accuracy: str | None = None,
    block: int | None = None,
    save: Callable[[dict], object] = lambda _result: None,
) -> dict:
    """One tier's steps; ``accuracy``: the sample sizes to compare with the full fit, if any.

    ``save`` gets the result after every step: a run cut short keeps what it measured."""
    from tqdm import tqdm

    database = f"genre_scale_{customers}_{os.getpid()}"
    env = child_env({"AWS_ENDPOINT_URL": endpoint, "RF_N_JOBS": "-1", "DB_NAME": database})
    if block:
        env["SCALE_BLOCK_CUSTOMERS"] = str(block)
    steps = ["load", "full", "rebuild", "append", "nightly", *(["accuracy"] if accuracy else [])]
    result: dict = {"customers": customers, "measured": time.strftime("%Y-%m-%d %H:%M UTC")}
    try:
        with tqdm(steps, desc=f"{customers:,} customers", unit=" step", file=sys.stderr) as bar:
            for name in bar:
                bar.set_postfix_str(name)
                if name == "load":
                    result["load"] = step([CHILD, "load", str(customers), database], env)
                elif name == "full":
                    full = {**env, "TRAIN_AGGREGATES": "full"}
                    result["full"] = step([TRAIN_CHILD, database, BUCKET], full)
                elif name == "accuracy":
                    result["accuracy"] = step([CHILD, "accuracy", database, accuracy or ""], env)
                elif name == "rebuild":
                    result["rebuild"] = step([CHILD, "rebuild", database], env)
                elif name == "append":
                    result["append"] = step([CHILD, "append", str(NEW_LINES_SHARE), database], env)
                else:
                    nightly = {**env, "TRAIN_AGGREGATES": "incremental"}
                    result["nightly"] = step([TRAIN_CHILD, database, BUCKET], nightly)
                save(result)
        result["complete"] = True
        save(result)
    finally:
        drop(database)
    return result


def stored(results_dir: Path = RESULTS_DIR) -> dict[int, dict]:
    out = {}
    for path in results_dir.glob("scale-*.json"):
        data = json.loads(path.read_text())
        out[int(data["customers"])] = data
    return dict(sorted(out.items()))


def _s(value: float) -> str:
    return f"{value:,.0f} s" if value >= 10 else f"{value:.1f} s"


def _mib(value: float) -> str:
    return f"{value:,.0f} MiB"


def _met(ok: bool) -> str:
    return "**met**" if ok else "**not met**"


STEPS = ("load", "full", "rebuild", "append", "nightly")
MISSING = "not measured (run cut short)"
FIT = "fit (hold-out + final forest)"


def _run(run: dict | None) -> str:
    """A train child's total (SQL / fit), peak RSS."""
    if not run:
        return MISSING
    phases = run["phases_s"]
    return (
        f"{_s(run['total_s'])} ({_s(phases['sql_aggregation'])} / {_s(phases[FIT])}), "
        f"{_mib(run['peak_rss_mib'])}"
    )


def render(tiers: dict[int, dict], facts: dict[str, str], command: str) -> str:
    lines = [
        "# Training at scale (issue 20)",
        "",
        f"Regenerate with `{command}` (`python -m benchmarks.scale`). Synthetic stores "
        "(`devtools/synthetic.py`, streamed in blocks) on the local MariaDB; each step in a fresh "
        "process; peak RSS is that process's VmHWM (MariaDB's memory is the server's).",
        "",
        "| machine | |",
        "|---|---|",
        *(f"| {k} | {v} |" for k, v in facts.items()),
        "",
        "## Per tier",
        "",
        "| customers | invoice lines | generate + load | full run, sampled path (SQL / fit) | "
        "rebuild aggregates | new lines | incremental nightly (fold + read / fit) |",
        "|---|---|---|---|---|---|---|",
    ]
    for n, t in tiers.items():
        load, full, rebuilt, new, night = (t.get(k) for k in STEPS)
        lines.append(
            f"| {n:,} | "
            + " | ".join(
                [
                    f"{load['invoice_lines']:,}" if load else MISSING,
                    f"{_s(load['generate_and_load_s'])}, {_mib(load['peak_rss_mib'])}"
                    if load
                    else MISSING,
                    _run(full),
                    f"{_s(rebuilt['seconds'])}, {_mib(rebuilt['peak_rss_mib'])}"
                    if rebuilt
                    else MISSING,
                    f"{new['new_lines']:,} ({new['share']:.2%})" if new else MISSING,
                    _run(night),
                ]
            )
            + " |"
        )
    lines += ["", "Measured: " + ", ".join(f"{n:,}: {t['measured']}" for n, t in tiers.items())]
    lines += [f"- {n:,} customers: {t['note']}" for n, t in tiers.items() if t.get("note")]
    lines += ["", "## Goals", "", "| goal | measured | status |", "|---|---|---|"]
    for n, t in tiers.items():
        night, full = t.get("nightly"), t.get("full")
        at_goal = n >= 10_000_000
        nightly_ok = bool(night) and (
            night["total_s"] < GOALS["nightly_s"]
            and night["peak_rss_mib"] < GOALS["nightly_rss_mib"]
        )
        not_here = "(the goal is set at 10,000,000)"
        night_text = f"{_s(night['total_s'])}, {_mib(night['peak_rss_mib'])}" if night else MISSING
        full_ok = bool(full) and full["total_s"] < GOALS["full_s"]
        lines.append(
            f"| incremental nightly at {n:,} < 120 s and < 3 GiB | {night_text} | "
            f"{_met(nightly_ok) if at_goal else not_here} |"
        )
        lines.append(
            f"| full run at {n:,} within 900 s, sampled path | "
            f"{_s(full['total_s']) if full else MISSING} | "
            f"{_met(full_ok) if at_goal else not_here} |"
        )
    for n, t in tiers.items():
        if "accuracy" not in t:
            continue
        lines += [
            "",
            f"## Sampled vs full fit at {n:,} customers",
            "",
            "Same store; default forest (100 trees, depth 10). The full fit is the `full` step's "
            "run (80/20 hold-out); each sampled fit is scored on customers outside its sample.",
            "",
            "| TRAIN_SAMPLE_ROWS | fitted on | evaluated on | hold-out accuracy | macro-F1 | "
            "baseline | CV accuracy | train + evaluate |",
            "|---|---|---|---|---|---|---|---|",
        ]
        full = t.get("full")
        full_fit = (
            [
                {
                    "sample_rows": None,
                    "fitted_on": full["report_customers"]["train"],
                    "evaluated_on": full["report_customers"]["test"],
                    "holdout_accuracy": full["holdout_accuracy"],
                    "holdout_macro_f1": full.get("holdout_macro_f1", float("nan")),
                    "baseline_accuracy": full["baseline_accuracy"],
                    "cv_accuracy": full["cv_accuracy"],
                    "train_and_evaluate_s": full["phases_s"][FIT]
                    + full["phases_s"]["cross_validation"]
                    + full["phases_s"]["other evaluation (predict, metrics)"],
                }
            ]
            if full and not full.get("sample")
            else []
        )
        for f in [*full_fit, *t["accuracy"]["fits"]]:
            lines.append(
                f"| {f['sample_rows'] or 'none (full fit)'} | {f['fitted_on']:,} | "
                f"{f['evaluated_on']:,} | {f['holdout_accuracy']:.4f} | "
                f"{f['holdout_macro_f1']:.4f} | {f['baseline_accuracy']:.4f} | "
                f"{f['cv_accuracy']:.4f} | {_s(f['train_and_evaluate_s'])} |"
            )
    return "\n".join(lines) + "\n"


def summary_block(tiers: dict[int, dict]) -> str:
    rows = [
        f"| {n:,} | {_run(t.get('full'))} | {_run(t.get('nightly'))} |" for n, t in tiers.items()
    ]
    return "\n".join(
        [
            SUMMARY_BEGIN,
            "## Training at scale (`make bench-scale`, details in results/scale.md)",
            "",
            "| customers | full run, sampled path | incremental nightly (1 % new lines) |",
            "|---|---|---|",
            *rows,
            SUMMARY_END,
        ]
    )


def write_results(tiers: dict[int, dict], command: str, results_dir: Path = RESULTS_DIR) -> None:
    (results_dir / "scale.md").write_text(render(tiers, machine_facts(), command))
    results_md = results_dir.parent / "RESULTS.md"
    text = results_md.read_text() if results_md.exists() else ""
    block = summary_block(tiers)
    pattern = re.compile(re.escape(SUMMARY_BEGIN) + ".*?" + re.escape(SUMMARY_END), re.S)
    text = pattern.sub(lambda _m: block, text) if pattern.search(text) else f"{text}\n{block}\n"
    results_md.write_text(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiers", default="1000000,3000000", help="customers per tier")
    parser.add_argument("--accuracy-tier", type=int, default=1_000_000)
    parser.add_argument("--samples", default=ACCURACY_SAMPLES, help="sample sizes to compare")
    parser.add_argument("--block", type=int, help="customers per generator block")
    parser.add_argument("--command", default="make bench-scale")
    parser.add_argument("--results", type=Path, default=RESULTS_DIR)
    parser.add_argument("--assemble", metavar="DATABASE", help="render a cut-short run's steps")
    parser.add_argument("--note", default="", help="with --assemble: what cut the run short")
    args = parser.parse_args(argv)
    if args.assemble:
        assemble(args.assemble, int(args.tiers), args.command, args.note, args.results)
        return 0
    import logging

    import boto3

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's per-request lines
    os.environ.update(HANDLER_ENV)  # fake credentials: the only S3 is moto

    with moto_server() as endpoint:
        boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1").create_bucket(
            Bucket=BUCKET
        )
        args.results.mkdir(parents=True, exist_ok=True)
        for customers in (int(t) for t in args.tiers.split(",") if t):

            def save(result: dict, customers: int = customers) -> None:
                path = args.results / f"scale-{customers}.json"
                path.write_text(json.dumps(result, indent=2) + "\n")
                write_results(stored(args.results), args.command, args.results)

            samples = args.samples if customers == args.accuracy_tier else None
            run_tier(customers, endpoint, samples, args.block, save=save)
    return 0


def assemble(
    database: str, customers: int, command: str, note: str, results_dir: Path = RESULTS_DIR
) -> dict:
    """A tier from the steps its children kept (``var/scale-steps``): a run cut short, with a
    ``note`` saying what happened."""
    result: dict = {"customers": customers, "measured": time.strftime("%Y-%m-%d %H:%M UTC")}
    if note:
        result["note"] = note
    for name in (*STEPS, "accuracy"):
        path = STEPS_DIR / f"{database}-{name}.json"
        if path.is_file():
            result[name] = json.loads(path.read_text())
    (results_dir / f"scale-{customers}.json").write_text(json.dumps(result, indent=2) + "\n")
    write_results(stored(results_dir), command, results_dir)
    return result


if __name__ == "__main__":
    sys.exit(main())
