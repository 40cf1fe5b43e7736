"""The predict import path never loads scikit-learn, pandas or scipy (they are not in its layer),
nor, on a POST predict, what is imported lazily for the cold start: the resolver and boto3. The
command line's commands that do not train load none of them either (seconds a command)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.helpers import EVENTS, LAYER, ROOT

HEAVY = ("sklearn", "pandas", "scipy")
LAZY = ("boto3", "aws_lambda_powertools.event_handler")  # Powertools itself imports botocore

SCRIPT = """
import importlib.util, json, sys
sys.path.insert(0, {layer!r})
spec = importlib.util.spec_from_file_location("predict_app", {app!r})
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
from devtools.lambda_context import lambda_context
context = lambda_context(request_id="req-1")
with open({event!r}) as fh:
    result = module.lambda_handler(json.load(fh), context)
heavy = sorted(n for n in sys.modules if n.split(".")[0] in {heavy!r})
lazy = sorted(n for n in sys.modules if n.startswith({lazy!r}))
import genre_model
print("RESULT " + json.dumps({{
    "status": result["statusCode"], "body": json.loads(result["body"]), "heavy": heavy,
    "lazy": lazy,
    "package": genre_model.__file__,
}}))
"""


def fresh_result(script: str, cwd: Path, env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run ``script`` in a fresh interpreter and read the JSON of its ``RESULT`` line."""
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd=cwd,
    )
    assert done.returncode == 0, done.stderr
    line = next(x for x in done.stdout.splitlines() if x.startswith("RESULT "))
    return json.loads(line.removeprefix("RESULT "))


def test_predict_serves_without_sklearn_pandas_or_scipy(local_model, tmp_path):
    script = SCRIPT.format(
        layer=str(LAYER),
        app=str(ROOT / "functions" / "predict" / "app.py"),
        event=str(EVENTS / "predict-genre.json"),
        heavy=HEAVY,
        lazy=LAZY,
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MODEL", "AWS_", "PYTHON"))}
    env.update(
        MODELO_GENERO_ENTRENADO=str(local_model.path),
        POWERTOOLS_TRACE_DISABLED="true",
        POWERTOOLS_METRICS_NAMESPACE="GenreModelTests",
        AWS_DEFAULT_REGION="us-east-1",
    )
    result = fresh_result(script, tmp_path, env)
    assert result["status"] == 200, result
    assert result["body"]["status"] == "OK"
    assert result["body"]["prediction"]["genre"] in local_model.classes
    assert result["package"].startswith(str(LAYER))
    assert result["heavy"] == [], f"predict imported {result['heavy']}"
    assert result["lazy"] == [], f"a POST predict imported {result['lazy']}"


CLI_SCRIPT = """
import json, sys
from genre_model.cli import main
codes = [main(argv) for argv in {commands!r}]
heavy = sorted({{n.split(".")[0] for n in sys.modules}} & set({heavy!r}))
print("RESULT " + json.dumps({{"codes": codes, "heavy": heavy}}))
"""


def test_cli_commands_that_do_not_train_load_no_training_library(
    spec_model, predict_sqlite, tmp_path
):
    model = tmp_path / "model"
    shutil.copytree(spec_model.path.parent, model, symlinks=True)  # rollback writes the pointer
    at = ["--model-path", str(model / spec_model.path.name)]
    commands = [
        ["versions", *at],
        ["report", spec_model.version, "--out", str(tmp_path), *at],
        ["rollback", spec_model.version, *at],
        ["aggregates", "status", "--db", str(predict_sqlite)],
    ]
    script = CLI_SCRIPT.format(commands=commands, heavy=(*HEAVY, "matplotlib"))
    result = fresh_result(script, tmp_path)
    assert result["codes"] == [0, 0, 0, 0], result
    assert result["heavy"] == [], f"the commands imported {result['heavy']}"
