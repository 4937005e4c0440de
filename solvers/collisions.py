"""Relaxation-time collision operators R[f] = -(f - f_eq)/tau (docs/formulas.md, set-up).

Units: hbar = e = k_B = 1; energies, mu and T in the energy unit, tau in hbar/energy, rates
in energy/hbar.

Band mode.  A block ``f`` has shape ``(bands, *x_cells, *k_cells)``: the band axis first,
then ``x_axes`` x axes (0 for uniform problems, 1 for (x, k) phase space), then the k axes.
Band energies ``energy`` have shape ``(bands, *k_cells)`` and are broadcast over x.  Three
targets:

* :class:`FixedRelaxation`: ``f_eq = f0(eps; mu, T)`` at fixed mu, precomputed once;
* :class:`ConservingRelaxation`: ``f_eq = f0(eps; mu(x), T)`` with mu(x) solved at each call
  so that ``sum_bands int [dk] f_eq = sum_bands int [dk] f`` for every x (particle number is
  conserved by R to round-off; Mermin/BGK style).  The integrals over k go through a
  :class:`KSum`, which adds the parts of all MPI ranks when the grid splits k between them;
* :class:`FieldRenormalisedRelaxation`: ``f_eq = f0(eps + E.Gq.E/2; mu, T)`` (Eq. (9)
  of X.-B. Qiang, T. Liu, Z.-X. Gao, H.-Z. Lu, X. C. Xie, "A Clarification on
  Quantum-Metric-Induced Nonlinear Transport"; docs/formulas.md) for a uniform field E(t)
  given per call.

Matrix mode.  :class:`MatrixRelaxation` acts on Wigner matrices ``F`` of shape
``(*x_cells, *k_cells, N, N)`` with ``F_eq = f0(H0(k))``; in the band basis diagonal
elements relax at 1/tau and interband coherences at 1/tau_inter.

Every operator is ``R(f, field=None)`` and has ``solve_shifted(shift, rhs)``, the exact
solution X of ``shift X - J[X] = rhs`` with J = dR/df (what an implicit stage of PETSc TS
needs); the linear operators also expose ``rate`` / ``target(field)``.  Everything that
depends on k only (f0(eps), eigenvectors of H0, dephasing rates) is computed once per k.
"""

from __future__ import annotations

import math

import numpy as np
from mpi4py import MPI

from solvers.errors import ConfigError


def fermi_dirac(eps, mu, temperature):
    """Occupation ``1 / (exp((eps - mu)/T) + 1)``, written with tanh to avoid overflow."""
    return 0.5 * (1 - np.tanh(0.5 * (eps - mu) / temperature))


__all__ = ["fermi_dirac", "COLLISION_KINDS", "DENSITY_RTOL", "KSum", "solve_chemical_potential",
           "FixedRelaxation", "ConservingRelaxation", "FieldRenormalisedRelaxation",
           "MatrixRelaxation", "relaxation_from_config"]

COLLISION_KINDS = ("none", "fixed", "conserving", "field_renormalised", "matrix")

DENSITY_RTOL = 1e-14
"""Relative tolerance on the density reproduced by the conserving target."""

_MAX_ITERATIONS = 200

# Relative energy tolerance for degenerate eigenvalues of H0, the same as moyal.geometry's.
_DEGENERACY_TOL = 1e-6


class KSum:
    """``sum_bands sum_k w_k a`` of blocks whose k cells may be split between MPI ranks.

    A rank owns the x cells ``[start, stop)`` of an nx-cell axis (one x point without an x
    axis) times a block of k cells; the DMDA may split k as well as x, so the sum over k at
    one x adds the parts of several ranks.  Each (x, k) cell belongs to exactly one rank:
    placing the local sums at their x in a zero array over all nx cells and adding these
    arrays over the ranks (one allreduce) gives every rank the complete sums, exactly.  The
    scalar reductions (:meth:`min`, :meth:`max`, :meth:`all`, :attr:`measure`) let the ranks
    of one solve agree on brackets and stop together.  Without a communicator everything is
    local: the serial case is the same code.

    Parameters
    ----------
    k_weights : ndarray, shape (k_cells)
        Measures ``prod(k widths) / (2 pi)^dk`` of this rank's k cells.
    comm : mpi4py.MPI.Comm, optional
        The ranks that share the phase-space grid; None for one process.
    x_range : (int, int), optional
        This rank's x cells ``[start, stop)`` on the global x axis of ``nx`` cells.  None when
        every rank holds all x cells of its blocks (always so without an x axis).
    nx : int, optional
        Number of x cells of the whole grid; needed with ``x_range``.

    Attributes
    ----------
    weights : ndarray, shape (k_cells)
    start : int
        Global index of this rank's first x cell (0 with ``x_range=None``).
    measure : float
        ``sum_k w_k`` over the k cells of all ranks: the k volume / (2 pi)^dk
        (1/length^dk), the density of one completely filled band.
    """

    def __init__(self, k_weights, comm=None, x_range=None, nx: int | None = None):
        self.weights = np.asarray(k_weights, dtype=float)
        self.comm, self.x_range, self.nx = comm, x_range, nx
        self.start = 0 if x_range is None else int(x_range[0])
        if x_range is not None and not (nx is not None and 0 <= x_range[0] < x_range[1] <= nx):
            raise ValueError(f"x_range = {tuple(x_range)!r}, nx = {nx!r}: expected owned x "
                             "cells [start, stop) inside [0, nx)")
        self.measure = float(self.reduce(np.ones((1,) + self.weights.shape))[self.start])

    def _allreduce(self, value, op):
        return value if self.comm is None else self.comm.allreduce(value, op=op)

    def reduce(self, a: np.ndarray) -> np.ndarray:
        """Sums at every x cell of the grid, on every rank (collective).

        Parameters
        ----------
        a : ndarray, shape (bands, [x_owned,] *k_cells)
            This rank's block, the x axis absent for uniform problems (then, with an
            ``x_range``, the sums are the same at every owned x).

        Returns
        -------
        ndarray, shape (nx,)
            ``sum_bands sum_k w_k a``; nx is the block's x size (1 without x axis) when
            ``x_range`` is None.
        """
        summed = a.sum(axis=0)
        k_axes = tuple(range(summed.ndim - self.weights.ndim, summed.ndim))
        local = np.tensordot(summed, self.weights, axes=(k_axes, tuple(range(len(k_axes)))))
        if self.x_range is None:
            full = np.array(local, dtype=float).reshape(-1)
        else:
            full = np.zeros(self.nx)
            full[slice(*self.x_range)] = local
        if self.comm is not None:
            self.comm.Allreduce(MPI.IN_PLACE, full, op=MPI.SUM)
        return full

    def __call__(self, a: np.ndarray) -> np.ndarray:
        """Sums at this rank's x cells (collective): shape (x_owned) (``()`` without x)."""
        x_shape = a.shape[1:a.ndim - self.weights.ndim]
        owned = slice(None) if self.x_range is None else slice(*self.x_range)
        return self.reduce(a)[owned].reshape(x_shape)

    def min(self, values) -> float:
        """Smallest of ``values`` on all ranks (+inf if empty everywhere)."""
        return self._allreduce(float(np.min(values, initial=np.inf)), MPI.MIN)

    def max(self, values) -> float:
        """Largest of ``values`` on all ranks (-inf if empty everywhere)."""
        return self._allreduce(float(np.max(values, initial=-np.inf)), MPI.MAX)

    def all(self, flags) -> bool:
        """Whether ``flags`` are all true on every rank."""
        return self._allreduce(bool(np.all(flags)), MPI.LAND)


def _over_x(a: np.ndarray, k_ndim: int) -> np.ndarray:
    """x-resolved array (*x_cells) -> (1, *x_cells, 1 per k axis), broadcastable to a block."""
    return a.reshape((1,) + a.shape + (1,) * k_ndim)


def _occupation_slope(occupation: np.ndarray, temperature: float) -> np.ndarray:
    """``-f0'(eps - mu) = d f0 / d mu = f0 (1 - f0) / T`` (1/energy)."""
    return occupation * (1 - occupation) / temperature


def _as_k_sum(k_weights) -> KSum:
    """A :class:`KSum` as given, or a serial one over plain k-cell measures."""
    return k_weights if isinstance(k_weights, KSum) else KSum(k_weights)


def solve_chemical_potential(energy, k_weights, density, temperature, guess=None):
    """Chemical potential mu(x) with ``sum_bands int [dk] f0(eps; mu(x), T) = n(x)``.

    Safeguarded Newton iteration, vectorised over x: Newton steps on ``log n_eq(mu)``
    (exact in the non-degenerate tail, where n_eq grows as exp(mu/T)) inside a bracket that
    is shrunk at every iterate; a step leaving the bracket is replaced by bisection.  Stops
    where ``|n_eq - n| <= DENSITY_RTOL * n + eps_machine * bands * sum(w)`` (the floor is the
    round-off of f0 summed over k) or where the bracket is a few ulps of mu wide.  With a
    :class:`KSum` on a communicator the call is collective: sums, bracket and stopping test
    cover the k cells of all ranks, which iterate together.

    Parameters
    ----------
    energy : ndarray, shape (bands, *k_cells)
        Band energies on this rank's k cells (energy unit).
    k_weights : ndarray, shape (k_cells), or KSum
        Cell measures ``prod(k widths) / (2 pi)^dk`` (serial), or a :class:`KSum` over them
        when k may be split between ranks.
    density : ndarray, shape (x_cells) (``()`` for one point)
        Target density n(x) at this rank's x cells (1/length^dk).
    temperature : float
        T > 0 (energy unit).
    guess : float or ndarray broadcastable to density.shape, optional
        Starting mu (e.g. the previous solution); clipped into the bracket.

    Returns
    -------
    mu : ndarray, shape (x_cells)
    occupation : ndarray, shape (bands, *x_cells, *k_cells)
        ``f0(eps; mu(x), T)``, the equilibrium at the returned mu.

    Raises
    ------
    ValueError
        If some n(x) is not inside ``(0, bands * sum(w))``: no chemical potential exists
        (raised on every rank when some rank has such an n).
    """
    k_sum = _as_k_sum(k_weights)
    energy = np.asarray(energy, dtype=float)
    density = np.asarray(density, dtype=float)
    x_shape, k_ndim = density.shape, k_sum.weights.ndim
    capacity = energy.shape[0] * k_sum.measure
    outside = ~((density > 0) & (density < capacity))
    if not k_sum.all(~outside):  # every rank raises: none is left waiting in a reduction
        where = "a density on another rank"
        if np.any(outside):
            index = tuple(np.argwhere(outside)[0])
            where = (f"density n = {float(density[index])!r} at x index "
                     f"{tuple(int(i) + k_sum.start for i in index)}")
        raise ValueError(
            f"{where}: no chemical potential exists, expected 0 < n < bands * k measure = "
            f"{float(capacity)!r} (the distribution is empty, negative or overfilled)")
    eps = energy.reshape(energy.shape[:1] + (1,) * len(x_shape) + energy.shape[1:])

    # f0 <= exp((mu - eps_min)/T) and 1 - f0 <= exp((eps_max - mu)/T) bound n_eq from both
    # sides, so [lo, hi] contains the root (eps_min, eps_max over the k cells of all ranks).
    occupied = energy[:, k_sum.weights > 0]
    fraction = density / capacity
    lo = k_sum.min(occupied) + temperature * np.log(fraction)
    hi = k_sum.max(occupied) - temperature * np.log1p(-fraction)
    mu = np.clip(np.broadcast_to(0.5 * (lo + hi) if guess is None else guess, x_shape),
                 lo, hi)
    floor = np.finfo(float).eps * capacity
    for _ in range(_MAX_ITERATIONS):
        occupation = fermi_dirac(eps, _over_x(mu, k_ndim), temperature)
        n_eq = k_sum(occupation)
        residual = n_eq - density
        done = ((np.abs(residual) <= DENSITY_RTOL * density + floor)
                | (hi - lo <= 4 * np.spacing(np.abs(mu))))
        if k_sum.all(done):
            return mu, occupation
        lo = np.where(residual < 0, mu, lo)
        hi = np.where(residual > 0, mu, hi)
        slope = k_sum(_occupation_slope(occupation, temperature))
        with np.errstate(divide="ignore", invalid="ignore"):
            newton = mu - (np.log(n_eq) - np.log(density)) * n_eq / slope
        inside = np.isfinite(newton) & (newton > lo) & (newton < hi)
        mu = np.where(done, mu, np.where(inside, newton, 0.5 * (lo + hi)))
    raise RuntimeError(f"chemical potential: no convergence in {_MAX_ITERATIONS} iterations "
                       f"(largest density residual {np.max(np.abs(residual))!r})")


class _BandRelaxation:
    """Common part of the band-mode operators: ``R[f] = (f_eq - f)/tau``.

    Parameters
    ----------
    energy : ndarray, shape (bands, *k_cells)
        Bare band energies at the k-cell centres (energy unit).
    tau : float
        Relaxation time (hbar/energy), > 0.
    mu, temperature : float
        Chemical potential and temperature T > 0 of the target (energy unit).
    x_axes : int
        Number of x axes between the band axis and the k axes of a block (0 or 1).

    Attributes
    ----------
    rate : float
        1/tau (energy/hbar).
    """

    def __init__(self, energy, tau: float, mu: float, temperature: float, x_axes: int = 0):
        self.energy = np.asarray(energy, dtype=float)
        self.tau, self.rate = float(tau), 1.0 / float(tau)
        self.mu, self.temperature, self.x_axes = float(mu), float(temperature), int(x_axes)

    def _with_x_axes(self, a: np.ndarray) -> np.ndarray:
        """(bands, *k_cells) -> (bands, 1 per x axis, *k_cells), broadcastable to a block."""
        return a.reshape(a.shape[:1] + (1,) * self.x_axes + a.shape[1:])

    def _check_block(self, f: np.ndarray):
        k_cells = self.energy.shape[1:]
        if (f.ndim != 1 + self.x_axes + len(k_cells) or f.shape[0] != self.energy.shape[0]
                or f.shape[f.ndim - len(k_cells):] != k_cells):
            raise ValueError(f"distribution block of shape {f.shape}: expected (bands = "
                             f"{self.energy.shape[0]}, {self.x_axes} x axes, *k_cells = "
                             f"{k_cells})")

    def equilibrium(self, f: np.ndarray, field=None) -> np.ndarray:
        """The f_eq that R relaxes ``f`` towards (broadcastable to f)."""
        raise NotImplementedError

    def __call__(self, f: np.ndarray, field=None) -> np.ndarray:
        """R[f] (shape of f, 1/time): ``(f_eq - f)/tau``.

        Parameters
        ----------
        f : ndarray, shape (bands, *x_cells, *k_cells)
        field : ndarray, shape (dk,), optional
            Uniform electric field E(t) (energy/(e length)); used by the field-renormalised
            target only.
        """
        self._check_block(f)
        return self.rate * (self.equilibrium(f, field) - f)


class FixedRelaxation(_BandRelaxation):
    """``R[f] = rate * (target - f)``, target ``f0(eps; mu, T)`` precomputed per k.

    Parameters as for the band operators: ``(energy, tau, mu, temperature, x_axes=0)`` with
    energy of shape (bands, *k_cells), tau in hbar/energy, mu and T in the energy unit, and
    ``x_axes`` the number of x axes of a block (0 or 1).
    """

    def __init__(self, energy, tau: float, mu: float, temperature: float, x_axes: int = 0):
        super().__init__(energy, tau, mu, temperature, x_axes)
        self._target = self._with_x_axes(fermi_dirac(self.energy, self.mu, self.temperature))

    def target(self, field=None) -> np.ndarray:
        """f_eq, shape (bands, 1 per x axis, *k_cells); ``field`` is not used."""
        return self._target

    def equilibrium(self, f: np.ndarray, field=None) -> np.ndarray:
        return self.target(field)

    def solve_shifted(self, shift: float, rhs: np.ndarray) -> np.ndarray:
        """X with ``shift X - J[X] = rhs``, J = dR/df = -1/tau (shift > 0)."""
        return rhs / (shift + self.rate)


class FieldRenormalisedRelaxation(FixedRelaxation):
    """``R[f] = -(f - f0(eps + delta; mu, T))/tau``, ``delta_n = E.Gq_n.E / 2``.

    The field-renormalised target of Qiang et al. Eq. (9) (docs/formulas.md); with e = 1 the
    charge sign drops out of the quadratic shift.

    Parameters
    ----------
    energy : ndarray, shape (bands, *k_cells)
        Bare band energies, band axis FIRST (solver layout).
    band_normalised_metric : ndarray, shape (dk, dk, *k_cells, bands)
        Gq_n^{ij}(k) in :class:`moyal.geometry.BandGeometry` layout, band axis LAST, as
        ``BandGeometry.band_normalised_metric`` is returned (length^2/energy); it is moved to
        the solver layout (dk, dk, bands, *k_cells) here, once.
    tau, mu, temperature, x_axes
        As for :class:`FixedRelaxation`; the target at E = 0 is the fixed one.
    """

    def __init__(self, energy, band_normalised_metric, tau: float, mu: float,
                 temperature: float, x_axes: int = 0):
        super().__init__(energy, tau, mu, temperature, x_axes)
        metric = np.asarray(band_normalised_metric, dtype=float)
        k_cells, dk = self.energy.shape[1:], self.energy.ndim - 1
        expected = (dk, dk) + k_cells + self.energy.shape[:1]
        if metric.shape != expected:
            raise ValueError(f"band_normalised_metric of shape {metric.shape}: expected "
                             f"{expected} (geometry layout: d, d, *k_cells, bands)")
        self.metric = np.moveaxis(metric, -1, 2)
        self._field = np.zeros(dk)

    def energy_shift(self, field) -> np.ndarray:
        """``delta_n(k) = (1/2) sum_ij E_i Gq_n^{ij}(k) E_j``, shape (bands, *k_cells)."""
        return 0.5 * np.einsum("i,j,ij...->...", field, field, self.metric)

    def target(self, field=None) -> np.ndarray:
        """f0(eps + delta(E)), shape (bands, 1 per x axis, *k_cells).

        Recomputed only when E changes (a DC field costs nothing per call).
        """
        if field is None:
            raise ValueError("field-renormalised relaxation needs the electric field E(t)")
        field = np.asarray(field, dtype=float)
        if field.shape != self._field.shape:
            raise ValueError(f"field of shape {field.shape}: expected {self._field.shape} "
                             "(one component per k direction)")
        if not np.array_equal(field, self._field):
            self._field = field.copy()
            self._target = self._with_x_axes(fermi_dirac(
                self.energy + self.energy_shift(field), self.mu, self.temperature))
        return self._target


class ConservingRelaxation(_BandRelaxation):
    """``R[f] = -(f - f0(eps; mu(x), T))/tau`` with mu(x) fixed by the local density.

    At each call ``n(x) = sum_bands sum_k w_k f`` and mu(x) solves
    ``sum_bands sum_k w_k f0(eps; mu(x), T) = n(x)`` (:func:`solve_chemical_potential`,
    warm-started from the previous call's mu), so ``sum_bands sum_k w_k R[f] = 0`` for every x
    to the density tolerance: R conserves particles.

    Parameters
    ----------
    energy : ndarray, shape (bands, *k_cells)
    k_weights : ndarray, shape (k_cells), or KSum
        k-cell measures ``prod(k widths) / (2 pi)^dk`` (serial), or a :class:`KSum` over
        them when the grid may split k between MPI ranks (then every call is collective).
    tau : float
    mu : float
        Starting guess of the chemical potential (energy unit).
    temperature : float
    x_axes : int

    Attributes
    ----------
    chemical_potential : ndarray, shape (x_cells)
        mu(x) of the last evaluation (a scalar before the first).
    """

    def __init__(self, energy, k_weights, tau: float, mu: float, temperature: float,
                 x_axes: int = 0):
        super().__init__(energy, tau, mu, temperature, x_axes)
        self.k_sum = _as_k_sum(k_weights)
        if self.k_sum.weights.shape != self.energy.shape[1:]:
            raise ValueError(f"k_weights of shape {self.k_sum.weights.shape}: expected the k "
                             f"cells {self.energy.shape[1:]} of the energy")
        self.chemical_potential = np.asarray(self.mu)

    def equilibrium(self, f: np.ndarray, field=None) -> np.ndarray:
        """f0(eps; mu(x), T) with the density of f; updates :attr:`chemical_potential`."""
        density = self.k_sum(f)
        self.chemical_potential, occupation = solve_chemical_potential(
            self.energy, self.k_sum, density, self.temperature,
            guess=self.chemical_potential)
        return occupation

    def solve_shifted(self, shift: float, rhs: np.ndarray) -> np.ndarray:
        """X with ``shift X - J[X] = rhs``, J = dR/df at the last evaluated mu(x) (shift > 0).

        ``J = -(1 - P)/tau`` with the rank-one projector per x
        ``P[X] = s * sum w X / sum w s``, ``s = -f0'(eps - mu(x))`` (the response of the
        target to the density).  Since P^2 = P, ``P X = P rhs / shift`` and
        ``X = (rhs + (rate/shift) P rhs) / (shift + rate)``, exactly.
        """
        self._check_block(rhs)
        k_ndim = self.k_sum.weights.ndim
        mu = np.broadcast_to(self.chemical_potential, rhs.shape[1:1 + self.x_axes])
        slope = _occupation_slope(fermi_dirac(self._with_x_axes(self.energy),
                                              _over_x(mu, k_ndim), self.temperature),
                                  self.temperature)
        ratio = self.k_sum(rhs) / self.k_sum(slope)
        projected = slope * _over_x(ratio, k_ndim)
        return (rhs + (self.rate / shift) * projected) / (shift + self.rate)


class MatrixRelaxation:
    """Matrix-mode relaxation towards ``F_eq = f0(H0(k))`` with interband dephasing.

    In the band basis U(k) (eigenvectors of H0(k))

        R[F] = -U [Gamma o (U^dag F U - diag f0(eps))] U^dag,

    ``Gamma_nm = 1/tau`` within a (degenerate) multiplet, ``1/tau_inter`` between multiplets
    (o: elementwise product).  Treating intra-multiplet coherences at 1/tau makes R
    independent of the eigenbasis chosen inside a degenerate multiplet.  With
    ``tau_inter=None`` R is the single-time form ``-(F - F_eq)/tau``.

    Parameters
    ----------
    hamiltonian : ndarray, shape (*k_cells, N, N)
        Hermitian H0(k) at the k-cell centres (energy unit).
    tau : float
        Relaxation time of the band populations (hbar/energy).
    mu, temperature : float
        Target chemical potential and temperature T > 0 (energy unit).
    tau_inter : float, optional
        Dephasing time of interband coherences (hbar/energy).

    Notes
    -----
    Wigner matrices ``F`` have shape ``(*x_cells, *k_cells, N, N)`` (complex): the caller
    packs the dof axis into the trailing (N, N) pair; the k-only arrays broadcast over x.
    """

    def __init__(self, hamiltonian, tau: float, mu: float, temperature: float,
                 tau_inter: float | None = None):
        hamiltonian = np.asarray(hamiltonian)
        self.tau, self.rate = float(tau), 1.0 / float(tau)
        self.band_energy, self.eigenvectors = np.linalg.eigh(hamiltonian)
        self._eigenvectors_h = np.conj(np.swapaxes(self.eigenvectors, -1, -2))
        occupation = fermi_dirac(self.band_energy, mu, temperature)
        self._target = self._from_band_basis(
            occupation[..., None] * np.eye(hamiltonian.shape[-1]))
        if tau_inter is None:
            self.dephasing_rates = None
        else:
            eps = self.band_energy
            scale = 1 + np.max(np.abs(eps), axis=-1)[..., None, None]
            same = np.abs(eps[..., :, None] - eps[..., None, :]) <= _DEGENERACY_TOL * scale
            self.dephasing_rates = np.where(same, self.rate, 1.0 / float(tau_inter))

    def _to_band_basis(self, matrix):
        return self._eigenvectors_h @ matrix @ self.eigenvectors

    def _from_band_basis(self, matrix):
        return self.eigenvectors @ matrix @ self._eigenvectors_h

    def target(self, field=None) -> np.ndarray:
        """F_eq = U diag f0(eps) U^dag, shape (*k_cells, N, N); ``field`` is not used."""
        return self._target

    def __call__(self, F: np.ndarray, field=None) -> np.ndarray:
        """R[F], shape of F (1/time); ``field`` is not used."""
        if self.dephasing_rates is None:
            return self.rate * (self._target - F)
        return -self._from_band_basis(self.dephasing_rates
                                      * self._to_band_basis(F - self._target))

    def solve_shifted(self, shift: float, rhs: np.ndarray) -> np.ndarray:
        """X with ``shift X - R_lin[X] = rhs``, where ``R[F] = R_lin[F] + F_eq/tau``.

        Exact: in the band basis R_lin is the elementwise product with -Gamma.
        """
        if self.dephasing_rates is None:
            return rhs / (shift + self.rate)
        return self._from_band_basis(self._to_band_basis(rhs) / (shift + self.dephasing_rates))


def _positive(key: str, value, expect: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (
            math.isfinite(value) and value > 0):
        raise ConfigError(f"{key} = {value!r}: expected {expect}")
    return float(value)


def relaxation_from_config(kind: str, tau, tau_inter=None, mu=0.0, temperature=None, *,
                           energy=None, k_weights=None, band_normalised_metric=None,
                           hamiltonian=None, x_axes: int = 0):
    """Collision operator for a ``[collisions]`` config, with validated parameters.

    Parameters
    ----------
    kind : {"none", "fixed", "conserving", "field_renormalised", "matrix"}
    tau : float
        Relaxation time (hbar/energy), > 0.
    tau_inter : float, optional
        Interband dephasing time (hbar/energy), > 0; kind "matrix" only.
    mu : float
        Target chemical potential (the starting guess for "conserving") (energy unit).
    temperature : float
        T > 0 (energy unit).
    energy : ndarray, shape (bands, *k_cells)
        Band energies; needed by the band kinds.
    k_weights : ndarray, shape (k_cells), or KSum
        k-cell measures, or a :class:`KSum` over them across ranks; needed by "conserving".
    band_normalised_metric : ndarray, shape (dk, dk, *k_cells, bands)
        Gq in BandGeometry layout; needed by "field_renormalised".
    hamiltonian : ndarray, shape (*k_cells, N, N)
        H0(k); needed by "matrix".
    x_axes : int
        x axes of a band-mode block (0 or 1).

    Returns
    -------
    FixedRelaxation, ConservingRelaxation, FieldRenormalisedRelaxation, MatrixRelaxation
    or None
        None for kind "none" (no collision term).

    Raises
    ------
    solvers.config.ConfigError (a ValueError)
        Unknown kind, non-positive tau, tau_inter or T, tau_inter on a band kind, or a
        missing array for the kind.
    """
    if kind not in COLLISION_KINDS:
        raise ConfigError(f"collisions.kind = {kind!r}: expected one of "
                          f"{', '.join(map(repr, COLLISION_KINDS))}")
    if kind == "none":
        return None
    tau = _positive("collisions.tau", tau, "a positive time (hbar/energy)")
    temperature = _positive("collisions.temperature", temperature,
                            "a positive temperature (energy)")
    if isinstance(mu, bool) or not isinstance(mu, (int, float)) or not math.isfinite(mu):
        raise ConfigError(f"collisions.mu = {mu!r}: expected a finite energy")
    if tau_inter is not None:
        if kind != "matrix":
            raise ConfigError(f"collisions.tau_inter = {tau_inter!r}: applies to kind "
                              f"'matrix' only (kind is {kind!r})")
        tau_inter = _positive("collisions.tau_inter", tau_inter,
                              "a positive time (hbar/energy)")
    needs = {"fixed": {"energy": energy},
             "conserving": {"energy": energy, "k_weights": k_weights},
             "field_renormalised": {"energy": energy,
                                    "band_normalised_metric": band_normalised_metric},
             "matrix": {"hamiltonian": hamiltonian}}[kind]
    missing = [name for name, value in needs.items() if value is None]
    if missing:
        raise ConfigError(f"collisions.kind = {kind!r} needs {', '.join(missing)}")
    if kind == "fixed":
        return FixedRelaxation(energy, tau, mu, temperature, x_axes)
    if kind == "conserving":
        return ConservingRelaxation(energy, k_weights, tau, mu, temperature, x_axes)
    if kind == "field_renormalised":
        return FieldRenormalisedRelaxation(energy, band_normalised_metric, tau, mu,
                                           temperature, x_axes)
    return MatrixRelaxation(hamiltonian, tau, mu, temperature, tau_inter)
