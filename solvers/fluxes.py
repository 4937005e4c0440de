"""Conservative finite-volume fluxes: pure functions on numpy arrays.

Advection ``d_t f + d_s (a f) = 0`` along one phase-space axis ``s`` with MUSCL reconstruction
on nonuniform cells (slopes are divided differences between cell centres) and the upwind flux,
which for a face velocity ``a`` is exact Godunov for linear advection. The update is
``d_t f_i = -(F_{i+1/2} - F_{i-1/2}) / w_i``, so the phase-space integral of ``f`` changes only
through boundary fluxes (exactly zero on the periodic torus).
"""

from __future__ import annotations

import numpy as np

#: ghost cells each side that :func:`advection_divergence` needs
STENCIL_WIDTH = 2


def _minmod(a, b):
    return np.where(a * b > 0, np.sign(a) * np.minimum(np.abs(a), np.abs(b)), 0.0)


def _vanleer(a, b):
    prod = a * b
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(prod > 0, 2 * prod / (a + b), 0.0)


def _mc(a, b):
    central = 0.5 * (a + b)
    bound = 2 * np.minimum(np.abs(a), np.abs(b))
    return np.where(a * b > 0, np.sign(central) * np.minimum(np.abs(central), bound), 0.0)


def _central(a, b):
    return 0.5 * (a + b)


LIMITERS = {"minmod": _minmod, "vanleer": _vanleer, "mc": _mc, "none": _central}


def advection_divergence(f, velocity, centres, widths, axis, limiter="vanleer"):
    """``-d_s (a f)`` for the owned cells, from a ghosted block.

    Parameters
    ----------
    f : ndarray
        Ghosted block; along ``axis`` it has ``m + 2 * STENCIL_WIDTH`` cells.
    velocity : ndarray or float
        Phase-space velocity ``a`` at the ``m + 1`` faces of the owned cells along ``axis``
        (face axis first after moving ``axis`` to the front), broadcastable against ``f``
        with ``axis`` moved to position 0 and the other axes restricted to the owned cells.
    centres, widths : ndarray, shape (m + 2 * STENCIL_WIDTH,)
        Cell centres and widths of the ghosted cells along ``axis`` (periodic seams already
        unwrapped, see :meth:`solvers.grid.Axis.extended`).
    axis : int
        Array axis of the advection direction.
    limiter : str
        One of :data:`LIMITERS`.

    Returns
    -------
    ndarray
        ``d_t f`` from this term on the cells ``STENCIL_WIDTH .. STENCIL_WIDTH + m - 1`` along
        ``axis``; other axes keep the extent of ``f``.
    """
    g = STENCIL_WIDTH
    u = np.moveaxis(f, axis, 0)
    m = u.shape[0] - 2 * g
    expand = (slice(None),) + (None,) * (u.ndim - 1)
    gradient = np.diff(u, axis=0) / np.diff(centres)[expand]
    slope = LIMITERS[limiter](gradient[:-1], gradient[1:])  # cells 1 .. m + 2g - 2
    half = 0.5 * widths[expand]
    # faces i + 1/2 for i = g-1 .. g+m-1: left state from cell i, right state from cell i+1
    left = u[g - 1:g + m] + slope[g - 2:g + m - 1] * half[g - 1:g + m]
    right = u[g:g + m + 1] - slope[g - 1:g + m] * half[g:g + m + 1]
    flux = np.where(velocity > 0, velocity * left, velocity * right)
    rate = -(flux[1:] - flux[:-1]) / widths[expand][g:g + m]
    return np.moveaxis(rate, 0, axis)
