"""Steady-state response of the matrix-mode (Wigner matrix) equation in a uniform field.

For a uniform static field E the matrix-mode equation (docs/symbolic.md, exact for a
uniform field since U = E.x is linear in x) with the relaxation of
:class:`solvers.collisions.MatrixRelaxation` reads, hbar = e = 1,

    d_t F = -i [H0, F] + E.grad_k F - Gamma o (F - F_eq),      F_eq = f0(H0),

with Gamma_nm = 1/tau inside a multiplet (populations and intra-multiplet coherences) and
1/tau_inter between multiplets, in the band basis. Its steady state, order by order in E, is

    F_n = L^{-1} (E.grad_k F_{n-1}),    (L X)_nm = (i (eps_n - eps_m) + Gamma_nm) X_nm,

and the electric current is j_a = -int [dk] tr(d_a H0 F). This module evaluates
sigma1_ab and sigma2_abc (j_a = sigma1_ab E_b + sigma2_abc E_b E_c) on a k grid:

* at given (tau, tau_inter), exactly (no expansion in tau);
* as a Laurent series in tau at fixed ratio r = tau_inter / tau, by splitting
  L^{-1} = tau A + B + C / tau + O(1/tau^2), with A the projection on intra-multiplet
  blocks, B_nm = 1/(i w_nm), C_nm = 1/(r w_nm^2) between multiplets (w_nm = eps_n - eps_m):

      sigma1 = tau (A) + (B),
      sigma2 = tau^2 (A A) + tau (A B + B A) + (A C + B B + C A) + O(1/tau),

  where (X Y) stands for -int tr(d_a H0  X d_b Y d_c F_eq), symmetrised in (b, c).

The tau^0 term of sigma2 is the intrinsic quantum-metric conductivity that this relaxation
model produces (docs/quantum_metric.md compares it with the literature forms).

k derivatives are spectral (FFT) on the grid: exact for trigonometric Bloch Hamiltonians on
the Brillouin zone; on a continuum box they are accurate when the differentiated matrices
vanish smoothly at the box edge, which :func:`response` arranges by subtracting a reference
chemical potential (``mu_reference``): every term is linear in F_eq, and
F_eq(mu) - F_eq(mu_reference) is confined to the energy window between the two, so filled
bands (whose intrinsic response is a total derivative, zero on a torus or the infinite plane
but not on a truncated box) drop out.

This is a k-space calculation, independent of the finite-volume solver: the regression
cases compare the solver's matrix-mode steady state with it.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .geometry import DEFAULT_DEGENERACY_TOL, KGrid
from .models import Model
from .response import fermi_dirac

__all__ = ["MatrixResponse", "response", "laurent_response"]


@dataclass(frozen=True)
class MatrixResponse:
    """Conductivities of the matrix-mode steady state (units of moyal.response.Quantity).

    Attributes
    ----------
    sigma1 : ndarray, shape (d, d)
        j_a = sigma1_ab E_b (e^2/hbar L0^(2-d)).
    sigma2 : ndarray, shape (d, d, d)
        j_a = sigma2_abc E_b E_c, symmetric in (b, c) (e^3/hbar L0^(3-d)/E0).
    """

    sigma1: np.ndarray
    sigma2: np.ndarray


class _Operators:
    """Band basis, spectral derivatives and the pieces of L^{-1} on one k grid."""

    def __init__(self, model: Model, grid: KGrid, tol: float = DEFAULT_DEGENERACY_TOL):
        k = grid.k
        self.grid = grid
        self.dimension = grid.dimension
        points = k.reshape(self.dimension, -1)
        shape = grid.shape + (model.n_bands, model.n_bands)
        self.hamiltonian = model.derivative_function(())(points).reshape(shape)
        self.velocity = [model.derivative_function((a,))(points).reshape(shape)
                         for a in range(self.dimension)]
        self.energy, self.vectors = np.linalg.eigh(self.hamiltonian)
        self.vectors_h = np.conj(np.swapaxes(self.vectors, -1, -2))
        eps = self.energy
        scale = 1 + np.max(np.abs(eps), axis=-1)[..., None, None]
        self.frequency = eps[..., :, None] - eps[..., None, :]
        self.same = np.abs(self.frequency) <= tol * scale
        self.wavenumbers = [2 * np.pi * np.fft.fftfreq(n, d=h)
                            for n, h in zip(grid.shape, grid.spacing)]

    def to_band(self, x):
        return self.vectors_h @ x @ self.vectors

    def from_band(self, x):
        return self.vectors @ x @ self.vectors_h

    def derivative(self, x, axis: int):
        """Spectral d/dk_axis of x, shape (*grid, N, N); the Nyquist mode is dropped."""
        n = self.grid.shape[axis]
        factor = 1j * self.wavenumbers[axis]
        if n % 2 == 0:
            factor = factor.copy()
            factor[n // 2] = 0.0
        shape = [1] * x.ndim
        shape[axis] = n
        return np.fft.ifft(factor.reshape(shape) * np.fft.fft(x, axis=axis), axis=axis)

    def equilibrium(self, mu: float, temperature: float):
        occupation = fermi_dirac(self.energy, mu, temperature)
        return self.from_band(occupation[..., None] * np.eye(self.energy.shape[-1]))

    def apply(self, coefficients, x):
        """Orbital-basis x -> U (coefficients o U^dag x U) U^dag."""
        return self.from_band(coefficients * self.to_band(x))

    def current(self, x):
        """-int [dk] tr(d_a H0 x), shape (d,): the electric current of a Wigner matrix x."""
        w = self.grid.weights
        return np.array([-np.sum(w * np.einsum("...ij,...ji->...", v, x).real)
                         for v in self.velocity])

    def exact_inverse(self, tau: float, tau_inter: float):
        rates = np.where(self.same, 1.0 / tau, 1.0 / tau_inter)
        return 1.0 / (1j * self.frequency + rates)

    def laurent_inverse(self, ratio: float):
        """(A, B, C) with L^{-1} = tau A + B + C/tau + O(1/tau^2) at tau_inter = ratio*tau."""
        with np.errstate(divide="ignore", invalid="ignore"):
            b = np.where(self.same, 0.0, 1.0 / (1j * self.frequency))
            c = np.where(self.same, 0.0, 1.0 / (ratio * self.frequency ** 2))
        return self.same.astype(float), b, c


def _tensors(ops: _Operators, equilibrium, first, second):
    """sigma1 from ``first`` and sigma2 from ``second``: lists of (weight, X, Y) products.

    sigma1_ab = sum w * current_a(X grad_b F_eq); sigma2_abc = sum w * current_a(
    X grad_b (Y grad_c F_eq)), symmetrised in (b, c).
    """
    d = ops.dimension
    gradient = [ops.derivative(equilibrium, b) for b in range(d)]
    sigma1 = np.zeros((d, d))
    sigma2 = np.zeros((d, d, d))
    for weight, x in first:
        for b in range(d):
            sigma1[:, b] += weight * ops.current(ops.apply(x, gradient[b]))
    for weight, x, y in second:
        for c in range(d):
            inner = ops.apply(y, gradient[c])
            for b in range(d):
                sigma2[:, b, c] += weight * ops.current(ops.apply(x, ops.derivative(inner, b)))
    return sigma1, 0.5 * (sigma2 + np.swapaxes(sigma2, 1, 2))


def _equilibrium(ops, mu, temperature, mu_reference):
    eq = ops.equilibrium(mu, temperature)
    if mu_reference is not None:
        eq = eq - ops.equilibrium(mu_reference, temperature)
    return eq


def response(model: Model, grid: KGrid, mu: float, temperature: float, tau: float,
             tau_inter: float | None = None, mu_reference: float | None = None
             ) -> MatrixResponse:
    """sigma1, sigma2 of the matrix-mode steady state at (tau, tau_inter), exactly in tau.

    Parameters
    ----------
    model, grid : the Bloch Hamiltonian and its k grid (moyal.geometry.k_grid).
    mu, temperature : chemical potential and k_B T > 0 of F_eq (E0).
    tau, tau_inter : relaxation and interband dephasing times (hbar/E0); tau_inter None
        means tau.
    mu_reference : optional; subtract the response at this chemical potential (see the
        module docstring; needed on a continuum box).
    """
    ops = _Operators(model, grid)
    inverse = ops.exact_inverse(tau, tau if tau_inter is None else tau_inter)
    eq = _equilibrium(ops, mu, temperature, mu_reference)
    sigma1, sigma2 = _tensors(ops, eq, [(1.0, inverse)], [(1.0, inverse, inverse)])
    return MatrixResponse(sigma1, sigma2)


def laurent_response(model: Model, grid: KGrid, mu: float, temperature: float,
                     ratio: float = 1.0, mu_reference: float | None = None) -> dict:
    """Coefficients of tau^p in sigma1 (p = 1, 0) and sigma2 (p = 2, 1, 0).

    ``ratio`` = tau_inter / tau, held fixed as tau grows. Returns
    ``{"sigma1": {1: (d, d), 0: (d, d)}, "sigma2": {2: (d,)*3, 1: (d,)*3, 0: (d,)*3}}``;
    the tau^0 part of sigma2 is the intrinsic (quantum-metric) conductivity of this
    relaxation model.
    """
    ops = _Operators(model, grid)
    a, b, c = ops.laurent_inverse(ratio)
    eq = _equilibrium(ops, mu, temperature, mu_reference)
    result = {"sigma1": {}, "sigma2": {}}
    for power, first, second in ((2, [], [(1.0, a, a)]),
                                 (1, [(1.0, a)], [(1.0, a, b), (1.0, b, a)]),
                                 (0, [(1.0, b)], [(1.0, a, c), (1.0, b, b), (1.0, c, a)])):
        sigma1, sigma2 = _tensors(ops, eq, first, second)
        if first:
            result["sigma1"][power] = sigma1
        result["sigma2"][power] = sigma2
    return result


def intrinsic_two_multiplet(geometry, grid: KGrid, occupation: np.ndarray,
                            ratio: float = 1.0) -> np.ndarray:
    """Closed form of the tau^0 part of sigma2 for two multiplets (docs/quantum_metric.md).

        sigma_ijl = -int [dk] sum_n f_n [ 1/2 d_i Gq_n^{jl}
                     - 1/(2 r) (d_l Gq_n^{ij} + d_j Gq_n^{il})
                     + (1/2 - 1/r) Gq_n^{jl} d_i w_n / w_n ],   w_n = eps_n - eps_nbar,

    (nbar: the other multiplet), r = tau_inter / tau. Derived from the Laurent expansion of
    the matrix-mode steady state; valid when the bands form two multiplets (two bands, or
    two degenerate pairs), where the inter-multiplet connection is curl-free.

    Parameters
    ----------
    geometry : moyal.geometry.BandGeometry on ``grid`` (traced for degenerate bands)
    occupation : ndarray (*grid, N), f_n (or a difference of two occupations)
    ratio : r = tau_inter / tau

    Returns
    -------
    ndarray, shape (d, d, d), e^3/hbar L0^(3-d)/E0
    """
    energy = geometry.energy
    if energy.shape[-1] % 2 or np.any(geometry.multiplicity != energy.shape[-1] // 2):
        raise ValueError("intrinsic_two_multiplet needs two multiplets of equal size")
    gap = energy - energy[..., ::-1]
    gap_gradient = geometry.velocity - geometry.velocity[..., ::-1]
    dG = geometry.band_normalised_metric_derivative
    metric = geometry.band_normalised_metric
    kernel = (0.5 * dG
              - (0.5 / ratio) * (np.moveaxis(dG, 0, 2) + np.swapaxes(dG, 0, 1))
              + (0.5 - 1.0 / ratio) * gap_gradient[:, None, None] * metric[None] / gap)
    weights = grid.weights[..., None] * occupation
    return -np.tensordot(kernel, weights, axes=weights.ndim)
