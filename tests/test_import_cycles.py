"""No import circles inside lofictl: no module imports, directly or through others, a module that
imports it, counting the imports deferred into functions too (a deferred import hides a circle
from Python, not from a reader). Imports under `if TYPE_CHECKING:` are for the type checker
and do not count; neither does the root package's lazy API (lofictl/__init__.py's `__getattr__`),
which is the top floor, above everything it reaches.

    python tests/test_import_cycles.py     prints the circles, if any, and the import lines that close them
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "lofictl"


def _modules() -> dict[str, tuple[Path, bool]]:
    found = {}
    for path in sorted((ROOT / PACKAGE).rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        if is_package:
            parts = parts[:-1]
        found[".".join(parts)] = (path, is_package)
    return found


def _type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    """Every import statement, at any depth, except those under `if TYPE_CHECKING:`."""
    found: list[ast.Import | ast.ImportFrom] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            found.append(node)
            return
        if isinstance(node, ast.If) and _type_checking(node.test):
            for child in node.orelse:
                visit(child)
            return
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def import_graph() -> dict[str, dict[str, int]]:
    """module -> {module it imports: the line of the first such import}."""
    modules = _modules()

    def owner(name: str) -> str | None:  # the module a dotted name lives in
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, dict[str, int]] = {}
    for name, (path, is_package) in modules.items():
        edges: dict[str, int] = {}
        tree = ast.parse(path.read_text(encoding="utf-8"))
        if name == PACKAGE:  # the root's lazy API: only its module level counts
            tree = ast.Module(
                body=[n for n in tree.body if not isinstance(n, (ast.FunctionDef, ast.ClassDef))], type_ignores=[]
            )
        for node in _imports(tree):
            targets: list[str | None] = []
            if isinstance(node, ast.Import):
                targets = [owner(alias.name) for alias in node.names if alias.name.split(".")[0] == PACKAGE]
            else:
                base = node.module or ""
                if node.level:
                    anchor = name if is_package else name.rpartition(".")[0]
                    for _ in range(node.level - 1):
                        anchor = anchor.rpartition(".")[0]
                    base = f"{anchor}.{base}" if base else anchor
                if base.split(".")[0] != PACKAGE:
                    continue
                for alias in node.names:
                    full = f"{base}.{alias.name}"
                    targets.append(full if full in modules else owner(base))
            for target in targets:
                if target and target != name:
                    edges.setdefault(target, node.lineno)
        graph[name] = edges
    return graph


def cycles(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, {}):
            if target not in index:
                connect(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    for node in sorted(graph):
        if node not in index:
            connect(node)
    return sorted(found)


def describe(group: list[str], graph: dict[str, dict[str, int]]) -> list[str]:
    return [
        f"{source.replace('.', '/')}.py:{line} imports {target}"
        for source in group
        for target, line in sorted(graph[source].items())
        if target in group
    ]


def test_the_graph_sees_module_level_deferred_and_relative_imports():
    graph = import_graph()
    assert "lofictl.recipe.schema" in graph["lofictl.recipe.load"]  # module level
    assert "lofictl.pipeline.batch" in graph["lofictl.api"]  # deferred into a function
    assert "lofictl.cli.common" in graph["lofictl.cli.build"]
    assert not any(target.startswith("lofictl.api") for target in graph["lofictl"])  # the root's lazy API


def test_the_finder_finds_a_circle():
    graph = {"a": {"b": 1}, "b": {"c": 2}, "c": {"a": 3}, "d": {"a": 4}}
    assert cycles(graph) == [["a", "b", "c"]]
    assert describe(["a", "b", "c"], graph) == ["a.py:1 imports b", "b.py:2 imports c", "c.py:3 imports a"]


def test_no_import_cycles():
    graph = import_graph()
    found = cycles(graph)
    assert not found, "import circles:\n" + "\n".join(line for group in found for line in describe(group, graph))


def test_commands_live_in_cli():
    """Typer is the CLI's: no module outside lofictl/cli imports it (or imports the CLI), so every
    command is in cli/ and what it does is reachable from Python without it."""
    graph = import_graph()
    for name, (path, _) in _modules().items():
        if name.startswith("lofictl.cli") or name == "lofictl.__main__":  # the CLI and its entry point
            continue
        imported = {
            alias.name.split(".")[0]
            for node in _imports(ast.parse(path.read_text(encoding="utf-8")))
            for alias in (node.names if isinstance(node, ast.Import) else [])
        } | {
            (node.module or "").split(".")[0]
            for node in _imports(ast.parse(path.read_text(encoding="utf-8")))
            if isinstance(node, ast.ImportFrom) and not node.level
        }
        assert "typer" not in imported, f"{path.relative_to(ROOT)} imports typer: its command belongs in lofictl/cli/"
        assert not any(target.startswith("lofictl.cli") for target in graph[name]), f"{name} imports the CLI"


if __name__ == "__main__":
    graph = import_graph()
    for group in cycles(graph):
        print(" <-> ".join(group))
        for line in describe(group, graph):
            print("   ", line)
