"""Product potentials V(x, y, t) = A f(x, t) g(y, t) ([[fields.potential]] kind = "product").

Independent predictions: every derivative the kernels take equals the finite difference of
the full V(x, y, t) (nested central stencils of tests/test_fields.py); the intervals of
``derivative_ranges`` and ``force_bound`` enclose values sampled over x, y and t; the flux
form of band mode conserves the particle number on periodic x, y up to rounding.
"""

import numpy as np
import pytest
from petsc4py import PETSc

from solvers import fields
from solvers.config import ConfigError
from tests.test_fields import COMPONENTS, STEPS, T, X, counts_of, finite_difference
from tests.tolerance import UNIT_ROUNDOFF, tolerance

# the samples of X reversed: as far from the tabulated nodes as X (see tests/test_fields.py)
Y = X[::-1].copy()
# (x factor, y factor): moving and modulated factors, and splines along y
PAIRS = [("cosine", "step"), ("barrier", "tabulated periodic"),
         ("harmonic", "tabulated natural"), ("step", "cosine")]


def product_potential(x_kind, y_kind, amplitude=0.7):
    uniform = fields.UniformField(dc=(0.3, -0.2), ac=(0.25, 0.4), omega=1.7, ramp_time=2.0)
    product = fields.ProductPotential(amplitude, COMPONENTS[x_kind], COMPONENTS[y_kind])
    return fields.Potential(uniform, (product,))


def full_potential(potential):
    """V(x, y, t) = -E(t).(x, y) + A f(x, t) g(y, t) from the factors' values only."""
    product, = potential.components

    def value(x, y, t):
        field = potential.uniform.E(t)
        return (-field[0] * x - field[1] * y + product.amplitude
                * product.x_factor.x_derivative(x, t, 0) * product.y_factor.x_derivative(y, t, 0))
    return value


@pytest.mark.parametrize("pair", PAIRS, ids="*".join)
def test_product_derivatives_match_finite_differences(pair):
    potential = product_potential(*pair)
    value = full_potential(potential)
    exact = potential.derivatives(X, T, y=Y)
    assert set(exact) == set(fields.DERIVATIVE_NAMES)
    # V is the profile part A f g: the same two products, in another order
    uniform = np.tensordot(potential.uniform.E(T), np.stack([X, Y]), 1)
    assert np.all(np.abs(exact["V"] - (value(X, Y, T) + uniform))
                  <= tolerance(4 * UNIT_ROUNDOFF * (np.abs(exact["V"]) + np.abs(uniform))))
    for name in fields.DERIVATIVE_NAMES[1:]:
        numeric = finite_difference(value, (X, Y, T), counts_of(name), STEPS)
        # the tolerance of tests/test_fields.py: relative 1e-7 (truncation of the 9-point
        # stencils at h = 0.02), floor 1e-8 for the round-off of vanishing derivatives
        assert np.max(np.abs(exact[name] - numeric)) < 1e-7 * np.max(np.abs(numeric)) + 1e-8, \
            name


@pytest.mark.parametrize("pair", PAIRS, ids="*".join)
def test_product_ranges_and_force_bound_enclose_sampled_values(pair):
    potential = product_potential(*pair)
    x = np.linspace(-3.0, 6.0, 41)[:, None]
    y = np.linspace(-2.5, 5.5, 37)[None, :]
    ranges = potential.derivative_ranges(x, y=y)
    force = potential.force_bound(x, y=y)
    for t in np.linspace(0.0, 15.0, 61):
        values = potential.derivatives(x, t, y=y)
        for name, (mid, radius) in ranges.items():
            # the enclosure sums a few terms: slack of their rounding, SAFETY x
            slack = tolerance(8 * UNIT_ROUNDOFF * (np.abs(mid) + radius))
            assert np.all(np.abs(values[name] - mid) <= radius + slack), (name, t)
        assert np.max(np.abs(values["V_dx"])) <= force[0] * (1 + tolerance(8 * UNIT_ROUNDOFF))
        assert np.max(np.abs(values["V_dy"])) <= force[1] * (1 + tolerance(8 * UNIT_ROUNDOFF))


def test_static_product_ranges_are_its_values():
    product = fields.ProductPotential(0.4, fields.CosinePotential(1.0, 0.9),
                                      fields.HarmonicPotential(0.3, 1.0))
    potential = fields.Potential(components=(product,))
    x, y = np.linspace(-1, 2, 5)[:, None], np.linspace(0, 3, 4)[None, :]
    values = potential.derivatives(x, 2.0, y=y)
    for name, (mid, radius) in potential.derivative_ranges(x, y=y).items():
        assert np.all(radius == 0) and np.all(mid == values[name]), name
    assert values["V_dtx"] == 0.0 and values["V_dty"] == 0.0


def cosine_product_table(amplitude, q, second_axis="y"):
    return {"kind": "product", "amplitude": amplitude, "factors": [
        {"kind": "cosine", "amplitude": 1.0, "q": q},
        {"kind": "cosine", "amplitude": 1.0, "q": q, "axis": second_axis}]}


def test_config_builds_the_product():
    potential = fields.potential_from_config({"potential": [cosine_product_table(0.5, 1.3)]})
    assert potential.along == ("xy",) and potential.is_static
    x, y = np.linspace(-1, 2, 7)[:, None], np.linspace(0, 3, 5)[None, :]
    values = potential.derivatives(x, 0.0, ["V", "V_dxy"], y=y)
    # one product of two cosines per value, each to ULP_TRANSCENDENTAL ulp (<= 4 ulp)
    same = tolerance(12 * UNIT_ROUNDOFF * 0.5 * 1.3 ** 2)
    assert np.max(np.abs(values["V"] - 0.5 * np.cos(1.3 * x) * np.cos(1.3 * y))) <= same
    assert np.max(np.abs(values["V_dxy"]
                         - 0.5 * 1.3 ** 2 * np.sin(1.3 * x) * np.sin(1.3 * y))) <= same


@pytest.mark.parametrize("table, message", [
    (cosine_product_table(0.5, 1.3, second_axis="x"),
     "fields.potential[0].factors[1].axis = 'x': expected 'y': a product has one factor "
     "along x and one along y"),
    ({"kind": "product", "amplitude": 1.0,
      "factors": [{"kind": "cosine", "amplitude": 1.0, "q": 1.0}]},
     "fields.potential[0].factors: has 1 table; expected two"),
    ({"kind": "product", "amplitude": 1.0, "factors": [
        {"kind": "cosine", "amplitude": 1.0, "q": 1.0},
        cosine_product_table(1.0, 1.0) | {"axis": "y"}]},
     "fields.potential[0].factors[1].kind = 'product': expected one of 'cosine'"),
])
def test_bad_products_give_one_line_errors(table, message):
    with pytest.raises(ConfigError) as err:
        fields.potential_from_config({"potential": [table]})
    text = str(err.value)
    assert text.startswith(message) and "\n" not in text, text


def test_4d_band_run_with_a_cosine_product_conserves_the_particle_number(tmp_path):
    """A cos(q x) cos(q y) on periodic x, y (one period each), square lattice, order 2."""
    from tests.test_phase_space_4d import run

    length = 12.0
    q = 2 * np.pi / length
    tables = {
        "model": {"name": "square"},
        "mode": {"order": 2},
        "fields": {"potential": [cosine_product_table(0.4, q)]},
        "grid": {"x": "periodic", "nx": 8, "x_max": length, "y": "periodic", "ny": 8,
                 "y_max": length, "nk": [8, 8]},
        "initial": {"kind": "packet", "x_center": 4.0, "x_width": 2.0, "y_center": 7.0,
                    "y_width": 2.0, "mu": 0.0, "temperature": 6.0},
        "run": {"t_end": 1.0},
    }
    summary, final, _ = run(tmp_path, "product", tables, comm=PETSc.COMM_SELF)
    _, free, _ = run(tmp_path, "free", {**tables, "fields": {}}, comm=PETSc.COMM_SELF)
    assert np.all(np.isfinite(final))
    assert np.max(np.abs(final - free)) > 1e-3 * np.max(np.abs(free))  # the product acts
    assert not summary["number_sinks"]
    # the flux form telescopes: the drift is rounding of sums over the 8^4 cells per step
    # (the bound used for conserving runs in tests/test_solver.py)
    assert summary["number_drift"] < 1e-12, summary["number_drift"]
