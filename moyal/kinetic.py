"""Kinetic-equation terms derived from the star product (docs/symbolic.md).

The Poisson bivector is read from ``space.bivector`` (:mod:`moyal.phase_space`).  Terms
derived from the star product (matrix mode, the scalar Wigner equation,
:func:`wigner_band_terms`) hold for any constant bivector, so a uniform magnetic field
is a parameter of the space; the band-geometry template (:func:`balents_template`, band
mode beyond order 0) was derived for the canonical structure and refuses any other.

Matrix mode
    i hbar d_t F = H * F - F * H.  Expanding the star products with
    :func:`moyal.star.star_expansion` gives, for each star-product multi-index,
    one term  prefactor * ((d^a H) (d^b F) -+ (d^b F) (d^a H)):  a commutator for an
    even number of derivatives, an anticommutator for an odd number (swapping the
    factors flips the sign of every elementary pair, Pi^{ba} = -Pi^{ab}).  Terms are
    returned as :class:`MatrixTerm` records; fields (H, or H0 and U) are supplied only when a
    term is evaluated, so the same term list serves the symbolic tests and codegen.

Band mode
    One real distribution f per band, d_t f + sum_a d_a J^a = sources, with the flux
    J^a a list of :class:`FluxTerm` records.  Terms without band geometry are derived
    from the one-band (scalar Wigner) limit of matrix mode; the geometric terms are
    the template of Eq. (3.29) of L. Balents, "Quantum kinetics, non-linear response, and
    band geometry" (talk, KITP / Hong Kong University, March 2025), converted to the
    signs used here (Omega(Balents) = -Omega, T = -Gq).
"""
from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from moyal.phase_space import PhaseSpace
from moyal.star import derivative, star_expansion

COMMUTATOR = "commutator"
ANTICOMMUTATOR = "anticommutator"
SCALAR = "scalar"


@dataclass(frozen=True)
class MatrixTerm:
    """One term of d_t F in matrix mode.

    The term adds ``prefactor * P(d^a field, d^b F)`` to d_t F, where P is the
    commutator [A, B], the anticommutator {A, B}, or for a scalar field the plain
    product A B.

    Attributes
    ----------
    field : str
        Name of the Hamiltonian part the term differentiates ("H", "H0" or "U").
    field_derivative : tuple of int
        Multi-index a over ``space.coordinates`` acting on the field.
    product : str
        "commutator", "anticommutator" or "scalar".
    derivative : tuple of int
        Multi-index b acting on F.
    prefactor : sympy.Expr
        Number times a power of hbar (and of i).
    hbar_order : int
        Power of hbar in ``prefactor`` (-1 for the interband commutator).
    """

    field: str
    field_derivative: tuple
    product: str
    derivative: tuple
    prefactor: sp.Expr
    hbar_order: int


@dataclass(frozen=True)
class HamiltonianPart:
    """A named part of H with the coordinates it depends on.

    Attributes
    ----------
    name : str
    depends_on_x, depends_on_k : bool
        Derivatives along coordinates the part does not depend on vanish identically.
    scalar : bool
        True for a multiple of the identity (U(x, t) 1, or a one-band H0).
    """

    name: str
    depends_on_x: bool
    depends_on_k: bool
    scalar: bool


def _term_sort_key(term: MatrixTerm):
    return (term.hbar_order, sum(term.derivative), tuple(-n for n in term.derivative),
            term.field, term.product)


def matrix_mode_terms(space: PhaseSpace, parts=(HamiltonianPart("H", True, True, False),),
                      hbar_order: int = 2) -> tuple:
    """Right-hand side of i hbar d_t F = H * F - F * H as structured terms.

    Parameters
    ----------
    space : PhaseSpace
    parts : sequence of HamiltonianPart
        H is the sum of these parts (default: one general matrix H(x, k)).
    hbar_order : int
        Highest power of hbar kept in d_t F (star products truncated at hbar_order + 1).

    Returns
    -------
    tuple of MatrixTerm, sorted by hbar order then derivative order.
    """
    dx = space.dimension
    terms = []
    for part in parts:
        for star_term in star_expansion(space, hbar_order + 1):
            on_field = star_term.left
            if (not part.depends_on_x and any(on_field[:dx])) or \
                    (not part.depends_on_k and any(on_field[dx:])):
                continue
            # -(i/hbar) (H * F - F * H); the F * H partner has weight (-1)^m times this one.
            prefactor = sp.expand(-sp.I / space.hbar * star_term.weight
                                  * space.hbar ** star_term.hbar_power)
            even = star_term.hbar_power % 2 == 0
            if part.scalar:
                if even:
                    continue  # a multiple of the identity commutes with F
                product, prefactor = SCALAR, 2 * prefactor
            else:
                product = COMMUTATOR if even else ANTICOMMUTATOR
            terms.append(MatrixTerm(part.name, star_term.left, product, star_term.right,
                                    prefactor, star_term.hbar_power - 1))
    return tuple(sorted(terms, key=_term_sort_key))


def separable_matrix_mode_terms(space: PhaseSpace, hbar_order: int = 2,
                                one_band: bool = False) -> tuple:
    """Matrix-mode terms for H = H0(k) + U(x, t) 1 (docs/symbolic.md).

    Parameters
    ----------
    space : PhaseSpace
    hbar_order : int
        Highest power of hbar kept in d_t F.
    one_band : bool
        Treat H0 as a scalar band energy eps(k): the scalar Wigner equation.

    Returns
    -------
    tuple of MatrixTerm with fields "H0" and "U".
    """
    parts = (HamiltonianPart("H0", False, True, one_band), HamiltonianPart("U", True, False, True))
    return matrix_mode_terms(space, parts, hbar_order)


def scalar_wigner_terms(space: PhaseSpace, hbar_order: int = 2) -> tuple:
    """Scalar Wigner equation d_t f = ... for one band eps(k) in a potential U(x, t).

    The one-band limit of :func:`separable_matrix_mode_terms`; every term has
    product "scalar" and field "H0" (= eps) or "U".
    """
    return separable_matrix_mode_terms(space, hbar_order, one_band=True)


def term_coefficient(term: MatrixTerm, fields: dict, space: PhaseSpace):
    """prefactor * d^a field, a sympy matrix or scalar."""
    return term.prefactor * derivative(fields[term.field], space, term.field_derivative)


def apply_matrix_terms(terms, fields: dict, distribution, space: PhaseSpace):
    """Evaluate sum of terms on a symbolic distribution: d_t F (or d_t f).

    Parameters
    ----------
    terms : sequence of MatrixTerm
    fields : dict
        Field name -> sympy Matrix (N x N) or scalar expression.
    distribution : sympy.Matrix or sympy.Expr
        F(x, k, t).
    space : PhaseSpace
    """
    total = sp.S.Zero * distribution
    for term in terms:
        a = derivative(fields[term.field], space, term.field_derivative)
        b = derivative(distribution, space, term.derivative)
        if term.product == COMMUTATOR:
            total += term.prefactor * (a * b - b * a)
        elif term.product == ANTICOMMUTATOR:
            total += term.prefactor * (a * b + b * a)
        else:
            total += term.prefactor * a * b
    return sp.expand(total)


# ----------------------------------------------------------------------------------------
# Band mode
# ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class FluxTerm:
    """One contribution to the phase-space flux of band mode.

    J^direction += d^outer ( coefficient * d^inner f ), and d_t f = -sum_a d_a J^a + ...

    Attributes
    ----------
    direction : int
        Index into ``space.coordinates`` (x first, then k).
    coefficient : sympy.Expr
        Function of band-geometry fields and potential derivatives.
    outer : tuple of int
        Multi-index applied to the product coefficient * d^inner f.
    inner : tuple of int
        Multi-index applied to f.
    order : int
        Order in hbar (0 Boltzmann, 1 Berry curvature, 2 metric and Moyal).
    origin : str
        "wigner" (derived from the scalar Wigner expansion) or "balents_template" (the
        geometric template of Balents' talk).
    """

    direction: int
    coefficient: sp.Expr
    outer: tuple
    inner: tuple
    order: int
    origin: str


@dataclass(frozen=True)
class SourceTerm:
    """A non-conservative remainder: d_t f += coefficient * d^inner f."""

    coefficient: sp.Expr
    inner: tuple
    order: int


def _unit(space: PhaseSpace, index: int) -> tuple:
    return tuple(1 if j == index else 0 for j in range(len(space.coordinates)))


def _minus(alpha: tuple, beta: tuple) -> tuple:
    return tuple(a - b for a, b in zip(alpha, beta))


def conservative_form(coefficient, inner: tuple, order: int, space: PhaseSpace, origin: str):
    """Write d_t f += coefficient * d^inner f as -d_a J^a plus sources.

    A direction a in ``inner`` along which the coefficient is constant gives
    c d^inner f = d_a (c d^(inner - a) f) exactly.  Otherwise the product rule
    leaves the remainder -(d_a c) d^(inner - a) f, which is processed the same way
    until it is either a flux or a source with no derivative on f.

    Returns
    -------
    (list of FluxTerm, list of SourceTerm)
    """
    coordinates = space.coordinates
    if not any(inner):
        return [], [SourceTerm(coefficient, inner, order)]
    candidates = [j for j, n in enumerate(inner) if n]
    constant = [j for j in candidates if sp.diff(coefficient, coordinates[j]) == 0]
    direction = (constant or candidates)[0]
    reduced = _minus(inner, _unit(space, direction))
    fluxes = [FluxTerm(direction, sp.expand(-coefficient), tuple(0 for _ in coordinates),
                       reduced, order, origin)]
    sources = []
    if not constant:
        more_fluxes, sources = conservative_form(
            sp.expand(-sp.diff(coefficient, coordinates[direction])), reduced, order, space,
            origin)
        fluxes += more_fluxes
    return fluxes, sources


@dataclass(frozen=True)
class BandFields:
    """Band-geometry fields of one band and the electrostatic potential, as sympy functions.

    Conventions (docs/geometry.md): U = -e V with e = 1, so the potential
    energy is -V; Omega[i, j] is the Berry curvature Omega^{ij} (antisymmetric),
    metric[i, j] the quantum metric g^{ij}, band_normalised_metric[i, j] is Gq^{ij}.
    All geometry fields are functions of k (momentum units: Omega, g ~ 1/k^2,
    Gq ~ 1/(k^2 energy)); V is a function of (x, t).
    """

    energy: sp.Expr
    berry_curvature: sp.Matrix
    quantum_metric: sp.Matrix
    band_normalised_metric: sp.Matrix
    potential: sp.Expr


def _symmetric_function_matrix(name: str, labels, args, antisymmetric: bool = False):
    n = len(labels)
    entries = {}
    for i in range(n):
        for j in range(i, n):
            if antisymmetric and i == j:
                entries[(i, j)] = sp.S.Zero
                continue
            entries[(i, j)] = sp.Function(f"{name}_{labels[i]}{labels[j]}", real=True)(*args)
    return sp.Matrix(n, n, lambda i, j: entries[(i, j)] if i <= j else
                     (-entries[(j, i)] if antisymmetric else entries[(j, i)]))


def band_fields(space: PhaseSpace) -> BandFields:
    """Generic symbolic band fields eps(k), Omega(k), g(k), Gq(k) and V(x, t)."""
    labels = [str(xj) for xj in space.x]
    return BandFields(
        energy=sp.Function("epsilon", real=True)(*space.k),
        berry_curvature=_symmetric_function_matrix("Omega", labels, space.k, antisymmetric=True),
        quantum_metric=_symmetric_function_matrix("g", labels, space.k),
        band_normalised_metric=_symmetric_function_matrix("Gq", labels, space.k),
        potential=sp.Function("V", real=True)(*space.x, space.t))


def wigner_band_terms(space: PhaseSpace, fields: BandFields, hbar_order: int = 2) -> tuple:
    """Band-mode flux terms that follow from the scalar Wigner expansion.

    The scalar Wigner terms with eps and U = -V substituted, converted to
    conservative form by :func:`conservative_form`.  Sources with the same (inner,
    order) are summed and dropped when the sum vanishes: with a magnetic bivector the
    k-k terms leave product-rule remainders that cancel in pairs (d_kx d_ky eps -
    d_ky d_kx eps), and the Lorentz force -v x B becomes a pure k-flux.  Valid for any
    constant bivector (the star product refuses others).

    Returns
    -------
    (tuple of FluxTerm, tuple of SourceTerm)
    """
    values = {"H0": fields.energy, "U": -fields.potential}
    fluxes, sources = [], {}
    for term in scalar_wigner_terms(space, hbar_order):
        coefficient = sp.expand(term_coefficient(term, values, space))
        f_terms, s_terms = conservative_form(coefficient, term.derivative, term.hbar_order,
                                             space, "wigner")
        fluxes += f_terms
        for s in s_terms:
            key = (s.inner, s.order)
            sources[key] = sp.expand(sources.get(key, sp.S.Zero) + s.coefficient)
    return tuple(fluxes), tuple(SourceTerm(c, inner, order)
                                for (inner, order), c in sources.items() if c != 0)


def balents_template(space: PhaseSpace, fields: BandFields, convert_signs: bool = True) -> tuple:
    """All terms of Eq. (3.29) of Balents' talk as flux terms, e = 1, hbar^order restored.

    Eq. (3.29) (sums over repeated i, j, l; V_j = d_xj V):

        d_t f = -d_xi [ f ( v_i + Omega_ij V_j + T_ij d_t V_j
                            + (d_kj T_il - 1/2 d_ki T_jl) V_j V_l
                            + (v_j T_il - 1/2 d_ki g_jl) V_jl ) ]
                - d_ki f V_i
                + 1/2 d_xi d_xl ( f d_kj g_il V_j )
                - d_ki d_xj ( f g_jl V_il )
                + 1/24 d_xi d_xj d_xl f  d_ki d_kj d_kl eps
                + 1/24 d_ki d_kj d_kl f  d_xi d_xj d_xl V

    In (x, k) phase space with [x, k] = i hbar each Berry-curvature factor carries
    hbar and each metric factor hbar^2 (so that every flux is a velocity), and the
    Moyal terms carry hbar^2.  Terms whose derivative structure has a direction
    along which the coefficient is constant are put in conservative form that way
    (d_ki f V_i = d_ki (f V_i); the 1/24 terms as in :func:`conservative_form`).

    Parameters
    ----------
    space : PhaseSpace
        Must have the canonical bivector: Eq. (3.29) is derived for it (a magnetic
        field changes the phase-space density and the velocity, terms absent here).
    convert_signs : bool
        True: express the talk's Omega and T through this package's Omega and Gq
        (Omega(Balents) = -Omega, T = -Gq).  False: keep the talk's symbols, taking
        ``fields.berry_curvature`` as Omega(Balents) and ``band_normalised_metric`` as T.

    Raises
    ------
    ValueError
        If ``space.bivector`` is not canonical.
    """
    _require_canonical(space, "the band-geometry template")
    d, hbar = space.dimension, space.hbar
    x, k = space.x, space.k
    sign = -1 if convert_signs else 1
    omega = sign * fields.berry_curvature
    t_metric = sign * fields.band_normalised_metric
    g, eps, V = fields.quantum_metric, fields.energy, fields.potential
    v = [sp.diff(eps, kj) for kj in k]
    dV = [sp.diff(V, xj) for xj in x]
    ddV = [[sp.diff(V, xi, xj) for xj in x] for xi in x]
    zero = tuple(0 for _ in space.coordinates)

    def unit(*indices):
        return tuple(sum(1 for i in indices if i == j) for j in range(2 * d))

    def term(direction, coefficient, order, outer=zero, inner=zero):
        return FluxTerm(direction, sp.expand(coefficient), outer, inner, order, "balents_template")

    terms = []
    for i in range(d):
        terms.append(term(i, v[i], 0))
        terms.append(term(i, sum(omega[i, j] * dV[j] for j in range(d)) * hbar, 1))
        terms.append(term(i, hbar ** 2 * sum(t_metric[i, j] * sp.diff(dV[j], space.t)
                                             for j in range(d)), 2))
        terms.append(term(i, hbar ** 2 * sum(
            (sp.diff(t_metric[i, l], k[j]) - sp.diff(t_metric[j, l], k[i]) / 2) * dV[j] * dV[l]
            for j in range(d) for l in range(d)), 2))
        terms.append(term(i, hbar ** 2 * sum(
            (v[j] * t_metric[i, l] - sp.diff(g[j, l], k[i]) / 2) * ddV[j][l]
            for j in range(d) for l in range(d)), 2))
        # -d_ki f V_i = -d_ki (f V_i): k-flux f V_i
        terms.append(term(d + i, dV[i], 0))
        # +1/2 d_xi d_xl (f d_kj g_il V_j): x_i-flux -1/2 d_xl (...)
        for l in range(d):
            terms.append(term(i, -hbar ** 2 * sum(sp.diff(g[i, l], k[j]) * dV[j]
                                                  for j in range(d)) / 2, 2, outer=unit(l)))
        # -d_ki d_xj (f g_jl V_il): k_i-flux d_xj (f g_jl V_il)
        for j in range(d):
            terms.append(term(d + i, hbar ** 2 * sum(g[j, l] * ddV[i][l] for l in range(d)), 2,
                              outer=unit(j)))
    for i in range(d):
        for j in range(d):
            for l in range(d):
                # +1/24 eps_kikjkl d_xi d_xj d_xl f = -d_xi (-1/24 eps_kikjkl d_xj d_xl f)
                terms.append(term(i, -hbar ** 2 * sp.diff(eps, k[i], k[j], k[l]) / 24, 2,
                                  inner=unit(j, l)))
                # +1/24 V_xixjxl d_ki d_kj d_kl f = -d_ki (-1/24 V_xixjxl d_kj d_kl f)
                terms.append(term(d + i, -hbar ** 2 * sp.diff(V, x[i], x[j], x[l]) / 24, 2,
                                  inner=unit(d + j, d + l)))
    return tuple(t for t in terms if t.coefficient != 0)


def _require_canonical(space: PhaseSpace, what: str):
    """Refuse a non-canonical bivector for a term derived only for the canonical one."""
    extra = space.bivector.non_canonical_entries()
    if extra:
        z = space.coordinates
        entries = ", ".join(f"Pi^({z[a]} {z[b]}) = {value}" for a, b, value in extra)
        raise ValueError(
            f"{what} is derived for the canonical Poisson bivector only; this phase space "
            f"has {entries}: the magnetic corrections (phase-space density 1 + B.Omega, "
            "modified velocity) are not implemented")


def _is_geometric(term: FluxTerm, fields: BandFields) -> bool:
    geometry = set(fields.berry_curvature.atoms(sp.Function)) | set(
        fields.quantum_metric.atoms(sp.Function)) | set(
        fields.band_normalised_metric.atoms(sp.Function))
    return bool(term.coefficient.atoms(sp.Function) & geometry)


def band_mode_terms(space: PhaseSpace, fields: BandFields, order: int = 2) -> tuple:
    """Band-mode flux terms up to the given order (docs/symbolic.md).

    Non-geometric terms are derived (:func:`wigner_band_terms`); geometric ones (all of
    order >= 1) come from the sign-converted template of Balents' talk.  The derived terms for
    the separable problem are all fluxes; a source would signal a non-conservative
    remainder and is an error here.

    Order 0 (Boltzmann: drift and force) holds for any constant bivector, e.g. with
    the Lorentz force of a uniform magnetic field; orders 1 and 2 need the canonical
    bivector (the template's derivation).

    Returns
    -------
    tuple of FluxTerm, sorted by (order, direction, outer, inner).

    Raises
    ------
    ValueError
        For order >= 1 with a non-canonical bivector, or non-conservative sources.
    """
    if order >= 1:
        _require_canonical(space, f"band mode of order {order} (Berry-curvature and "
                                  "metric terms)")
    derived, sources = wigner_band_terms(space, fields, hbar_order=order)
    if sources:
        raise ValueError(f"separable band mode left non-conservative sources: {sources}")
    geometric = [t for t in balents_template(space, fields) if _is_geometric(t, fields)] \
        if order >= 1 else []
    terms = [t for t in list(derived) + geometric if t.order <= order]
    return tuple(sorted(terms, key=lambda t: (t.order, t.direction, t.outer, t.inner,
                                              t.origin, sp.srepr(t.coefficient))))


def apply_flux_terms(terms, distribution, space: PhaseSpace):
    """d_t f = -sum over terms of d_direction d^outer (coefficient d^inner f)."""
    total = sp.S.Zero
    for t in terms:
        flux = derivative(t.coefficient * derivative(distribution, space, t.inner), space, t.outer)
        total -= sp.diff(flux, space.coordinates[t.direction])
    return sp.expand(total)
