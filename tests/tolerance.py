"""Test tolerances from the conditioning of the compared quantity, not from one machine's output.

Two floating-point evaluations of the same exact quantity differ by their rounding errors,
and these differ between CPUs and libraries: numpy evaluates exp/log/sin/cos with SIMD kernels
chosen at run time (AVX-512 kernels on Intel Sapphire Rapids, scalar libm on an AMD EPYC
without AVX-512; numpy documents up to 4 ulp for its float64 SIMD transcendental functions),
and OpenBLAS picks its kernels per CPU (emulated with ``OPENBLAS_CORETYPE``). A tolerance
must therefore bound the rounding error of the computation for *any* such machine, and sit at
least :data:`SAFETY` times above that bound:

    tolerance = SAFETY * floor,    floor = a first-order bound on |computed - exact|

The floors below are the standard forward-error bounds (N. J. Higham, *Accuracy and
Stability of Numerical Algorithms*, 2nd ed., SIAM 2002, ch. 3): a sum of n terms
``sum_i c_i v_i`` computed from inputs ``v_i`` with errors ``dv_i`` is off by at most
``sum_i |c_i| (dv_i + n u |v_i|)``, u the unit roundoff; an elementary function f evaluated to
``ULP_TRANSCENDENTAL`` ulp of its value, at an argument x carrying the relative error ``dx``,
is off by ``|f(x)| (ULP_TRANSCENDENTAL u + kappa_f(x) dx)`` with kappa_f = |x f'(x) / f(x)|.
"""

from __future__ import annotations

import numpy as np

#: unit roundoff of float64 (half the spacing of doubles at 1)
UNIT_ROUNDOFF = np.finfo(np.float64).eps / 2
#: tolerance / rounding-error bound, the margin every numeric comparison keeps
SAFETY = 10.0
#: accuracy of numpy's float64 exp/log/sin/cos on any x86-64 SIMD path, in ulp
ULP_TRANSCENDENTAL = 4.0


def tolerance(floor):
    """``SAFETY`` times a rounding-error bound (scalar or array)."""
    return SAFETY * np.asarray(floor, dtype=float)


def linear_combination_floor(coefficients, values, value_errors=0.0, axis=-1):
    """Rounding-error bound of ``sum_i c_i v_i`` along ``axis``.

    Parameters
    ----------
    coefficients, values : ndarray
        Broadcastable arrays; the sum runs over ``axis``.
    value_errors : ndarray or float
        Absolute error already carried by each ``v_i`` (e.g. from its own evaluation).
    """
    coefficients, values = np.broadcast_arrays(np.asarray(coefficients, float),
                                               np.asarray(values, float))
    n = coefficients.shape[axis]
    return np.sum(np.abs(coefficients) * (value_errors + n * UNIT_ROUNDOFF * np.abs(values)),
                  axis=axis)


def function_floor(values, condition=0.0, argument_error=0.0):
    """Rounding-error bound of an elementary function's ``values``: its own
    ``ULP_TRANSCENDENTAL`` ulp plus ``condition`` (|x f'/f|) times the relative
    ``argument_error`` (in units of the unit roundoff, i.e. the number of roundings the
    argument went through)."""
    return np.abs(values) * UNIT_ROUNDOFF * (ULP_TRANSCENDENTAL
                                             + np.abs(condition) * argument_error)


def fermi_dirac_floor(energy, mu, temperature, roundings=3.0):
    """Rounding-error bound of f = 1/(1 + exp((e - mu)/T)) evaluated in floating point.

    The argument x = (e - mu)/T carries ``roundings`` roundings relative to |e| + |mu| (the
    subtraction loses relative accuracy when e ~ mu, which is why the bound uses the inputs'
    magnitudes); exp adds its ulp; the sensitivity of f to x is |df/dx| = f (1 - f).
    """
    energy, mu = np.asarray(energy, float), np.asarray(mu, float)
    x = (energy - mu) / temperature
    f = 0.5 * (1 - np.tanh(x / 2))
    argument_error = roundings * UNIT_ROUNDOFF * (np.abs(energy) + np.abs(mu)) / temperature \
        + roundings * UNIT_ROUNDOFF * np.abs(x)
    return f * (1 - f) * argument_error + (ULP_TRANSCENDENTAL + 3) * UNIT_ROUNDOFF * f


def chemical_potential_tolerance(energy, weights, mu, temperature):
    """Tolerance on mu solved from n = sum_b int [dk] f0(eps_b; mu, T), shape of ``mu``.

    The solver stops at |n_eq - n| <= DENSITY_RTOL n + eps bands sum(w) (its documented
    criterion), and n itself carries the rounding of f0 summed over k; both map to mu through
    dn/dmu = sum w f0 (1 - f0) / T, which is tiny far above or below the bands.
    """
    from solvers.collisions import DENSITY_RTOL, fermi_dirac

    mu = np.asarray(mu, float)[..., None, None]
    f = fermi_dirac(energy, mu, temperature)
    terms = np.broadcast_to(weights, f.shape).reshape(*f.shape[:-2], -1)
    density = np.sum(terms * f.reshape(terms.shape), axis=-1)
    rounding = linear_combination_floor(terms, f.reshape(terms.shape),
                                        fermi_dirac_floor(energy, mu, temperature)
                                        .reshape(terms.shape))
    stop = DENSITY_RTOL * density + 2 * UNIT_ROUNDOFF * energy.shape[0] * np.sum(weights)
    slope = np.sum(terms * (f * (1 - f)).reshape(terms.shape), axis=-1) / temperature
    return tolerance((stop + rounding) / slope)
