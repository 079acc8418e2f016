"""tools/ and benchmarks/ import each other without a cycle (issue 26, item 2).

Every import counts: at the top of a module and inside a function (an import moved into a function still ties
the two modules together; it only hides the cycle until the function runs). The graph is read from the source
with ``ast``, so nothing is imported to build it.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tools.paths import REPO

PACKAGES = ("tools", "benchmarks")


def modules(root: Path, packages=PACKAGES) -> dict[str, Path]:
    """``{dotted name: file}`` of every module of ``packages`` under ``root`` (a package's ``__init__.py`` is the
    package itself)."""
    found = {}
    for package in packages:
        for path in sorted((root / package).glob("*.py")):
            found[package if path.stem == "__init__" else f"{package}.{path.stem}"] = path
    return found


def imported(name: str, path: Path, known: set[str]) -> set[str]:
    """The modules of ``known`` that module ``name`` (file ``path``) imports, anywhere in its code: ``import a.b``,
    ``from a import b`` (module ``a.b``, or ``a``'s attribute ``b``), relative imports, and
    ``importlib.import_module("a.b")`` with a literal name."""
    package = name if path.stem == "__init__" else name.rpartition(".")[0]
    targets = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                parent = ".".join(parts[: len(parts) - node.level + 1])
                base = f"{parent}.{base}" if base else parent
            targets.add(base)
            targets.update(f"{base}.{alias.name}" for alias in node.names)
        elif (isinstance(node, ast.Call) and "import_module" in (getattr(node.func, "attr", None),
                                                                 getattr(node.func, "id", None))
              and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
            targets.add(node.args[0].value)
    # ``import a.b.c`` also runs a and a.b: every dotted prefix of a target is imported too
    prefixes = {".".join(t.split(".")[:i]) for t in targets for i in range(1, t.count(".") + 2)}
    return (prefixes & known) - {name}


def import_graph(root: Path, packages=PACKAGES) -> dict[str, set[str]]:
    """``{module: modules it imports}`` for the modules of ``packages`` under ``root``."""
    found = modules(root, packages)
    return {name: imported(name, path, set(found)) for name, path in found.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle of ``graph`` as ``[a, b, ..., a]``, or None when there is none."""
    state: dict[str, str] = {}  # "open" while on the current path, "done" once all it imports are explored
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = "open"
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        state[node] = "done"
        path.pop()
        return None

    for start in sorted(graph):
        if start not in state and (cycle := visit(start)):
            return cycle
    return None


def test_tools_and_benchmarks_import_each_other_without_a_cycle():
    graph = import_graph(REPO)
    cycle = find_cycle(graph)
    assert cycle is None, (
        f"import cycle: {' -> '.join(cycle)}. Move what both need into a module that imports neither (see "
        "CONTRIBUTING.md, 'Where things live'); an import inside a function does not break a cycle.")


def test_the_graph_holds_the_real_imports():
    """The parser sees what the modules import, inside functions too (controls for the test above)."""
    graph = import_graph(REPO)
    assert {"tools.nbkit", "tools.readme_table", "tools.translate"} <= graph["tools.sync_notebooks"]
    assert "benchmarks.cifar10_speed" in graph["benchmarks.gpu_run"], "an import inside a function"
    assert "benchmarks.records" in graph["tools.runtimes"], "a from-import of a name (records.measured)"


@pytest.mark.parametrize("module, allowed", [("tools.paths", set()), ("tools.links", {"tools.paths"}),
                                             ("benchmarks.records", {"tools.paths"}),
                                             ("tools.verified", {"tools.paths"})])
def test_the_leaf_modules_stay_leaves(module, allowed):
    """paths, links, records and verified are imported by nearly everything, so they import (almost) nothing
    (besides the packages tools and benchmarks, whose __init__.py imports nothing)."""
    assert import_graph(REPO)[module] - set(PACKAGES) <= allowed
    assert all(import_graph(REPO)[package] == set() for package in PACKAGES)


def _package(root: Path, **files: str) -> Path:
    folder = root / "pkg"
    folder.mkdir()
    (folder / "__init__.py").write_text("")
    for name, code in files.items():
        (folder / f"{name}.py").write_text(code)
    return root


def test_a_planted_cycle_through_function_level_imports_is_found(tmp_path):
    root = _package(tmp_path, a="from pkg import b\n", b="def f():\n    from pkg.c import thing\n",
                    c="thing = 1\n\ndef g():\n    import pkg.a\n", d="from . import a\n")
    graph = import_graph(root, ("pkg",))
    assert graph["pkg.a"] == {"pkg", "pkg.b"} and graph["pkg.b"] == {"pkg", "pkg.c"}
    assert graph["pkg.d"] == {"pkg", "pkg.a"}, "a relative import"
    assert find_cycle(graph) == ["pkg.a", "pkg.b", "pkg.c", "pkg.a"]


def test_a_graph_without_a_cycle_passes(tmp_path):
    root = _package(tmp_path, a="from pkg import b\n", b="def f():\n    import importlib\n"
                                                          "    return importlib.import_module('pkg.c')\n",
                    c="import json\n")
    graph = import_graph(root, ("pkg",))
    assert "pkg.c" in graph["pkg.b"], "importlib.import_module with a literal name counts"
    assert find_cycle(graph) is None
    (root / "pkg" / "c.py").write_text("def h():\n    from pkg import a\n")
    assert find_cycle(import_graph(root, ("pkg",))) == ["pkg.a", "pkg.b", "pkg.c", "pkg.a"]
