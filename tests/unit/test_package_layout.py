"""The package's import graph, read from the source (every import, also inside functions).

No cycle anywhere: a cycle hidden in a function-level import still ties two modules into one.
And the serve wing stands alone: it imports nothing from the train wing, and none of the
training-only libraries (they are not in the predict function's layer).
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parents[2] / "layers/genre_model/python/genre_model"
PACKAGE = PACKAGE_DIR.name
TRAINING_ONLY = {"sklearn", "scipy", "pandas"}


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in sorted(PACKAGE_DIR.rglob("*.py"))}


def _imported(module: str, path: Path) -> set[str]:
    """Every name ``module`` imports: the module itself for ``from pkg import submodule``."""
    names: set[str] = set()
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolved against this module's package
                anchor = module.split(".")[: len(module.split(".")) - node.level + is_package]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                child = f"{base}.{alias.name}"
                names.add(child if child in MODULES else base)
    return names


GRAPH = {
    module: {name for name in _imported(module, path) if name in MODULES and name != module}
    for module, path in MODULES.items()
}


def _cycle() -> list[str] | None:
    """One import cycle of GRAPH (as a path that returns to its start), or None."""
    state: dict[str, str] = {}
    stack: list[str] = []

    def visit(module: str) -> list[str] | None:
        state[module] = "open"
        stack.append(module)
        for name in sorted(GRAPH[module]):
            if state.get(name) == "open":
                return [*stack[stack.index(name) :], name]
            if name not in state and (found := visit(name)):
                return found
        stack.pop()
        state[module] = "done"
        return None

    for module in sorted(GRAPH):
        if module not in state and (found := visit(module)):
            return found
    return None


def test_the_graph_sees_every_kind_of_import() -> None:
    """The walk would notice what the other tests forbid (else they could pass vacuously)."""
    assert f"{PACKAGE}.serve.api" in GRAPH[f"{PACKAGE}.serve.routes"]  # module-level import
    assert f"{PACKAGE}.serve.routes" in GRAPH[f"{PACKAGE}.serve.handler"]  # function-level
    assert f"{PACKAGE}.serve.batch" in GRAPH[f"{PACKAGE}.serve.api"]  # from pkg import module


def test_no_import_cycle() -> None:
    cycle = _cycle()
    assert cycle is None, " -> ".join(cycle or [])


def test_a_cycle_would_be_found() -> None:
    GRAPH[f"{PACKAGE}.config"].add(f"{PACKAGE}.serve.api")  # api imports config
    try:
        assert _cycle() is not None
    finally:
        GRAPH[f"{PACKAGE}.config"].discard(f"{PACKAGE}.serve.api")


def test_serve_imports_nothing_from_train_nor_training_libraries() -> None:
    for module, path in MODULES.items():
        if not module.startswith(f"{PACKAGE}.serve"):
            continue
        imported = _imported(module, path)
        train = sorted(n for n in imported if n.startswith(f"{PACKAGE}.train"))
        heavy = sorted(n for n in imported if n.split(".")[0] in TRAINING_ONLY)
        assert not train, f"{module} imports {train}"
        assert not heavy, f"{module} imports {heavy}"


def test_serve_reaches_nothing_of_train_through_other_modules() -> None:
    """Transitively too: what a serve module imports may not import the train wing."""
    for module in (m for m in GRAPH if m.startswith(f"{PACKAGE}.serve")):
        seen, todo = set(), [module]
        while todo:
            for name in GRAPH[todo.pop()] - seen:
                seen.add(name)
                todo.append(name)
        train = sorted(n for n in seen if n.startswith(f"{PACKAGE}.train"))
        assert not train, f"{module} reaches {train}"
