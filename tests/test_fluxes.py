"""MUSCL finite-volume advection on nonuniform periodic cells: conservation and order."""

import numpy as np
import pytest

from solvers.fluxes import STENCIL_WIDTH, advection_divergence


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


def advect(n, limiter, t_end=0.25, a=1.0):
    """Advect sin^2-like data once with SSP-RK3; return the L1 error of the cell averages."""
    edges = periodic_cells(n)
    centres, widths = 0.5 * (edges[1:] + edges[:-1]), np.diff(edges)
    average = lambda t: (  # noqa: E731 exact cell averages of u = sin(2 pi (x - a t))
        -np.diff(np.cos(2 * np.pi * (edges - a * t))) / (2 * np.pi * widths))
    u = average(0.0)
    dt = 0.4 * widths.min() / abs(a)
    steps = int(np.ceil(t_end / dt))
    dt = t_end / steps

    def rate(v):
        vg, c, w = ghosted(v, centres, widths, 1.0)
        return advection_divergence(vg, a, c, w, axis=0, limiter=limiter)

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
    rates = np.log2(np.array(errors[:-1]) / np.array(errors[1:]))
    assert rates[-1] > order, (limiter, errors, rates)


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
