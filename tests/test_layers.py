"""The one-way rule: each layer imports only itself and the layers below it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ALLOWED = {
    "schemas": {"schemas"},
    "models": {"models", "schemas"},
    "media": {"media", "models", "schemas"},
    "sources": {"sources", "schemas"},
    "warehouse": {"warehouse", "schemas"},
    "transforms": {"transforms", "media", "sources", "warehouse", "models", "schemas"},
    "queries": {"queries", "warehouse", "schemas"},
    "pipelines": {
        "pipelines",
        "transforms",
        "media",
        "sources",
        "warehouse",
        "models",
        "schemas",
        "queries",
    },
}


def _imported_layers(path: Path) -> set[str]:
    """The affectflow subpackages a module imports (top-level and function-level)."""
    layers = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names = []
        if isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        for name in names:
            parts = name.split(".")
            if parts[0] == "affectflow" and len(parts) > 1:
                layers.add(parts[1])
    return layers - {"__version__"}


MODULES = [(layer, path) for layer in ALLOWED for path in sorted((ROOT / layer).glob("*.py"))]


@pytest.mark.parametrize(
    ("layer", "path"), MODULES, ids=[f"{p.parent.name}/{p.name}" for _, p in MODULES]
)
def test_no_module_imports_upward(layer: str, path: Path) -> None:
    upward = _imported_layers(path) - ALLOWED[layer]
    assert not upward, f"{layer}/{path.name} imports {sorted(upward)}"


def test_every_layer_is_checked() -> None:
    packages = {p.parent.name for p in ROOT.glob("*/__init__.py")} - {"tests", "benchmarks"}
    assert packages <= set(ALLOWED), packages - set(ALLOWED)


def _module_imports(path: Path) -> set[str]:
    """The affectflow modules a module imports when it is loaded (its top-level imports;
    not those inside functions or under `if TYPE_CHECKING:`)."""
    found = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            continue
        found |= {n.removeprefix("affectflow.") for n in names if n.startswith("affectflow.")}
    return found


def _import_graph() -> dict[str, set[str]]:
    modules = {f"{layer}.{path.stem}": path for layer, path in MODULES}
    return {name: _module_imports(path) & set(modules) for name, path in modules.items()}


def test_no_import_loops() -> None:
    """No module imports, through any chain, a module that imports it back (a loop
    inside a package too: pipelines.analyze <-> analyze_graph, queries.html <-> render)."""
    graph = _import_graph()
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(name: str, path: list[str]) -> None:
        state[name] = 1
        for imported in sorted(graph[name]):
            if state.get(imported) == 1:
                loop = [*path[path.index(imported) :], imported]
                pytest.fail("import loop: " + " -> ".join(loop))
            if imported not in state:
                visit(imported, [*path, imported])
        state[name] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
