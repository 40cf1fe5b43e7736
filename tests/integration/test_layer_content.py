"""What `sam build` ships in the domain layer: the genre_model package and nothing of devtools."""

from __future__ import annotations

import ast
import functools
import glob
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.helpers import require

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
            f"PYTHON_RUNTIME={_python313() or 'python3.13'}",
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


@functools.cache
def _python313() -> str | None:
    """The interpreter the Makefile exports as PYTHON_RUNTIME, found the same way without make."""
    candidates = [os.environ.get("PYTHON_RUNTIME", "")]
    candidates += sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.13*/bin/python3.13")))
    candidates.append(shutil.which("python3.13") or "")
    for candidate in filter(None, candidates):
        probe = [candidate, "-c", "import sys; sys.exit(sys.version_info[:2] != (3, 13))"]
        if subprocess.run(probe, capture_output=True, check=False).returncode == 0:
            return candidate
    return None


# Run by python3.13: the magic number and the source hash of each shipped .py as 3.13 sees them.
EXPECTED_PYC = """
import importlib.util, json, sys
from pathlib import Path
root = Path(sys.argv[1])
print(json.dumps({
    "magic": importlib.util.MAGIC_NUMBER.hex(),
    "hashes": {
        str(p.relative_to(root)): importlib.util.source_hash(p.read_bytes()).hex()
        for p in root.rglob("*.py")
    },
}))
"""


def test_layer_carries_python313_bytecode_of_exactly_its_sources(tmp_path: Path) -> None:
    """Lambda cannot write bytecode under /opt: without it each cold start compiles the package.
    Each .py has one cpython-313 .pyc, hash-based and unchecked, of exactly that source (a
    developer's stale __pycache__ never ships), and no .pyc is without its source."""
    runtime = _python313()
    require(runtime is not None, "python3.13 is not installed (PYTHON_RUNTIME)")
    shipped = _build(tmp_path)
    expected = json.loads(
        subprocess.run(
            [str(runtime), "-c", EXPECTED_PYC, str(shipped)],
            capture_output=True, text=True, check=True,
        ).stdout
    )  # fmt: skip
    found = {}
    for pyc in shipped.rglob("*.pyc"):
        assert pyc.parent.name == "__pycache__", pyc
        stem, tag = pyc.name.split(".")[:2]
        assert tag == "cpython-313", pyc
        header = pyc.read_bytes()[:16]
        assert header[:4].hex() == expected["magic"], pyc
        assert int.from_bytes(header[4:8], "little") == 0b01, f"{pyc}: not unchecked-hash"
        found[str((pyc.parent.parent / f"{stem}.py").relative_to(shipped))] = header[8:16].hex()
    assert found == expected["hashes"]


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
