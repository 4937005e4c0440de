"""Nonuniform cell edges for one phase-space axis: pure numpy.

Cells are placed with a smooth density ``rho(s)`` (cells per unit length up to a constant):
edge ``j`` sits where the cumulative integral of ``rho`` reaches ``j / n`` of its total, so a
cell's width is close to ``1 / rho`` at its position times a constant. Gaussian bumps in
``rho`` around focus points (e.g. Fermi-surface crossings from :func:`crossing_points`) refine
the cells there; summing each bump over its periodic images keeps ``rho`` C-infinity and
periodic, so cell widths vary smoothly across the Brillouin-zone seam as well.
"""

from __future__ import annotations

import numpy as np
from scipy.special import erf


def _bump_images(lo, hi, focus, width, periodic):
    """Centres of the Gaussian bumps: each focus point and, if periodic, its images."""
    focus = np.asarray(focus, dtype=float).reshape(-1)
    if not periodic:
        return focus
    period = hi - lo
    # images further than ~9 widths away contribute below round-off inside [lo, hi]
    reach = int(np.ceil(9 * width / period)) + 1
    shifts = period * np.arange(-reach, reach + 1)
    return (focus[:, None] + shifts).reshape(-1)


def _cell_density(s, lo, hi, focus, width, ratio, periodic):
    """``rho(s) = 1 + (ratio - 1) * sum_p exp(-(s - p)^2 / (2 width^2))``, dimensionless."""
    centres = _bump_images(lo, hi, focus, width, periodic)
    z = (np.asarray(s, dtype=float)[..., None] - centres) / width
    return 1 + (ratio - 1) * np.exp(-0.5 * z ** 2).sum(axis=-1)


def _cumulative_density(s, lo, hi, focus, width, ratio, periodic):
    """``int_lo^s rho``, in closed form (each Gaussian integrates to an erf)."""
    centres = _bump_images(lo, hi, focus, width, periodic)
    scale = np.sqrt(2) * width

    def bumps(x):
        return erf((np.asarray(x, dtype=float)[..., None] - centres) / scale).sum(axis=-1)

    return (s - lo) + (ratio - 1) * width * np.sqrt(np.pi / 2) * (bumps(s) - bumps(lo))


def stretched_edges(lo, hi, n, focus=(), width=None, ratio=4.0, periodic=True):
    """Cell edges on ``[lo, hi]`` refined around focus points.

    Parameters
    ----------
    lo, hi : float
        Axis range (length, or 1/length for k); ``edges[0] = lo`` and ``edges[-1] = hi``
        exactly.
    n : int
        Number of cells, >= 3.
    focus : sequence of float
        Points in ``[lo, hi]`` where cells are about ``ratio`` times smaller than far away.
    width : float, optional
        Standard deviation of each Gaussian refinement bump (units of ``s``), > 0; default
        ``0.05 * (hi - lo)``.
    ratio : float
        Cell-density ratio peak / background, >= 1 (1 gives uniform cells).
    periodic : bool
        Take the distance to each focus point periodically (the axis is a torus, e.g. the
        Brillouin zone), so the cell widths are smooth across the seam.

    Returns
    -------
    ndarray, shape (n + 1,)
        Strictly increasing edges.
    """
    lo, hi = float(lo), float(hi)
    focus = np.asarray(focus, dtype=float).reshape(-1)
    if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
        raise ValueError(f"stretched_edges: lo = {lo}, hi = {hi}, expected finite lo < hi")
    if int(n) != n or n < 3:
        raise ValueError(f"stretched_edges: n = {n!r}, expected an integer >= 3")
    if not ratio >= 1:
        raise ValueError(f"stretched_edges: ratio = {ratio!r}, expected >= 1")
    width = 0.05 * (hi - lo) if width is None else width
    if not width > 0:
        raise ValueError(f"stretched_edges: width = {width!r}, expected > 0")
    outside = focus[~((focus >= lo) & (focus <= hi))]
    if outside.size:
        raise ValueError(f"stretched_edges: focus = {float(outside[0])!r}, expected inside "
                         f"[lo, hi] = [{lo}, {hi}]")
    n = int(n)
    args = (lo, hi, focus, width, ratio, periodic)
    target = np.linspace(0, 1, n + 1)[1:-1] * _cumulative_density(hi, *args)
    # initial guess from a fine table of the monotone cumulative integral, then Newton
    # (its derivative rho >= 1) to round-off; the table brackets every root
    table = np.linspace(lo, hi, 32 * n + 1)
    cumulative = _cumulative_density(table, *args)
    inner = np.interp(target, cumulative, table)
    right = np.searchsorted(cumulative, target)
    bracket_lo, bracket_hi = table[right - 1], table[right]
    for _ in range(50):
        step = (_cumulative_density(inner, *args) - target) / _cell_density(inner, *args)
        inner = np.clip(inner - step, bracket_lo, bracket_hi)
        if np.max(np.abs(step)) <= 4 * np.finfo(float).eps * (hi - lo):
            break
    return np.concatenate([[lo], inner, [hi]])


def explicit_edges(values, lo=None, hi=None):
    """Validate user-given cell edges.

    Parameters
    ----------
    values : array_like, shape (n + 1,)
        Strictly increasing, finite edges, n >= 2.
    lo, hi : float, optional
        Required first and last edge (e.g. the Brillouin-zone boundary). An edge within
        ``1e-12 * (hi - lo)`` of it is replaced by it exactly, so an edge typed with full
        double precision (``3.141592653589793``) is accepted.

    Returns
    -------
    ndarray, shape (n + 1,)
        The edges as floats.
    """
    edges = np.array(values, dtype=float)
    if edges.ndim != 1 or edges.size < 3:
        raise ValueError(f"explicit_edges: got shape {edges.shape}, expected a 1D list of "
                         ">= 3 edges (>= 2 cells)")
    bad = np.flatnonzero(~np.isfinite(edges))
    if bad.size:
        j = bad[0]
        raise ValueError(f"explicit_edges: edges[{j}] = {float(edges[j])}, expected finite")
    bad = np.flatnonzero(np.diff(edges) <= 0)
    if bad.size:
        j = bad[0] + 1
        raise ValueError(f"explicit_edges: edges[{j}] = {float(edges[j])!r} <= "
                         f"edges[{j - 1}] = {float(edges[j - 1])!r}, expected strictly "
                         "increasing edges")
    tolerance = 1e-12 * (edges[-1] - edges[0])
    for index, name, bound in ((0, "lo", lo), (-1, "hi", hi)):
        if bound is None:
            continue
        if abs(edges[index] - bound) > tolerance:
            raise ValueError(f"explicit_edges: edges[{index % edges.size}] = "
                             f"{float(edges[index])!r}, expected {name} = {bound!r}")
        edges[index] = bound
    return edges


def crossing_points(k_centres, energy, targets, lo=None, hi=None):
    """Points where a sampled periodic band energy crosses target energies.

    Each band is linearly interpolated between neighbouring samples, including the segment
    across the seam from the last sample to the first one (shifted by the period).

    Parameters
    ----------
    k_centres : ndarray, shape (n,)
        Increasing sample points (1/length) inside one period ``[lo, hi)``.
    energy : ndarray, shape (n,) or (bands, n)
        Band energies at ``k_centres``.
    targets : float or array_like
        Target energies (e.g. the chemical potential).
    lo, hi : float, optional
        The period ``[lo, hi)``; by default that of uniform cells centred on ``k_centres``
        (``lo = k_0 - dk/2``, ``hi = k_{n-1} + dk/2`` with ``dk`` the mean spacing).

    Returns
    -------
    ndarray
        Sorted distinct crossing points, wrapped into ``[lo, hi)``. A sample exactly at a
        target counts as above it (``energy >= target``), so a sign change through that
        sample gives one point.
    """
    k = np.asarray(k_centres, dtype=float)
    energy = np.atleast_2d(np.asarray(energy, dtype=float))
    if k.ndim != 1 or k.size < 2 or energy.shape[-1] != k.size:
        raise ValueError(f"crossing_points: k_centres shape {k.shape} and energy shape "
                         f"{energy.shape}, expected (n,) and (n,) or (bands, n), n >= 2")
    spacing = (k[-1] - k[0]) / (k.size - 1)
    lo = k[0] - spacing / 2 if lo is None else float(lo)
    hi = k[-1] + spacing / 2 if hi is None else float(hi)
    period = hi - lo
    # close the loop: the seam segment runs from the last sample to the first one + period
    k_loop = np.append(k, k[0] + period)
    excess = (np.append(energy, energy[:, :1], axis=1)[:, None, :]
              - np.atleast_1d(np.asarray(targets, dtype=float))[None, :, None])
    # half-open sign convention (>= 0): each genuine crossing is counted in exactly one segment
    above = excess >= 0
    band, target, j = np.nonzero(above[..., :-1] != above[..., 1:])
    before, after = excess[band, target, j], excess[band, target, j + 1]
    points = k_loop[j] + (k_loop[j + 1] - k_loop[j]) * before / (before - after)
    wrapped = lo + np.mod(points - lo, period)
    return np.unique(np.where(wrapped >= hi, wrapped - period, wrapped))  # mod can round up
