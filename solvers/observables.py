"""Response extraction from time series: drive harmonics, field-sweep differences, steady state.

Pure numpy on arrays sampled at times ``t`` (hbar / energy); a signal ``y`` has shape
``(n_t, ...)`` (time first, any trailing shape, e.g. current components or positions) and
keeps its units.
"""

from __future__ import annotations

import numpy as np

# tolerance (in periods or window lengths) for times that land on a boundary up to round-off
_BOUNDARY_SLACK = 1e-9


def harmonics(t, y, omega, orders=(0, 1, 2), periods=None):
    """Complex amplitudes of the drive harmonics of a periodic signal.

    Least-squares fit over the last ``periods`` whole periods 2 pi / omega of the samples to

        y(t) = a_0 + sum_{n > 0} [a_n cos(n omega t) + b_n sin(n omega t)]
             = Re sum_n Y_n exp(-i n omega t),   Y_0 = a_0,  Y_n = a_n + i b_n,

    the exp(-i omega t) convention of E(t) = Re E_w exp(-i omega t). Times are absolute, so
    phases refer to t = 0 (like the drive cos(omega t + phase) of
    :class:`solvers.fields.UniformField`). A transient before the window does not enter.

    Parameters
    ----------
    t : ndarray, shape (n_t,)
        Increasing sample times (hbar / energy), not necessarily uniform.
    y : ndarray, shape (n_t, ...)
        Signal samples.
    omega : float
        Fundamental angular frequency (energy / hbar), > 0.
    orders : sequence of int
        Distinct harmonic orders n >= 0 to fit. A harmonic present in y but not fitted
        leaks into the fitted ones unless orthogonal to them on the samples, as for uniform
        sampling with a whole number of samples per period (and above Nyquist).
    periods : int, optional
        Number of whole periods in the fit window (t[-1] - periods 2 pi / omega, t[-1]];
        default all whole periods available.

    Returns
    -------
    ndarray, complex, shape (len(orders),) + y.shape[1:]
        Y_n in the order of ``orders`` (units of y).

    Raises
    ------
    ValueError
        Not a single whole period, more periods than available, or samples too sparse to
        separate the requested harmonics.
    """
    t = np.asarray(t, dtype=float)
    y = np.asarray(y, dtype=float)
    orders = tuple(int(n) for n in orders)
    if omega <= 0:
        raise ValueError(f"harmonics: omega = {omega!r} must be > 0")
    if len(set(orders)) != len(orders) or min(orders) < 0:
        raise ValueError(f"harmonics: orders {orders} must be distinct integers >= 0")
    if y.shape[0] != t.size:
        raise ValueError(f"harmonics: y has {y.shape[0]} samples for {t.size} times")
    period = 2 * np.pi / omega
    available = int((t[-1] - t[0]) / period + _BOUNDARY_SLACK)
    periods = available if periods is None else int(periods)
    if not 1 <= periods <= available:
        raise ValueError(f"harmonics: asked for {periods} period(s), the samples span "
                         f"{available} whole period(s) of 2 pi / omega = {period!r}")
    # half-open window (start excluded): uniform samples with a whole number per period then
    # make the cos/sin columns of different orders exactly orthogonal, so harmonics that are
    # not fitted do not leak into the fitted ones
    inside = t > t[-1] - (periods - _BOUNDARY_SLACK) * period
    times, samples = t[inside], y[inside].reshape(int(inside.sum()), -1)
    columns = []
    for n in orders:
        columns += [np.ones_like(times)] if n == 0 else [np.cos(n * omega * times),
                                                         np.sin(n * omega * times)]
    design = np.column_stack(columns)
    coefficients, _, rank, _ = np.linalg.lstsq(design, samples, rcond=None)
    if rank < design.shape[1]:
        raise ValueError(f"harmonics: {times.size} samples in the window cannot separate "
                         f"harmonics {orders} (need more samples per period)")
    amplitudes, row = [], 0
    for n in orders:
        if n == 0:
            amplitudes.append(coefficients[row] + 0j)
            row += 1
        else:
            amplitudes.append(coefficients[row] + 1j * coefficients[row + 1])
            row += 2
    return np.array(amplitudes).reshape((len(orders),) + y.shape[1:])


def symmetric_differences(scales, currents, E):
    """Linear and quadratic response from currents at opposite field strengths.

    With currents j(s E) at fields s E, j = sigma1 E + sigma2 E^2 + c3 E^3 + c4 E^4 + ...,
    each pair +-s gives

        D(s) = [j(s E) - j(-s E)] / (2 s E)    = sigma1 + c3 s^2 E^2 + O(E^4),
        S(s) = [j(s E) + j(-s E)] / (2 s^2 E^2) = sigma2 + c4 s^2 E^2 + O(E^4).

    With one pair these are returned; with m pairs D and S are extrapolated to s^2 -> 0 by
    the polynomial through the m points (Richardson), which cancels the terms up to
    E^(2m-1) in sigma1 and E^(2m) in sigma2: two pairs (s, -s, 2s, -2s) give
    sigma1 = [4 D(1) - D(2)] / 3 and sigma2 = [4 S(1) - S(2)] / 3.

    The equilibrium current j(0) must vanish or be subtracted by the caller (it enters S).

    Parameters
    ----------
    scales : sequence of float, shape (n_s,)
        Field scales, made of +-s pairs (any order, no zero).
    currents : ndarray, shape (n_s, ...)
        Current at each scaled field.
    E : float
        Reference field strength (energy / (e length)), nonzero.

    Returns
    -------
    (ndarray, ndarray)
        sigma1 (current / field) and sigma2 (current / field^2), shape currents.shape[1:].
    """
    scales = np.asarray(scales, dtype=float)
    currents = np.asarray(currents, dtype=float)
    if currents.shape[0] != scales.size:
        raise ValueError(f"symmetric_differences: {currents.shape[0]} currents for "
                         f"{scales.size} scales")
    if E == 0 or np.any(scales == 0):
        raise ValueError("symmetric_differences: E and the scales must be nonzero")
    positive = np.sort(scales[scales > 0])
    partners = [np.flatnonzero(np.isclose(scales, -s, rtol=1e-12, atol=0.0)) for s in positive]
    if (2 * positive.size != scales.size or np.unique(positive).size != positive.size
            or any(p.size != 1 for p in partners)):
        raise ValueError(f"symmetric_differences: scales {scales.tolist()} must consist of "
                         f"distinct +-s pairs")
    plus = np.array([np.flatnonzero(scales == s)[0] for s in positive])
    minus = np.array([p[0] for p in partners])
    shape = (-1,) + (1,) * (currents.ndim - 1)
    field = (positive * E).reshape(shape)
    odd = (currents[plus] - currents[minus]) / (2 * field)
    even = (currents[plus] + currents[minus]) / (2 * field ** 2)
    # Lagrange weights of the interpolating polynomial in h = s^2, evaluated at h = 0
    h = positive ** 2
    weights = np.array([np.prod([h[j] / (h[j] - h[i]) for j in range(h.size) if j != i])
                        for i in range(h.size)]).reshape(shape)
    return (weights * odd).sum(axis=0), (weights * even).sum(axis=0)


def _window_mean(t, y, start, stop):
    """Exact mean over [start, stop] of the piecewise-linear interpolant of samples y(t)."""
    inner = t[(t > start) & (t < stop)]
    nodes = np.concatenate(([start], inner, [stop]))
    left = np.clip(np.searchsorted(t, nodes, side="right") - 1, 0, t.size - 2)
    weight = ((nodes - t[left]) / (t[left + 1] - t[left])).reshape((-1,) + (1,) * (y.ndim - 1))
    values = (1 - weight) * y[left] + weight * y[left + 1]
    return np.trapezoid(values, nodes, axis=0) / (stop - start)


def steady_state_value(t, y, window):
    """Late-time value of a relaxing signal and how far it still drifts.

    ``value`` is the time average of y over the last ``window`` before ``t[-1]``; ``drift``
    is ``value`` minus the average over the window before that. Averages integrate the
    piecewise-linear interpolant of the samples exactly, so nonuniform steps are fine.
    Choose the window as whole drive periods for a driven signal (so oscillations average
    out) and a few relaxation times tau: for y = y_inf + A exp(-t / tau) the remaining
    error is value - y_inf = -drift / (exp(window / tau) - 1).

    Parameters
    ----------
    t : ndarray, shape (n_t,)
        Increasing sample times (hbar / energy), spanning at least 2 windows.
    y : ndarray, shape (n_t, ...)
        Signal samples.
    window : float
        Averaging window (hbar / energy), > 0.

    Returns
    -------
    (ndarray, ndarray)
        value and drift, shape y.shape[1:], units of y.
    """
    t = np.asarray(t, dtype=float)
    y = np.asarray(y, dtype=float)
    if y.shape[0] != t.size:
        raise ValueError(f"steady_state_value: y has {y.shape[0]} samples for {t.size} times")
    if window <= 0 or t[-1] - t[0] < 2 * window * (1 - _BOUNDARY_SLACK):
        raise ValueError(f"steady_state_value: window = {window!r} must be > 0 and fit twice "
                         f"into the sampled span {t[-1] - t[0]!r}")
    end = t[-1]
    start = max(end - 2 * window, t[0])
    value = _window_mean(t, y, end - window, end)
    previous = _window_mean(t, y, start, end - window)
    return value, value - previous
