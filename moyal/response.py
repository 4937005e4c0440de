"""Conductivity formulas as numeric k-integrals (docs/geometry.md; Qiang, Liu, Gao, Lu and
Xie, "A Clarification on Quantum-Metric-Induced Nonlinear Transport", Eqs. 11-14).

Units: hbar = e = k_B = 1, energy unit E0, length unit L0, tau in hbar/E0.  With the current
j_a = sigma_ab E_b + sigma_abc E_b E_c (electron charge -e) the formulas are, with
int = sum_n int d^d k / (2 pi)^d and f0 = f0(eps_n - mu):

=================  ==========================================================  =========
quantity           Fermi sea form  /  Fermi-surface form (weight -f0')         per tau^p
=================  ==========================================================  =========
drude  (ab)        int d_a d_b eps f0  /  int v_a v_b (-f0')                   p = 1
ahe    (ab)        -int Omega^{ab} f0                                          p = 0
nonlinear_drude    -int d_i d_j d_k eps f0  /  -int v_i d_j d_k eps (-f0')     p = 2
bcd    (ijk)       1/2 int (d_k Omega^{ij} + d_j Omega^{ik}) f0                p = 1
                   /  1/2 int (v_k Omega^{ij} + v_j Omega^{ik}) (-f0')
qm_* (ijk)         -int [a d_i Gq^{jk} - b (d_k Gq^{ij} + d_j Gq^{ik})] f0       p = 0
                   /  -int [a v_i Gq^{jk} - b (v_k Gq^{ij} + v_j Gq^{ik})] (-f0')
=================  ==========================================================  =========

with (a, b) = (1, 1/2) for WPD (Qiang et al. Eq. 13; its surface form is Eq. 14), (2, 1/2)
for LKA and (1/2, 1) for QK (Qiang et al. Table 1).  The surface forms follow from the sea
forms by integration by parts, exact on the periodic Brillouin zone; on a continuum box the
sea forms of these total-derivative integrands pick up a boundary term wherever an occupied
band meets the box edge.  :func:`default_form` chooses the accurate form by measurement
(docs/formulas.md): the Fermi-surface form at T = 0 and on a box, the sea form at T > 0 on
the Brillouin zone.

Temperature: T > 0 uses Fermi-Dirac f0 and -f0'.  At T = 0, f0 is the step theta(mu - eps)
and the Fermi-surface delta function delta(eps - mu) is integrated with the linear simplex
method (intervals in 1D, two triangles per grid cell in 2D): eps and the integrand are
interpolated linearly on each simplex and the delta function is integrated exactly along the
resulting Fermi line, which converges as O(dk^2) with no smearing parameter.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from .geometry import BandGeometry, KGrid

__all__ = ["QUANTITIES", "QUANTUM_METRIC_FORMS", "Quantity", "fermi_dirac",
           "fermi_window", "fermi_sea_weights", "fermi_surface_weights", "fermi_simplices",
           "FermiSimplices", "default_form", "DEFAULT_FORM_RULE",
           "integrand", "occupation_weights", "response_tensors", "component_labels"]

# (a, b) in -int [a d_i Gq^{jk} - b (d_k Gq^{ij} + d_j Gq^{ik})] f0, Qiang et al. Table 1.
QUANTUM_METRIC_FORMS = {"wpd": (1.0, 0.5), "lka": (2.0, 0.5), "qk": (0.5, 1.0)}


@dataclass(frozen=True)
class Quantity:
    """Metadata of a response tensor.

    Attributes
    ----------
    rank : int
        2 for sigma_ab, 3 for sigma_abc.
    tau_power : int
        The tensor is proportional to tau^tau_power.
    forms : tuple of str
        Available forms ("sea", "surface").
    description : str
    """

    rank: int
    tau_power: int
    forms: tuple
    description: str

    def unit(self, dimension: int) -> str:
        """Unit of the reported number (tau in hbar/E0)."""
        if self.rank == 2:
            return f"e^2/hbar * L0^({2 - dimension})"
        return f"e^3/hbar * L0^({3 - dimension}) / E0"


QUANTITIES = {
    "drude": Quantity(2, 1, ("sea", "surface"), "Drude conductivity"),
    "ahe": Quantity(2, 0, ("sea",), "intrinsic anomalous Hall conductivity"),
    "nonlinear_drude": Quantity(3, 2, ("sea", "surface"),
                                "nonlinear Drude conductivity, Qiang et al. Eq. (11)"),
    "bcd": Quantity(3, 1, ("sea", "surface"),
                    "Berry-curvature-dipole conductivity, Qiang et al. Eq. (12)"),
    **{f"qm_{name}": Quantity(3, 0, ("sea", "surface"),
                              f"quantum-metric-dipole conductivity, {name.upper()} form "
                              "(Qiang et al. Table 1)")
       for name in QUANTUM_METRIC_FORMS},
}


def fermi_dirac(energy: np.ndarray, mu: float, temperature: float) -> np.ndarray:
    """Occupation f0(eps - mu); at T = 0 the step theta(mu - eps) (1/2 at eps = mu)."""
    if temperature == 0:
        return np.heaviside(mu - energy, 0.5)
    # 1/2 (1 - tanh(x/2)) is the overflow-free form of 1 / (exp(x) + 1).
    return 0.5 * (1.0 - np.tanh((energy - mu) / (2.0 * temperature)))


def fermi_window(energy: np.ndarray, mu: float, temperature: float) -> np.ndarray:
    """-d f0 / d eps at T > 0 (units 1/E0)."""
    if temperature <= 0:
        raise ValueError("fermi_window needs T > 0; use fermi_surface_weights at T = 0")
    return 0.25 / temperature / np.cosh((energy - mu) / (2.0 * temperature)) ** 2


def fermi_sea_weights(grid: KGrid, energy: np.ndarray, mu: float,
                      temperature: float) -> np.ndarray:
    """Weights W with sum(W * F) = sum_n int [dk] F_n f0(eps_n - mu); shape (*grid, N)."""
    return grid.weights[..., None] * fermi_dirac(energy, mu, temperature)


@dataclass(frozen=True)
class FermiSimplices:
    """Grid simplices (intervals in 1D, two triangles per cell in 2D) for the T = 0
    Fermi-surface integration, prepared once per grid and reused for every mu.

    Attributes
    ----------
    energy : ndarray (d+1, Q)
        Vertex energies of the Q (simplex, band) pairs, sorted ascending along axis 0.
    point : ndarray (d+1, Q)
        Flat index of each vertex into the (*grid, N) band arrays.
    speed_ratio : ndarray (d+1, Q)
        Slope of the linear interpolant / |v| at the vertex (see fermi_surface_weights).
    measure : float
        Simplex length (1D) or area (2D).
    shape : tuple
        (*grid, N).
    """

    energy: np.ndarray
    point: np.ndarray
    speed_ratio: np.ndarray
    measure: float
    shape: tuple


# Each grid cell is cut into the triangles (00, 10, 11) and (00, 01, 11): from vertex 0 the
# first triangle steps along x then y, the second along y then x.
_SIMPLICES = {1: (((0,), (1,)),), 2: (((0, 0), (1, 0), (1, 1)), ((0, 0), (0, 1), (1, 1)))}


def fermi_simplices(grid: KGrid, geometry: BandGeometry) -> FermiSimplices:
    """Prepare the simplices of ``grid`` (cells outside a continuum cutoff are dropped)."""
    energy = geometry.energy
    point_index = np.arange(energy.size).reshape(energy.shape)
    speed = np.sqrt(np.sum(geometry.velocity ** 2, axis=0))
    inside = np.broadcast_to((grid.weights > 0)[..., None], energy.shape)
    energies, points, speeds = [], [], []
    for simplex in _SIMPLICES[grid.dimension]:
        corner = [_cell_corners(a, v, grid.periodic) for v in simplex
                  for a in (energy, point_index, speed, inside)]
        valid = np.logical_and.reduce(corner[3::4]).ravel()
        e = np.stack([c.ravel() for c in corner[0::4]])[:, valid]
        # The interpolant's gradient: one difference per direction along the simplex path.
        steps = [np.nonzero(np.subtract(b, a))[0][0] for a, b in zip(simplex, simplex[1:])]
        gradient = np.zeros((grid.dimension, e.shape[1]))
        for i, axis in enumerate(steps):
            gradient[axis] = (e[i + 1] - e[i]) / grid.spacing[axis]
        slope = np.sqrt(np.sum(gradient ** 2, axis=0))
        vertex_speed = np.stack([c.ravel() for c in corner[2::4]])[:, valid]
        energies.append(e)
        points.append(np.stack([c.ravel() for c in corner[1::4]])[:, valid])
        with np.errstate(divide="ignore", invalid="ignore"):
            speeds.append(np.where(slope > 0, slope / np.maximum(vertex_speed, 0.5 * slope),
                                   0.0))
    energy_all, point_all, ratio_all = (np.concatenate(x, axis=1)
                                        for x in (energies, points, speeds))
    order = np.argsort(energy_all, axis=0)
    measure = float(np.prod(grid.spacing)) / (1 if grid.dimension == 1 else 2)
    return FermiSimplices(np.take_along_axis(energy_all, order, axis=0),
                          np.take_along_axis(point_all, order, axis=0),
                          np.take_along_axis(ratio_all, order, axis=0),
                          measure, energy.shape)


def fermi_surface_weights(grid: KGrid, geometry: BandGeometry, mu: float,
                          temperature: float,
                          simplices: FermiSimplices | None = None) -> np.ndarray:
    """Weights W with sum(W * F) = sum_n int [dk] F_n (-f0'(eps_n - mu)); shape (*grid, N).

    At T = 0 the linear simplex method (see module docstring) gives the weights of
    delta(eps - mu) = dl / |grad eps| along the Fermi line.  The line is the zero set of the
    linearly interpolated eps - mu; F / |v| (with the analytic velocity v at the grid points)
    is interpolated linearly to the line.  Using |v| rather than the slope of the linear
    interpolant makes the error O(dk^2) instead of O(dk).  Where |v| at a vertex is below
    half the interpolant's slope (a band extremum nearby), the slope is used instead.

    Parameters
    ----------
    simplices : FermiSimplices, optional
        From :func:`fermi_simplices`, to reuse across chemical potentials.
    """
    if temperature > 0:
        return grid.weights[..., None] * fermi_window(geometry.energy, mu, temperature)
    if simplices is None:
        simplices = fermi_simplices(grid, geometry)
    e = simplices.energy
    crossing = np.nonzero((e[0] <= mu) & (mu < e[-1]))[0]
    e = e[:, crossing]
    with np.errstate(divide="ignore", invalid="ignore"):
        if e.shape[0] == 2:
            s = (mu - e[0]) / (e[1] - e[0])
            density = simplices.measure / (e[1] - e[0])
            coefficients = np.stack([1 - s, s]) * density
        else:
            lower = mu < e[1]
            s13 = (mu - e[0]) / (e[2] - e[0])
            s12 = (mu - e[0]) / (e[1] - e[0])
            s23 = (mu - e[1]) / (e[2] - e[1])
            # Density of states of the linear triangle, halved because the line integral of
            # a linear function is the mean of its end-point values.
            half_dos = np.where(lower, (mu - e[0]) / ((e[1] - e[0]) * (e[2] - e[0])),
                                (e[2] - mu) / ((e[2] - e[0]) * (e[2] - e[1]))) \
                * simplices.measure
            coefficients = np.stack([
                np.where(lower, 2 - s13 - s12, 1 - s13),
                np.where(lower, s12, 1 - s23),
                np.where(lower, s13, s13 + s23)]) * half_dos
    coefficients = coefficients * simplices.speed_ratio[:, crossing]
    weights = np.bincount(simplices.point[:, crossing].ravel(), coefficients.ravel(),
                          minlength=int(np.prod(simplices.shape)))
    return weights.reshape(simplices.shape) / (2 * np.pi) ** grid.dimension


def _cell_corners(array: np.ndarray, offset: tuple, periodic: bool) -> np.ndarray:
    """Values at grid point (i + offset) for every cell (i) of the grid (cells that would
    leave a non-periodic grid are dropped)."""
    if periodic:
        return np.roll(array, tuple(-o for o in offset), axis=tuple(range(len(offset))))
    index = tuple(slice(o, o + n - 1) for o, n in zip(offset, array.shape))
    return array[index]


#: The rule of :func:`default_form`, for output files and messages.
DEFAULT_FORM_RULE = ("default form: Fermi-surface at T = 0 and on a continuum box, Fermi-sea at "
                     "T > 0 on the Brillouin zone (the more accurate, measured in "
                     "docs/formulas.md); Drude always surface, AHE always sea")


def default_form(quantity: str, periodic: bool, temperature: float) -> str:
    """The more accurate of the sea and Fermi-surface forms, chosen by measurement.

    * T = 0: the Fermi-surface form (linear simplex delta function, O(dk^2)); the sea form
      integrates a step by the rectangle rule (erratic O(dk)) and is 3-13 times further from
      the converged value on tilted QWZ at 100^2 to 800^2 (docs/formulas.md).
    * T > 0 on the periodic Brillouin zone: the sea form, whose integrand f0 is smoother than
      the surface form's -f0' (at T = 0.01 on tilted QWZ, 400^2: 3e-8 against 1e-5).
    * On a continuum box: the Fermi-surface form at any T, because the sea forms of the
      total-derivative integrands pick up a boundary term where an occupied band meets the
      box edge (9-27% for the toy model of Qiang et al. on [-0.8, 0.8]^2).

    The Drude term always uses the Fermi-surface form and the anomalous Hall term the sea
    form (its only one).

    Parameters
    ----------
    quantity : str
        Key of :data:`QUANTITIES`.
    periodic : bool
        True for the Brillouin-zone torus, False for a continuum box.
    temperature : float
        k_B T (energy), >= 0.

    Returns
    -------
    str
        "sea" or "surface".
    """
    if quantity == "drude":
        return "surface"
    if quantity == "ahe":
        return "sea"
    return "sea" if periodic and temperature > 0 else "surface"


def _symmetric_pair(x: np.ndarray) -> np.ndarray:
    """Y[i, j, k] = X[k, i, j] + X[j, i, k] for X[c, a, b] = d_c Q^{ab} (Q symmetric or
    antisymmetric in ab): the (d_k Q^{ij} + d_j Q^{ik}) combination."""
    return np.moveaxis(x, 0, 2) + np.swapaxes(x, 0, 1)


def _velocity_outer(velocity: np.ndarray, tensor: np.ndarray) -> np.ndarray:
    """Y[c, a, b] = v_c X^{ab}, the Fermi-surface counterpart of d_c X^{ab}."""
    return velocity[:, None, None] * tensor[None]


def integrand(geometry: BandGeometry, quantity: str, form: str) -> np.ndarray:
    """Integrand of a response tensor, to be weighted by f0 (sea) or -f0' (surface).

    Returns
    -------
    ndarray, shape (d,)*rank + (*grid, N)
    """
    if quantity not in QUANTITIES:
        raise ValueError(f"quantity {quantity!r}: expected one of {', '.join(QUANTITIES)}")
    if form not in QUANTITIES[quantity].forms:
        raise ValueError(f"form {form!r} for {quantity}: expected one of "
                         f"{', '.join(QUANTITIES[quantity].forms)}")
    g = geometry
    sea = form == "sea"
    if quantity == "drude":
        return g.inverse_mass if sea else g.velocity[:, None] * g.velocity[None]
    if quantity == "ahe":
        return -g.berry_curvature
    if quantity == "nonlinear_drude":
        return -(g.energy_third_derivative if sea
                 else _velocity_outer(g.velocity, g.inverse_mass))
    if quantity == "bcd":
        dipole = g.berry_curvature_derivative if sea \
            else _velocity_outer(g.velocity, g.berry_curvature)
        return 0.5 * _symmetric_pair(dipole)
    a, b = QUANTUM_METRIC_FORMS[quantity[3:]]
    dipole = g.band_normalised_metric_derivative if sea \
        else _velocity_outer(g.velocity, g.band_normalised_metric)
    return -(a * dipole - b * _symmetric_pair(dipole))


def occupation_weights(geometry: BandGeometry, grid: KGrid, mu, temperature: float, kinds):
    """For each chemical potential of ``mu``, the k-point weights of the forms in ``kinds``:
    ``{"sea": fermi_sea_weights, "surface": fermi_surface_weights}`` (the T = 0 simplices
    are built once)."""
    simplices = fermi_simplices(grid, geometry) if "surface" in kinds and temperature == 0 \
        else None
    for chemical_potential in mu:
        weights = {}
        if "sea" in kinds:
            weights["sea"] = fermi_sea_weights(grid, geometry.energy, chemical_potential,
                                               temperature)
        if "surface" in kinds:
            weights["surface"] = fermi_surface_weights(grid, geometry, chemical_potential,
                                                       temperature, simplices)
        yield weights


def response_tensors(geometry: BandGeometry, grid: KGrid, mu, temperature: float,
                     quantities, forms: dict | None = None) -> dict:
    """Evaluate response tensors over a list of chemical potentials.

    Parameters
    ----------
    geometry : BandGeometry
        From :func:`moyal.geometry.band_geometry` on ``grid``.
    grid : KGrid
    mu : sequence of float
        Chemical potentials (E0).
    temperature : float
        k_B T in E0; 0 means step occupation.
    quantities : sequence of str
        Keys of :data:`QUANTITIES`.
    forms : dict, optional
        quantity -> "sea" | "surface"; defaults from :func:`default_form`.

    Returns
    -------
    dict
        quantity -> array (n_mu, d, d[, d]); tensors that scale with tau are per power of
        tau (the value at tau = 1 hbar/E0), in the units of :meth:`Quantity.unit`.
    """
    if temperature < 0:
        raise ValueError(f"temperature {temperature}: expected >= 0")
    mu = np.atleast_1d(np.asarray(mu, dtype=float))
    forms = {q: (forms or {}).get(q, default_form(q, grid.periodic, temperature))
             for q in quantities}
    integrands = {q: integrand(geometry, q, forms[q]) for q in quantities}
    results = {q: np.zeros((mu.size,) + integrands[q].shape[:QUANTITIES[q].rank])
               for q in quantities}
    for index, weights in enumerate(occupation_weights(geometry, grid, mu, temperature,
                                                       set(forms.values()))):
        for q in quantities:
            w = weights[forms[q]]
            results[q][index] = np.tensordot(integrands[q], w, axes=w.ndim)
    return results


def component_labels(rank: int, dimension: int) -> list:
    """Index labels and positions, e.g. ("xyy", (0, 1, 1)), in C order."""
    letters = "xyz"
    return [("".join(letters[i] for i in index), index)
            for index in itertools.product(range(dimension), repeat=rank)]
