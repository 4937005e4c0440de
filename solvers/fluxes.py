"""Conservative finite-volume fluxes: pure functions on numpy arrays.

Advection ``d_t f + d_s (a f) = 0`` along one phase-space axis ``s`` uses MUSCL reconstruction
on nonuniform cells (slopes are divided differences between cell centres) and either the
upwind flux, which for a face velocity ``a`` is exact Godunov for linear advection, or the
local Lax-Friedrichs (Rusanov) flux, which stays stable where ``a`` changes sign across a cell.

The higher-derivative terms of the Moyal expansion (``hbar^2`` dispersion, quantum-metric
terms) are written as fluxes ``J = c * d_s^n f`` evaluated at faces from the cubic whose cell
averages match four neighbouring cells (:func:`face_weights`, :func:`face_values`); transverse
derivatives inside a flux use :func:`centred_derivative`.

Every update is ``d_t f_i = -(J_{i+1/2} - J_{i-1/2}) / w_i`` (:func:`flux_divergence`), so the
phase-space integral of ``f`` changes only through boundary fluxes (exactly zero on the
periodic torus).
"""

from __future__ import annotations

from math import factorial

import numpy as np

#: ghost cells each side that :func:`advection_divergence` and :func:`face_values` need
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


def _upwind_flux(velocity, left, right):
    return np.where(velocity > 0, velocity * left, velocity * right)


def _llf_flux(velocity, left, right):
    # The dissipation speed is the largest |a| over this face and its two neighbours, so a
    # sonic point (a changing sign between faces) still gets dissipation. With the face axis
    # absent or of length 1 (a constant along the advection direction) it is just |a|.
    a = np.asarray(velocity, dtype=float)
    speed = np.abs(a)
    if a.ndim == left.ndim and a.shape[0] > 1:
        padded = np.concatenate([speed[:1], speed, speed[-1:]])
        speed = np.maximum(np.maximum(padded[:-2], padded[1:-1]), padded[2:])
    return 0.5 * a * (left + right) - 0.5 * speed * (right - left)


#: numerical fluxes ``(a, f_left, f_right) -> F`` for :func:`advection_divergence`
SCHEMES = {"upwind": _upwind_flux, "llf": _llf_flux}


def _along(weights_column, ndim):
    """Shape a per-face or per-cell 1D array to broadcast along array axis 0 of ``ndim`` axes."""
    return weights_column.reshape((-1,) + (1,) * (ndim - 1))


def advection_divergence(f, velocity, centres, widths, axis, limiter="vanleer",
                         scheme="upwind"):
    """``-d_s (a f)`` for the owned cells, from a ghosted block.

    Parameters
    ----------
    f : ndarray
        Ghosted block; along ``axis`` it has ``m + 2 * STENCIL_WIDTH`` cells.
    velocity : ndarray or float
        Phase-space velocity ``a`` at the ``m + 1`` faces of the owned cells along ``axis``
        (face axis first after moving ``axis`` to the front), broadcastable against ``f``
        with ``axis`` moved to position 0 and the other axes restricted to the owned cells.
        An array with fewer dimensions than ``f``, or with face axis of length 1, is constant
        along ``axis``.
    centres, widths : ndarray, shape (m + 2 * STENCIL_WIDTH,)
        Cell centres and widths of the ghosted cells along ``axis`` (periodic seams already
        unwrapped, see :meth:`solvers.grid.Axis.extended`).
    axis : int
        Array axis of the advection direction.
    limiter : str
        One of :data:`LIMITERS`.
    scheme : str
        One of :data:`SCHEMES`: ``"upwind"`` (``F = a f_upwind``) or ``"llf"`` (local
        Lax-Friedrichs, ``F = a (f_L + f_R)/2 - alpha (f_R - f_L)/2`` with ``alpha`` the largest
        ``|a|`` over the face and its two neighbouring faces).

    Returns
    -------
    ndarray
        ``d_t f`` from this term on the cells ``STENCIL_WIDTH .. STENCIL_WIDTH + m - 1`` along
        ``axis``; other axes keep the extent of ``f``.
    """
    if limiter not in LIMITERS:
        raise ValueError(f"limiter = {limiter!r}, expected one of {sorted(LIMITERS)}")
    if scheme not in SCHEMES:
        raise ValueError(f"scheme = {scheme!r}, expected one of {sorted(SCHEMES)}")
    g = STENCIL_WIDTH
    u = np.moveaxis(f, axis, 0)
    m = u.shape[0] - 2 * g
    gradient = np.diff(u, axis=0) / _along(np.diff(centres), u.ndim)
    slope = LIMITERS[limiter](gradient[:-1], gradient[1:])  # cells 1 .. m + 2g - 2
    half = _along(0.5 * widths, u.ndim)
    # faces i + 1/2 for i = g-1 .. g+m-1: left state from cell i, right state from cell i+1
    left = u[g - 1:g + m] + slope[g - 2:g + m - 1] * half[g - 1:g + m]
    right = u[g:g + m + 1] - slope[g - 1:g + m] * half[g:g + m + 1]
    flux = SCHEMES[scheme](velocity, left, right)
    return np.moveaxis(flux_divergence(flux, widths[g:g + m], 0), 0, axis)


def face_weights(centres, widths, order):
    """Weights for ``d^order f / ds^order`` at the faces of the owned cells.

    At face ``i + 1/2`` (ghosted index ``i = g-1 .. g+m-1``, ``g = STENCIL_WIDTH``) the
    derivative is taken of the cubic ``p`` whose averages over the cells ``i-1 .. i+2`` equal
    the cell averages there, so the result is exact for cubic ``f``; its error is
    ``O(w^(4 - order))``, and ``O(w^2)`` for every order on smoothly varying cells (the odd
    error terms cancel to leading order as the stencil is centred on the face).

    Parameters
    ----------
    centres, widths : ndarray, shape (m + 2 * STENCIL_WIDTH,)
        Ghosted cell centres and widths along one axis (periodic seams unwrapped); cell
        ``j`` spans ``centres[j] -/+ widths[j] / 2``.
    order : int
        Derivative order, 0 .. 3.

    Returns
    -------
    ndarray, shape (m + 1, 4)
        ``W`` with ``sum_j W[r, j] * fbar[g - 2 + r + j]`` = ``d^order p / ds^order`` at face
        ``r`` (units: 1 / length^order).
    """
    if order not in (0, 1, 2, 3):
        raise ValueError(f"order = {order!r}, expected an integer 0 .. 3")
    centres, widths = np.asarray(centres, dtype=float), np.asarray(widths, dtype=float)
    g = STENCIL_WIDTH
    if centres.shape != widths.shape or centres.ndim != 1 or centres.size < 2 * g + 1:
        raise ValueError(f"centres and widths must be 1D of equal length >= {2 * g + 1}, "
                         f"got shapes {centres.shape} and {widths.shape}")
    m = centres.size - 2 * g
    stencil = np.arange(g - 2, g + m - 1)[:, None] + np.arange(4)  # (m + 1, 4) cell indices
    face = (centres + 0.5 * widths)[g - 1:g + m]
    # local coordinate (s - face) / scale keeps the 4 x 4 systems well conditioned
    scale = widths[stencil].mean(axis=1)
    lower = (centres[stencil] - 0.5 * widths[stencil] - face[:, None]) / scale[:, None]
    upper = (centres[stencil] + 0.5 * widths[stencil] - face[:, None]) / scale[:, None]
    power = np.arange(1, 5)
    # averages[r, j, q]: cell-j average of ((s - face)/scale)^q
    averages = ((upper[..., None] ** power - lower[..., None] ** power)
                / (power * (upper - lower)[..., None]))
    # p = sum_q a_q x^q with averages @ a = fbar, and d^order p (0) = order! a_order, so the
    # weights are row `order` of the inverse: solve averages^T W = e_order per face
    unit = np.zeros((m + 1, 4, 1))
    unit[:, order] = 1.0
    rows = np.linalg.solve(np.swapaxes(averages, 1, 2), unit)[..., 0]
    return factorial(order) * rows / scale[:, None] ** order


def face_values(f, weights, axis):
    """Apply :func:`face_weights` to a ghosted block.

    Parameters
    ----------
    f : ndarray
        Ghosted block; along ``axis`` it has ``m + 2 * STENCIL_WIDTH`` cells.
    weights : ndarray, shape (m + 1, 4)
        From :func:`face_weights` for this axis.
    axis : int
        Array axis of the derivative.

    Returns
    -------
    ndarray
        ``d^order f`` at the ``m + 1`` faces of the owned cells along ``axis``; other axes
        keep the extent of ``f``.
    """
    g = STENCIL_WIDTH
    u = np.moveaxis(f, axis, 0)
    faces = weights.shape[0]
    if u.shape[0] != faces - 1 + 2 * g:
        raise ValueError(f"f has {u.shape[0]} cells along axis {axis}, the weights are for "
                         f"{faces - 1 + 2 * g} ghosted cells")
    value = sum(_along(weights[:, j], u.ndim) * u[g - 2 + j:g - 2 + j + faces]
                for j in range(4))
    return np.moveaxis(value, 0, axis)


def flux_divergence(face_flux, widths_owned, axis):
    """``-(J_{i+1/2} - J_{i-1/2}) / w_i``: the conservative update from face fluxes.

    Parameters
    ----------
    face_flux : ndarray
        ``J`` at the ``m + 1`` faces of the owned cells along ``axis``.
    widths_owned : ndarray, shape (m,)
        Widths of the owned cells along ``axis``.
    axis : int
        Array axis of the flux direction.

    Returns
    -------
    ndarray
        ``d_t f`` on the ``m`` owned cells along ``axis``; other axes keep their extent.
    """
    flux = np.moveaxis(face_flux, axis, 0)
    rate = -(flux[1:] - flux[:-1]) / _along(np.asarray(widths_owned, dtype=float), flux.ndim)
    return np.moveaxis(rate, 0, axis)


def centred_weights(centres):
    """Weights for ``d_s f`` at owned cell centres from cells ``i-1, i, i+1``.

    The derivative of the parabola through the three centre values; second order on smoothly
    varying nonuniform cells (cell averages differ from centre values by ``O(w^2)``).

    Parameters
    ----------
    centres : ndarray, shape (m + 2 * STENCIL_WIDTH,)
        Ghosted cell centres along one axis (periodic seams unwrapped).

    Returns
    -------
    ndarray, shape (m, 3)
        Weights on cells ``i-1, i, i+1`` for owned cells ``i = g .. g+m-1`` (1 / length).
    """
    c = np.asarray(centres, dtype=float)
    g = STENCIL_WIDTH
    below = c[g:-g] - c[g - 1:-g - 1]
    above = c[g + 1:c.size - g + 1] - c[g:-g]
    return np.stack([-above / (below * (below + above)),
                     (above - below) / (below * above),
                     below / (above * (below + above))], axis=1)


def centred_derivative(f, weights, axis):
    """Apply :func:`centred_weights` to a ghosted block.

    Parameters
    ----------
    f : ndarray
        Ghosted block; along ``axis`` it has ``m + 2 * STENCIL_WIDTH`` cells.
    weights : ndarray, shape (m, 3)
        From :func:`centred_weights` for this axis.
    axis : int
        Array axis of the derivative.

    Returns
    -------
    ndarray
        ``d_s f`` at the ``m`` owned cells along ``axis``; other axes keep the extent of ``f``.
    """
    g = STENCIL_WIDTH
    u = np.moveaxis(f, axis, 0)
    m = weights.shape[0]
    if u.shape[0] != m + 2 * g:
        raise ValueError(f"f has {u.shape[0]} cells along axis {axis}, the weights are for "
                         f"{m + 2 * g} ghosted cells")
    value = sum(_along(weights[:, j], u.ndim) * u[g - 1 + j:g - 1 + j + m] for j in range(3))
    return np.moveaxis(value, 0, axis)
