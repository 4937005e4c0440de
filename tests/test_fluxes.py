"""Finite-volume fluxes on nonuniform periodic cells: conservation and order.

MUSCL advection (upwind and local Lax-Friedrichs), face derivatives from cell averages for the
higher-derivative Moyal terms, and centred derivatives for transverse terms. Exact references
are analytic cell averages on a smoothly stretched periodic grid.
"""

import numpy as np
import pytest

from tests.tolerance import UNIT_ROUNDOFF, tolerance
from solvers.fluxes import (STENCIL_WIDTH, advection_divergence, centred_derivative,
                            centred_weights, face_values, face_weights, flux_divergence)


def periodic_cells(n, stretch=0.3):
    """Smoothly nonuniform cells on [0, 1): edges e(s) = s + stretch/(2 pi) sin(2 pi s)."""
    s = np.linspace(0, 1, n + 1)
    edges = s + stretch / (2 * np.pi) * np.sin(2 * np.pi * s)
    return edges


def ghosted(values, centres, widths, period):
    g = STENCIL_WIDTH
    idx = np.arange(-g, values.size + g)
    wrap, i = np.divmod(idx, values.size)
    return values[i], centres[i] + wrap * period, widths[i]


def observed_orders(errors):
    return np.log2(np.array(errors[:-1]) / np.array(errors[1:]))


def characteristic_time(s, modulation):
    """tau(s) inverting s = tau + modulation/(2 pi) sin(2 pi tau) (Newton; ds/dtau >= 1/2)."""
    tau = np.array(s, dtype=float)
    for _ in range(60):
        step = ((tau + modulation / (2 * np.pi) * np.sin(2 * np.pi * tau) - s)
                / (1 + modulation * np.cos(2 * np.pi * tau)))
        tau -= step
        if np.max(np.abs(step)) < 1e-15:
            break
    return tau


def advect(n, limiter, scheme="upwind", modulation=0.0, t_end=0.25):
    """Advect d_t f + d_s (a f) = 0 with SSP-RK3; return the L1 error of the cell averages.

    The velocity a(s) = 1 + modulation * cos(2 pi tau(s)) is ds/dtau for the map
    s = tau + modulation/(2 pi) sin(2 pi tau), so the flux a f is carried unchanged along
    tau = const + t and f ds = (a f) dtau. Starting from a f = sin(2 pi tau), the exact cell
    averages at time t are int sin(2 pi (tau - t)) dtau over the cell's tau-range, divided by
    its width. modulation = 0 is uniform advection of sin(2 pi (s - t)).
    """
    edges = periodic_cells(n)
    centres, widths = 0.5 * (edges[1:] + edges[:-1]), np.diff(edges)
    tau = characteristic_time(edges, modulation)
    velocity = 1 + modulation * np.cos(2 * np.pi * tau)  # at the n + 1 faces

    def average(t):
        return -np.diff(np.cos(2 * np.pi * (tau - t))) / (2 * np.pi * widths)

    u = average(0.0)
    dt = 0.4 * widths.min() / np.max(np.abs(velocity))
    steps = int(np.ceil(t_end / dt))
    dt = t_end / steps

    def rate(v):
        vg, c, w = ghosted(v, centres, widths, 1.0)
        return advection_divergence(vg, velocity, c, w, axis=0, limiter=limiter, scheme=scheme)

    mass0 = np.sum(u * widths)
    for _ in range(steps):
        u1 = u + dt * rate(u)
        u2 = 0.75 * u + 0.25 * (u1 + dt * rate(u1))
        u = u / 3 + 2 / 3 * (u2 + dt * rate(u2))
    assert abs(np.sum(u * widths) - mass0) < 1e-13  # conservative on the torus
    return np.sum(np.abs(u - average(t_end)) * widths)


@pytest.mark.parametrize("limiter, order", [("none", 1.95), ("mc", 1.95), ("vanleer", 1.95),
                                            ("minmod", 1.8)])
def test_muscl_convergence_order_on_nonuniform_cells(limiter, order):
    errors = [advect(n, limiter) for n in (64, 128, 256)]
    rates = observed_orders(errors)
    assert rates[-1] > order, (limiter, errors, rates)


@pytest.mark.parametrize("scheme", ["upwind", "llf"])
@pytest.mark.parametrize("limiter", ["mc", "vanleer"])
def test_variable_velocity_advection_is_second_order(scheme, limiter):
    errors = [advect(n, limiter, scheme=scheme, modulation=0.5) for n in (64, 128, 256)]
    rates = observed_orders(errors)
    assert rates[-1] > 1.9, (scheme, limiter, errors, rates)


def test_upwind_direction_follows_velocity_sign():
    # a step moving right must not change cells upstream (left) of it
    n = 32
    edges = np.linspace(0, 1, n + 1)
    c, w = 0.5 * (edges[1:] + edges[:-1]), np.diff(edges)
    u = np.where(c > 0.5, 0.0, 1.0)
    u[:4] = 0.0
    vg, cg, wg = ghosted(u, c, w, 1.0)
    for a in (1.0, -1.0):
        r = advection_divergence(vg, a, cg, wg, axis=0, limiter="minmod")
        changed = np.nonzero(np.abs(r) > 0)[0]
        # right-moving: the jumps at 4 and 16 move into cells 4.. and 16..; left-moving: into 3, 15
        expected = {1.0: {4, 16}, -1.0: {3, 15}}[a]
        assert set(changed) == expected


def test_llf_equals_upwind_for_constant_velocity():
    # with alpha = |a| the Rusanov flux a (L + R)/2 - |a| (R - L)/2 is the upwind state times a
    edges = periodic_cells(40)
    c, w = 0.5 * (edges[1:] + edges[:-1]), np.diff(edges)
    rng = np.random.default_rng(1)
    f = rng.normal(size=(3, 40, 5))
    for a in (0.7, -1.3):
        fg = np.concatenate([f[:, -2:], f, f[:, :2]], axis=1)
        _, cg, wg = ghosted(c, c, w, 1.0)
        llf = advection_divergence(fg, a, cg, wg, axis=1, limiter="mc", scheme="llf")
        upwind = advection_divergence(fg, a, cg, wg, axis=1, limiter="mc")
        # equal in exact arithmetic; each face flux rounds a few times on face states
        # |L|, |R| <= 3 max|f| (MC-limited MUSCL), and the divergence divides by the width
        face_floor = 6 * UNIT_ROUNDOFF * abs(a) * 2 * 3 * np.max(np.abs(f))
        assert np.max(np.abs(llf - upwind)) <= tolerance(2 * face_floor / w.min())


def test_llf_dissipation_uses_largest_speed_of_neighbouring_faces():
    # piecewise-constant states at local extrema everywhere: every limited slope is zero, so
    # the face states are the cell values and the flux can be written out by hand
    n = 8
    edges = periodic_cells(n)
    c, w = 0.5 * (edges[1:] + edges[:-1]), np.diff(edges)
    f = np.array([0.0, 1.0, -1.0, 2.0, 0.5, 3.0, -2.0, 1.5])
    a = np.array([0.5, -0.2, 0.1, 1.0, -3.0, 0.3, 0.2, -0.4, 0.6])  # faces 0..n
    fg, cg, wg = ghosted(f, c, w, 1.0)
    flux = np.empty(n + 1)
    for r in range(n + 1):  # face r sits between ghosted cells r + 1 and r + 2
        left, right = fg[r + 1], fg[r + 2]
        alpha = max(abs(a[q]) for q in (max(r - 1, 0), r, min(r + 1, n)))
        flux[r] = 0.5 * a[r] * (left + right) - 0.5 * alpha * (right - left)
    expected = -(flux[1:] - flux[:-1]) / w
    rate = advection_divergence(fg, a, cg, wg, axis=0, limiter="minmod", scheme="llf")
    assert np.allclose(rate, expected, rtol=0, atol=1e-13)


def test_unknown_scheme_and_limiter_are_rejected():
    edges = periodic_cells(8)
    c, w = 0.5 * (edges[1:] + edges[:-1]), np.diff(edges)
    fg, cg, wg = ghosted(np.ones(8), c, w, 1.0)
    with pytest.raises(ValueError, match=r"scheme = 'roe', expected one of \['llf', 'upwind'\]"):
        advection_divergence(fg, 1.0, cg, wg, axis=0, scheme="roe")
    with pytest.raises(ValueError, match="limiter = 'superbee', expected one of"):
        advection_divergence(fg, 1.0, cg, wg, axis=0, limiter="superbee")


# --- face derivatives for the higher-derivative (dispersive) terms ---

#: f(s) = Re sum_q A_q exp(2 pi i q s): smooth, periodic, all cell averages analytic
MODES = {1: 1.0 + 0.5j, 2: -0.4 + 0.3j, 3: 0.2 - 0.25j}


def fourier_derivative(s, order):
    return sum(np.real(amp * (2j * np.pi * q) ** order * np.exp(2j * np.pi * q * s))
               for q, amp in MODES.items())


def fourier_average(lower, upper):
    return sum(np.real(amp * (np.exp(2j * np.pi * q * upper) - np.exp(2j * np.pi * q * lower))
                       / (2j * np.pi * q)) for q, amp in MODES.items()) / (upper - lower)


def ghosted_geometry(n):
    edges = periodic_cells(n)
    centres, widths = 0.5 * (edges[1:] + edges[:-1]), np.diff(edges)
    fbar = fourier_average(edges[:-1], edges[1:])
    return edges, widths, *ghosted(fbar, centres, widths, 1.0)


@pytest.mark.parametrize("order", [0, 1, 2, 3])
def test_face_weights_are_exact_for_cubics(order):
    edges = periodic_cells(16)
    centres, widths = 0.5 * (edges[1:] + edges[:-1]), np.diff(edges)
    _, cg, wg = ghosted(centres, centres, widths, 1.0)
    lower, upper = cg - wg / 2, cg + wg / 2  # ghost cells beyond the seam extend the axis
    coefficients = np.array([0.3, -1.2, 2.0, 1.7])  # p(s) = sum_q a_q (s - 0.4)^q
    primitive = np.polynomial.Polynomial(coefficients).integ()
    fbar = (primitive(upper - 0.4) - primitive(lower - 0.4)) / wg
    exact = np.polynomial.Polynomial(coefficients).deriv(order)(edges - 0.4)
    weights = face_weights(cg, wg, order)
    approx = face_values(fbar, weights, axis=0)
    # The weights (~ width^-order) amplify the rounding of the cell averages, which is that
    # of the primitive's values (Horner: a few roundings of sum |a_q||s|^q) over the width:
    # the error is all rounding, so the bound is the tolerance (no truncation error).
    magnitude = np.polynomial.Polynomial(np.abs(primitive.coef))
    fbar_error = 8 * UNIT_ROUNDOFF * (magnitude(np.abs(upper - 0.4))
                                      + magnitude(np.abs(lower - 0.4))) / wg
    floor = face_values(np.abs(fbar), np.abs(weights), axis=0) * 2 * weights.shape[-1] \
        * UNIT_ROUNDOFF + face_values(fbar_error, np.abs(weights), axis=0)
    assert np.all(np.abs(approx - exact) <= tolerance(floor)), order
    assert np.max(tolerance(floor)) < 1e-8 * np.max(np.abs(exact)), order  # still exact


@pytest.mark.parametrize("order", [1, 2, 3])
def test_dispersive_flux_divergence_is_second_order(order):
    # cell average of d_s (c d_s^order f) is exactly [c d_s^order f] at the edges / width
    c = lambda s: 1 + 0.5 * np.cos(2 * np.pi * s + 0.3)  # noqa: E731 smooth coefficient
    errors = []
    for n in (32, 64, 128, 256):
        edges, widths, fg, cg, wg = ghosted_geometry(n)
        flux = c(edges) * face_values(fg, face_weights(cg, wg, order), axis=0)
        rate = flux_divergence(flux, widths, axis=0)
        exact_flux = c(edges) * fourier_derivative(edges, order)
        exact = -np.diff(exact_flux) / widths
        errors.append(np.sum(np.abs(rate - exact) * widths))
    rates = observed_orders(errors)
    assert rates[-1] >= 1.9, (order, errors, rates)


def test_centred_derivative_is_second_order():
    errors = []
    for n in (32, 64, 128, 256):
        edges, widths, fg, cg, _ = ghosted_geometry(n)
        slope = centred_derivative(fg, centred_weights(cg), axis=0)
        errors.append(np.max(np.abs(slope - fourier_derivative(cg[2:-2], 1))))
    rates = observed_orders(errors)
    assert rates[-1] >= 1.9, (errors, rates)


def test_face_derivatives_act_along_the_requested_axis():
    # 1D data scaled per dof and laid along axis 1 of a (dof, n, other) block
    _, _, fg, cg, wg = ghosted_geometry(24)
    scale = np.array([1.0, -2.0])[:, None, None]
    block = scale * np.broadcast_to(fg[None, :, None], (2, fg.size, 3))
    for weights, apply in ((face_weights(cg, wg, 2), face_values),
                           (centred_weights(cg), centred_derivative)):
        line = apply(fg, weights, axis=0)
        assert np.allclose(apply(block, weights, axis=1), scale * line[None, :, None],
                           rtol=1e-13, atol=0)
    with pytest.raises(ValueError, match="order = 4, expected an integer 0 .. 3"):
        face_weights(cg, wg, 4)
