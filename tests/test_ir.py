"""Kernel IR (moyal.ir): records as data, carried by the generated modules, read by the
operators and the C loader instead of kernel names (issue 14, "kernels as data")."""

import ast
import importlib
import inspect
import re
from pathlib import Path

import numpy as np
import pytest

from moyal import codegen, ir
from moyal.geometry import KGrid, band_geometry
from moyal.models import get_model
from solvers import coefficients, matrix_mode

ROOT = Path(__file__).resolve().parents[1]
MODULES = codegen.kernel_modules()


def generated(module):
    return importlib.import_module(f"moyal._generated.{module.name}")


@pytest.mark.parametrize("module", MODULES, ids=[m.name for m in MODULES])
def test_records_round_trip_through_their_literal(module):
    literal = ir.to_literal(module.kernels)
    assert ir.from_literal(literal) == module.kernels
    # the printed source is a plain literal: ast.literal_eval reads it back, nothing runs
    assert ast.literal_eval(ir.literal_source(module.kernels)) == literal
    assert all(str(k).startswith(k.name + ": ") for k in module.kernels)


@pytest.mark.parametrize("module", MODULES, ids=[m.name for m in MODULES])
def test_generated_kernels_are_a_fresh_lowering(module):
    """Each module's KERNELS equals the records codegen lowers now, and names each function
    with its parameters (the IR arguments, then hbar)."""
    kernels = generated(module)
    assert kernels.KERNELS == module.kernels
    for kernel in kernels.KERNELS:
        parameters = list(inspect.signature(getattr(kernels, kernel.name)).parameters)
        expected = ["field", "distribution"] if isinstance(kernel, ir.ProductKernel) else \
            [a.name for a in kernel.arguments]
        assert parameters == expected + ["hbar"], kernel.name


def test_dependencies_of_band_mode_arguments():
    """Band tables depend on k and band; potential derivatives on x (and y) and t."""
    for dimension, real in ((1, {"x", "t"}), (2, {"x", "y", "t"})):
        for kernel in codegen.band_mode_module(dimension).kernels:
            for argument in kernel.arguments:
                expected = real if argument.quantity == "potential" else {"k", "band"}
                assert argument.depends_on == expected, argument
                assert argument.is_band_table == (argument.quantity != "potential")


def test_flux_kinds_follow_the_multi_indices():
    kinds = {(k.direction, k.inner, k.outer): k.kind
             for k in codegen.band_mode_module(2).kernels}
    assert kinds[("x", (), ())] == "plain"
    assert kinds[("x", ("x", "x"), ())] == "inner"
    assert kinds[("x", ("x", "y"), ())] == "mixed"
    assert kinds[("x", (), ("x",))] == "outer"
    assert kinds[("kx", (), ("x",))] == "transverse"


@pytest.mark.parametrize("record, message", [
    (dict(direction="x", inner=("x",), outer=(), kind="plain"), "make it 'inner'"),
    (dict(direction="x", inner=(), outer=("x", "x"), kind="outer"), "order > 1"),
    (dict(direction="x", inner=("x",), outer=("x",), kind="inner"), "both inner"),
    (dict(direction="z", inner=(), outer=(), kind="plain"), "direction 'z'"),
    (dict(direction="x", inner=("q",), outer=(), kind="inner"), "unknown axes"),
])
def test_inconsistent_flux_records_are_refused(record, message):
    with pytest.raises(ValueError, match=message):
        ir.FluxKernel(name="bad", order=0, arguments=(), **record)


def test_field_refs_are_checked_and_names_unique_in_a_literal():
    with pytest.raises(ValueError, match="depends_on"):
        ir.FieldRef("V_dx", frozenset({"x", "space"}), "potential")
    first = ir.FieldRef("V_dx", frozenset({"x", "t"}), "potential", (), ("x",))
    second = ir.FieldRef("V_dx", frozenset({"x"}), "potential", (), ("x",))
    kernels = [ir.FluxKernel(f"k{i}", "kx", (), (), 0, "plain", (f,))
               for i, f in enumerate((first, second))]
    with pytest.raises(ValueError, match="two different fields named 'V_dx'"):
        ir.to_literal(kernels)


def test_band_tables_are_the_geometry_entries_the_records_name():
    """band_table reads quantity, components and k-derivative from the record: each
    differentiated table equals the centred difference of its parent table (grid O(dk^2))."""
    model = get_model("qwz", m=-1.5, g=0.3)
    n = 200
    step = 2 * np.pi / n
    centres = -np.pi + step * (np.arange(n) + 0.5)
    mesh = np.stack(np.meshgrid(centres, centres, indexing="ij")).reshape(2, -1)
    grid = KGrid(mesh, np.full(n * n, (step / (2 * np.pi)) ** 2), (step, step), True)
    geometry = band_geometry(model, grid, None)
    reshape = {}
    for name in ("energy", "velocity", "inverse_mass", "energy_third_derivative",
                 "berry_curvature", "berry_curvature_derivative", "quantum_metric",
                 "quantum_metric_derivative", "band_normalised_metric",
                 "band_normalised_metric_derivative"):
        value = getattr(geometry, name)
        reshape[name] = value.reshape(value.shape[:-2] + (n, n, value.shape[-1]))
    geometry = type("Geometry", (), reshape)
    checked = 0
    for kernel in codegen.band_mode_module(2).kernels:
        for field in kernel.arguments:
            if not field.is_band_table or not field.derivative:
                continue
            parent = ir.FieldRef("parent", field.depends_on, field.quantity, field.components,
                                 field.derivative[1:])
            axis = 1 + ("kx", "ky").index(field.derivative[0])
            table, base = coefficients.band_table(geometry, field), \
                coefficients.band_table(geometry, parent)
            difference = (np.roll(base, -1, axis) - np.roll(base, 1, axis)) / (2 * step)
            scale = np.max(np.abs(table))
            assert np.max(np.abs(difference - table)) <= 2e-2 * scale, field
            checked += 1
    assert checked > 20


def test_operators_read_the_records():
    """Band mode keeps the module's records up to the order; matrix mode takes its x terms
    (H0 k-derivative multi-index, F x-derivative order, hbar order) from the records."""
    kernels, functions = coefficients.load_kernels(2, 1)
    assert kernels == tuple(k for k in generated(MODULES[1]).KERNELS if k.order <= 1)
    assert all(functions[k.name].__name__ == k.name for k in kernels)
    assert [(alpha, n, order) for _, alpha, n, order in matrix_mode._X_TERMS] == \
        [((0,), 1, 0), ((0, 0), 2, 1), ((0, 0, 0), 3, 2)]
    assert matrix_mode._FORCE_DISPERSION_ORDER == 2


def _regex_patterns(path: Path):
    """Literal patterns of every ``re.<function>(pattern, ...)`` call in a source file."""
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                and isinstance(node.func.value, ast.Name) and node.func.value.id == "re" \
                and node.args and isinstance(node.args[0], ast.Constant):
            yield node.args[0].value


def test_no_kernel_name_is_parsed():
    """The kernel consumers import no regex module, and no regex literal anywhere under
    moyal/ or solvers/ matches a kernel or field name (so none can be parsing them)."""
    consumers = [ROOT / "solvers" / f for f in ("band_mode.py", "coefficients.py", "matrix_mode.py",
                                              "ckernels.py")]
    consumers += [ROOT / "moyal" / f for f in ("codegen.py", "ir.py", "abi.py")]
    consumers += sorted((ROOT / "moyal" / "_generated").glob("*.py"))
    for path in consumers:
        imports = [node.module if isinstance(node, ast.ImportFrom) else a.name
                   for node in ast.walk(ast.parse(path.read_text()))
                   if isinstance(node, (ast.Import, ast.ImportFrom)) for a in node.names]
        assert "re" not in imports, path
    names = {k.name for m in MODULES for k in m.kernels}
    names |= {a.name for m in MODULES for k in m.kernels
              for a in getattr(k, "arguments", (getattr(k, "field", None),))}
    for path in sorted((ROOT / "moyal").rglob("*.py")) + sorted((ROOT / "solvers").rglob("*.py")):
        for pattern in _regex_patterns(path):
            matched = sorted(n for n in names if re.search(pattern, n))
            assert not matched, (path, pattern, matched[:3])
