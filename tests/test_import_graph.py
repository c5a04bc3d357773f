"""The import graph: no cycles among the project's modules, and no imports hidden in
functions in the query processor (issue 13: `qp/` laid out by stage).

A cycle is what makes a module work only when imported in the right order, and
an import inside a function is how one is usually hidden; both are read here from
the source (module-level imports, those under `if TYPE_CHECKING:` excepted, since
they never run), so the check needs no import side effects and names the modules.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

from checker.graph import strongly_connected

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("adjudicator", "assembly", "bench", "checker", "cluster", "compare", "journal", "kv", "pgwire", "qp",
            "storage")  # fmt: skip
# Imports a function may make: optional dependencies, loaded only when a feature is used.
OPTIONAL_IN_FUNCTIONS: frozenset[str] = frozenset()


def module_files(root: Path = ROOT, packages: tuple[str, ...] = PACKAGES) -> dict[str, Path]:
    """Dotted module name -> file, for every module of `packages` under `root`."""
    out = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            out[".".join(parts)] = path
    return out


def _imported(node: ast.Import | ast.ImportFrom, module: str, is_package: bool, modules: dict) -> set[str]:
    """The project modules an import statement loads (packages on the way included)."""
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    else:
        base = node.module or ""
        if node.level:
            parts = module.split(".") if is_package else module.split(".")[:-1]
            parts = parts[: len(parts) - (node.level - 1)]
            base = ".".join([*parts, base] if base else parts)
        names = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base for alias in node.names]
    found = set()
    for name in names:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        if not name or name == module:
            continue
        parts = name.split(".")
        for i in range(1, len(parts) + 1):  # importing a.b.c runs a and a.b first
            prefix = ".".join(parts[:i])
            if prefix in modules and prefix != module and not module.startswith(prefix + "."):
                found.add(prefix)
    return found


def _walk(tree: ast.AST) -> Iterator[tuple[ast.Import | ast.ImportFrom, bool, bool]]:
    """Every import with (inside a function, under TYPE_CHECKING)."""

    def visit(node: ast.AST, in_function: bool, type_checking: bool):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                yield child, in_function, type_checking
            nested = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            checking = type_checking or (isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test))
            yield from visit(child, nested, checking)

    yield from visit(tree, False, False)


def import_graph(modules: dict[str, Path]) -> tuple[dict[str, set[str]], list[tuple[str, int, str]]]:
    """The modules each module loads when imported, and the imports made inside functions."""
    graph: dict[str, set[str]] = {}
    in_functions = []
    for module, path in modules.items():
        tree = ast.parse(path.read_text(), str(path))
        edges: set[str] = set()
        for node, in_function, type_checking in _walk(tree):
            if in_function:
                in_functions.append((module, node.lineno, ast.unparse(node)))
            elif not type_checking:
                edges |= _imported(node, module, path.name == "__init__.py", modules)
        graph[module] = edges
    return graph, in_functions


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (checker.graph's Tarjan)."""
    components = strongly_connected(sorted(graph), lambda module: sorted(graph.get(module, ())))
    return sorted(sorted(component) for component in components if len(component) > 1)


def test_no_import_cycles_among_the_projects_modules() -> None:
    graph, _ = import_graph(module_files())
    assert len(graph) > 250, "the scan found the project's modules"
    assert cycles(graph) == []


def test_no_imports_inside_functions_in_the_query_processor() -> None:
    _, in_functions = import_graph(module_files(packages=("qp",)))
    hidden = [entry for entry in in_functions if entry[2].split()[1].split(".")[0] not in OPTIONAL_IN_FUNCTIONS]
    assert hidden == []


def test_the_checks_find_a_cycle_and_a_hidden_import(tmp_path: Path) -> None:
    # The same functions on a tiny package with both faults, so the checks above can fail.
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from pkg import b\n")
    (package / "b.py").write_text("from pkg.c import x\n")
    (package / "c.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg import a\nx = 1\n"
        "def f():\n    from pkg import a\n    return a\n"
    )
    modules = module_files(tmp_path, ("pkg",))
    graph, in_functions = import_graph(modules)
    assert cycles(graph) == [], "TYPE_CHECKING and function imports make no cycle"
    assert in_functions == [("pkg.c", 6, "from pkg import a")]
    (package / "c.py").write_text("from pkg import a\nx = 1\n")
    assert cycles(import_graph(module_files(tmp_path, ("pkg",)))[0]) == [["pkg.a", "pkg.b", "pkg.c"]]
