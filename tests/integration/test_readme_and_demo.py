"""The README is a contract: a map under 15 KB linking every page of docs/, its commands exist, the
configuration page is complete, and the quick start really works from a fresh copy of the
repository (`make demo`, then `make serve` with nothing set)."""

from __future__ import annotations

import argparse
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from devtools.__main__ import parser as devtools_parser
from genre_model import config
from genre_model.cli import parser

# Interpreter-independent (the README and the quick start, which run on the machine's python3):
# `make test-py313` does not run it again.
pytestmark = pytest.mark.once

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()
CONFIGURATION = (ROOT / "docs" / "configuration.md").read_text()
README_LIMIT_BYTES = 15 * 1024
# Where the other helpers' README facts go: each an anchor (`## <title>`) of the README.
ANCHORS = (
    "Quick start",
    "The API",
    "Deploy to AWS",
    "Operations",
    "Scale",
    "Security",
    "Development",
)


def _section(title: str, text: str = README) -> str:
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", text, re.S | re.M)
    assert match, f"no '## {title}' section"
    return match.group(1)


def test_readme_is_a_map() -> None:
    size = len(README.encode())
    assert size <= README_LIMIT_BYTES, f"README.md is {size} bytes: move depth to docs/"
    for title in ANCHORS:
        _section(title)
    assert "make test   # every test suite (the command CI runs)" in README


def test_every_docs_page_is_linked_from_the_readme() -> None:
    linked = set(re.findall(r"\]\((docs/[^)#]+)", README))
    pages = {p.relative_to(ROOT).as_posix() for p in (ROOT / "docs").iterdir() if p.is_file()}
    assert pages - linked == set(), "docs/ pages the README does not link"


def test_every_relative_link_of_the_docs_resolves() -> None:
    for page in [ROOT / "README.md", *(ROOT / "docs").glob("*.md")]:
        for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", page.read_text()):
            assert (page.parent / target).exists(), f"{page.name} links {target}: missing"


def test_terms_in_italics_are_in_the_glossary() -> None:
    """A term the docs italicise is one the glossary explains (plurals too)."""
    glossary = (ROOT / "docs" / "glossary.md").read_text()
    terms = [t.strip("`").lower() for t in re.findall(r"^\| \*\*(.+?)\*\*", glossary, re.M)]
    assert len(terms) >= 20
    italic = re.compile(r"(?<![*\w])\*([a-zA-Z][a-zA-Z -]+)\*(?![*\w])")
    for page in [ROOT / "README.md", *(ROOT / "docs").glob("*.md")]:
        for term in set(italic.findall(page.read_text())) - {"italics"}:
            assert any(term.lower().startswith(t) for t in terms), f"{page.name}: *{term}*"


def _commands(section: str) -> list[str]:
    blocks = re.findall(r"```bash\n(.*?)```", section, re.S)
    return [
        line.split("#")[0].strip()
        for block in blocks
        for line in block.splitlines()
        if line.strip()
    ]


def _make_targets() -> set[str]:
    out = subprocess.run(
        ["make", "-pRrq", "-f", "Makefile"], cwd=ROOT, capture_output=True, text=True, check=False
    ).stdout
    return set(re.findall(r"^([a-zA-Z][\w-]*):", out, re.M))


@pytest.mark.parametrize("title", ["Quick start", "The command line", "Development"])
def test_every_readme_command_exists(title: str) -> None:
    targets = _make_targets()
    cli_commands = _subcommands(parser())
    dev_commands = _subcommands(devtools_parser())
    commands = _commands(_section(title))
    assert commands, f"no commands found in '{title}'"
    for command in commands:
        words = command.split()
        if words[0] == "make":
            target = next(w for w in words[1:] if "=" not in w)
            assert target in targets, f"README '{title}': make target {target!r} does not exist"
        elif words[:3] == ["python", "-m", "genre_model"]:
            assert words[3] in cli_commands, f"README '{title}': CLI command {words[3]!r} missing"
        elif words[0] == "genre-model":
            assert words[1] in cli_commands, f"README '{title}': CLI command {words[1]!r} missing"
        elif words[0] == "export":
            assert words[1].partition("=")[0] in config.VARIABLES, command
        elif words[:3] == ["python", "-m", "devtools"]:
            assert words[3] in dev_commands, (
                f"README '{title}': devtools command {words[3]!r} missing"
            )
        else:
            pytest.fail(f"README '{title}' shows a command this test cannot check: {command}")


def _subcommands(p: argparse.ArgumentParser) -> set[str]:
    return set(p._subparsers._group_actions[0].choices)


@pytest.mark.parametrize(
    ("package", "build"), [("genre_model", parser), ("devtools", devtools_parser)]
)
def test_readme_cli_examples_are_real_subcommands(package: str, build) -> None:
    command = "genre-model" if package == "genre_model" else "python -m devtools"
    shown = re.findall(rf"{command} (\w+)", README)
    assert shown
    assert set(shown) <= _subcommands(build())


def test_configuration_table_lists_every_setting_read() -> None:
    source = (ROOT / "layers/genre_model/python/genre_model/config.py").read_text()
    read = set(re.findall(r'env(?:\.get)?\(\s*"([A-Z0-9_]+)"', source))
    read |= set(re.findall(r'_(?:int|required_int|text|seconds)\(env, "([A-Z0-9_]+)"', source))
    assert read == set(config.VARIABLES), "config.VARIABLES must name exactly what config.py reads"
    table = set(re.findall(r"^\| `([A-Z0-9_]+)` \|", CONFIGURATION, re.M))
    missing = set(config.VARIABLES) - table
    assert not missing, f"docs/configuration.md lacks {sorted(missing)}"


def test_template_parameters_are_documented() -> None:
    template = (ROOT / "template.yaml").read_text()
    block = template.split("\nParameters:\n", 1)[1].split("\nConditions:\n", 1)[0]
    parameters = set(re.findall(r"^  ([A-Za-z0-9]+):\s*$", block, re.M))
    documented = set(re.findall(r"`([A-Z][A-Za-z0-9]+)`", CONFIGURATION))
    missing = parameters - documented
    assert not missing, f"docs/configuration.md lacks template parameters {sorted(missing)}"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_make_demo_from_a_fresh_copy(tmp_path: Path) -> None:
    """Quick start as a newcomer runs it: fresh copy, fresh venv, `make demo DEMO_ONCE=1`."""
    files = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    copy = tmp_path / "repo"
    for name in files:
        source = ROOT / name
        if source.is_file():
            (copy / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, copy / name)
    port = _free_port()
    result = subprocess.run(
        ["make", "demo", "DEMO_ONCE=1", f"DEMO_PORT={port}", "DEMO_CUSTOMERS=1500",
         f"PYTHON={sys.executable}"],
        cwd=copy, capture_output=True, text=True, timeout=1200, check=False,
        env={"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(Path.home())},
    )  # fmt: skip
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    assert (copy / ".venv" / "bin" / "python").exists(), "make demo did not create the venv"
    assert "baseline" in output
    answer = output[output.rindex('{\n  "status": "OK"') :]
    import json

    body = json.loads(answer[: answer.index("\n}\n") + 2])
    assert body["customer_profile"] == {
        "total_spent": 45.5,
        "total_tracks_bought": 15,
        "genre_spending_ratio": 0.6,
    }
    probabilities = body["prediction"]["all_probabilities"]
    assert body["prediction"]["genre"] == max(probabilities, key=probabilities.get)
    assert (copy / "var/demo/training-report.png").stat().st_size > 10_000
