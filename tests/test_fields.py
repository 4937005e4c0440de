"""Potential V(x, t) and uniform fields: analytic derivatives against finite differences of V,
ramp smoothness, spline exactness and one-line config errors."""

import math

import numpy as np
import pytest

from solvers import fields
from solvers.config import ConfigError
from tests.tolerance import ULP_TRANSCENDENTAL, UNIT_ROUNDOFF, function_floor, tolerance

# 9-point central stencil offsets; weights from the Taylor (Vandermonde) system, so the
# derivative of order d is exact for polynomials of degree <= 8 (error O(h^(10 - 2 ceil(d/2))))
OFFSETS = np.arange(-4, 5)


def stencil(order):
    vandermonde = np.vander(OFFSETS, increasing=True).T.astype(float)
    rhs = np.zeros(OFFSETS.size)
    rhs[order] = math.factorial(order)
    return np.linalg.solve(vandermonde, rhs)


def finite_difference(func, point, counts, steps):
    """Mixed derivative of func(x, y, t) by nested central stencils.

    counts: derivative order per variable (x, y, t); steps: grid spacing per variable.
    """
    for axis, (order, h) in enumerate(zip(counts, steps)):
        if order:
            rest = list(counts)
            rest[axis] = 0
            total = 0.0
            for offset, weight in zip(OFFSETS, stencil(order)):
                shifted = list(point)
                shifted[axis] = point[axis] + offset * h
                total = total + weight * finite_difference(func, shifted, rest, steps)
            return total / h ** order
    return func(*point)


def counts_of(name):
    """Derivative orders (x, y, t) encoded in a kernel argument name such as V_dtx."""
    letters = name.partition("_d")[2]
    return tuple(letters.count(axis) for axis in "xyt")


# tabulated nodes are multiples of 0.5; every x sample stays >= 0.11 from a node, farther
# than the stencil half-width 4 h = 0.08, so the piecewise-cubic spline is smooth under it
X = np.array([-2.13, -0.61, 0.23, 1.37, 3.81, 5.12])
STEPS = (0.02, 0.02, 0.02)
T = 0.7


def tabulated(periodic):
    nodes = np.linspace(0.0, 4.0, 9) if periodic else np.linspace(-1.0, 3.0, 9)
    values = np.cos(0.5 * np.pi * nodes) + (0.0 if periodic else 0.3 * nodes ** 2)
    return fields.TabulatedPotential(nodes, values, periodic=periodic, omega=0.9)


COMPONENTS = {
    "cosine": fields.CosinePotential(amplitude=0.8, q=1.3, omega=0.6, phase=0.4),
    "step": fields.StepPotential(amplitude=-0.5, x0=0.4, width=0.7, omega=1.1),
    "barrier": fields.BarrierPotential(amplitude=0.9, x1=-1.0, x2=1.5, width=0.8, omega=0.5),
    "harmonic": fields.HarmonicPotential(stiffness=0.35, x0=0.6, omega=0.8),
    "tabulated periodic": tabulated(True),
    "tabulated natural": tabulated(False),
}


def full_potential(potential):
    """V(x, y, t) = -E(t).(x, y) + profile, evaluated independently of the derivatives."""
    def value(x, y, t):
        field = potential.uniform.E(t)
        return (-field[0] * x - field[1] * y
                + potential.derivatives(x, t, ["V"])["V"])
    return value


@pytest.mark.parametrize("kind", sorted(COMPONENTS))
def test_component_derivatives_match_finite_differences(kind):
    potential = fields.Potential(components=(COMPONENTS[kind],))
    value = full_potential(potential)
    exact = potential.derivatives(X, T)
    for name in ("V_dx", "V_dxx", "V_dxxx", "V_dtx"):
        numeric = finite_difference(value, (X, 0.0, T), counts_of(name), STEPS)
        # relative 1e-7, floor 1e-8 for the round-off of zero derivatives (harmonic V_dxxx)
        tolerance = 1e-7 * np.max(np.abs(numeric)) + 1e-8
        assert np.max(np.abs(exact[name] - numeric)) < tolerance, name


def test_full_potential_derivatives_including_y_and_uniform_field():
    uniform = fields.UniformField(dc=(0.3, -0.2), ac=(0.25, 0.4), omega=1.7, phase=0.3,
                                  ramp_time=2.0)
    potential = fields.Potential(uniform, tuple(COMPONENTS.values()))
    value = full_potential(potential)
    exact = potential.derivatives(X, T)
    assert set(exact) == set(fields.DERIVATIVE_NAMES)
    for name in fields.DERIVATIVE_NAMES[1:]:
        numeric = finite_difference(value, (X, 0.4, T), counts_of(name), STEPS)
        assert np.max(np.abs(exact[name] - numeric)) < 1e-7 * (np.max(np.abs(numeric)) + 1), \
            name
    # the uniform field enters with E = -grad V
    # the same formulas, possibly through other SIMD paths of cos/sin: their ulp, SAFETY x
    same = tolerance(function_floor(1.0, condition=1.0, argument_error=4))
    assert exact["V_dy"] == pytest.approx(-uniform.E(T)[1], rel=same)
    assert exact["V_dty"] == pytest.approx(-uniform.dE_dt(T)[1], rel=same)


def test_identically_zero_and_uniform_entries_are_scalars():
    uniform = fields.UniformField(dc=(0.5, 0.1))
    potential = fields.Potential(uniform)
    assert potential.is_uniform and potential.is_static
    values = potential.derivatives(np.linspace(0, 1, 5), 3.0)
    assert values["V_dx"] == -0.5 and values["V_dy"] == -0.1 and values["V"] == 0.0
    assert all(isinstance(values[n], float) for n in fields.DERIVATIVE_NAMES)
    moving = fields.Potential(uniform, (COMPONENTS["cosine"],))
    assert not moving.is_uniform and not moving.is_static
    assert fields.Potential(uniform, (COMPONENTS["step"],)).derivatives(
        np.zeros(3), 1.0)["V_dxy"] == 0.0


def test_ramp_is_continuously_differentiable_and_dE_dt_is_exact():
    uniform = fields.UniformField(dc=(0.4, -0.3), ac=(0.2, 0.5), omega=2.3, phase=0.7,
                                  ramp_time=1.5)
    full = lambda t: np.array([0.4, -0.3]) + np.array([0.2, 0.5]) * np.cos(2.3 * t + 0.7)
    assert np.all(uniform.E(-0.5) == 0) and np.all(uniform.E(0.0) == 0)
    dc, ac = np.array([0.4, -0.3]), np.array([0.2, 0.5])

    def floor(t, ramp=1.0):
        """dc + ac cos(2.3 t + 0.7) [x ramp]: cos to its ulp of an argument rounded twice
        (d cos = sin d phi, |sin| <= 1), two more roundings, the ramp's sin^2 a few ulp."""
        phase = abs(2.3 * t + 0.7)
        return (ramp * UNIT_ROUNDOFF * (np.abs(ac) * (ULP_TRANSCENDENTAL + 2 * phase)
                                        + 2 * (np.abs(dc) + np.abs(ac)))
                + (ramp != 1.0) * (2 * ULP_TRANSCENDENTAL + 4) * UNIT_ROUNDOFF
                * np.abs(ramp * full(t)))
    assert np.all(np.abs(uniform.E(2.0) - full(2.0)) <= tolerance(floor(2.0)))
    assert np.all(np.abs(uniform.E(0.75) - 0.5 * full(0.75))  # sin^2(pi/4) = 1/2
                  <= tolerance(floor(0.75, ramp=0.5)))
    delta = 1e-7
    for edge in (0.0, 1.5):  # E and dE/dt have no jump at either end of the ramp
        assert np.max(np.abs(uniform.E(edge + delta) - uniform.E(edge - delta))) < 1e-6
        assert np.max(np.abs(uniform.dE_dt(edge + delta) - uniform.dE_dt(edge - delta))) < 1e-5
    times = np.array([0.1, 0.4, 0.9, 1.3, 1.7, 3.2])
    h = 1e-3
    numeric = (uniform.E(times + h) - uniform.E(times - h)) / (2 * h)
    # central difference: error h^2 |E'''| / 6 < 1e-5 for these rates
    assert np.max(np.abs(uniform.dE_dt(times) - numeric)) < 1e-5
    assert uniform.E(times).shape == (2, times.size)
    assert not uniform.is_static
    assert fields.UniformField(dc=(1.0, 0.0), ac=(0.3, 0.0), omega=0.0).is_static


def test_no_ramp_means_full_field_from_the_start():
    uniform = fields.UniformField(dc=(0.4, 0.0), ac=(0.2, 0.0), omega=1.0)
    # 0.4 + 0.2 cos(0): cos(0) = 1 exactly, one rounding of the sum
    assert abs(uniform.E(0.0)[0] - 0.6) <= tolerance(2 * UNIT_ROUNDOFF * 0.6)
    assert uniform.dE_dt(0.0)[0] == 0.0


def natural_spline_function(x, derivative=0):
    """A natural cubic spline built from truncated powers, independent of scipy.

    a + b x + sum_i c_i (x - xi_i)_+^3 with sum c_i = sum c_i xi_i = 0 has s'' = 0 at both
    ends of [0, 4] and is linear outside.
    """
    knots = np.array([1.0, 2.0, 3.0])
    weights = np.array([1.0, -2.0, 1.0])  # sum = 0, first moment = 0
    base = (0.5 + 0.3 * x, 0.3 + 0 * x, 0 * x, 0 * x)[derivative]
    ramps = np.clip(x[..., None] - knots, 0.0, None)
    # d^m/dx^m (x - xi)_+^3 = 3!/(3-m)! (x - xi)_+^(3-m), a Heaviside step for m = 3
    powers = 6.0 * (ramps > 0) if derivative == 3 else (
        math.factorial(3) / math.factorial(3 - derivative) * ramps ** (3 - derivative))
    return base + (weights * powers).sum(axis=-1)


def test_natural_spline_reproduces_a_natural_cubic_spline_exactly():
    nodes = np.linspace(0.0, 4.0, 9)
    spline = fields.TabulatedPotential(nodes, natural_spline_function(nodes))
    x = np.linspace(-1.47, 5.53, 57)  # off the knots; inside and on the linear continuation
    for order in range(4):
        exact = natural_spline_function(x, order)
        assert np.max(np.abs(spline.x_derivative(x, 0.0, order) - exact)) < 1e-12, order


def test_periodic_spline_converges_at_fourth_order_and_wraps():
    errors = []
    for n in (16, 32, 64):
        nodes = np.linspace(0.0, 2.0, n + 1)
        spline = fields.TabulatedPotential(nodes, np.sin(np.pi * nodes), periodic=True)
        x = np.linspace(-2.0, 4.0, 301)
        errors.append(np.max(np.abs(spline.x_derivative(x, 0.0, 0) - np.sin(np.pi * x))))
    orders = np.log2(np.array(errors[:-1]) / errors[1:])
    assert np.all(orders > 3.8), orders


def test_force_bound_bounds_the_sampled_force():
    uniform = fields.UniformField(dc=(0.3, 0.1), ac=(0.2, -0.4), omega=1.3, ramp_time=1.0)
    potential = fields.Potential(uniform, tuple(COMPONENTS.values()))
    x = np.linspace(-3, 6, 400)
    bound = potential.force_bound(x)
    sampled = [potential.derivatives(x, t, ["V_dx", "V_dy"]) for t in np.linspace(0, 20, 400)]
    assert max(np.max(np.abs(s["V_dx"])) for s in sampled) <= bound[0]
    assert max(abs(s["V_dy"]) for s in sampled) <= bound[1]
    assert abs(bound[1] - 0.5) <= tolerance(2 * UNIT_ROUNDOFF * 0.5)  # |0.1| + |-0.4|


# --------------------------------------------------------------------------------------------
# configuration
# --------------------------------------------------------------------------------------------

def test_config_builds_the_described_potential(tmp_path):
    nodes = np.linspace(0.0, 3.0, 7)
    values = nodes ** 2
    np.save(tmp_path / "table.npy", np.column_stack([nodes, values]))
    np.savetxt(tmp_path / "table.csv", np.column_stack([nodes, values]), delimiter=",",
               header="x,V")
    np.savetxt(tmp_path / "table.txt", np.column_stack([nodes, values]))
    potential = fields.potential_from_config({
        "E": 0.25, "E_ac": [0.1, 0.2], "omega": 1.5, "phase": 0.5, "ramp_time": 2,
        "potential": [
            {"kind": "cosine", "amplitude": 0.1, "q": 2},
            {"kind": "barrier", "amplitude": 1.0, "x1": -1, "x2": 1, "width": 0.2},
            {"kind": "tabulated", "file": "table.npy"},
            {"kind": "tabulated", "file": "table.csv", "omega": 0.5},
            {"kind": "tabulated", "file": str(tmp_path / "table.txt")},
            {"kind": "tabulated", "x": nodes.tolist(), "V": values.tolist()},
        ]}, base_dir=tmp_path)
    assert potential.uniform == fields.UniformField((0.25, 0.0), (0.1, 0.2), 1.5, 0.5, 2.0)
    assert potential.components[0] == fields.CosinePotential(0.1, 2.0)
    assert potential.components[1] == fields.BarrierPotential(1.0, -1.0, 1.0, 0.2)
    x = np.linspace(-1, 4, 11)
    reference = potential.components[-1].x_derivative(x, 0.0, 0)
    for table in potential.components[2:5]:
        assert np.array_equal(table.x_derivative(x, 0.0, 0), reference)
    assert potential.components[3].omega == 0.5
    empty = fields.potential_from_config({})
    assert empty.is_uniform and empty.is_static and not any(empty.uniform.dc)


def _periodic_mismatch():
    return {"potential": [{"kind": "tabulated", "x": [0, 1, 2, 3], "V": [0, 1, 2, 3],
                           "periodic": True}]}


@pytest.mark.parametrize("table, fragment", [
    ({"potential": [{"kind": "step", "amplitude": 1, "x0": 0, "width": -1.0}]},
     "fields.potential[0].width = -1.0: expected a positive length"),
    ({"potential": [{"kind": "cosine", "amplitude": 1, "q": 1},
                    {"kind": "step", "amplitude": 1, "x0": 0, "widht": 1}]},
     "fields.potential[1].widht = 1: unknown key (did you mean 'width'?); expected one of the "
     "keys kind, axis, amplitude, x0, width, omega"),
    ({"potential": [{"kind": "stepp"}]},
     "fields.potential[0].kind = 'stepp': expected one of 'cosine'"),
    ({"potential": [{"amplitude": 1}]}, "fields.potential[0].kind: missing"),
    ({"potential": [{"kind": "barrier", "amplitude": 1, "x1": 2, "x2": 1, "width": 1}]},
     "fields.potential[0].x2 = 1.0: expected a position > x1 = 2.0"),
    ({"potential": [{"kind": "barrier", "amplitude": 1, "x1": 0, "width": 1}]},
     "fields.potential[0].x2: missing; a 'barrier' potential needs amplitude, x1, x2, width"),
    ({"potential": [{"kind": "cosine", "amplitude": "big", "q": 1}]},
     "fields.potential[0].amplitude = 'big': expected a number (energy)"),
    ({"potential": [{"kind": "cosine", "amplitude": 1.0, "q": float("inf")}]},
     "fields.potential[0].q = inf: expected a finite number"),
    ({"potential": [{"kind": "harmonic", "stiffness": True, "x0": 0}]},
     "fields.potential[0].stiffness = True: expected a number"),
    ({"potential": [{"kind": "tabulated", "x": [0, 1, 1, 2], "V": [0, 1, 2, 3]}]},
     "fields.potential[0].x: expected strictly increasing positions, but x[2] = 1.0 <= x[1]"),
    ({"potential": [{"kind": "tabulated", "x": [0, 1, 2, 3], "V": [0, 1, 2]}]},
     "fields.potential[0].V: has 3 values for 4 positions x"),
    ({"potential": [{"kind": "tabulated", "file": "no_such_table.csv"}]},
     "fields.potential[0].file = 'no_such_table.csv': file"),
    ({"potential": [{"kind": "tabulated"}]}, "needs either 'file' or both 'x' and 'V'"),
    ({"potential": [{"kind": "tabulated", "x": [0, 1, 2], "V": [0, 1, 2]}]},
     "has 3 nodes; expected at least 4"),
    (_periodic_mismatch(), "fields.potential[0].periodic = true: expected V[-1] == V[0]"),
    ({"potential": [{"kind": "step", "amplitude": 1, "x0": 0, "width": 1, "omega": -2}]},
     "fields.potential[0].omega = -2.0: expected an angular frequency >= 0"),
    ({"potential": {"kind": "step"}}, "fields.potential = {'kind': 'step'}: expected an array"),
    ({"potential": [3]}, "fields.potential[0] = 3: expected a table [[fields.potential]]"),
    ({"E": [1, 2, 3]}, "fields.E = [1, 2, 3]: expected a number or a list of 1 or 2 numbers"),
    ({"E_ac": [1, "x"]}, "fields.E_ac[1] = 'x': expected a number"),
    ({"omega": -1}, "fields.omega = -1.0: expected an angular frequency >= 0"),
    ({"ramp_time": -0.5}, "fields.ramp_time = -0.5: expected a time >= 0"),
    ({"phase": float("nan")}, "fields.phase = nan: expected a finite number"),
    ({"Ee": 1.0}, "fields.Ee = 1.0: unknown key (did you mean 'E'?); expected one of the keys E, "),
])
def test_bad_tables_give_one_line_errors(table, fragment, tmp_path):
    with pytest.raises(ConfigError) as err:
        fields.potential_from_config(table, base_dir=tmp_path)
    assert fragment in str(err.value)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("content, fragment", [
    ("0,1\n1,2\nfoo,3\n", "cannot be read as a two-column table"),
    ("0,1,5\n1,2,5\n2,3,5\n3,4,5\n", "expected two columns (x, V)"),
    ("0,1\n1,nan\n2,3\n3,4\n", "expected finite numbers"),
    ("0,1\n2,2\n1,3\n3,4\n", "column x: expected strictly increasing positions"),
])
def test_bad_table_files_give_one_line_errors(content, fragment, tmp_path):
    (tmp_path / "bad.csv").write_text(content)
    with pytest.raises(ConfigError) as err:
        fields.potential_from_config({"potential": [{"kind": "tabulated", "file": "bad.csv"}]},
                                     base_dir=tmp_path)
    assert fragment in str(err.value) and "fields.potential[0].file = 'bad.csv'" in str(err.value)
    assert "\n" not in str(err.value)
