"""The layering docs/architecture.md describes, checked on the source: what may import what, no cycles, small modules."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "reconciler"
#: docs/architecture.md: no module much over 400 lines
MAX_LINES = 450
#: the pure core imports none of these: no files, network, git or command line
CORE_MAY_NOT_IMPORT = ("reconciler.cli", "reconciler.backends", "reconciler.git", "reconciler.github",
                       "reconciler.repo", "reconciler.http", "reconciler.credentials", "reconciler.notify",
                       "reconciler.watch", "reconciler.reconcile", "httpx", "pygit2", "boto3", "click", "yaml")


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def top_level_imports(path: Path) -> Iterator[str]:
    """Modules imported at import time: module level and ``if TYPE_CHECKING:`` blocks, not inside functions."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    stack: list[ast.AST] = list(tree.body)
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If | ast.Try):
            stack.extend(ast.iter_child_nodes(node))
        elif isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module
            yield from (f"{node.module}.{alias.name}" for alias in node.names)


def internal_graph() -> dict[str, set[str]]:
    known = modules()
    return {name: {m for m in top_level_imports(path) if m in known and m != name} for name, path in known.items()}


def test_the_core_imports_nothing_that_reaches_outside() -> None:
    offending = [(name, imported) for name, path in modules().items() if name.startswith("reconciler.core")
                 for imported in top_level_imports(path)
                 if any(imported == bad or imported.startswith(bad + ".") for bad in CORE_MAY_NOT_IMPORT)]
    assert offending == []


def test_no_import_cycle() -> None:
    graph = internal_graph()
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append([*path[path.index(nxt):], nxt] if nxt in path else [node, nxt])
            elif nxt not in state:
                visit(nxt, [*path, nxt])
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert cycles == []


@pytest.mark.parametrize("name", sorted(modules()))
def test_modules_stay_small(name: str) -> None:
    lines = modules()[name].read_text(encoding="utf-8").count("\n")
    assert lines <= MAX_LINES, f"{name} has {lines} lines; split it along a seam (docs/architecture.md)"


def test_the_checks_see_real_violations(tmp_path: Path) -> None:
    """The import reader finds module-level, TYPE_CHECKING and try imports, and skips function bodies."""
    source = tmp_path / "m.py"
    source.write_text("import a\nfrom b import c\nif X:\n    from d import e\ntry:\n    import f\nexcept Exception:\n"
                      "    pass\ndef g():\n    import h\n")
    assert sorted(top_level_imports(source)) == ["a", "b", "b.c", "d", "d.e", "f"]
