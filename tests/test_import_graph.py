"""The import graph of the project's modules (issue 14): layered, without cycles.

Every module under moyal/, solvers/ and scripts/ is parsed with ``ast`` (nothing is imported),
and every ``import`` of a project module, at module level or inside a function, is an edge.

Rules:

* no cycles (a cycle is reported as the chain of modules);
* layers: ``moyal`` (symbolic layer, generated kernels) < ``solvers`` (PETSc solver) <
  ``scripts``; no module imports from a higher layer;
* ``moyal`` imports neither petsc4py nor mpi4py (it runs without PETSc);
* the config validator is the bottom of ``solvers``: ``solvers.errors`` imports no project
  module, ``solvers.schema`` only ``solvers.errors``, ``solvers.config`` only those two
  (what needs the model, the potential or the C kernels is ``solvers.preflight``'s);
* ``solvers`` never imports sympy when its modules are imported: no chain of module-level
  imports from a ``solvers`` module reaches ``import sympy``. Building a model from a
  ``[model]`` table (``moyal.models``, lambdified once) is setup and imports sympy inside the
  functions that do it; the time loop sees numpy arrays only.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LAYERS = ("moyal", "solvers", "scripts")  # lowest first


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for layer in LAYERS for p in sorted((ROOT / layer).rglob("*.py"))
           if "__pycache__" not in p.parts}


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or \
        (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(tree: ast.Module, module: str, is_package: bool):
    """``(imported name, at module level)`` for every import statement of a parsed module."""
    found = []

    def visit(node, top):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                continue
            if isinstance(child, ast.Import):
                found.extend((alias.name, top) for alias in child.names)
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    package = module.split(".") if is_package else module.split(".")[:-1]
                    package = package[:len(package) - (child.level - 1)]
                    base = ".".join(package + ([base] if base else []))
                found.extend((f"{base}.{alias.name}", top) for alias in child.names)
            visit(child, top and not isinstance(child, (ast.FunctionDef,
                                                        ast.AsyncFunctionDef, ast.Lambda)))

    visit(tree, True)
    return found


def _project_module(name: str) -> str | None:
    """The longest project module that ``name`` (a.b.c, or a.b.attribute) refers to."""
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        candidate = ".".join(parts[:end])
        if candidate in MODULES:
            return candidate
    return None


def _graph():
    """``(edges, module-level edges, external imports)``: project module -> set of names."""
    edges, top_edges, external = {}, {}, {}
    for module, path in MODULES.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        edges[module], top_edges[module], external[module] = set(), set(), set()
        for name, top in _imports(tree, module, path.name == "__init__.py"):
            target = _project_module(name)
            if target is None:
                external[module].add((name.split(".")[0], top))
            elif target != module:
                edges[module].add(target)
                if top:
                    top_edges[module].add(target)
    return edges, top_edges, external


EDGES, TOP_EDGES, EXTERNAL = _graph()


def _layer(module: str) -> int:
    return LAYERS.index(module.split(".")[0])


def find_cycle(edges: dict) -> list[str] | None:
    """One cycle of the directed graph as ``[a, b, ..., a]``, or None."""
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for target in sorted(edges.get(node, ())):
            if state.get(target) == "open":
                return stack[stack.index(target):] + [target]
            if target not in state:
                cycle = visit(target)
                if cycle:
                    return cycle
        state[node] = "done"
        stack.pop()
        return None

    for node in sorted(edges):
        if node not in state:
            cycle = visit(node)
            if cycle:
                return cycle
    return None


def test_the_parser_sees_the_known_imports():
    """Guards the test itself: edges it must find, in every form used by the project."""
    assert "solvers.errors" in TOP_EDGES["solvers.fields"]  # from solvers.errors import ...
    assert "solvers.config" in TOP_EDGES["solvers.run"]  # from solvers import config as cfgmod
    assert ("sympy", True) in EXTERNAL["moyal.models"]  # import sympy as sp
    assert len(MODULES) > 40


def test_find_cycle_reports_the_chain():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) is None


def test_no_import_cycles():
    """At module level or inside functions: a lazy import cycle is still a design cycle."""
    cycle = find_cycle(EDGES)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


@pytest.mark.parametrize("layer", LAYERS[:-1])
def test_no_module_imports_a_higher_layer(layer):
    upward = sorted(f"{module} -> {target}" for module, targets in EDGES.items()
                    if module.split(".")[0] == layer
                    for target in targets if _layer(target) > _layer(module))
    assert not upward, "imports of a higher layer: " + ", ".join(upward)


@pytest.mark.parametrize("module, allowed", [
    ("solvers.errors", set()), ("solvers.schema", {"solvers.errors"}),
    ("solvers.config", {"solvers.errors", "solvers.schema"})])
def test_the_config_validator_imports_no_solver_module(module, allowed):
    assert EDGES[module] <= allowed, sorted(EDGES[module] - allowed)
    if module == "solvers.errors":
        assert not {name for name, _ in EXTERNAL[module]} & {"numpy", "sympy", "petsc4py"}


def test_moyal_runs_without_petsc_and_mpi():
    found = sorted(f"{module} imports {name}" for module, names in EXTERNAL.items()
                   if module.startswith("moyal") for name, _ in names
                   if name in ("petsc4py", "mpi4py"))
    assert not found, ", ".join(found)


def test_importing_a_solver_module_does_not_import_sympy():
    """Follows module-level imports only (see the module docstring)."""
    for start in sorted(m for m in MODULES if m.startswith("solvers")):
        chain, seen, frontier = {start: [start]}, {start}, [start]
        while frontier:
            module = frontier.pop()
            assert ("sympy", True) not in EXTERNAL[module], \
                "sympy imported at module level via " + " -> ".join(chain[module])
            for target in sorted(TOP_EDGES[module] - seen):
                seen.add(target)
                chain[target] = chain[module] + [target]
                frontier.append(target)
