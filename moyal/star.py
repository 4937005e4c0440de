"""Moyal star product of phase-space symbols (docs/symbolic.md).

Phase space is z = (x_1..x_dx, k_1..k_dk) with dx == dk and a constant Poisson bivector
Pi^{ab} (:class:`moyal.phase_space.Bivector`, read from ``space.bivector``), and the product is

    A * B = A exp[(i hbar / 2) Pi^{ab} d<_a d>_b] B,

truncated at a chosen power of hbar.  The canonical bivector gives the familiar
exp[(i hbar / 2) sum_j (d<_xj d>_kj - d<_kj d>_xj)]; a constant magnetic k-k block
(-e B, units hbar = e = 1, electron charge -e) keeps the formula exact and associative.
A coordinate-dependent bivector is refused (its star product needs Kontsevich's
corrections, not implemented).  Symbols may be scalar sympy expressions or
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

from moyal.phase_space import Bivector, PhaseSpace, phase_space


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


def _require_constant(space: PhaseSpace):
    """Refuse a coordinate-dependent bivector (the exponential formula is then wrong)."""
    if not space.bivector.is_constant:
        dependent = sorted(map(str, space.bivector.matrix.free_symbols & set(space.coordinates)))
        raise ValueError(
            f"the star product needs a constant Poisson bivector; this one depends on "
            f"{', '.join(dependent)}: the Kontsevich corrections of a coordinate-dependent "
            "bivector are not implemented")


def star_expansion(space: PhaseSpace, order: int) -> tuple:
    """The bidifferential operator of the star product, term by term, to hbar^order.

    The operator P = Pi^{ab} d<_a d>_b is a sum of elementary pairs, one per non-zero
    entry of the bivector (2 dx of them for the canonical structure); the multinomial
    theorem gives (1/m!) P^m = sum_{|n| = m} prod_p Pi_p^{n_p} / n_p! times the product
    of the pair derivatives, so each multi-index n over the pairs is one term.

    Parameters
    ----------
    space : PhaseSpace
        Its bivector must be constant (independent of the coordinates).
    order : int
        Highest power of hbar kept.

    Returns
    -------
    tuple of StarTerm

    Raises
    ------
    ValueError
        If ``space.bivector`` depends on a phase-space coordinate.
    """
    _require_constant(space)
    ncoord = len(space.coordinates)
    pairs = space.bivector.pairs()  # (left coordinate, right coordinate, Pi^{ab})
    terms = []
    for m in range(order + 1):
        for counts in _compositions(m, len(pairs)):
            left = [0] * ncoord
            right = [0] * ncoord
            weight = (sp.I / 2) ** m
            for (lc, rc, entry), n in zip(pairs, counts):
                left[lc] += n
                right[rc] += n
                weight *= entry ** n / factorial(n)
            terms.append(StarTerm(m, weight, tuple(left), tuple(right)))
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
    left, right = _DerivativeTable(a, space), _DerivativeTable(b, space)
    pieces = [term.weight * space.hbar ** term.hbar_power * (left[term.left] * right[term.right])
              for term in star_expansion(space, order)]
    return sp.expand(reduce(lambda u, w: u + w, pieces))


class _DerivativeTable:
    """d^alpha of one symbol for many multi-indices, each from a cached lower derivative.

    The star series asks for the same derivatives many times (one per term); each is
    computed once, by one more differentiation of its parent multi-index.
    """

    def __init__(self, symbol, space: PhaseSpace):
        self._space = space
        self._table = {tuple(0 for _ in space.coordinates): symbol}

    def __getitem__(self, multi_index: tuple):
        if multi_index not in self._table:
            j = next(i for i, n in enumerate(multi_index) if n)
            parent = multi_index[:j] + (multi_index[j] - 1,) + multi_index[j + 1:]
            self._table[multi_index] = sp.diff(self[parent], self._space.coordinates[j])
        return self._table[multi_index]


def star_commutator(a, b, space: PhaseSpace, order: int):
    """a * b - b * a, each product truncated at hbar^order."""
    return sp.expand(star(a, b, space, order) - star(b, a, space, order))


def moyal_bracket(a, b, space: PhaseSpace, order: int):
    """Moyal bracket (a * b - b * a) / (i hbar); its hbar^0 term is :func:`poisson_bracket`.

    ``order`` is the truncation of the star products (so the bracket is exact to
    hbar^(order - 1)).
    """
    return sp.expand(star_commutator(a, b, space, order) / (sp.I * space.hbar))


def poisson_bracket(a, b, space: PhaseSpace):
    """{a, b} = Pi^{cd} d_c a d_d b for scalar symbols, with the bivector of ``space``.

    Canonically sum_j (d_xj a d_kj b - d_kj a d_xj b).  Exact for any bivector, also a
    coordinate-dependent one (no star product is involved).
    """
    z = space.coordinates
    return sp.expand(sum(entry * sp.diff(a, z[c]) * sp.diff(b, z[d])
                         for c, d, entry in space.bivector.pairs()))


def plane_wave_star(a, q, symbol, space: PhaseSpace, side: str = "left"):
    """Exact star product of a plane wave with any symbol (shift form).

    For W = exp(i c_b z^b) with c = (q, a) over z = (x, k), i.e. W = exp(i (k.a + x.q)),
    each derivative of W is i c_b W, so the exponential series sums to a translation
    by -+(hbar/2) c_a Pi^{ab}; with the canonical bivector

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
        Its bivector must be constant.
    side : {"left", "right"}
        Whether the plane wave is the left or the right factor.

    Returns
    -------
    sympy.Expr or sympy.Matrix
    """
    if side not in ("left", "right"):
        raise ValueError(f"side must be 'left' or 'right', got {side!r}")
    _require_constant(space)
    sign = 1 if side == "left" else -1
    wave = sp.exp(sp.I * sum(kj * aj for kj, aj in zip(space.k, a))
                  + sp.I * sum(xj * qj for xj, qj in zip(space.x, q)))
    z = space.coordinates
    c = tuple(q) + tuple(a)
    translation = [sp.S.Zero] * len(z)
    for row, column, entry in space.bivector.pairs():
        translation[column] += c[row] * entry
    shifted = symbol.subs({zb: zb - sign * space.hbar * tb / 2 for zb, tb in zip(z, translation)},
                          simultaneous=True)
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


__all__ = ["Bivector", "PhaseSpace", "phase_space", "derivative", "StarTerm", "star_expansion",
           "star", "star_commutator", "moyal_bracket", "poisson_bracket", "plane_wave_star",
           "hbar_coefficients"]
