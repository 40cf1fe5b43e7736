"""Mutation score of the domain package: mutmut, one module at a time, with the tests that cover it.

Why a staging tree: mutmut names a mutant after its file's path from the working directory
(`layers/genre_model/python/genre_model/contract.py` would be `layers.genre_model...`) while the
tests import `genre_model.contract`, so mutmut would find no test for any mutant. Each module runs
in `var/mutation/<module>/`, where `genre_model` is a link to the layer's package; mutmut copies it
into that folder's `mutants/` (git-ignored), puts it first on `sys.path`, and runs the repository's
own tests through the link `mutants/tests` (see `stage`). The shared settings are `[tool.mutmut]`
of pyproject.toml; this script adds the module and its test selection.

`python -m benchmarks.mutation run [MODULE ...]` runs and records the modules (all when none is
named); `rerun MODULE` runs a module's recorded survivors again by name (after adding tests);
`report` rewrites benchmarks/results/mutation.md from the recorded runs.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "layers" / "genre_model" / "python" / "genre_model"
STAGING = ROOT / "var" / "mutation"
RUNS = ROOT / "benchmarks" / "results" / "mutation-runs.json"
REPORT = ROOT / "benchmarks" / "results" / "mutation.md"
EQUIVALENT = ROOT / "benchmarks" / "mutation_equivalent.toml"
NOTES = ROOT / "benchmarks" / "mutation_notes.md"  # appended to the report as written
MUTMUT = ROOT / ".venv" / "bin" / "mutmut"

UNIT = "tests/unit"
INTEGRATION = "tests/integration"
RELIABILITY = "tests/reliability"

# The tests that cover each module, kept narrow (unit files wherever they reach the module): mutmut
# runs, for each mutant, those of them that call its function, and on a loaded 2-core machine an
# integration file that trains or serves costs seconds per mutant (hundreds of mutants a module).
TESTS: dict[str, list[str]] = {
    "contract.py": [
        f"{UNIT}/test_contract.py",
        f"{UNIT}/test_contract_boundaries.py",
        f"{UNIT}/test_artifacts.py",
        f"{UNIT}/test_features.py",
        f"{UNIT}/test_report_headline.py",
        f"{UNIT}/test_drift.py",
    ],
    "config.py": [f"{UNIT}/test_config.py", f"{UNIT}/test_config_boundaries.py"],
    "store/registry.py": [
        f"{UNIT}/test_artifacts.py",
        f"{UNIT}/test_registry_boundaries.py",
    ],
    "store/local.py": [
        f"{UNIT}/test_artifacts.py",
        f"{INTEGRATION}/test_local_publish.py",
        f"{RELIABILITY}/test_faults.py",
    ],
    "store/s3.py": [f"{UNIT}/test_artifacts.py", f"{INTEGRATION}/test_artifacts_s3.py"],
    "store/s3_get.py": [f"{UNIT}/test_s3_get.py"],
    "train/features.py": [f"{UNIT}/test_features.py", f"{UNIT}/test_features_boundaries.py"],
    "train/fit.py": [f"{INTEGRATION}/test_training.py", f"{INTEGRATION}/test_forest.py"],
    "train/export.py": [f"{INTEGRATION}/test_inference_exact.py", f"{INTEGRATION}/test_forest.py"],
    "serve/model_cache.py": [
        f"{UNIT}/test_model_cache_boundaries.py",
        f"{UNIT}/test_serve_boundaries.py",
        f"{INTEGRATION}/test_model_cache_refresh.py",
    ],
    "serve/batch.py": [
        f"{UNIT}/test_serve_batch_limits.py",
        f"{UNIT}/test_serve_batch_items.py",
        f"{UNIT}/test_serve_boundaries.py",
        f"{UNIT}/test_serve_http.py",
    ],
    "serve/guard.py": [f"{UNIT}/test_api_guard.py", f"{UNIT}/test_serve_boundaries.py"],
    "serve/request.py": [
        f"{UNIT}/test_request_rules.py",
        f"{UNIT}/test_api_guard.py",
        f"{UNIT}/test_serve_boundaries.py",
    ],
    "serve/errors.py": [f"{UNIT}/test_api_guard.py", f"{UNIT}/test_serve_boundaries.py"],
    "serve/http.py": [
        f"{UNIT}/test_serve_http.py",
        f"{UNIT}/test_serve_routes.py",
        f"{UNIT}/test_api_guard.py",
        f"{UNIT}/test_serve_boundaries.py",
    ],
    "serve/predictor.py": [f"{UNIT}/test_contract.py", f"{INTEGRATION}/test_inference_exact.py"],
    "serve/schemas.py": [f"{UNIT}/test_schemas_predict.py", f"{UNIT}/test_serve_boundaries.py"],
}


# The scores issue 27 measured (mutmut 3.8.1 on a scratch clone, the whole suites, before the
# boundary tests): the "before" column of the report.
ISSUE_27 = {
    "contract.py": 88.8,
    "serve/batch.py": 84.8,
    "serve/http.py": 85.4,
    "store/registry.py": 89.5,
    "serve/model_cache.py": 61.2,
    "train/features.py": 80.6,
}


@dataclass(frozen=True)
class Mutant:
    """One mutant of a run: mutmut's name, its status, and the diff when it survived."""

    name: str
    status: str
    diff: str


def module_key(module: str) -> str:
    """The dotted prefix of the mutants of `module` (`serve/batch.py`: genre_model.serve.batch)."""
    return "genre_model." + module.removesuffix(".py").replace("/", ".")


def toml_value(value: object) -> str:
    """TOML for the simple values [tool.mutmut] holds (JSON's strings and lists are valid TOML)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value)


def stage(module: str) -> Path:
    """A fresh staging tree for one module: the package link, the tests link inside mutmut's
    `mutants/`, and a pyproject with the module's selection and the repository's pytest settings.

    mutmut runs pytest in `mutants/` with `--rootdir=.`: a test file outside that folder gets
    the node id `::test_x`, which pytest then refuses as an argument, a usage error mutmut
    counts as a kill (every mutant "killed", none tested). Inside it, through the link, node
    ids are `tests/unit/test_x.py::test_x`, and `tests/helpers.ROOT` resolves to the checkout."""
    tests = [path for path in TESTS[module] if (ROOT / path).exists()]
    if not tests:
        raise SystemExit(f"mutation: no test files for {module} (see TESTS in {__file__})")
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]
    settings = {
        **pyproject["mutmut"],
        "only_mutate": [f"genre_model/{module}"],
        "pytest_add_cli_args_test_selection": tests,
    }
    where = staged(module)
    shutil.rmtree(where, ignore_errors=True)
    (where / "mutants").mkdir(parents=True)
    (where / "genre_model").symlink_to(PACKAGE, target_is_directory=True)
    (where / "mutants" / "tests").symlink_to(ROOT / "tests", target_is_directory=True)
    lines = ["[tool.mutmut]", *(f"{key} = {toml_value(value)}" for key, value in settings.items())]
    lines += ["", "[tool.pytest.ini_options]"]
    lines += [
        f"{key} = {toml_value(value)}" for key, value in pyproject["pytest"]["ini_options"].items()
    ]
    (where / "pyproject.toml").write_text("\n".join(lines) + "\n")
    check_node_ids(where, tests)
    return where


def check_node_ids(where: Path, tests: list[str]) -> None:
    """Refuse to start (hours) unless pytest, run as mutmut runs it, names each test by its file."""
    (where / "mutants" / "pyproject.toml").write_text((where / "pyproject.toml").read_text())
    pytest = [str(MUTMUT.with_name("python")), "-m", "pytest", "--rootdir=.", "--collect-only"]
    done = subprocess.run(
        ["nice", "-n", "10", *pytest, "-q", "-p", "no:cacheprovider", *tests],
        cwd=where / "mutants",
        capture_output=True,
        text=True,
        check=False,
    )
    ids = [line for line in done.stdout.splitlines() if "::" in line]
    if done.returncode != 0 or not ids or not all(i.startswith("tests/") for i in ids):
        sys.stderr.write(done.stdout[-2000:] + done.stderr[-2000:])
        raise SystemExit(f"mutation: pytest in {where / 'mutants'} does not name tests by file")


def mutmut(where: Path, *args: str) -> str:
    """mutmut's output for one command in a staging tree (the repository's venv, nice'd)."""
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    done = subprocess.run(
        ["nice", "-n", "10", str(MUTMUT), *args],
        cwd=where,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        sys.stderr.write(done.stdout[-4000:] + done.stderr[-4000:])
        raise SystemExit(f"mutation: mutmut {' '.join(args)} failed in {where}")
    return done.stdout


def staged(module: str) -> Path:
    return STAGING / module.replace("/", "-").removesuffix(".py")


def run_module(module: str, max_children: int) -> dict[str, object]:
    """Run mutmut over one module and return the record the report is built from."""
    where = stage(module)
    started = time.monotonic()
    mutmut(where, "run", "--max-children", str(max_children))
    return collect(module, where, round(time.monotonic() - started))


def rerun_survivors(module: str, max_children: int) -> dict[str, object]:
    """Run the recorded survivors of ``module`` again, by name, in its staging tree (after
    tests were added: mutmut finds the new tests and re-runs only these, not the equivalent
    ones), and return the updated record; the full run's duration stays, the re-run noted."""
    before = load_runs()[module]
    killed = ("killed", "timeout", "segfault", "not checked")
    equivalent = tomllib.loads(EQUIVALENT.read_text()) if EQUIVALENT.exists() else {}
    alive = [m.name for m in as_mutants(before) if m.status not in killed]
    alive = [name for name in alive if name not in equivalent]
    where = staged(module)
    started = time.monotonic()
    if alive:
        mutmut(where, "run", "--max-children", str(max_children), *alive)
    record = collect(module, where, before["seconds"])  # type: ignore[arg-type]
    took = round(time.monotonic() - started)
    record["rerun"] = f"its {len(alive)} survivors re-run by name {record['when']} ({took} s)"
    record["when"] = before["when"]
    return record


def collect(module: str, where: Path, seconds: int | None) -> dict[str, object]:
    """The record of a run in ``where``: every mutant's status, the diff of each not killed.
    An interrupted run's unchecked mutants are "not checked" (left out of the score)."""
    prefix = module_key(module) + "."
    mutants = []
    for line in mutmut(where, "results", "--all", "true").splitlines():
        name, _, status = line.strip().partition(": ")
        if not name.startswith(prefix):
            continue
        shown = status not in ("killed", "not checked")
        diff = mutmut(where, "show", name).split("\n", 1)[1] if shown else ""
        mutants.append({"name": name, "status": status, "diff": diff.strip()})
    return {
        "module": module,
        "seconds": seconds,
        "tests": TESTS[module],
        "command": f"make mutation MODULE={module}",
        "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "mutants": mutants,
    }


def load_runs() -> dict[str, dict[str, object]]:
    """The latest recorded run of each module."""
    return json.loads(RUNS.read_text()) if RUNS.exists() else {}


def score(mutants: list[Mutant], equivalent: dict[str, str]) -> tuple[int, int, float]:
    """Killed, counted, and the share killed: a timeout counts as killed, a mutant no test
    reaches ("no tests") as surviving; equivalent and unchecked (interrupted) ones not at all."""
    counted = [m for m in mutants if m.name not in equivalent and m.status != "not checked"]
    killed = sum(m.status in ("killed", "timeout", "segfault") for m in counted)
    return killed, len(counted), 100.0 * killed / len(counted) if counted else 100.0


def as_mutants(record: dict[str, object]) -> list[Mutant]:
    return [Mutant(**m) for m in record["mutants"]]  # type: ignore[attr-defined]


def render(runs: dict[str, dict[str, object]], equivalent: dict[str, str]) -> str:
    """benchmarks/results/mutation.md: the table, then each module's survivors with their diffs."""
    out = [
        "# Mutation score of the domain package",
        "",
        "Written by `make mutation` (benchmarks/mutation.py; how to run it and what the score "
        "means: docs/mutation.md). Score = mutants killed / mutants that are not equivalent, "
        "per module; a timeout counts as killed, a mutant no test reaches as surviving, and an "
        "interrupted run's unchecked mutants not at all (column *not checked*). *before*: the "
        "figure issue 27 measured (whole suites, before the boundary tests); *after*: the latest "
        "run recorded here, with the narrow selection in the last column. Modules absent from "
        "the table were not run.",
        "",
        "| module | before | after | killed / counted | equivalent | survivors | not checked | "
        "run (s) | tests |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for module in sorted(runs):
        after = runs[module]
        b_text = f"{ISSUE_27[module]:.1f} %" if module in ISSUE_27 else "not measured"
        a_mutants = as_mutants(after)
        killed, counted, pct = score(a_mutants, equivalent)
        eq = sum(m.name in equivalent for m in a_mutants)
        alive = sum(
            m.status not in ("killed", "timeout", "segfault", "not checked")
            and m.name not in equivalent
            for m in a_mutants
        )
        unchecked = sum(m.status == "not checked" for m in a_mutants)
        tests = ", ".join(Path(t).name for t in after["tests"])  # type: ignore[union-attr]
        out.append(
            f"| {module} | {b_text} | {pct:.1f} % | {killed} / {counted} | {eq} | {alive} | "
            f"{unchecked} | {after['seconds'] or 'partial'} | {tests} |"
        )
    for module in sorted(runs):
        after = runs[module]
        rerun = f"; then {after['rerun']}" if after.get("rerun") else ""  # type: ignore[attr-defined]
        out += ["", f"## {module}", "", f"Command: `{after['command']}` ({after['when']}{rerun})."]
        now = {m.name: m for m in as_mutants(after)}
        eq_here = [m for m in now.values() if m.name in equivalent]
        if eq_here:
            out += ["", "### Equivalent (no behaviour can see them)", ""]
            out += [f"- `{m.name}`: {equivalent[m.name]}" for m in eq_here]
        alive = [
            m
            for m in now.values()
            if m.status not in ("killed", "not checked") and m.name not in equivalent
        ]
        if alive:
            out += ["", "### Survivors not yet killed", ""]
            for m in alive:
                out += [f"`{m.name}` ({m.status})", "", "```diff", m.diff, "```", ""]
    if NOTES.exists():
        out += ["", NOTES.read_text().strip()]
    return "\n".join(out).rstrip() + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=["run", "rerun", "record", "report"])
    parser.add_argument("modules", nargs="*", help="e.g. serve/batch.py; none: every module")
    parser.add_argument("--max-children", type=int, default=2)
    args = parser.parse_args()
    unknown = [m for m in args.modules if m not in TESTS]
    if unknown:
        raise SystemExit(f"mutation: unknown module {unknown}; known: {', '.join(TESTS)}")
    if args.action in ("run", "rerun", "record"):
        for module in args.modules or list(TESTS):
            print(f"mutation: {module} ...", flush=True)
            if args.action == "run":
                record = run_module(module, args.max_children)
            elif args.action == "rerun":
                record = rerun_survivors(module, args.max_children)
            else:  # what an interrupted (or still running) run has checked so far
                record = collect(module, staged(module), None)
            # read again after the run (an hour or more): another module's run, started
            # beside this one, may have recorded meanwhile, and its record stays
            runs = {**load_runs(), module: record}
            RUNS.write_text(json.dumps(runs, indent=1) + "\n")
            print(f"mutation: {module} recorded", flush=True)
    runs = load_runs()
    equivalent = tomllib.loads(EQUIVALENT.read_text()) if EQUIVALENT.exists() else {}
    REPORT.write_text(render(runs, {k: str(v) for k, v in equivalent.items()}))
    print(f"mutation: wrote {REPORT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
