"""The docs cannot drift: every curl and CLI example of README.md, docs/ and infra/deploy.md runs
as written against the demo model, and the answers the docs show are the ones it gives.

The answers under the curl examples are written by ``make docs-examples``
(``devtools.docs_examples``); when one differs here, the docs are stale: run
``make demo DEMO_ONCE=1 && make docs-examples``.
"""

from __future__ import annotations

import json
import math
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from devtools.docs_examples import EXAMPLE, Answer, commands, documents, run_curl
from genre_model.contract import VERSION_PATTERN
from tests.helpers import ROOT, TrainedModel, demo_model, demo_store, local_server, require

pytestmark = pytest.mark.once  # what the docs say does not depend on the interpreter

VERSION = VERSION_PATTERN
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d")
# The CLI's commands, and what the first line of each says when it worked.
CLI_FIRST_LINES = {
    "train": "Training from ",
    "versions": "hold-out accuracy and macro-F1",  # the legend, then the table
    "report": "wrote ",
    "rollback": "latest -> ",
    "generate": "",
}


def _doc_commands() -> list[tuple[str, str]]:
    return [
        (path.relative_to(ROOT).as_posix(), command)
        for path in documents()
        for command in commands(path.read_text())
    ]


def _curl_examples() -> list[tuple[str, str]]:
    return [(doc, c) for doc, c in _doc_commands() if c.startswith("curl ")]


def _answered_examples() -> list[tuple[str, str, str]]:
    return [
        (path.relative_to(ROOT).as_posix(), m["command"].strip(), m["answer"])
        for path in documents()
        for m in EXAMPLE.finditer(path.read_text())
    ]


@pytest.fixture(scope="session")
def demo(tmp_path_factory: pytest.TempPathFactory) -> TrainedModel:
    return demo_model(tmp_path_factory.mktemp("demo-model") / "assets")


@pytest.fixture
def base(demo: TrainedModel, monkeypatch: pytest.MonkeyPatch) -> str:
    require(shutil.which("curl") is not None, "curl not found on PATH")
    monkeypatch.setenv("MODELO_GENERO_ENTRENADO", str(demo.path))
    monkeypatch.setenv("NO_PROXY", "localhost,127.0.0.1")
    monkeypatch.setenv("no_proxy", "localhost,127.0.0.1")
    with local_server() as server:
        yield server.url


def _normal(value: Any) -> Any:
    """An answer with what differs between two trainings of the same model (its version name
    and creation time) blanked."""
    if isinstance(value, dict):
        return {k: _normal(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_normal(v) for v in value]
    if isinstance(value, str) and (VERSION.fullmatch(value) or TIMESTAMP.match(value)):
        return "<varies>"
    return value


def _same(shown: Any, got: Any, where: str = "answer") -> None:
    """Equal structure and values (floats to 1e-9: the docs print them as JSON does)."""
    if isinstance(shown, dict):
        assert isinstance(got, dict), where
        assert list(shown) == list(got), f"{where}: keys {list(shown)} != {list(got)}"
        for key in shown:
            _same(shown[key], got[key], f"{where}.{key}")
    elif isinstance(shown, list):
        assert isinstance(got, list), where
        assert len(shown) == len(got), f"{where}: {len(shown)} items != {len(got)}"
        for i, (a, b) in enumerate(zip(shown, got, strict=True)):
            _same(a, b, f"{where}[{i}]")
    elif isinstance(shown, float) or isinstance(got, float):
        assert math.isclose(shown, got, rel_tol=1e-9, abs_tol=1e-12), f"{where}: {shown} != {got}"
    else:
        assert shown == got, f"{where}: {shown!r} != {got!r}"


def test_the_docs_have_examples() -> None:
    docs = {doc for doc, _ in _curl_examples()}
    assert {"README.md", "docs/api.md", "infra/deploy.md"} <= docs
    answered = {doc for doc, _, _ in _answered_examples()}
    assert {"README.md", "docs/api.md"} <= answered


@pytest.mark.parametrize(("document", "command", "shown"), _answered_examples())
def test_shown_answers_are_the_demo_models(base: str, document: str, command: str, shown: str):
    """Status, shape and values as the docs show them (stale: run make docs-examples)."""
    expected = Answer.parse(shown)
    got = run_curl(command, base)
    hint = f"{document}: {command}\n(stale? make demo DEMO_ONCE=1 && make docs-examples)"
    assert got.status == expected.status, hint
    try:
        _same(_normal(expected.body), _normal(got.body))
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{hint}") from None


@pytest.mark.parametrize(("document", "command"), _curl_examples())
def test_every_curl_example_works_as_written(base: str, document: str, command: str):
    """Only the host changes (and the deploy guide's $API_URL / <ApiUrl>); a command whose
    answer is not shown must still succeed with a body of the API's shape."""
    got = run_curl(command, base)
    assert got.status < 500, f"{document}: {command} -> {got.status}"
    assert isinstance(got.body, dict), f"{document}: {command} -> {got.body!r}"
    if "/batch" in command and got.status == 200:
        sent = json.loads(re.search(r"-d '(.*)'", command, re.S).group(1))["items"]
        assert len(got.body["results"]) == len(sent)
        for item, result in zip(sent, got.body["results"], strict=True):
            alone = run_curl(
                f"curl -X POST {base}/api/predict-genre -H 'Content-Type: application/json' "
                f"-d {shlex.quote(json.dumps(item))}",
                base,
            )
            assert result == alone.body, f"{document}: a batch item differs from it alone"
    elif "status" in got.body:
        expected = "OK" if got.status == 200 else "ERROR"
        assert got.body["status"] == expected, f"{document}: {command} -> {got.body}"
        if expected == "ERROR":
            assert got.body["errors"][0]["field"], got.body


def _cli_commands() -> list[tuple[str, str]]:
    """The docs' CLI examples in document order, each command once (README and docs/ repeat
    some): (document, command)."""
    seen: dict[str, str] = {}
    for doc, command in _doc_commands():
        words = shlex.split(command, comments=True)
        if words and (
            words[0] in {"genre-model", "export"} or words[:3] == ["python", "-m", "devtools"]
        ):
            seen.setdefault(" ".join(words), doc)
    return [(doc, command) for command, doc in seen.items()]


def test_the_docs_have_cli_examples() -> None:
    shown = {doc for doc, _ in _cli_commands()}
    assert "README.md" in shown
    assert any(c.startswith("genre-model rollback") for _, c in _cli_commands())


def test_every_cli_example_works_as_written(demo: TrainedModel, tmp_path: Path):
    """In order, in one copy of the checkout's `var/demo` as `make demo` leaves it (the demo
    model and its store), with `genre-model` on PATH as `make install` puts it there; an
    `export` applies to what follows. A version name in a command stands for a listed version:
    the demo model's. Trees cut to 5 (speed only)."""
    sandbox = tmp_path / "checkout"
    shutil.copytree(demo.path.parent, sandbox / "var/demo/assets", symlinks=True)
    shutil.copy(demo_store(), sandbox / "var/demo/chinook-synthetic.sqlite")
    bin_dir = Path(sys.executable).parent
    require((bin_dir / "genre-model").exists(), f"genre-model not in {bin_dir}: make install")
    env = {
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "HOME": str(tmp_path),
        "RF_N_ESTIMATORS": "5",
        "POWERTOOLS_LOG_LEVEL": "WARNING",
        "PYTHONPATH": str(ROOT),  # python -m devtools, as from the checkout
    }
    for document, line in _cli_commands():
        words = shlex.split(line, comments=True)
        if words[0] == "export":
            name, _, value = words[1].partition("=")
            env[name] = value
            continue
        if words[0] == "python":
            words[0] = sys.executable
        words = [demo.version if VERSION.fullmatch(w) else w for w in words]
        if any(w.startswith("mysql://") for w in words):
            continue  # a MySQL example: the MySQL source has its own tests
        done = subprocess.run(
            words, cwd=sandbox, env=env, capture_output=True, text=True, timeout=300, check=False
        )
        output = done.stdout + done.stderr
        assert done.returncode == 0, f"{document}: {line}\n{output[-2000:]}"
        assert "Traceback" not in output
        command = "generate" if words[0] == sys.executable else words[1]
        first = done.stdout.splitlines()[0] if done.stdout else ""
        assert first.startswith(CLI_FIRST_LINES[command]), f"{document}: {line}\n{first}"
