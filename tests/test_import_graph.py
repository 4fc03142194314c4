"""The import graph of the library: no cycles, the layers in order, Airflow only in its shell.

The graph of the library (``schemas``, ``edi``, ``connectors``, ``mappings``, ``matching``,
``o2c``, ``transport`` when it is a package of its own) and of what sits on it (``o2c_airflow``,
``demo``) is built with :mod:`ast` from the source files (nothing is imported). Every
``import`` and ``from ... import`` counts, at module level or inside a function (a
function-level import is a cycle that only waits for its call), except those under
``if TYPE_CHECKING:`` (annotations only, never run). ``from edi import cii`` is an edge to the
module ``edi.cii``; ``from o2c.store import Store`` an edge to ``o2c.store`` (its
``__init__``); relative imports are made absolute.

Rules, one test case per package:

- no module of the package is on an import cycle (the cycle is printed);
- ``schemas/``, ``edi/``, ``connectors/``, ``mappings/``, ``matching/`` import nothing from
  ``o2c/`` (the arrows are printed);
- no package of the library imports ``airflow`` (only ``dags/``, ``plugins/`` and ``o2c_airflow/``
  do; ``tests/dags/test_dagbag.py`` checks those);
- in ``edi/``: the format modules never import the entry point (:mod:`edi.einvoice`) nor the
  validation leaf (:mod:`edi.validation`), which imports no format module; :mod:`edi.cii` and
  :mod:`edi.ubl` share :mod:`edi.en16931` and do not import each other.

A case that fails on a cycle or an arrow that another change is removing is marked
``xfail(strict=True)`` naming what remains: once it is gone the case passes, the strict marker
fails the run, and whoever removed it deletes the marker.
"""

from __future__ import annotations

import ast
from collections import deque
from functools import cache
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
LIBRARY = tuple(p for p in ("schemas", "edi", "connectors", "mappings", "matching", "o2c", "transport")
                if (REPO / p / "__init__.py").is_file())
# on top of the library (the Airflow glue, the demo): in the graph, checked for cycles too
PACKAGES = LIBRARY + tuple(p for p in ("o2c_airflow", "demo") if (REPO / p / "__init__.py").is_file())
BELOW_O2C = ("schemas", "edi", "connectors", "mappings", "matching", "transport")

# What other changes are removing now; delete an entry (and its marker) when its case passes.
REMAINING_CYCLES: dict[str, str] = {}
REMAINING_ARROWS: dict[str, str] = {}


def _cases(packages: tuple[str, ...], remaining: dict[str, str], what: str) -> list[object]:
    return [pytest.param(p, marks=pytest.mark.xfail(strict=True, reason=f"{what} that remains: {remaining[p]}"))
            if p in remaining else p for p in packages]


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def imports_of(source: str, module: str, *, is_package: bool = False) -> list[tuple[str, tuple[str, ...], int]]:
    """``(module imported, names imported from it, line)`` for every import of ``source``, the
    module ``module``; relative imports made absolute, ``if TYPE_CHECKING:`` blocks left out."""
    package = module if is_package else module.rpartition(".")[0]
    found: list[tuple[str, tuple[str, ...], int]] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.extend((alias.name, (), node.lineno) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            name = node.module or ""
            if node.level:
                parts = package.split(".")
                base = parts[:len(parts) - (node.level - 1)]
                name = ".".join(base + ([name] if name else []))
            found.append((name, tuple(alias.name for alias in node.names), node.lineno))
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(source))
    return found


@cache
def modules() -> dict[str, Path]:
    """Dotted name -> file of every module of :data:`PACKAGES`."""
    out = {}
    for pkg in PACKAGES:
        for path in sorted((REPO / pkg).rglob("*.py")):
            parts = list(path.relative_to(REPO).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            out[".".join(parts)] = path
    return out


def _library_module(name: str) -> str | None:
    """The library module ``name`` lives in (``edi.cii.parse`` -> ``edi.cii``); None outside."""
    known = modules()
    while name and name not in known:
        name = name.rpartition(".")[0]
    return name or None


@cache
def graph() -> dict[str, dict[str, int]]:
    """module -> {module it imports: line of the first such import}, within the library."""
    known = modules()
    edges: dict[str, dict[str, int]] = {m: {} for m in known}
    for module, path in known.items():
        for name, names, line in imports_of(path.read_text(encoding="utf-8"), module, is_package=path.name == "__init__.py"):
            targets = [f"{name}.{n}" if f"{name}.{n}" in known else name for n in names] or [name]
            for target in targets:
                resolved = _library_module(target)
                if resolved is not None and resolved != module:
                    edges[module].setdefault(resolved, line)
    return edges


@cache
def cycles() -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan, iterative)."""
    edges = graph()
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, successors = work[-1]
            for nxt in successors:
                if nxt not in index:
                    index[nxt] = low[nxt] = len(index)
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(sorted(edges[nxt]))))
                    break
                if nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
            else:
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
                        found.append(sorted(component))
    return found


def cycle_path(component: list[str]) -> str:
    """One cycle through the first module of ``component``, with the line of each import."""
    edges = graph()
    start = component[0]
    members = set(component)
    parent: dict[str, str] = {}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for nxt in sorted(edges[node]):
            if nxt == start:
                path = [node]
                while path[-1] != start:
                    path.append(parent[path[-1]])
                path.reverse()
                path.append(start)
                return " -> ".join(f"{a} (line {edges[a][b]})" for a, b in zip(path, path[1:], strict=False)) + f" -> {start}"
            if nxt in members and nxt not in parent and nxt != start:
                parent[nxt] = node
                queue.append(nxt)
    return " <-> ".join(component)  # not reached: a component of more than one module has a cycle


def _in(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def test_the_graph_counts_function_level_imports_and_skips_type_checking() -> None:
    source = (
        "from __future__ import annotations\n"
        "from typing import TYPE_CHECKING\n"
        "from . import sibling\n"
        "if TYPE_CHECKING:\n"
        "    from edi.validation import ValidationResult\n"
        "else:\n"
        "    import edi.limits\n"
        "def f():\n"
        "    from ..schemas import errors\n"
    )
    got = [(name, names) for name, names, _ in imports_of(source, "pkg.sub.mod")]
    assert got == [("__future__", ("annotations",)), ("typing", ("TYPE_CHECKING",)), ("pkg.sub", ("sibling",)),
                   ("edi.limits", ()), ("pkg.schemas", ("errors",))]
    edges = graph()
    assert "edi.einvoice" in edges["o2c.commands.einvoice"]  # module level
    assert "edi.einvoice" in edges["o2c.jobs.einvoice"]  # inside functions


@pytest.mark.parametrize("package", _cases(PACKAGES, REMAINING_CYCLES, "the cycle"))
def test_no_import_cycles(package: str) -> None:
    on_cycles = [c for c in cycles() if any(_in(m, package) for m in c)]
    assert not on_cycles, f"{package}: modules on import cycles:\n" + "\n".join(
        f"  {cycle_path(c)}  (all of {', '.join(c)})" for c in on_cycles)


@pytest.mark.parametrize("package", _cases(tuple(p for p in BELOW_O2C if p in LIBRARY), REMAINING_ARROWS, "the arrow"))
def test_lower_layers_import_nothing_from_o2c(package: str) -> None:
    arrows = [f"{m} -> {t} (line {line})" for m, targets in sorted(graph().items()) if _in(m, package)
              for t, line in sorted(targets.items()) if _in(t, "o2c")]
    assert not arrows, f"{package}/ imports from o2c/:\n  " + "\n  ".join(arrows)


@pytest.mark.parametrize("package", LIBRARY)
def test_the_library_imports_no_airflow(package: str) -> None:
    offenders = []
    for module, path in sorted(modules().items()):
        if not _in(module, package):
            continue
        for name, _names, line in imports_of(path.read_text(encoding="utf-8"), module, is_package=path.name == "__init__.py"):
            if name == "airflow" or name.startswith("airflow."):
                offenders.append(f"{path.relative_to(REPO)}:{line} imports {name}")
    assert not offenders, "\n".join(offenders)


EDI_FORMATS = ("edi.cii", "edi.ubl", "edi.facturx", "edi.ctcfr")


def test_edi_einvoice_layers() -> None:
    """edi.einvoice on top, the format modules below it, edi.validation and edi.en16931 leaves."""
    edges = graph()
    wrong = [f"{m} -> {t}" for m in EDI_FORMATS for t in edges[m] if t in ("edi.einvoice", "edi.validation")]
    wrong += [f"edi.validation -> {t}" for t in edges["edi.validation"] if t in EDI_FORMATS or t == "edi.einvoice"]
    wrong += [f"{a} -> {b}" for a, b in (("edi.cii", "edi.ubl"), ("edi.ubl", "edi.cii")) if b in edges[a]]
    wrong += [f"edi.en16931 -> {t}" for t in edges["edi.en16931"] if _in(t, "edi")]
    assert not wrong, "edi/ layering broken:\n  " + "\n  ".join(wrong)
