"""Band geometry on k-grids from analytic k-derivatives of H0 (docs/geometry.md).

All quantities come from sum-over-states formulas in the eigenbasis; k-derivatives of the
geometry are obtained by differentiating those formulas with the product rule, using

    d_c (U^dag O U) = U^dag (d_c O) U + [U^dag O U, D_c],      (D_c)_mn = <u_m|d_c u_n>,

in the parallel-transport frame (the connection has no intra-band/intra-multiplet block at
the point k), where (D_c)_mn = <m|d_c H0|n> / (eps_n - eps_m) between different multiplets.
No eigenvector is ever finite-differenced.

Conventions (hbar = e = 1; energy unit E0, length unit L0):

* A^a_nm = i <u_n|d_a u_m>,  Omega_n^{ab} = -2 Im sum_m A^a_nm A^b_mn  (= d_a A_b - d_b A_a)
* g_n^{ab} = Re sum_m A^a_nm A^b_mn
* Gq_n^{ab} = 2 Re sum_m A^a_nm A^b_mn / (eps_n - eps_m)   (band-normalised quantum metric)
* T_n = -Gq_n of L. Balents, "Quantum kinetics, non-linear response, and band geometry"
  (talk, KITP / Hong Kong University, March 2025);  the nonadiabatic metric G_n = -Gq_n of
  Y. Ren, "Nonadiabatic Origin of Quantum-Metric Effects via Momentum-Space Metric Tensor".

Degenerate multiplets.  Bands n, m are degenerate at k when
|eps_n - eps_m| <= degeneracy_tol * (1 + max_l |eps_l(k)|).  With ``degeneracy="traced"`` the
sums over m exclude the whole multiplet of n, and every band quantity is replaced by its
multiplet average (trace over the degenerate subspace divided by its size): these are the
traced non-Abelian (U(d)-gauge-invariant) forms, and band sums weighted by f0(eps_n) are
unchanged by the averaging.  With ``degeneracy="error"`` a degeneracy raises
:class:`GeometryError` naming the k point and bands.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass, fields

import numpy as np

from .models import Model

__all__ = ["GeometryError", "KGrid", "BandGeometry", "k_grid", "band_geometry",
           "nonadiabatic_metric", "balents_T", "DEFAULT_DEGENERACY_TOL"]

DEFAULT_DEGENERACY_TOL = 1e-6


class GeometryError(ArithmeticError):
    """A band degeneracy where the non-degenerate formulas were requested."""


@dataclass(frozen=True)
class KGrid:
    """Uniform k grid with integration weights.

    Attributes
    ----------
    k : ndarray, shape (dimension, *shape)
        Momenta (1/L0).
    weights : ndarray, shape (shape)
        Measure d^dk k / (2 pi)^dk of each point (zero outside a continuum cutoff), so that
        ``sum(weights * F)`` approximates int [dk] F.
    spacing : tuple of float
        Grid step per direction.
    periodic : bool
        True for the Brillouin-zone torus.
    """

    k: np.ndarray
    weights: np.ndarray
    spacing: tuple
    periodic: bool

    @property
    def shape(self) -> tuple:
        return self.weights.shape

    @property
    def dimension(self) -> int:
        return self.k.shape[0]


def k_grid(model: Model, shape) -> KGrid:
    """Integration grid for a model's k domain.

    The periodic Brillouin zone uses k_j = -pi + 2 pi j / n (the trapezoidal rule on a
    torus, spectrally accurate for smooth integrands); a continuum box uses cell midpoints.

    Parameters
    ----------
    model : Model
    shape : sequence of int
        Points per direction, one entry per k direction.
    """
    shape = tuple(int(n) for n in shape)
    if len(shape) != model.dimension:
        raise ValueError(f"grid {list(shape)}: model {model.name!r} needs {model.dimension} "
                         "entries")
    axes, spacing = [], []
    for n, (lo, hi) in zip(shape, model.domain.bounds):
        step = (hi - lo) / n
        offset = 0.0 if model.domain.periodic else 0.5 * step
        axes.append(lo + offset + step * np.arange(n))
        spacing.append(step)
    k = np.array(np.meshgrid(*axes, indexing="ij"))
    weights = np.full(shape, np.prod(spacing) / (2 * np.pi) ** len(shape))
    if model.domain.cutoff is not None:
        weights = np.where(np.sum(k ** 2, axis=0) < model.domain.cutoff ** 2, weights, 0.0)
    return KGrid(k, weights, tuple(spacing), model.domain.periodic)


@dataclass(frozen=True)
class BandGeometry:
    """Band-resolved geometry on a k grid (last axis: band n, ascending energy).

    Index conventions: ``velocity[a]`` = d_a eps; ``inverse_mass[a, b]`` = d_a d_b eps;
    ``energy_third_derivative[a, b, c]`` = d_a d_b d_c eps; tensors ``X[a, b]`` = X^{ab};
    derivatives ``dX[c, a, b]`` = d_c X^{ab}.

    Attributes
    ----------
    energy : (*grid, N), E0
    velocity : (d, *grid, N), E0 L0
    inverse_mass : (d, d, *grid, N), E0 L0^2
    energy_third_derivative : (d, d, d, *grid, N), E0 L0^3
    berry_curvature, quantum_metric : (d, d, *grid, N), L0^2
    band_normalised_metric : (d, d, *grid, N), L0^2 / E0
    berry_curvature_derivative, quantum_metric_derivative : (d, d, d, *grid, N), L0^3
    band_normalised_metric_derivative : (d, d, d, *grid, N), L0^3 / E0
    multiplicity : (*grid, N) int
        Size of the degenerate multiplet each band belongs to (1 if non-degenerate).
    """

    energy: np.ndarray
    velocity: np.ndarray
    inverse_mass: np.ndarray
    energy_third_derivative: np.ndarray
    berry_curvature: np.ndarray
    quantum_metric: np.ndarray
    band_normalised_metric: np.ndarray
    berry_curvature_derivative: np.ndarray
    quantum_metric_derivative: np.ndarray
    band_normalised_metric_derivative: np.ndarray
    multiplicity: np.ndarray


def nonadiabatic_metric(geometry: BandGeometry) -> np.ndarray:
    """Ren's nonadiabatic metric G_n^{ij} = 2 Re sum_m A^i_nm A^j_mn / (eps_m - eps_n).

    Ren writes it for the band 0 with Delta_m0 = eps_m - eps_0; the denominator has the
    opposite sign to that of Gq, hence G_n = -Gq_n (positive definite for the lowest band).
    Shape (d, d, *grid, N), units L0^2 / E0.
    """
    return -geometry.band_normalised_metric


def balents_T(geometry: BandGeometry) -> np.ndarray:
    """The band-normalised metric of Balents' talk
    T_n^{mu nu} = -sum_m [<d_mu u_n|u_m><u_m|d_nu u_n> + (mu <-> nu)] / (eps_n - eps_m).

    With <u_m|d_nu u_n> = -i A^nu_mn this is -2 Re sum_m A^mu_nm A^nu_mn / (eps_n - eps_m),
    i.e. T_n = -Gq_n.  Shape (d, d, *grid, N), units L0^2 / E0.
    """
    return -geometry.band_normalised_metric


def _diag_product(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(A @ B)_nn for stacks of matrices (..., N, N) -> (..., N), without the full product."""
    return np.einsum("...nm,...mn->...n", a, b)


def _commutator(a, b):
    return a @ b - b @ a


def _to_eigenbasis(operator, vectors, vectors_h):
    return vectors_h @ operator @ vectors


def _geometry_chunk(model: Model, k: np.ndarray, degeneracy: str, tol: float) -> dict:
    """Geometry at points ``k`` (shape (d, M)); returns arrays with the k axis of length M."""
    d = model.dimension
    energy, vectors = np.linalg.eigh(model.derivative_function(())(k))
    vectors_h = np.conj(np.swapaxes(vectors, -1, -2))
    scale = 1.0 + np.max(np.abs(energy), axis=-1)
    # Multiplet labels: eigenvalues are sorted, so a new multiplet starts at every gap > tol.
    gaps = np.diff(energy, axis=-1)
    is_degenerate_gap = gaps <= tol * scale[:, None]
    if np.any(is_degenerate_gap) and degeneracy == "error":
        point, band = np.argwhere(is_degenerate_gap)[0]
        raise GeometryError(
            f"model {model.name!r}: bands {band} and {band + 1} are degenerate "
            f"(gap {gaps[point, band]:.3g} <= {tol:g} x {scale[point]:.3g}) at "
            f"k = {np.round(k[:, point], 6).tolist()}; use degeneracy='traced' for "
            "degenerate multiplets or move the grid off the degeneracy")
    labels = np.concatenate([np.zeros((k.shape[1], 1), int),
                             np.cumsum(~is_degenerate_gap, axis=-1)], axis=-1)
    same = labels[:, :, None] == labels[:, None, :]
    multiplicity = same.sum(axis=-1)

    def multiplet_average(x):
        # x (..., M, N): trace over each degenerate multiplet divided by its size.
        return np.einsum("pnm,...pm->...pn", same, x) / multiplicity

    with np.errstate(divide="ignore"):
        # inverse_gap[m, n] = 1 / (eps_n - eps_m) between different multiplets, else 0.
        inverse_gap = np.where(same, 0.0,
                               1.0 / (energy[:, None, :] - energy[:, :, None] + same))

    dirs = range(d)
    dH = {a: _to_eigenbasis(f, vectors, vectors_h) for (a,), f in
          ((alpha, model.derivative_function(alpha)(k)) for alpha in itertools.product(dirs))}
    d2H = {}
    for a, b in itertools.combinations_with_replacement(dirs, 2):
        d2H[a, b] = d2H[b, a] = _to_eigenbasis(model.derivative_function((a, b))(k),
                                               vectors, vectors_h)

    velocity = np.array([multiplet_average(np.real(np.diagonal(dH[a], axis1=-2, axis2=-1)))
                         for a in dirs])
    connection = {a: dH[a] * inverse_gap for a in dirs}
    # d_c of the matrix elements of d_a H0 and of the inverse gaps, parallel-transport frame.
    d_dH = {(a, c): d2H[a, c] + _commutator(dH[a], connection[c]) for a in dirs for c in dirs}
    d_inverse_gap = {c: -(velocity[c][:, None, :] - velocity[c][:, :, None]) * inverse_gap ** 2
                     for c in dirs}
    d_connection = {(a, c): d_dH[a, c] * inverse_gap + dH[a] * d_inverse_gap[c]
                    for a in dirs for c in dirs}

    shape2, shape3 = (d, d) + energy.shape, (d, d, d) + energy.shape
    out = {name: np.zeros(shape2) for name in
           ("inverse_mass", "berry_curvature", "quantum_metric", "band_normalised_metric")}
    out.update({name: np.zeros(shape3) for name in
                ("energy_third_derivative", "berry_curvature_derivative",
                 "quantum_metric_derivative", "band_normalised_metric_derivative")})
    for a, b in itertools.product(dirs, dirs):
        product = _diag_product(connection[a], connection[b])
        out["inverse_mass"][a, b] = np.real(np.diagonal(d_dH[a, b], axis1=-2, axis2=-1))
        out["berry_curvature"][a, b] = 2 * np.imag(product)
        out["quantum_metric"][a, b] = -np.real(product)
        out["band_normalised_metric"][a, b] = -2 * np.real(
            _diag_product(connection[a], connection[b] * inverse_gap))
        for c in dirs:
            d_product = (_diag_product(d_connection[a, c], connection[b])
                         + _diag_product(connection[a], d_connection[b, c]))
            out["berry_curvature_derivative"][c, a, b] = 2 * np.imag(d_product)
            out["quantum_metric_derivative"][c, a, b] = -np.real(d_product)
            out["band_normalised_metric_derivative"][c, a, b] = -2 * np.real(
                _diag_product(d_connection[a, c], connection[b] * inverse_gap)
                + _diag_product(connection[a], d_connection[b, c] * inverse_gap
                                + connection[b] * d_inverse_gap[c]))
    # d_c d_b d_a eps = [d_c (d_b dH_a)]_nn with d_b dH_a = d2H_ab + [dH_a, D_b].
    for a, b in itertools.combinations_with_replacement(dirs, 2):
        for c in dirs:
            if c < b:
                continue
            d3H = _to_eigenbasis(model.derivative_function((a, b, c))(k), vectors, vectors_h)
            third = (d3H + _commutator(d2H[a, b], connection[c])
                     + _commutator(d_dH[a, c], connection[b])
                     + _commutator(dH[a], d_connection[b, c]))
            value = np.real(np.diagonal(third, axis1=-2, axis2=-1))
            for perm in set(itertools.permutations((a, b, c))):
                out["energy_third_derivative"][perm] = value
    out = {name: multiplet_average(value) for name, value in out.items()}
    out["velocity"] = velocity
    out["energy"] = multiplet_average(energy)
    out["multiplicity"] = multiplicity
    return out


def select_bands(geometry: BandGeometry, bands) -> BandGeometry:
    """BandGeometry restricted to ``bands`` (band axis last in geometry)."""
    return BandGeometry(**{f.name: getattr(geometry, f.name)[..., list(bands)]
                           for f in fields(BandGeometry)})


def geometry_tables(model: Model, k: np.ndarray, requests: dict,
                    degeneracy: str | None = None,
                    degeneracy_tol: float = DEFAULT_DEGENERACY_TOL,
                    chunk_size: int = 20000) -> dict:
    """Arrays derived from the band geometry at points ``k``, without keeping the geometry.

    The geometry is evaluated chunk by chunk; each request maps a chunk's
    :class:`BandGeometry` (grid shape ``(M,)``) to the array it needs, with the point axis
    LAST, and only the requested arrays are kept and joined. Peak memory is one chunk's
    geometry plus the results, whatever the grid size.

    Parameters
    ----------
    model : Model
    k : ndarray, shape (d, *shape)
        Points.
    requests : dict of str -> callable
        ``name -> request(chunk geometry) -> ndarray of shape (..., M)``.
    degeneracy, degeneracy_tol, chunk_size
        As in :func:`band_geometry`.

    Returns
    -------
    dict of str -> ndarray
        ``name -> array of shape (..., *shape)``.

    Raises
    ------
    GeometryError
        On a degeneracy with ``degeneracy="error"``.
    """
    if degeneracy is None:
        degeneracy = "traced" if model.degenerate else "error"
    if degeneracy not in ("error", "traced"):
        raise ValueError(f"degeneracy = {degeneracy!r}: expected 'error' or 'traced'")
    k = np.asarray(k, dtype=float)
    if k.shape[0] != model.dimension:
        raise ValueError(f"k has {k.shape[0]} directions, model {model.name!r} has "
                         f"{model.dimension}")
    flat = k.reshape(model.dimension, -1)
    total = flat.shape[1]
    out = {}
    for start in range(0, total, chunk_size):
        chunk = BandGeometry(**_geometry_chunk(model, flat[:, start:start + chunk_size],
                                               degeneracy, degeneracy_tol))
        for name, request in requests.items():
            part = np.asarray(request(chunk))
            if name not in out:  # filled in place: no list of parts, no concatenated copy
                out[name] = np.empty(part.shape[:-1] + (total,), dtype=part.dtype)
            out[name][..., start:start + part.shape[-1]] = part
        del chunk
    return {name: array.reshape(array.shape[:-1] + k.shape[1:]) for name, array in out.items()}


def band_geometry(model: Model, grid: KGrid | np.ndarray, degeneracy: str | None = None,
                  degeneracy_tol: float = DEFAULT_DEGENERACY_TOL,
                  chunk_size: int = 20000) -> BandGeometry:
    """Eigenvalues and band geometry of ``model`` on a grid.

    Parameters
    ----------
    model : Model
    grid : KGrid or ndarray of shape (d, *shape)
        Points where the geometry is evaluated.
    degeneracy : {"error", "traced"}, optional
        Treatment of degenerate bands (see module docstring).  Default: ``"traced"`` for
        models flagged ``degenerate`` (e.g. PT-symmetric), ``"error"`` otherwise.
    degeneracy_tol : float
        Relative energy tolerance for degeneracy, |eps_n - eps_m| <= tol (1 + max|eps|).
    chunk_size : int
        k points processed together (bounds the memory of the N x N derivative matrices).

    Returns
    -------
    BandGeometry
        Arrays over the grid shape (see :class:`BandGeometry`).

    Raises
    ------
    GeometryError
        On a degeneracy with ``degeneracy="error"``.
    """
    k = grid.k if isinstance(grid, KGrid) else grid
    # the point axis is the one before the band axis; requests put it last and back
    arrays = geometry_tables(
        model, k, {spec.name: (lambda g, name=spec.name: np.moveaxis(getattr(g, name), -2, -1))
                   for spec in fields(BandGeometry)},
        degeneracy, degeneracy_tol, chunk_size)
    grid_ndim = np.ndim(k) - 1
    return BandGeometry(**{name: np.moveaxis(a, a.ndim - grid_ndim - 1, -1)
                           for name, a in arrays.items()})
