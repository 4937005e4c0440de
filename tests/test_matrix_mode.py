"""Matrix (Wigner) mode: packing, the discrete right-hand side against the generated terms,
the scalar limit, the exact local (interband) part, observables, and Landau-Zener transfer.

References are independent of the operator: the generated term functions applied to exactly
differentiated analytic data, scipy's matrix exponential and ODE integrator, Hellmann-Feynman
band velocities, and the Landau-Zener formula P = exp(-pi m^2 / (v E)) (hbar = 1).
"""

import math

import numpy as np
import pytest
from scipy.integrate import solve_ivp
from scipy.linalg import expm

from moyal._generated import matrix_mode_1d as terms
from moyal._generated import scalar_wigner_1d as scalar
from moyal.models import get_model
from solvers.fluxes import (STENCIL_WIDTH, advection_divergence, face_values, face_weights,
                            flux_divergence)
from solvers.grid import Axis
from solvers.matrix_mode import (MatrixModeOperator, hamiltonian_on_cells, matrix_size, pack,
                                 unpack)

g = STENCIL_WIDTH
PAULI = np.array([np.eye(2), [[0, 1], [1, 0]], [[0, -1j], [1j, 0]], [[1, 0], [0, -1]]])


def stretched_axis(name, lo, hi, n, boundary="periodic", stretch=0.3):
    """Smoothly nonuniform cells: edges lo + (hi - lo) (s + stretch/(2 pi) sin(2 pi s))."""
    s = np.linspace(0, 1, n + 1)
    return Axis(name, lo + (hi - lo) * (s + stretch / (2 * np.pi) * np.sin(2 * np.pi * s)),
                boundary)


def random_axis(name, lo, hi, n, rng):
    """Open axis with randomly sized cells (widths vary by a factor up to 3, not smoothly)."""
    widths = rng.uniform(1.0, 3.0, n)
    return Axis(name, lo + (hi - lo) * np.concatenate([[0], np.cumsum(widths)]) / widths.sum(),
                "outflow")


def ghosted(axis):
    return axis.extended(-g, axis.n + g)


def random_hermitian(rng, shape, n=2):
    a = rng.normal(size=shape + (n, n)) + 1j * rng.normal(size=shape + (n, n))
    return a + np.swapaxes(a.conj(), -1, -2)


def observed_orders(errors):
    return np.log2(np.array(errors[:-1]) / np.array(errors[1:]))


# ------------------------------------------------------------------------------------------
# packing
# ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("n", [1, 2, 3, 4])
def test_pack_unpack_are_exact_inverses(n):
    rng = np.random.default_rng(n)
    F = random_hermitian(rng, (5, 3), n)  # A + A^dag: exactly Hermitian, real diagonal
    u = pack(F)
    assert u.shape == (n * n, 5, 3) and u.dtype == float
    assert np.array_equal(unpack(u), F)
    v = rng.normal(size=(n * n, 4, 2))
    assert np.array_equal(pack(unpack(v)), v)
    # the documented order: diagonal, then (Re, Im) of each upper pair row by row
    if n == 3:
        cell = F[0, 0]
        assert np.array_equal(u[:, 0, 0], [cell[0, 0].real, cell[1, 1].real, cell[2, 2].real,
                                           cell[0, 1].real, cell[0, 1].imag, cell[0, 2].real,
                                           cell[0, 2].imag, cell[1, 2].real, cell[1, 2].imag])
    with pytest.raises(ValueError, match="not a square"):
        matrix_size(5)


# ------------------------------------------------------------------------------------------
# explicit (transport) terms against the generated functions
# ------------------------------------------------------------------------------------------

#: F(x, k) = sum_i a_i sigma_i, a_i = c_i + A_i sin(2 pi x + phi_i) cos(k + psi_i)
SMOOTH = np.array([[0.5, 1.0, 0.2, -0.3], [0.1, 0.7, 1.1, 0.4],
                   [-0.2, -0.6, 2.0, 0.9], [0.3, 0.4, -0.5, 1.7]])  # rows: c, A, phi, psi


def smooth_F(x, k, dx=0, dk=0, x_period=1.0, k_period=2 * np.pi):
    """d_x^dx d_k^dk F on the outer grid of x and k, shape (nx, nk, 2, 2)."""
    c, amplitude, phi, psi = SMOOTH
    qx, qk = 2 * np.pi / x_period, 2 * np.pi / k_period
    a = (amplitude * qx ** dx * qk ** dk
         * np.sin(qx * x[:, None, None] + phi + dx * np.pi / 2)
         * np.cos(qk * k[None, :, None] + psi + dk * np.pi / 2))
    if dx == dk == 0:
        a = a + c
    return np.einsum("xki,iab->xkab", a, PAULI)


def potential(x, V0=0.8):
    """V = V0 cos(2 pi x): the explicit_rate arguments and the exact U_x, U_xxx (U = -V)."""
    q = 2 * np.pi
    V_dx, V_dxxx = -q * V0 * np.sin(q * x), q ** 3 * V0 * np.sin(q * x)
    return {"V_dx": V_dx, "V_dxxx": V_dxxx}, -V_dx, -V_dxxx


def exact_explicit_rate(model, x, k, hbar_order=2):
    """Sum of the generated terms (all but the commutator) on exact derivatives at (x, k)."""
    H = hamiltonian_on_cells(model, [k])
    _, U_x, U_xxx = potential(x)
    rate = terms.H0_anticommutator_dkx_F_dx(H[(0,)], smooth_F(x, k, dx=1))
    rate += terms.U_scalar_dx_F_dkx(U_x[:, None], smooth_F(x, k, dk=1))
    if hbar_order >= 1:
        rate += terms.H0_commutator_dkxkx_F_dxx(H[(0, 0)], smooth_F(x, k, dx=2))
    if hbar_order >= 2:
        rate += terms.H0_anticommutator_dkxkxkx_F_dxxx(H[(0, 0, 0)], smooth_F(x, k, dx=3))
        rate += terms.U_scalar_dxxx_F_dkxkxkx(U_xxx[:, None], smooth_F(x, k, dk=3))
    return rate


@pytest.mark.parametrize("limiter", ["none", "vanleer"])
def test_phase_space_terms_converge_at_second_order_on_nonuniform_cells(limiter):
    # (x, k) torus, both axes smoothly stretched; Rice-Mele H0 has non-commuting d_k^n H0
    model = get_model("rice_mele")
    max_errors, l1_errors = [], []
    for n in (48, 96, 192):
        x_axis = stretched_axis("x", 0.0, 1.0, n)
        k_axis = stretched_axis("kx", -np.pi, np.pi, n, stretch=-0.25)
        (xc, wx), (kc, wk) = ghosted(x_axis), ghosted(k_axis)
        op = MatrixModeOperator(hamiltonian_on_cells(model, [kc]), [xc, kc], [wx, wk],
                                has_x=True, hbar_order=2, limiter=limiter)
        V_derivs = potential(xc[g:-g])[0]
        rate = op.explicit_rate(pack(smooth_F(xc, kc)), V_derivs)
        error = np.abs(rate - pack(exact_explicit_rate(model, xc[g:-g], kc[g:-g])))
        measure = np.outer(wx[g:-g], wk[g:-g])
        max_errors.append(error.max())
        l1_errors.append(np.sum(error * measure))
        # conservative: the phase-space integral of tr F has zero rate on the torus
        assert abs(np.sum(op.density(rate) * measure)) < 1e-12 * np.sum(np.abs(rate[:2]))
    l1_orders = observed_orders(l1_errors)
    assert l1_orders[-1] >= 1.9, (l1_errors, l1_orders)
    if limiter == "none":  # limiters clip at extrema, which caps the max-norm order
        assert observed_orders(max_errors)[-1] >= 1.9, max_errors


def polynomial_averages(coefficients, x_axis, k_axis, dx=0, dk=0):
    """Cell averages of d_x^dx d_k^dk sum_pq C_pq x^p k^q on the ghosted cells (nx, nk, N, N)."""
    def averages(axis, order):
        centres, widths = ghosted(axis)
        lower, upper = centres - widths / 2, centres + widths / 2
        degree = coefficients.shape[0]
        out = np.zeros((degree, centres.size))
        for p in range(order, degree):
            q = p - order  # d^order x^p = p!/q! x^q, averaged exactly over [a, b]
            out[p] = (math.factorial(p) / math.factorial(q)
                      * (upper ** (q + 1) - lower ** (q + 1)) / ((q + 1) * widths))
        return out

    return np.einsum("pqab,px,qk->xkab", coefficients, averages(x_axis, dx), averages(k_axis, dk))


def test_discretisation_is_exact_for_polynomial_data_on_irregular_cells():
    # MUSCL is exact for linear cell averages, the central face fluxes for cubic ones, on any
    # cells; so each term equals its generated function applied to exact averaged derivatives
    rng = np.random.default_rng(7)
    model = get_model("rice_mele")
    x_axis, k_axis = random_axis("x", -1.0, 1.0, 9, rng), random_axis("kx", -1.0, 1.5, 8, rng)
    (xc, wx), (kc, wk) = ghosted(x_axis), ghosted(k_axis)
    H = hamiltonian_on_cells(model, [kc])
    V_derivs = {"V_dx": rng.normal(size=9), "V_dxxx": rng.normal(size=9)}
    U_x, U_xxx = -V_derivs["V_dx"][:, None], -V_derivs["V_dxxx"][:, None]
    ops = {order: MatrixModeOperator(H, [xc, kc], [wx, wk], has_x=True, hbar_order=order)
           for order in (0, 1, 2)}
    own = (slice(g, -g), slice(g, -g))
    Hown = {alpha: value[g:-g] for alpha, value in H.items()}

    linear = random_hermitian(rng, (2, 2))
    rate = ops[0].explicit_rate(pack(polynomial_averages(linear, x_axis, k_axis)), V_derivs)
    expected = (terms.H0_anticommutator_dkx_F_dx(
        Hown[(0,)], polynomial_averages(linear, x_axis, k_axis, dx=1)[own])
        + terms.U_scalar_dx_F_dkx(U_x, polynomial_averages(linear, x_axis, k_axis, dk=1)[own]))
    assert np.allclose(rate, pack(expected), rtol=0, atol=1e-11 * np.abs(rate).max())

    cubic = random_hermitian(rng, (4, 4))
    u = pack(polynomial_averages(cubic, x_axis, k_axis))
    rates = {order: op.explicit_rate(u, V_derivs) for order, op in ops.items()}
    hbar1 = terms.H0_commutator_dkxkx_F_dxx(
        Hown[(0, 0)], polynomial_averages(cubic, x_axis, k_axis, dx=2)[own])
    hbar2 = (terms.H0_anticommutator_dkxkxkx_F_dxxx(
        Hown[(0, 0, 0)], polynomial_averages(cubic, x_axis, k_axis, dx=3)[own])
        + terms.U_scalar_dxxx_F_dkxkxkx(U_xxx, polynomial_averages(cubic, x_axis, k_axis,
                                                                   dk=3)[own]))
    scale = np.abs(rates[2]).max()
    assert np.allclose(rates[1] - rates[0], pack(hbar1), rtol=0, atol=1e-11 * scale)
    assert np.allclose(rates[2] - rates[1], pack(hbar2), rtol=0, atol=1e-11 * scale)
    assert ops[0].potential_names == ("V_dx",)
    assert ops[2].potential_names == ("V_dx", "V_dxxx")


def test_one_band_reduces_to_the_scalar_wigner_equation():
    # N = 1: commutators vanish and the anticommutators double; the result must equal an
    # independent scalar discretisation with the generated scalar-Wigner coefficients
    model = get_model("chain", t=0.7)
    x_axis, k_axis = stretched_axis("x", 0.0, 1.0, 20), stretched_axis("kx", -np.pi, np.pi, 18)
    (xc, wx), (kc, wk) = ghosted(x_axis), ghosted(k_axis)
    H = hamiltonian_on_cells(model, [kc])
    op = MatrixModeOperator(H, [xc, kc], [wx, wk], has_x=True, hbar_order=2, limiter="mc")
    f = np.random.default_rng(3).normal(size=(1, xc.size, kc.size))
    V_derivs, U_x, U_xxx = potential(xc[g:-g])
    eps = {order: H[(0,) * order][g:-g, 0, 0].real for order in (1, 3)}

    rate = advection_divergence(f[:, :, g:-g], -scalar.hbar0_coefficient_x(eps[1])[None, None],
                                xc, wx, axis=1, limiter="mc")
    rate += advection_divergence(f[:, g:-g], -scalar.hbar0_coefficient_kx(U_x)[None, None],
                                 kc, wk, axis=2, limiter="mc")
    flux_x = (scalar.hbar2_coefficient_xxx(eps[3])
              * face_values(f[:, :, g:-g], face_weights(xc, wx, 2), axis=1))
    rate += flux_divergence(-flux_x, wx[g:-g], axis=1)
    flux_k = (scalar.hbar2_coefficient_kxkxkx(U_xxx)[:, None]
              * face_values(f[:, g:-g], face_weights(kc, wk, 2), axis=2))
    rate += flux_divergence(-flux_k, wk[g:-g], axis=2)

    assert np.allclose(op.explicit_rate(f, V_derivs), rate, rtol=0, atol=1e-12 * np.abs(rate).max())


def test_uniform_field_in_two_dimensional_k_space_translates_F():
    # (kx, ky) without x: d_t F = E . grad_k F (dk/dt = -E), second order on stretched cells
    model = get_model("tilted_dirac")
    E = (0.6, -1.1)
    errors = []
    for n in (24, 48, 96):
        (kxc, wkx), (kyc, wky) = (ghosted(stretched_axis(name, -3.0, 3.0, n, stretch=s))
                                  for name, s in (("kx", 0.3), ("ky", -0.2)))
        op = MatrixModeOperator(hamiltonian_on_cells(model, [kxc, kyc], 1), [kxc, kyc],
                                [wkx, wky], has_x=False, limiter="none")
        F = smooth_F(kxc, kyc, x_period=6.0, k_period=6.0)
        rate = op.explicit_rate(pack(F), {"V_dx": -E[0], "V_dy": -E[1]})
        own = (slice(g, -g), slice(g, -g))
        expected = (terms.U_scalar_dx_F_dkx(np.asarray(E[0]), smooth_F(
            kxc, kyc, dx=1, x_period=6.0, k_period=6.0)[own])
            + terms.U_scalar_dx_F_dkx(np.asarray(E[1]), smooth_F(
                kxc, kyc, dk=1, x_period=6.0, k_period=6.0)[own]))
        errors.append(np.abs(rate - pack(expected)).max())
    assert observed_orders(errors)[-1] >= 1.9, errors
    assert op.potential_names == ("V_dx", "V_dy")


def test_x_with_two_k_directions_acts_slice_by_slice_in_ky():
    # (x, kx, ky) with F independent of ky: every ky slice evolves like an (x, kx) problem
    # with H0(kx, ky) at that ky (the V_dy force then advects a constant: no contribution)
    model = get_model("tilted_dirac")
    (xc, wx), (kxc, wkx), (kyc, wky) = (ghosted(stretched_axis(name, lo, hi, n))
                                        for name, lo, hi, n in (("x", 0.0, 1.0, 10),
                                                                ("kx", -3.0, 3.0, 9),
                                                                ("ky", -3.0, 3.0, 7)))
    H = hamiltonian_on_cells(model, [kxc, kyc])
    V_derivs = {**potential(xc[g:-g])[0], "V_dy": 0.4}
    F = smooth_F(xc, kxc, x_period=1.0, k_period=6.0)
    u = pack(np.broadcast_to(F[:, :, None], F.shape[:2] + (kyc.size, 2, 2)))
    rate = MatrixModeOperator(H, [xc, kxc, kyc], [wx, wkx, wky], has_x=True).explicit_rate(
        u, V_derivs)
    for j in range(g, kyc.size - g):
        sliced = {alpha: value[:, j] for alpha, value in H.items() if 1 not in alpha}
        op = MatrixModeOperator(sliced, [xc, kxc], [wx, wkx], has_x=True)
        assert np.allclose(rate[..., j - g], op.explicit_rate(pack(F), V_derivs), rtol=0,
                           atol=1e-12 * np.abs(rate).max())


# ------------------------------------------------------------------------------------------
# local part: interband commutator and relaxation
# ------------------------------------------------------------------------------------------

def local_operator(n_k=6, has_x=False):
    model = get_model("rice_mele")
    kc, wk = ghosted(Axis.uniform("kx", -np.pi, np.pi, n_k))
    axes = ([ghosted(Axis.uniform("x", 0.0, 1.0, 5))] if has_x else []) + [(kc, wk)]
    return MatrixModeOperator(hamiltonian_on_cells(model, [kc]), [a[0] for a in axes],
                              [a[1] for a in axes], has_x=has_x), model, kc[g:-g]


RATES = np.array([[0.5, 2.0], [2.0, 0.25]])  # band basis: 1/tau per band, 1/tau_inter


def test_local_rate_is_the_generated_commutator_and_solve_local_inverts_it():
    op, model, k = local_operator(has_x=True)
    rng = np.random.default_rng(11)
    u = rng.normal(size=(4, 5, k.size))
    H0 = model.evaluate(k[None], 0)[()]
    assert np.allclose(op.local_rate(u), pack(terms.H0_commutator_d0_F_d0(H0, unpack(u))),
                       rtol=0, atol=1e-13)
    rhs, f_eq = rng.normal(size=u.shape), rng.normal(size=u.shape)
    for relaxation in (None, (RATES, None), (RATES, f_eq)):
        X = op.solve_local(0.7, rhs, relaxation)
        assert np.allclose(0.7 * X - op.local_rate(X, relaxation), rhs, rtol=0, atol=1e-12)


def test_local_propagator_is_exact():
    op, model, k = local_operator()
    rng = np.random.default_rng(5)
    u0 = rng.normal(size=(4, k.size))
    dt = 3.7  # many gap periods: exactness, not a small-step approximation
    H0 = model.evaluate(k[None], 0)[()]
    rotation = np.array([expm(-1j * h * dt) for h in H0])
    expected = rotation @ unpack(u0) @ np.swapaxes(rotation.conj(), -1, -2)
    assert np.allclose(op.propagate_local(u0, dt), pack(expected), rtol=0, atol=1e-12)

    f_eq = rng.normal(size=u0.shape)
    relaxation = (RATES, f_eq)
    flow = solve_ivp(lambda t, y: op.local_rate(y.reshape(u0.shape), relaxation).ravel(),
                     (0.0, dt), u0.ravel(), method="DOP853", rtol=1e-12, atol=1e-13)
    assert np.allclose(op.propagate_local(u0, dt, relaxation), flow.y[:, -1].reshape(u0.shape),
                       rtol=0, atol=1e-9)


# ------------------------------------------------------------------------------------------
# observables
# ------------------------------------------------------------------------------------------

def test_band_projectors_carry_band_velocity_and_population():
    # Hellmann-Feynman: tr(d_k H0 P_n) = d eps_n / dk, analytic for both models below
    for name, dims in (("landau_zener", 1), ("tilted_dirac", 2)):
        model = get_model(name)
        cells = [ghosted(stretched_axis(a, -2.0, 2.5, 11 + d))
                 for d, a in enumerate(["kx", "ky"][:dims])]
        op = MatrixModeOperator(hamiltonian_on_cells(model, [c for c, _ in cells], 1),
                                [c for c, _ in cells], [w for _, w in cells], has_x=False)
        k = np.meshgrid(*[c[g:-g] for c, _ in cells], indexing="ij")
        p = model.parameters
        if name == "landau_zener":
            radius = np.hypot(p["v"] * k[0], p["m"])
            slopes = [p["v"] ** 2 * k[0] / radius]
            tilt = [0.0]
        else:
            radius = np.sqrt(p["m"] ** 2 + p["v"] ** 2 * (k[0] ** 2 + k[1] ** 2))
            slopes = [p["v"] ** 2 * k[0] / radius, p["v"] ** 2 * k[1] / radius]
            tilt = [p["w"], 0.0]
        _, vectors = np.linalg.eigh(model.evaluate(np.stack([a.ravel() for a in k]), 0)[()])
        vectors = vectors.reshape(k[0].shape + (2, 2))
        for band, sign in ((0, -1), (1, 1)):
            projector = vectors[..., :, band, None] * vectors[..., None, :, band].conj()
            u = pack(projector * 2.5)
            assert np.allclose(op.density(u), 2.5, rtol=0, atol=1e-13)
            for axis in range(dims):
                padded = np.pad(u, ((0, 0),) + ((g, g),) * dims)  # ghosted block
                assert np.allclose(op.current(padded, axis),
                                   2.5 * (tilt[axis] + sign * slopes[axis]),
                                   rtol=0, atol=1e-12)
            expected = np.zeros((2,) + k[0].shape)
            expected[band] = 2.5
            assert np.allclose(op.band_populations(u), expected, rtol=0, atol=1e-12)


# ------------------------------------------------------------------------------------------
# Landau-Zener
# ------------------------------------------------------------------------------------------

def landau_zener_transfer(ratio, cells_per_wavelength=7.0, start=12.0, width=1.5, cfl=0.5,
                          limiter="mc"):
    """Upper-band fraction after a lower-band packet has crossed the gap of v k sz + m sx.

    Units v = E = hbar = 1, m = sqrt(ratio), so ratio = m^2/(v E). The initial state is the
    lower-band projector times exp(-(k - start)^2 / (2 width^2)); the uniform field moves it
    (dk/dt = -E) to k = -start. Strang splitting: the exact local propagator for
    -(i/hbar)[H0, F] (half steps) around an SSP-RK3 step of the explicit k advection, with
    outflow ghosts (edge cell copied).

    Resolution: after the crossing the interband coherence has the phase
    (2/E) int_0^k eps dk', fixed in the lab frame, so it oscillates in k with wavelength
    pi E / eps(k), shortest at the domain ends |k| = K; dk is that wavelength over
    ``cells_per_wavelength``.

    Returns
    -------
    (fraction, n_cells, n_steps)
    """
    E, m = 1.0, math.sqrt(ratio)
    model = get_model("landau_zener", v=1.0, m=m)
    half = start + 6 * width
    dk = math.pi * E / math.hypot(half, m) / cells_per_wavelength
    n = math.ceil(2 * half / dk)
    kc, wk = ghosted(Axis.uniform("kx", -half, half, n, boundary="outflow"))
    op = MatrixModeOperator(hamiltonian_on_cells(model, [kc], 1), [kc], [wk], has_x=False,
                            hbar_order=0, limiter=limiter)
    k = kc[g:-g]
    _, vectors = np.linalg.eigh(model.evaluate(k[None], 0)[()])
    lower = vectors[:, :, 0]
    window = np.exp(-0.5 * ((k - start) / width) ** 2)
    u = pack(lower[:, :, None] * lower[:, None, :].conj() * window[:, None, None])
    t_end = 2 * start / E
    steps = math.ceil(t_end * E / (cfl * wk.min()))
    dt = t_end / steps

    def rate(v):
        return op.explicit_rate(np.pad(v, ((0, 0), (g, g)), mode="edge"), {"V_dx": -E})

    u = op.propagate_local(u, dt / 2)
    for step in range(steps):
        u1 = u + dt * rate(u)
        u2 = 0.75 * u + 0.25 * (u1 + dt * rate(u1))
        u = u / 3 + 2 / 3 * (u2 + dt * rate(u2))
        u = op.propagate_local(u, dt if step < steps - 1 else dt / 2)
    populations = op.band_populations(u) @ wk[g:-g]
    return populations[1] / populations.sum(), n, steps


def landau_zener_sweep(ratios=(0.1, 0.5, 1.0, 3.0), **options):
    """``{ratio: (measured, exp(-pi ratio), n_cells, n_steps)}`` for a table of m^2/(v E)."""
    out = {}
    for ratio in ratios:
        fraction, n, steps = landau_zener_transfer(ratio, **options)
        out[ratio] = (fraction, math.exp(-math.pi * ratio), n, steps)
    return out


@pytest.mark.parametrize("ratio", [0.1, 0.5, 1.0, 3.0])
def test_landau_zener_transfer_probability(ratio):
    fraction, _, _ = landau_zener_transfer(ratio)
    expected = math.exp(-math.pi * ratio)
    assert abs(fraction / expected - 1) < 0.02, (ratio, fraction, expected)
