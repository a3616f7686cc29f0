"""The import graph of `dii_hpc/`, read from the source (AST), never by importing it.

Cycles make modules half-initialised depending on which is imported first, and a library
module importing the top-level facade drags the whole lazy namespace (and its cycles) in.
Imports under ``if TYPE_CHECKING:`` are annotations only and do not count; imports inside
functions do (they form the same cycle, only later).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "dii_hpc"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PKG.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


MODULES = {_module_name(p): p for p in PKG.rglob("*.py")}


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(tree: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    """Every import statement outside `if TYPE_CHECKING:` blocks."""
    found: list[ast.Import | ast.ImportFrom] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            found.append(node)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def _targets(module: str, node: ast.Import | ast.ImportFrom) -> list[str]:
    """The dii_hpc modules one import statement loads (a submodule when `from pkg import sub`)."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    base = node.module or ""
    if node.level:
        package = module if MODULES[module].name == "__init__.py" else module.rpartition(".")[0]
        parts = package.split(".")[: len(package.split(".")) - node.level + 1]
        base = ".".join(parts + ([base] if base else []))
    return [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names]


def _graph() -> tuple[dict[str, set[str]], list[tuple[str, int]]]:
    edges: dict[str, set[str]] = {m: set() for m in MODULES}
    facade: list[tuple[str, int]] = []
    for module, path in MODULES.items():
        for node in _imports(ast.parse(path.read_text(encoding="utf-8"))):
            for target in _targets(module, node):
                if target == "dii_hpc" and module != "dii_hpc":
                    facade.append((module, node.lineno))
                if target in MODULES and target != module:
                    edges[module].add(target)
    return edges, facade


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one member (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges[child]))))
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
                    out.append(sorted(component))
    return out


def _packages(edges: dict[str, set[str]]) -> dict[str, set[str]]:
    """The same graph one level up: dii_hpc.<package> -> the packages it imports."""

    def top(module: str) -> str:
        return ".".join(module.split(".")[:2])

    up: dict[str, set[str]] = {}
    for module, targets in edges.items():
        for target in targets:
            if top(module) != top(target) and top(target) != "dii_hpc":
                up.setdefault(top(module), set()).add(top(target))
    for module in edges:
        up.setdefault(top(module), set())
    return up


def test_no_import_cycle_between_modules() -> None:
    edges, _ = _graph()
    assert _cycles(edges) == []


def test_no_import_cycle_between_packages() -> None:
    edges, _ = _graph()
    assert _cycles(_packages(edges)) == []


def test_library_code_never_imports_the_facade() -> None:
    _, facade = _graph()
    assert facade == []


@pytest.mark.parametrize("low,high", [("store", "tracking"), ("store", "slurm"), ("store", "audit"),
                                      ("store", "report"), ("report", "audit"), ("report", "launch"),
                                      ("registry", "audit"), ("registry", "drift"),
                                      ("registry", "inference"), ("config", "registry"),
                                      ("store", "registry")])
def test_layers_point_one_way(low: str, high: str) -> None:
    """`store` knows nothing of Slurm, audits or HTML; `report` only renders saved results;
    the registry reads audit and drift results from the store without importing those packages."""
    edges, _ = _graph()
    up = _packages(edges)
    assert f"dii_hpc.{high}" not in up[f"dii_hpc.{low}"]


def test_the_checker_finds_a_cycle() -> None:
    """The cycle finder itself: a known three-module loop and a clean chain."""
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": set()}) == []
