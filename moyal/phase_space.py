"""Phase space as an object: coordinates, the expansion parameter hbar, and the Poisson bivector.

Phase space has coordinates z = (x_1..x_d, k_1..k_d) (in this order, ``space.coordinates``),
time t (a parameter, not a coordinate), and a Poisson bivector Pi^{ab}, an antisymmetric
matrix over z.  The bivector fixes the Poisson bracket and, when it is constant, the
Moyal product (:mod:`moyal.star`):

    {A, B} = Pi^{ab} d_a A d_b B,
    A * B  = A exp[(i hbar / 2) Pi^{ab} d<_a d>_b] B.

Canonical structure (the default): Pi^{x_j k_j} = 1, Pi^{k_j x_j} = -1, all other entries 0,
so {x_j, k_l} = delta_jl and [x_j, k_l] = i hbar delta_jl.

Uniform magnetic field (:meth:`Bivector.magnetic`), units hbar = e = 1, electron charge -e:
the k-k block becomes Pi^{k_i k_j} = -e epsilon_{ijl} B_l, so in two dimensions
(B along z)

    {k_x, k_y} = -B,

and Hamilton's equations dz^a/dt = {z^a, H} = Pi^{ab} d_b H give
dk/dt = -e E - e v x B (E = -grad V, H = eps(k) - e V(x)), the Lorentz force on an
electron.  Equivalently [pi_x, pi_y] = -i hbar e B for the kinetic momentum
pi = p + e A of a charge -e.  A constant bivector keeps the exponential (Moyal) formula
and its associativity; a coordinate-dependent one needs Kontsevich's corrections, which
the star product refuses.

This module imports nothing from :mod:`moyal` (it is the bottom of the symbolic layer).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import sympy as sp


@dataclass(frozen=True)
class Bivector:
    """A Poisson bivector Pi^{ab} over phase-space coordinates.

    Parameters
    ----------
    coordinates : tuple of sympy.Symbol
        The phase-space coordinates (x first, then k) indexing rows and columns.
    matrix : sympy.ImmutableMatrix
        Antisymmetric, shape (n, n) with n = len(coordinates); entries are sympy
        expressions, Pi^{ab} in units of z^a z^b / hbar: dimensionless x-k entries (1 for
        the canonical structure), inverse length squared for k-k entries (-e B / hbar).

    Raises
    ------
    ValueError
        If the matrix is not square of the coordinates' size or not antisymmetric.
    """

    coordinates: tuple
    matrix: sp.ImmutableMatrix

    def __post_init__(self):
        n = len(self.coordinates)
        matrix = sp.ImmutableMatrix(self.matrix)
        object.__setattr__(self, "coordinates", tuple(self.coordinates))
        object.__setattr__(self, "matrix", matrix)
        if matrix.shape != (n, n):
            raise ValueError(f"bivector over {n} coordinates needs an {n} x {n} matrix, "
                             f"got {matrix.shape[0]} x {matrix.shape[1]}")
        asymmetric = [(a, b) for a in range(n) for b in range(a, n)
                      if sp.expand(matrix[a, b] + matrix[b, a]) != 0]
        if asymmetric:
            a, b = asymmetric[0]
            raise ValueError(
                f"bivector must be antisymmetric: Pi^({self.coordinates[a]} "
                f"{self.coordinates[b]}) = {matrix[a, b]} but Pi^({self.coordinates[b]} "
                f"{self.coordinates[a]}) = {matrix[b, a]}")

    @classmethod
    def canonical(cls, space) -> "Bivector":
        """Canonical structure Pi^{x_j k_j} = 1, Pi^{k_j x_j} = -1 over ``space.coordinates``.

        Parameters
        ----------
        space : PhaseSpace
            Only its coordinates and ``dimension`` (number of (x_j, k_j) pairs) are read.
        """
        d = space.dimension
        matrix = sp.zeros(2 * d, 2 * d)
        for j in range(d):
            matrix[j, d + j] = 1
            matrix[d + j, j] = -1
        return cls(space.coordinates, sp.ImmutableMatrix(matrix))

    @classmethod
    def magnetic(cls, space, field) -> "Bivector":
        """Canonical structure plus a magnetic k-k block Pi^{k_i k_j} = -e epsilon_{ijl} B_l.

        Units hbar = e = 1, electron charge -e (so dk/dt = -v x B from the k-k block).

        Parameters
        ----------
        space : PhaseSpace
            Dimension 2 or 3.
        field : sympy.Expr or sequence of 3 sympy.Expr
            Dimension 2: B_z, the field normal to the (x, y) plane; then
            Pi^{k_x k_y} = -B_z.  Dimension 3: (B_x, B_y, B_z).  Given as e B / hbar,
            inverse length squared (1 / l_B^2 with l_B the magnetic length).  Entries may
            depend on x (a non-uniform field); the star product accepts only constant ones.
        """
        d = space.dimension
        if d == 2:
            components = {(0, 1): sp.sympify(field)}
        elif d == 3:
            if len(field) != 3:
                raise ValueError(f"a magnetic field in 3 dimensions has 3 components, "
                                 f"got {len(field)}")
            b = [sp.sympify(c) for c in field]
            components = {(0, 1): b[2], (1, 2): b[0], (2, 0): b[1]}
        else:
            raise ValueError(f"a magnetic field needs 2 or 3 (x, k) pairs, got {d}")
        matrix = sp.Matrix(cls.canonical(space).matrix)
        for (i, j), b_l in components.items():
            matrix[d + i, d + j] = -b_l
            matrix[d + j, d + i] = b_l
        return cls(space.coordinates, sp.ImmutableMatrix(matrix))

    def __getitem__(self, index):
        """Pi^{ab} for index (a, b) of coordinate positions."""
        return self.matrix[index]

    @property
    def is_constant(self) -> bool:
        """True when no entry depends on a phase-space coordinate (t and parameters allowed)."""
        return not (self.matrix.free_symbols & set(self.coordinates))

    def non_canonical_entries(self) -> tuple:
        """Entries (a, b, Pi^{ab}), a < b, that differ from the canonical structure."""
        d = len(self.coordinates) // 2
        return tuple((a, b, self.matrix[a, b]) for a in range(2 * d) for b in range(a + 1, 2 * d)
                     if sp.expand(self.matrix[a, b] - (1 if b == a + d else 0)) != 0)

    def is_canonical(self) -> bool:
        """True for the canonical structure Pi^{x_j k_j} = 1 (no k-k or x-x block)."""
        return not self.non_canonical_entries()

    def pairs(self) -> tuple:
        """Non-zero entries (a, b, Pi^{ab}) in row-major order (a: left, b: right derivative)."""
        n = len(self.coordinates)
        return tuple((a, b, self.matrix[a, b]) for a in range(n) for b in range(n)
                     if self.matrix[a, b] != 0)

    def jacobiator(self) -> sp.Array:
        """J^{abc} = Pi^{ad} d_d Pi^{bc} + Pi^{bd} d_d Pi^{ca} + Pi^{cd} d_d Pi^{ab}.

        The bivector is Poisson (its bracket satisfies the Jacobi identity) iff J = 0.
        For the magnetic bivector J^{k_a k_b k_c} is proportional to div B.
        """
        n = len(self.coordinates)
        pi, z = self.matrix, self.coordinates

        def cyclic(a, b, c):
            return sum(pi[a, d] * sp.diff(pi[b, c], z[d]) for d in range(n))

        return sp.Array([[[sp.simplify(cyclic(a, b, c) + cyclic(b, c, a) + cyclic(c, a, b))
                           for c in range(n)] for b in range(n)] for a in range(n)])

    def is_poisson(self) -> bool:
        """True when the Jacobi identity holds (:meth:`jacobiator` vanishes identically)."""
        return all(entry == 0 for entry in sp.flatten(self.jacobiator().tolist()))


@dataclass(frozen=True)
class PhaseSpace:
    """Coordinates of phase space, the expansion parameter and the Poisson bivector.

    Parameters
    ----------
    x : tuple of sympy.Symbol
        Position coordinates (length unit), length dx.
    k : tuple of sympy.Symbol
        Momentum coordinates paired with ``x`` (canonically [x_j, k_j] = i hbar),
        length dk == dx.
    hbar : sympy.Symbol
        Expansion parameter (set to 1 only when generating numbers).
    t : sympy.Symbol
        Time, used by time-dependent potentials.
    bivector : Bivector, optional
        Poisson bivector over ``x + k``, free of ``hbar``; None (default) means
        :meth:`Bivector.canonical`.
    """

    x: tuple
    k: tuple
    hbar: sp.Symbol
    t: sp.Symbol
    bivector: Bivector = None

    def __post_init__(self):
        if len(self.x) != len(self.k):
            raise ValueError(
                f"the star product pairs x_j with k_j: got {len(self.x)} x and {len(self.k)} k "
                "coordinates; add spectator coordinates so that dx == dk")
        if self.bivector is None:
            object.__setattr__(self, "bivector", Bivector.canonical(self))
        elif self.bivector.coordinates != self.coordinates:
            raise ValueError(f"bivector is over {self.bivector.coordinates}, phase space has "
                             f"coordinates {self.coordinates}")
        elif self.bivector.matrix.has(self.hbar):
            raise ValueError(f"bivector entries must not contain {self.hbar}: the expansion "
                             "parameter multiplies the whole bivector in the star product")

    @property
    def coordinates(self) -> tuple:
        """All phase-space coordinates, x first then k."""
        return tuple(self.x) + tuple(self.k)

    @property
    def dimension(self) -> int:
        """Number of (x_j, k_j) pairs."""
        return len(self.x)

    def with_bivector(self, bivector: Bivector) -> "PhaseSpace":
        """The same coordinates with another Poisson bivector."""
        return dataclasses.replace(self, bivector=bivector)


def phase_space(dimension: int = 1) -> PhaseSpace:
    """Standard phase space with real symbols x, (y), k_x, (k_y), hbar > 0, t; canonical.

    Parameters
    ----------
    dimension : int
        Number of conjugate pairs (1 or 2 in this project; any positive integer works).
    """
    labels = ("x", "y", "z")[:dimension] if dimension <= 3 else tuple(
        f"x{j}" for j in range(dimension))
    x = tuple(sp.Symbol(label, real=True) for label in labels)
    k = tuple(sp.Symbol(f"k_{label}", real=True) for label in labels)
    return PhaseSpace(x=x, k=k, hbar=sp.Symbol("hbar", positive=True),
                      t=sp.Symbol("t", real=True))


__all__ = ["Bivector", "PhaseSpace", "phase_space"]
