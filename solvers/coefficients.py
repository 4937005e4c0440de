"""Coefficient provider of band mode: each kernel argument evaluated where its dependency set
says, and only the arguments that can be nonzero.

The generated kernels (:mod:`moyal.ir` records) name typed arguments. By dependency set:

* ``{k, band}`` (band tables: energy derivatives, Omega, g, Gq and their k-derivatives) are
  evaluated here once, on this rank's ghosted k cells, for the evolved bands, chunk by chunk
  (:func:`moyal.geometry.geometry_tables`): the full band geometry (52 reals per k and band)
  never exists over the grid, only the tables the live kernels name;
* ``{x[, y], t}`` (potential derivatives) are sampled per call by the operator
  (:class:`solvers.band_mode.BandModeOperator`) on the faces or centres it needs.

**Pruning.** A potential derivative that is zero at every point the operator samples, for
all times (``derivative_ranges`` gives 0 +- 0: e.g. V_dxx under a uniform field, V_dtx of a
static one), makes parts of the kernels vanish identically. Which parts is decided
structurally, in the interval arithmetic of :class:`Enclosure`: every argument is the
enclosure 0 +- 1, a vanishing one 0 +- 0. Radii only add and multiply (never cancel), so a
kernel's radius is zero exactly when each of its monomials has a vanishing factor (the kernel
is identically zero: dropped), and an argument matters exactly when setting its radius to zero
lowers the kernel's radius (an unused band table is not computed; it reads as 0.0, which is
what it multiplied). The pruned operator computes the same numbers: a dropped term was an
exact zero. The set of vanishing derivatives is reduced over all ranks, so every rank and
every rank count keeps the same kernels.

**Currents.** A kernel along a direction without a grid axis (x and y in a uniform problem,
y on an (x, kx, ky) grid) is never differentiated: it only enters the current j = -sum_k J f.
It is a polynomial in the potential derivatives, c = sum_j A_j(k) M_j(x, t), with monomials
M_j and coefficients A_j that combine band tables (the order-2 current of a uniform DC
problem names 18 tables but has 3 monomials, V_dx^2, V_dx V_dy, V_dy^2). Such a kernel is
*collapsed*: its coefficients A_j are evaluated per k (chunk by chunk, from the tables they
combine, which are then not kept) and the kernel is evaluated as sum_j A_j M_j. This changes
the order of the floating-point operations of the current, not its value (agreement to
rounding, tests/test_coefficients.py).
"""

from __future__ import annotations

import dataclasses
import importlib

import numpy as np
from mpi4py import MPI

from moyal import ir

_K_INDEX = {"kx": 0, "ky": 1}
_R_INDEX = {"x": 0, "y": 1}


def load_kernels(k_dimension: int, order: int) -> tuple:
    """The generated flux kernels up to ``order`` for 1 or 2 momentum directions.

    Returns
    -------
    (tuple of moyal.ir.FluxKernel, dict)
        The kernels' IR records (the module's ``KERNELS``, in order) and their functions by
        kernel name.
    """
    module = importlib.import_module(f"moyal._generated.band_mode_{k_dimension}d")
    kernels = tuple(k for k in module.KERNELS if k.order <= order)
    return kernels, {k.name: getattr(module, k.name) for k in kernels}


def band_table(geometry, field: ir.FieldRef) -> np.ndarray:
    """The k-only array of a band-table argument, band axis first: shape (bands, *k).

    ``field.quantity`` names the :class:`moyal.geometry.BandGeometry` tensor, its components
    (real-space axes) and k-derivative the entry: d_kx d_ky eps (``energy``, derivative
    ``("kx", "ky")``) is ``inverse_mass[0, 1]``, d_ky Gq^{xx} is
    ``band_normalised_metric_derivative[1, 0, 0]``. Geometry stores the band axis last.
    """
    k = tuple(_K_INDEX[d] for d in field.derivative)
    if field.quantity == "energy":
        source = {0: geometry.energy, 1: geometry.velocity, 2: geometry.inverse_mass,
                  3: geometry.energy_third_derivative}[len(k)][k]
    else:
        components = tuple(_R_INDEX[c] for c in field.components)
        suffix = "_derivative" if k else ""
        source = getattr(geometry, field.quantity + suffix)[k + components]
    return np.moveaxis(np.asarray(source), -1, 0)


class Enclosure:
    """The set [mid - radius, mid + radius] (arrays broadcast), closed under +, - , * and
    integer powers, so that a generated coefficient evaluated on enclosures of its arguments
    encloses every value it takes (midpoint-radius interval arithmetic, rounding aside).

    ``(a +- r)(b +- s)`` is enclosed by ``ab +- (|a| s + r |b| + r s)``. numpy arrays and
    floats mix in as radius-0 enclosures (``__array_ufunc__ = None`` makes ndarray operators
    defer to this class).
    """

    __array_ufunc__ = None

    def __init__(self, mid, radius=0.0):
        self.mid, self.radius = mid, radius

    @classmethod
    def of(cls, value) -> "Enclosure":
        return value if isinstance(value, cls) else cls(value)

    @property
    def bound(self):
        """Upper bound of the absolute value of every member."""
        return np.abs(self.mid) + self.radius

    def __add__(self, other):
        other = Enclosure.of(other)
        return Enclosure(self.mid + other.mid, self.radius + other.radius)

    __radd__ = __add__

    def __neg__(self):
        return Enclosure(-self.mid, self.radius)

    def __sub__(self, other):
        return self + (-Enclosure.of(other))

    def __rsub__(self, other):
        return Enclosure.of(other) + (-self)

    def __mul__(self, other):
        other = Enclosure.of(other)
        return Enclosure(self.mid * other.mid,
                         np.abs(self.mid) * other.radius + self.radius * np.abs(other.mid)
                         + self.radius * other.radius)

    __rmul__ = __mul__

    def __pow__(self, n):
        if not (isinstance(n, int) and n >= 1):
            raise TypeError(f"Enclosure ** {n!r}: only positive integer powers")
        result = self
        for _ in range(n - 1):
            result = result * self
        return result


def _structural_bound(function, kernel, vanishing, dropped=None) -> float:
    """Bound of ``kernel`` with every argument 0 +- 1, those in ``vanishing`` (and
    ``dropped``) 0 +- 0: zero exactly when no monomial survives (a constant term counts)."""
    args = {a.name: Enclosure(0.0, 0.0 if a.name in vanishing or a.name == dropped else 1.0)
            for a in kernel.arguments}
    return float(Enclosure.of(function(**args)).bound)


def live_terms(kernels, functions, vanishing) -> tuple:
    """The kernels that are not identically zero when the potential derivatives named in
    ``vanishing`` are, and the arguments each of them still depends on.

    Returns
    -------
    (tuple of moyal.ir.FluxKernel, dict)
        Live kernels in ``kernels`` order, and ``{kernel name: frozenset of argument names}``.
    """
    live, used = [], {}
    for kernel in kernels:
        function = functions[kernel.name]
        full = _structural_bound(function, kernel, vanishing)
        if full == 0.0:
            continue
        live.append(kernel)
        used[kernel.name] = frozenset(
            a.name for a in kernel.arguments if a.name not in vanishing
            and _structural_bound(function, kernel, vanishing, dropped=a.name) != full)
    return tuple(live), used


def collapse(kernel, function, uses) -> list:
    """The kernel as ``sum_j A_j M_j``: a list of ``(monomial, coefficient)`` with the
    monomial a tuple of ``(potential name, power)`` and the coefficient a function of the
    band tables it names (``coefficient.names``, in argument order), from the kernel's own
    arithmetic applied to symbols (setup only; sympy)."""
    import sympy

    fields = [a for a in kernel.arguments if a.name in uses]
    symbols = {a.name: sympy.Symbol(a.name) for a in fields}
    potentials = [symbols[a.name] for a in fields if not a.is_band_table]
    tables = [symbols[a.name] for a in fields if a.is_band_table]
    unused = {a.name: 0 for a in kernel.arguments if a.name not in uses}
    expression = sympy.expand(function(**symbols, **unused))
    terms = sympy.Poly(expression, *potentials).terms() if potentials else [((), expression)]
    result = []
    for powers, coefficient in terms:
        names = [t.name for t in tables if coefficient.has(t)]
        evaluate = sympy.lambdify([sympy.Symbol(n) for n in names], coefficient, "numpy")
        evaluate.names = names
        monomial = tuple((p.name, int(e)) for p, e in zip(potentials, powers) if e)
        result.append((monomial, evaluate))
    return result


@dataclasses.dataclass
class BandCoefficients:
    """What a band-mode operator reads: the live kernels and the band tables they name.

    Attributes
    ----------
    order : int
    kernels : tuple of moyal.ir.FluxKernel
        Live kernels up to ``order`` (:func:`live_terms`).
    functions : dict
        Kernel functions by name.
    uses : dict
        ``{kernel name: frozenset of argument names}`` it depends on.
    tables : dict of str -> ndarray, shape (bands, *k_ghosted)
        The band tables some live kernel uses, for the evolved bands.
    energy : ndarray, shape (bands, *k_ghosted)
        Band energies of the evolved bands.
    extra : dict of str -> ndarray
        Further arrays requested at setup (:func:`band_coefficients`).
    collapsed : dict
        ``{kernel name: [(monomial, table name), ...]}`` for the collapsed kernels: the
        kernel is ``sum tables[table name] * prod V_name ** power`` (:func:`collapse`).
    """

    order: int
    kernels: tuple
    functions: dict
    uses: dict
    tables: dict
    energy: np.ndarray
    extra: dict = dataclasses.field(default_factory=dict)
    collapsed: dict = dataclasses.field(default_factory=dict)

    @property
    def collapsed_tables(self) -> set:
        """Names of the tables that hold coefficients of collapsed kernels."""
        return {name for terms in self.collapsed.values() for _, name in terms}

    def restricted(self, order: int) -> "BandCoefficients":
        """The same tables for the kernels up to a lower ``order``."""
        if order > self.order:
            raise ValueError(f"order {order} above the order {self.order} evaluated")
        return dataclasses.replace(self, order=order,
                                   kernels=tuple(k for k in self.kernels if k.order <= order))

    def evaluate(self, kernel, tables: dict, potential: dict):
        """The coefficient of ``kernel`` from table blocks and potential samples."""
        terms = self.collapsed.get(kernel.name)
        if terms is None:
            return self.functions[kernel.name](**{
                a.name: self.argument(kernel, a, tables, potential) for a in kernel.arguments})
        total = 0.0
        for monomial, name in terms:
            product = tables[name]
            for symbol, power in monomial:
                product = product * potential[symbol] ** power
            total = total + product
        return total

    def argument(self, kernel, field: ir.FieldRef, tables: dict, potential: dict):
        """Value of one argument: a table block, a potential sample, or 0.0 when the kernel
        does not depend on it."""
        if field.name not in self.uses[kernel.name]:
            return 0.0
        return (tables if field.is_band_table else potential)[field.name]


def band_coefficients(model, k_points: np.ndarray, bands, order: int, vanishing,
                      degeneracy=None, extra=None, chunk_size=2048,
                      grid_axes=None) -> BandCoefficients:
    """Evaluate the band tables the live kernels name on ``k_points``.

    Parameters
    ----------
    model : moyal.models.Model
    k_points : ndarray, shape (k_dimension, *k_ghosted)
        The k-cell centres (ghosted) of this rank.
    bands : sequence of int
        Evolved bands.
    order : int
        Highest order in hbar.
    vanishing : set of str
        Potential derivatives that are zero wherever the operator samples them, for all t,
        on every rank (:func:`vanishing_derivatives`).
    degeneracy : str, optional
        As :func:`moyal.geometry.band_geometry`.
    extra : dict of str -> callable, optional
        Further requests ``name -> request(chunk geometry)`` (point axis last, all bands);
        returned in :attr:`BandCoefficients.extra`.
    chunk_size : int
        k points per geometry chunk (:func:`moyal.geometry.geometry_tables`).
    grid_axes : collection of str, optional
        Names of the grid axes: kernels with a derivative along another direction vanish
        (nothing depends on it) and are dropped; those along another direction (currents
        only) are collapsed (:func:`collapse`). None: all kernels, none collapsed.

    Raises
    ------
    moyal.geometry.GeometryError
        On degenerate bands with ``degeneracy = "error"``.
    """
    from moyal.geometry import geometry_tables

    kernels, functions = load_kernels(len(k_points), order)
    if grid_axes is not None:  # a derivative along a direction nothing depends on is zero
        kernels = tuple(k for k in kernels if set(k.derivative) <= set(grid_axes))
    live, uses = live_terms(kernels, functions, set(vanishing))
    bands = list(bands)
    folded = [k for k in live if grid_axes is not None and k.direction not in grid_axes]
    fields = {a.name: a for kernel in live if kernel not in folded
              for a in kernel.arguments if a.is_band_table and a.name in uses[kernel.name]}
    requests = {name: (lambda g, field=field: band_table(g, field)[bands])
                for name, field in fields.items()}
    collapsed = {}
    for kernel in folded:
        collapsed[kernel.name] = []
        named = {a.name: a for a in kernel.arguments}
        for j, (monomial, coefficient) in enumerate(
                collapse(kernel, functions[kernel.name], uses[kernel.name])):
            name = f"{kernel.name}:{j}"
            collapsed[kernel.name].append((monomial, name))

            def request(g, coefficient=coefficient, named=named):
                value = coefficient(*[band_table(g, named[n])[bands] for n in coefficient.names])
                return np.broadcast_to(value, (len(bands), g.energy.shape[0]))
            requests[name] = request
    requests["energy"] = lambda g: np.moveaxis(g.energy, -1, 0)[bands]
    requests.update({f"extra:{name}": request for name, request in (extra or {}).items()})
    arrays = geometry_tables(model, k_points, requests, degeneracy, chunk_size=chunk_size)
    energy = arrays.pop("energy")
    extras = {name[len("extra:"):]: arrays.pop(name) for name in list(arrays)
              if name.startswith("extra:")}
    return BandCoefficients(order, live, functions, uses, arrays, energy, extras, collapsed)


def vanishing_derivatives(potential, grid, names, comm) -> set:
    """Potential derivatives among ``names`` that are 0 +- 0 at every real-space point the
    operator samples on any rank (ghosted centres and owned faces of each real-space axis),
    for all times; everything when there is no real space but the uniform-field ones."""
    names = tuple(names)
    if grid.x_axes:
        points = []
        for axis in grid.x_axes:
            centres, widths = grid.ghosted_cells(axis)
            points.append(np.concatenate([centres, centres - 0.5 * widths,
                                          centres + 0.5 * widths]))
        at = {"x": points[0][:, None], "y": points[1][None, :]} if len(points) == 2 \
            else {"x": points[0]}
    else:
        at = {"x": np.zeros(1)}
    ranges = potential.derivative_ranges(names=names, **at)
    bound = np.array([float(np.max(np.abs(mid) + radius)) for mid, radius in
                      (ranges[name] for name in names)])
    comm.tompi4py().Allreduce(MPI.IN_PLACE, bound, op=MPI.MAX)
    return {name for name, b in zip(names, bound) if b == 0.0}
