"""The layout rules of docs/architecture.md, read off the source: no import cycle, small modules and
functions, no engine imported by the generic layer at module level, every module on the page."""

from __future__ import annotations

import ast
import functools
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ENGINES = ("jax", "jaxlib", "torch", "tensorflow", "keras", "autograd")
MAX_MODULE_LINES = 700
MAX_FUNCTION_LINES = 60


def _modules() -> dict[str, Path]:
    """Dotted name -> file, for every module of the package as installed (backends/ is abstractad.backends)."""
    found = {}
    for path in sorted((ROOT / "abstractad").rglob("*.py")):
        parts = ["abstractad", *path.relative_to(ROOT / "abstractad").with_suffix("").parts]
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    for path in sorted((ROOT / "backends").glob("*.py")):
        found["abstractad.backends" if path.stem == "__init__" else f"abstractad.backends.{path.stem}"] = path
    return found


MODULES = _modules()


@functools.cache
def _tree(name: str) -> ast.Module:
    return ast.parse(MODULES[name].read_text())


def _imported(name: str) -> set[str]:
    """The package's modules that `name` imports anywhere in its source (inside functions too)."""
    package = name if MODULES[name].stem == "__init__" else name.rsplit(".", 1)[0]
    out = set()
    for node in ast.walk(_tree(name)):
        if isinstance(node, ast.ImportFrom):
            base = package
            for _ in range(max(node.level - 1, 0)):
                base = base.rsplit(".", 1)[0]
            module = (base + (f".{node.module}" if node.module else "")) if node.level else (node.module or "")
            for alias in node.names:
                out.add(f"{module}.{alias.name}" if f"{module}.{alias.name}" in MODULES else module)
        elif isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
    return {m for m in out if m in MODULES and m != name}


def test_no_import_cycle() -> None:
    graph = {name: _imported(name) for name in MODULES}
    on_path: list[str] = []
    done: set[str] = set()

    def visit(name: str) -> None:
        if name in on_path:
            cycle = [*on_path[on_path.index(name) :], name]
            pytest.fail("import cycle: " + " -> ".join(cycle))
        if name in done:
            return
        on_path.append(name)
        for dep in sorted(graph[name]):
            visit(dep)
        on_path.pop()
        done.add(name)

    for name in sorted(graph):
        visit(name)


@pytest.mark.parametrize("name", sorted(MODULES))
def test_module_is_small(name: str) -> None:
    lines = MODULES[name].read_text().count("\n")
    assert lines <= MAX_MODULE_LINES, f"{MODULES[name].relative_to(ROOT)}: {lines} lines"


def test_functions_of_the_generic_layer_are_short() -> None:
    long = [
        f"{MODULES[name].relative_to(ROOT)}:{node.lineno} {node.name} ({node.end_lineno - node.lineno + 1} lines)"
        for name in MODULES
        if not name.startswith("abstractad.backends")
        for node in ast.walk(_tree(name))
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES
    ]
    assert not long, long


def _top_level_imports(tree: ast.Module) -> list[str]:
    """Modules imported when the module itself is (not inside functions, not under TYPE_CHECKING)."""
    names: list[str] = []

    def walk(statements: list[ast.stmt]) -> None:
        for node in statements:
            if isinstance(node, ast.Import):
                names.extend(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and not node.level:
                names.append(node.module or "")
            elif isinstance(node, ast.If):
                if "TYPE_CHECKING" not in ast.unparse(node.test):
                    walk(node.body)
                walk(node.orelse)
            elif isinstance(node, ast.Try):
                walk(node.body)
                for handler in node.handlers:
                    walk(handler.body)
                walk(node.orelse)
                walk(node.finalbody)
            elif isinstance(node, ast.With):
                walk(node.body)

    walk(tree.body)
    return names


def test_generic_layer_imports_no_engine_at_module_level() -> None:
    found = [
        f"{MODULES[name].relative_to(ROOT)}: {module}"
        for name in MODULES
        if not name.startswith("abstractad.backends")
        for module in _top_level_imports(_tree(name))
        if module.split(".")[0] in ENGINES
    ]
    assert not found, found


def test_every_module_is_on_the_architecture_page() -> None:
    page = (ROOT / "docs" / "architecture.md").read_text()
    missing = [str(path.relative_to(ROOT)) for path in MODULES.values() if f"`{path.name}`" not in page]
    assert not missing, f"docs/architecture.md does not name: {missing}"
