"""What `sam build` ships in the domain layer: the genre_model package and nothing of devtools."""

from __future__ import annotations

import ast
import subprocess
from pathlib import Path

import pytest

# Interpreter-independent (the files `sam build` puts in the layer):
# `make test-py313` does not run it again.
pytestmark = pytest.mark.once

ROOT = Path(__file__).resolve().parents[2]
DEVTOOLS = {p.stem for p in (ROOT / "devtools").glob("*.py")} - {"__init__", "__main__"}


def _build(tmp_path: Path) -> Path:
    """The layer exactly as `sam build` makes it (BuildMethod: makefile)."""
    subprocess.run(
        [
            "make",
            "-s",
            "-C",
            str(ROOT / "layers/genre_model"),
            "build-GenreModelLayer",
            f"ARTIFACTS_DIR={tmp_path}",
        ],
        check=True,
    )
    return tmp_path / "python"


def test_layer_holds_the_package_and_no_development_tool(tmp_path: Path) -> None:
    shipped = _build(tmp_path)
    assert sorted(p.name for p in shipped.iterdir()) == ["genre_model"]
    packages = {p.parent.relative_to(shipped).as_posix() for p in shipped.rglob("__init__.py")}
    assert packages == {
        "genre_model",
        "genre_model/serve",
        "genre_model/store",
        "genre_model/train",
    }
    stems = {p.stem for p in shipped.rglob("*.py")}
    assert not stems & DEVTOOLS, f"development tools in the layer: {sorted(stems & DEVTOOLS)}"
    assert not list(shipped.rglob("__pycache__"))


def test_no_shipped_module_imports_devtools(tmp_path: Path) -> None:
    for path in _build(tmp_path).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                continue
            assert not any(n.split(".")[0] == "devtools" for n in names), f"{path}: {names}"
