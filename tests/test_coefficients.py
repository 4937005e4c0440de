"""The coefficient provider (solvers/coefficients.py): only what can be nonzero is computed,
and leaving the rest out changes no number.

Independent checks: the operator built with pruning is compared with one built without it
(every kernel of the order, every table it names, from the full band geometry of
moyal.geometry.band_geometry): the rate and the CFL step bitwise, the currents to the
rounding bound of the collapsed kernels (same polynomial, other operation order); the tables the provider leaves out are shown not to matter by
evaluating each kernel with random values in their place; the chunked table evaluation is
compared with the full geometry.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from petsc4py import PETSc

from moyal import ir
from moyal.geometry import band_geometry, select_bands
from solvers import config
from solvers.band_mode import BandModeOperator
from solvers.coefficients import BandCoefficients, band_table, live_terms, load_kernels
from solvers.problem import BandProblem, k_mesh
from tests.tolerance import UNIT_ROUNDOFF, tolerance

# coarse k grids on purpose: the comparisons are exact whatever the resolution
pytestmark = pytest.mark.filterwarnings("ignore:initial.temperature")

QWZ = {"name": "qwz", "parameters": {"m": -1.2, "g": 0.3}}
COSINE = {"kind": "cosine", "amplitude": 0.05, "q": 2 * math.pi / 20.0}
HARMONIC = {"kind": "harmonic", "stiffness": 0.004, "x0": 10.0}
CASES = {
    # uniform DC field on (kx, ky): every V derivative of order >= 2 and every d_t vanishes
    "k2_dc": {"model": QWZ, "fields": {"E": [0.01, 0.005]}, "grid": {"nk": [12, 14]}},
    # uniform AC field: the d_t V derivatives live
    "k2_ac": {"model": QWZ, "fields": {"E": [0.01, 0.005], "E_ac": [0.02, 0.0], "omega": 0.7},
              "grid": {"nk": [12, 14]}},
    # cosine profile on (x, kx, ky): V_dxx, V_dxxx live, y derivatives of order >= 2 vanish
    "xk2_cosine": {"model": QWZ, "fields": {"E": [0.01, 0.005], "potential": [COSINE]},
                   "grid": {"x": "periodic", "x_max": 20.0, "nx": 10, "nk": [12, 14]}},
    # harmonic profile: V_dxxx vanishes although V_dxx does not
    "xk2_harmonic": {"model": QWZ, "fields": {"E": [0.0, 0.01], "potential": [HARMONIC]},
                     "grid": {"x": "outflow", "x_max": 20.0, "nx": 10, "nk": [12, 14]}},
}


def problem(name, order):
    raw = {**CASES[name], "mode": {"order": order},
           "initial": {"kind": "equilibrium", "mu": 0.3, "temperature": 0.5}}
    return BandProblem(config.from_dict(raw), PETSc.COMM_SELF)


def unpruned(p, order) -> BandCoefficients:
    """Every kernel up to ``order`` whose derivatives lie along grid axes (the others act on
    nothing: f does not depend on that direction), with every table it names, from the full
    geometry."""
    kernels, functions = load_kernels(len(p.grid.k_axes), order)
    kernels = tuple(k for k in kernels if set(k.derivative) <= set(p.grid.names))
    geometry = select_bands(band_geometry(p.model, k_mesh(p.grid)), p.bands)
    tables = {a.name: band_table(geometry, a) for k in kernels for a in k.arguments
              if a.is_band_table}
    uses = {k.name: frozenset(a.name for a in k.arguments) for k in kernels}
    return BandCoefficients(order, kernels, functions, uses, tables,
                            np.moveaxis(geometry.energy, -1, 0))


def smooth_state(p, seed):
    rng = np.random.default_rng(seed)
    u = p.grid.da.createGlobalVec()
    f = p.grid.view(u)
    mesh = np.meshgrid(*[p.grid.owned_cells(i)[0] for i in range(p.grid.dim)], indexing="ij")
    for band in range(f.shape[0]):
        f[band] = 1.0
        for axis, coordinate in zip(p.grid.axes, mesh):
            f[band] += rng.uniform(0.1, 0.4) * np.cos(
                2 * np.pi * (coordinate - axis.edges[0]) / axis.period + rng.uniform(0, 6))
    return p.ghosted(u).copy()


@pytest.mark.parametrize("order", [1, 2])
@pytest.mark.parametrize("name", sorted(CASES))
def test_pruned_operator_computes_the_same_rate_currents_and_step(name, order):
    p = problem(name, order)
    full = BandModeOperator(p.grid, unpruned(p, order), p.potential, "vanleer", "upwind")
    lean = p.operator
    f = smooth_state(p, seed=order)
    for t in (0.0, 1.3):
        rates = []
        for operator in (full, lean):
            rates.append(np.full(p.grid.owned_shape, np.nan))
            operator.rate(f, t, rates[-1])
        assert np.array_equal(rates[0], rates[1]), name
        fluxes = [operator.position_fluxes(f, t) for operator in (full, lean)]
        assert fluxes[0].keys() == fluxes[1].keys()
        for r in fluxes[0]:
            floor = current_floor(p, full, lean, f, t, r)
            assert np.all(np.abs(fluxes[0][r] - fluxes[1][r]) <= tolerance(floor)), (name, r)
    assert full.stable_dt(0.5) == lean.stable_dt(0.5)


def expanded_terms(kernel, function):
    """The kernel's polynomial, expanded: [(|constant|, {argument: power})] (sympy)."""
    import sympy

    symbols = {a.name: sympy.Symbol(a.name) for a in kernel.arguments}
    poly = sympy.Poly(sympy.expand(function(**symbols)), *symbols.values())
    return [(abs(float(c)), {n: e for n, e in zip(symbols, powers) if e})
            for powers, c in poly.terms()]


def current_floor(p, full, lean, f, t, r):
    """Rounding bound of the difference of the r-current of the two operators: only the
    collapsed kernels differ, each evaluated in two orders of the same expanded polynomial
    (n terms of degree <= d: error <= (n + d) u sum |terms| per form), times |f|."""
    tables = full._tables(full.k_region())
    potential = full._potential(full._points(), t)
    owned = (slice(None),) + full.owned
    floor = np.zeros(p.grid.owned_shape)
    for kernel in lean.kernels:
        if kernel.direction != r or kernel.name not in lean.coefficients.collapsed:
            continue
        terms = expanded_terms(kernel, full.functions[kernel.name])
        size = len(terms) + max(sum(powers.values()) for _, powers in terms)
        magnitude = 0.0
        for constant, powers in terms:
            product = constant
            for argument, power in powers.items():
                value = tables[argument] if argument in tables else potential[argument]
                product = product * np.abs(value) ** power
            magnitude = magnitude + product
        floor = floor + 2 * size * UNIT_ROUNDOFF * magnitude * np.abs(f[owned])
    return floor


@pytest.mark.parametrize("name", sorted(CASES))
def test_left_out_tables_and_kernels_do_not_matter(name):
    """Each kernel evaluated on random tables and the problem's potential samples (at the
    centres, at two times): putting other random values into the tables the provider left
    out, or into the whole kernel it dropped, changes nothing."""
    p = problem(name, 2)
    kernels, functions = load_kernels(len(p.grid.k_axes), 2)
    kept = {k.name for k in p.coefficients.kernels}
    rng = np.random.default_rng(7)
    x = p.grid.owned_cells(0)[0] if p.grid.has_x else np.zeros(5)
    n = x.size
    n_left_out = 0
    for kernel in kernels:
        if not set(kernel.derivative) <= set(p.grid.names):
            continue  # acts on nothing (test above), dropped whatever its value
        tables, potentials = ir.split_arguments([kernel])
        uses = p.coefficients.uses.get(kernel.name, frozenset())
        kept_values = {a.name: rng.uniform(-1, 1, n) for a in tables}
        for t in (0.2, 1.1):
            samples = p.potential.derivatives(x, t, [a.name for a in potentials])
            values = []
            for _ in range(2):
                args = {a.name: np.broadcast_to(samples[a.name], (n,)) for a in potentials}
                args.update({a.name: kept_values[a.name] if a.name in uses
                             else rng.uniform(-1, 1, n) for a in tables})
                values.append(np.broadcast_to(functions[kernel.name](**args), (n,)))
            if kernel.name not in kept:
                assert not np.any(values[0]) and not np.any(values[1]), kernel.name
            else:
                assert np.array_equal(values[0], values[1]), kernel.name
        n_left_out += len(tables) - len(p.coefficients.uses.get(kernel.name, frozenset()) &
                                        {a.name for a in tables})
    if name == "k2_dc":
        assert n_left_out > 0


def test_uniform_dc_order_2_needs_no_table_in_the_rate():
    """On (kx, ky) under a static uniform field the k advection is the force -E: every kernel
    along kx, ky that names a band table carries V_dxx, V_dxy, ... and is dropped."""
    p = problem("k2_dc", 2)
    k_terms = [k for k in p.coefficients.kernels if k.direction in ("kx", "ky")]
    assert k_terms and all(not (p.coefficients.uses[k.name] & set(p.coefficients.tables))
                           for k in k_terms)
    # the currents: per direction 1 (order 0), 1 (order 1: Omega V_d), 3 (order 2: the
    # monomials V_dx^2, V_dx V_dy, V_dy^2) tables instead of the 20 the kernels name
    assert {k: [m for m, _ in v] for k, v in p.coefficients.collapsed.items()} == {
        f"order{n}_flux_{r}": m for r, s in (("x", "y"), ("y", "x")) for n, m in (
            (0, [()]), (1, [((f"V_d{s}", 1),)]),
            (2, [(("V_dx", 2),), (("V_dx", 1), ("V_dy", 1)), (("V_dy", 2),)]))}
    assert len(p.coefficients.tables) == 10


@pytest.mark.parametrize("name", ["k2_dc", "xk2_cosine"])
def test_chunked_tables_equal_the_full_geometry(name):
    """The provider evaluates the geometry in chunks and keeps only its tables: each table
    equals the same entry of the full band geometry (same operations, so bitwise), also
    with a chunk smaller than one k line."""
    from solvers.coefficients import band_coefficients, vanishing_derivatives
    from solvers.fields import DERIVATIVE_NAMES

    p = problem(name, 2)
    reference = unpruned(p, 2).tables
    raw = [n for n in p.coefficients.tables if n not in p.coefficients.collapsed_tables]
    assert raw or name == "k2_dc"
    for table_name in raw:
        assert np.array_equal(p.coefficients.tables[table_name], reference[table_name])
    vanishing = vanishing_derivatives(p.potential, p.grid, DERIVATIVE_NAMES, p.grid.comm)
    small = band_coefficients(p.model, k_mesh(p.grid), p.bands, 2, vanishing, chunk_size=5,
                              grid_axes=p.grid.names)
    assert small.tables.keys() == p.coefficients.tables.keys()
    for table_name, table in small.tables.items():
        assert np.array_equal(table, p.coefficients.tables[table_name]), table_name


def test_structural_pruning_of_a_hand_written_kernel():
    """live_terms on a kernel with a known polynomial: c = a V_dx + b V_dxx + 2."""
    field = {n: ir.FieldRef(n, {"k", "band"} if n in "ab" else {"x", "t"}, "energy"
                            if n in "ab" else "potential",
                            derivative=() if n in "ab" else ("x",) * (len(n) - 3))
             for n in ("a", "b", "V_dx", "V_dxx")}
    kernel = ir.FluxKernel("c", "x", (), (), 0, "plain", tuple(field.values()))

    def c(a, b, V_dx, V_dxx):
        return a * V_dx + b * V_dxx + 2.0

    live, uses = live_terms([kernel], {"c": c}, {"V_dxx"})
    assert live == (kernel,) and uses["c"] == {"a", "V_dx"}

    def d(a, b, V_dx, V_dxx):
        return a * V_dxx * V_dx - b * V_dxx

    live, uses = live_terms([kernel], {"c": d}, {"V_dxx"})
    assert live == ()
