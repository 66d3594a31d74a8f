"""The shape of the house: no import cycles among the project's own modules.

The graph is read from the source (AST), never by importing it, and holds every import: at module
level, inside functions, under `if TYPE_CHECKING:`, and `importlib.import_module("...")` with a
literal name, and a package's lazy exports (the `_EXPORTS = {name: "module"}` table that
harness.utils.lazy loads from on first use). `import a.b` is an edge to `a.b`; `from a.b import c` an edge to `a.b.c` when that is
a module, else to `a.b` (c is then a name the package defines).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("harness", "scoring", "baselines", "data_manifests")


def module_files() -> dict[str, Path]:
    """Every first-party module by dotted name (a package by its __init__.py)."""
    modules = {}
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            parts = list(path.relative_to(REPO).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            modules[".".join(parts)] = path
    return modules


def _imported_names(tree: ast.AST, module: str, is_package: bool) -> list[tuple[str, str | None]]:
    """(module, name or None) for every import in `tree`, relative ones made absolute."""
    found: list[tuple[str, str | None]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, None) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".") if is_package else module.split(".")[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            found += [(base, alias.name) for alias in node.names]
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            found.append((node.args[0].value, None))
        elif (
            isinstance(node, ast.Assign)
            and any(isinstance(target, ast.Name) and target.id == "_EXPORTS" for target in node.targets)
            and isinstance(node.value, ast.Dict)
        ):
            found += [(value.value, None) for value in node.value.values
                      if isinstance(value, ast.Constant) and isinstance(value.value, str)]
    return found


def import_graph() -> dict[str, set[str]]:
    """module -> the first-party modules it imports."""
    files = module_files()
    graph: dict[str, set[str]] = {name: set() for name in files}
    for name, path in files.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for target, attribute in _imported_names(tree, name, path.name == "__init__.py"):
            if attribute is not None and f"{target}.{attribute}" in files:
                target = f"{target}.{attribute}"
            if target in files and target != name:
                graph[name].add(target)
    return graph


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """The components of more than one module (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    components.append(sorted(component))
    return components


def a_cycle(graph: dict[str, set[str]], component: list[str]) -> list[str]:
    """One cycle through the component's first module, for the failure message."""
    members = set(component)
    start = component[0]
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        node = frontier.pop(0)
        for child in sorted(graph[node] & members):
            if child == start:
                return paths[node] + [start]
            if child not in paths:
                paths[child] = paths[node] + [child]
                frontier.append(child)
    return component


def test_the_graph_sees_the_project():
    graph = import_graph()
    assert "harness.cli" in graph and "scoring" in graph
    assert sum(len(targets) for targets in graph.values()) > 100  # it reads the imports, not nothing


def test_lazy_exports_are_edges():
    graph = import_graph()
    assert "harness.sandbox.supervisor" in graph["harness.sandbox"]  # harness.sandbox.run_submission, loaded on use


def test_no_import_cycles():
    graph = import_graph()
    cycles = [" -> ".join(a_cycle(graph, component)) for component in strongly_connected(graph)]
    assert not cycles, f"{len(cycles)} import cycle(s):\n" + "\n".join(cycles)


@pytest.mark.parametrize(
    "graph, expected",
    [
        ({"a": {"b"}, "b": {"a"}, "c": set()}, [["a", "b"]]),
        ({"a": {"b"}, "b": {"c"}, "c": set()}, []),
        ({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}, [["a", "b", "c"]]),
    ],
)
def test_cycles_are_found(graph, expected):
    assert strongly_connected(graph) == expected
