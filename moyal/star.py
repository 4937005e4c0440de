"""Moyal star product of phase-space symbols (physics.md section 2).

Phase space is q = (x_1..x_dx, k_1..k_dk) with dx == dk, and the product is

    A * B = A exp[(i hbar / 2) sum_j (d<_xj d>_kj - d<_kj d>_xj)] B,

truncated at a chosen power of hbar.  Symbols may be scalar sympy expressions or
sympy matrices (non-commuting: the left factor always stays on the left).
``hbar`` is kept as a sympy symbol because it is the expansion parameter.

Multi-indices are tuples of non-negative integers over the phase-space
coordinates in the order ``space.coordinates = x + k``.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import reduce
from math import factorial

import sympy as sp


@dataclass(frozen=True)
class PhaseSpace:
    """Coordinates of phase space and the expansion parameter.

    Parameters
    ----------
    x : tuple of sympy.Symbol
        Position coordinates (length unit), length dx.
    k : tuple of sympy.Symbol
        Momentum coordinates conjugate to ``x`` ([x_j, k_j] = i hbar), length dk == dx.
    hbar : sympy.Symbol
        Expansion parameter (set to 1 only when generating numbers).
    t : sympy.Symbol
        Time, used by time-dependent potentials.
    """

    x: tuple
    k: tuple
    hbar: sp.Symbol
    t: sp.Symbol

    def __post_init__(self):
        if len(self.x) != len(self.k):
            raise ValueError(
                f"the star product pairs x_j with k_j: got {len(self.x)} x and {len(self.k)} k "
                "coordinates; add spectator coordinates so that dx == dk")

    @property
    def coordinates(self) -> tuple:
        """All phase-space coordinates, x first then k."""
        return tuple(self.x) + tuple(self.k)

    @property
    def dimension(self) -> int:
        """Number of (x_j, k_j) pairs."""
        return len(self.x)


def phase_space(dimension: int = 1) -> PhaseSpace:
    """Standard phase space with real symbols x, (y), k_x, (k_y), hbar > 0 and t.

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


def derivative(symbol, space: PhaseSpace, multi_index: tuple):
    """Partial derivative d^alpha of a scalar or matrix symbol.

    Parameters
    ----------
    symbol : sympy.Expr or sympy.Matrix
    space : PhaseSpace
    multi_index : tuple of int, length len(space.coordinates)
    """
    for coordinate, count in zip(space.coordinates, multi_index):
        if count:
            symbol = sp.diff(symbol, coordinate, count)
    return symbol


@dataclass(frozen=True)
class StarTerm:
    """One term of the expanded star product.

    The term contributes ``weight * hbar**hbar_power * (d^left A) (d^right B)``.
    """

    hbar_power: int
    weight: sp.Expr
    left: tuple
    right: tuple


def _compositions(total: int, parts: int):
    """All tuples of ``parts`` non-negative integers summing to ``total``."""
    for head in range(total, -1, -1):
        if parts == 1:
            if head == total:
                yield (head,)
            continue
        for tail in _compositions(total - head, parts - 1):
            yield (head,) + tail


def star_expansion(space: PhaseSpace, order: int) -> tuple:
    """The bidifferential operator of the star product, term by term, to hbar^order.

    The operator P = sum_j (d<_xj d>_kj - d<_kj d>_xj) is a sum of 2 dx elementary
    pairs; the multinomial theorem gives (1/m!) P^m = sum_{|n| = m} prod_p s_p^{n_p} / n_p!
    times the product of the pair derivatives, so each multi-index n over the pairs
    is one term.

    Parameters
    ----------
    space : PhaseSpace
    order : int
        Highest power of hbar kept.

    Returns
    -------
    tuple of StarTerm
    """
    dx = space.dimension
    ncoord = 2 * dx
    # (left coordinate, right coordinate, sign) of each elementary pair
    pairs = [(j, dx + j, 1) for j in range(dx)] + [(dx + j, j, -1) for j in range(dx)]
    terms = []
    for m in range(order + 1):
        for counts in _compositions(m, len(pairs)):
            left = [0] * ncoord
            right = [0] * ncoord
            weight = (sp.I / 2) ** m
            for (lc, rc, sign), n in zip(pairs, counts):
                left[lc] += n
                right[rc] += n
                weight *= sp.Integer(sign) ** n / factorial(n)
            terms.append(StarTerm(m, sp.nsimplify(weight), tuple(left), tuple(right)))
    return tuple(terms)


def star(a, b, space: PhaseSpace, order: int):
    """Moyal product a * b truncated at hbar^order.

    Parameters
    ----------
    a, b : sympy.Expr or sympy.Matrix
        Phase-space symbols (functions of ``space.coordinates``).
    space : PhaseSpace
    order : int
        Highest power of hbar of the bidifferential series kept.

    Returns
    -------
    sympy.Expr or sympy.Matrix
        The truncated product (expanded).
    """
    pieces = [term.weight * space.hbar ** term.hbar_power
              * (derivative(a, space, term.left) * derivative(b, space, term.right))
              for term in star_expansion(space, order)]
    return sp.expand(reduce(lambda u, w: u + w, pieces))


def star_commutator(a, b, space: PhaseSpace, order: int):
    """a * b - b * a, each product truncated at hbar^order."""
    return sp.expand(star(a, b, space, order) - star(b, a, space, order))


def moyal_bracket(a, b, space: PhaseSpace, order: int):
    """Moyal bracket (a * b - b * a) / (i hbar); its hbar^0 term is the Poisson bracket.

    ``order`` is the truncation of the star products (so the bracket is exact to
    hbar^(order - 1)).
    """
    return sp.expand(star_commutator(a, b, space, order) / (sp.I * space.hbar))


def poisson_bracket(a, b, space: PhaseSpace):
    """{a, b} = sum_j (d_xj a d_kj b - d_kj a d_xj b) for scalar symbols."""
    return sp.expand(sum(sp.diff(a, xj) * sp.diff(b, kj) - sp.diff(a, kj) * sp.diff(b, xj)
                         for xj, kj in zip(space.x, space.k)))


def plane_wave_star(a, q, symbol, space: PhaseSpace, side: str = "left"):
    """Exact star product of a plane wave with any symbol (shift form).

    For W = exp(i (k.a + x.q)) the exponential series sums to a translation:

        W * F = W F(x + hbar a/2, k - hbar q/2),
        F * W = F(x - hbar a/2, k + hbar q/2) W.

    Parameters
    ----------
    a : sequence of sympy.Expr, length dx
        Lattice-like displacement conjugate to k (length unit).
    q : sequence of sympy.Expr, length dx
        Wave vector conjugate to x (inverse length).
    symbol : sympy.Expr or sympy.Matrix
        The other factor F(x, k).
    space : PhaseSpace
    side : {"left", "right"}
        Whether the plane wave is the left or the right factor.

    Returns
    -------
    sympy.Expr or sympy.Matrix
    """
    if side not in ("left", "right"):
        raise ValueError(f"side must be 'left' or 'right', got {side!r}")
    sign = 1 if side == "left" else -1
    wave = sp.exp(sp.I * sum(kj * aj for kj, aj in zip(space.k, a))
                  + sp.I * sum(xj * qj for xj, qj in zip(space.x, q)))
    shift = {xj: xj + sign * space.hbar * aj / 2 for xj, aj in zip(space.x, a)}
    shift.update({kj: kj - sign * space.hbar * qj / 2 for kj, qj in zip(space.k, q)})
    shifted = symbol.subs(shift, simultaneous=True)
    return wave * shifted if side == "left" else shifted * wave


def hbar_coefficients(expression, space: PhaseSpace, order: int) -> list:
    """Coefficients of hbar^0 .. hbar^order of an expression polynomial in hbar.

    Works elementwise for matrices.  Used for order-by-order comparisons.
    """
    expanded = sp.expand(expression)
    if isinstance(expanded, sp.MatrixBase):
        return [expanded.applyfunc(lambda e, m=m: sp.expand(e).coeff(space.hbar, m))
                for m in range(order + 1)]
    return [expanded.coeff(space.hbar, m) for m in range(order + 1)]


__all__ = ["PhaseSpace", "phase_space", "derivative", "StarTerm", "star_expansion", "star",
           "star_commutator", "moyal_bracket", "poisson_bracket", "plane_wave_star",
           "hbar_coefficients"]
