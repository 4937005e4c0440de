"""The Poisson bivector as an object (moyal.phase_space): canonical default, magnetic k-k block.

Sign convention under test (units hbar = e = 1, electron charge -e): a uniform field B
along z gives Pi^{k_x k_y} = -B, so {k_x, k_y} = -B and Hamilton's equations give the
Lorentz force dk/dt = -E - v x B on an electron.
"""
import ast
import random
from pathlib import Path

import pytest
import sympy as sp

from moyal import codegen
from moyal.kinetic import (apply_flux_terms, apply_matrix_terms, balents_template, band_fields,
                           band_mode_terms, matrix_mode_terms, scalar_wigner_terms,
                           wigner_band_terms)
from moyal.phase_space import Bivector, PhaseSpace, phase_space
from moyal.star import (moyal_bracket, plane_wave_star, poisson_bracket, star, star_commutator,
                        star_expansion)

PLANE = phase_space(2)
(X, Y), (KX, KY), HBAR, T = PLANE.x, PLANE.k, PLANE.hbar, PLANE.t
B = sp.Symbol("B", real=True)
MAGNETIC = PLANE.with_bivector(Bivector.magnetic(PLANE, B))


def random_polynomial(rng, variables, degree, density=1.0):
    """Polynomial with small random integer coefficients, total degree <= degree."""
    monomials = sorted(sp.itermonomials(variables, degree), key=sp.default_sort_key)
    return sp.Add(*(rng.randint(-3, 3) * m for m in monomials if rng.random() < density))


def hbar_coefficient(expression, power):
    expanded = sp.expand(expression)
    if isinstance(expanded, sp.MatrixBase):
        return expanded.applyfunc(lambda e: sp.expand(e).coeff(HBAR, power))
    return expanded.coeff(HBAR, power)


def is_zero(expression):
    expression = sp.expand(expression)
    if isinstance(expression, sp.MatrixBase):
        return expression == sp.zeros(*expression.shape)
    return expression == 0


# ------------------------------------------------------------------------------------------
# the object
# ------------------------------------------------------------------------------------------

def test_canonical_bivector_entries_and_default():
    for dimension in (1, 2, 3):
        space = phase_space(dimension)
        pi = Bivector.canonical(space)
        assert space.bivector == pi and pi.is_canonical() and pi.is_constant
        for a, za in enumerate(space.coordinates):
            for b, zb in enumerate(space.coordinates):
                expected = 1 if (za in space.x and zb == space.k[space.x.index(za)]) else \
                    -1 if (zb in space.x and za == space.k[space.x.index(zb)]) else 0
                assert pi[a, b] == expected, (za, zb)


def test_hand_written_canonical_matrix_gives_the_same_star_expansion():
    space = phase_space(1)
    explicit = space.with_bivector(Bivector(space.coordinates, sp.Matrix([[0, 1], [-1, 0]])))
    assert star_expansion(explicit, 4) == star_expansion(space, 4)


def test_canonical_bivector_reproduces_every_generated_kernel():
    """Kernels are generated from phase_space(d), whose bivector is now an object."""
    assert codegen.check() == []


def test_phase_space_module_imports_nothing_from_moyal():
    source = Path(__file__).resolve().parents[1] / "moyal" / "phase_space.py"
    modules = [node.module if isinstance(node, ast.ImportFrom) else alias.name
               for node in ast.walk(ast.parse(source.read_text()))
               if isinstance(node, (ast.Import, ast.ImportFrom))
               for alias in node.names]
    assert not [m for m in modules if m and m.split(".")[0] == "moyal"]


@pytest.mark.parametrize("matrix, message", [
    (sp.Matrix([[0, 1], [1, 0]]), "antisymmetric"),
    (sp.Matrix([[1, 1], [-1, 0]]), "antisymmetric"),
    (sp.zeros(3, 3), "2 x 2 matrix"),
])
def test_bivector_must_be_antisymmetric_and_square(matrix, message):
    with pytest.raises(ValueError, match=message):
        Bivector(phase_space(1).coordinates, matrix)


def test_bivector_over_other_coordinates_is_refused():
    with pytest.raises(ValueError, match="coordinates"):
        PhaseSpace(PLANE.x, PLANE.k, HBAR, T, Bivector.canonical(phase_space(1)))


def test_bivector_containing_hbar_is_refused():
    """hbar multiplies the whole bivector; an hbar inside would break the order counting."""
    with pytest.raises(ValueError, match="hbar"):
        PLANE.with_bivector(Bivector.magnetic(PLANE, HBAR * B))


def test_magnetic_needs_two_or_three_dimensions():
    with pytest.raises(ValueError, match="2 or 3"):
        Bivector.magnetic(phase_space(1), B)
    with pytest.raises(ValueError, match="3 components"):
        Bivector.magnetic(phase_space(3), (B, B))


# ------------------------------------------------------------------------------------------
# brackets and the star product with a magnetic bivector
# ------------------------------------------------------------------------------------------

def test_magnetic_brackets_and_commutators():
    """{k_x, k_y} = -B (electron charge -e, e = 1), [k_x, k_y] = -i hbar B; x-k unchanged."""
    assert poisson_bracket(KX, KY, MAGNETIC) == -B
    assert poisson_bracket(KY, KX, MAGNETIC) == B
    assert poisson_bracket(X, KX, MAGNETIC) == 1 and poisson_bracket(X, KY, MAGNETIC) == 0
    assert poisson_bracket(X, Y, MAGNETIC) == 0
    assert star_commutator(KX, KY, MAGNETIC, 3) == -sp.I * HBAR * B
    assert star_commutator(X, KX, MAGNETIC, 3) == sp.I * HBAR


def test_hamilton_equations_give_the_lorentz_force_on_an_electron():
    """dx/dt = v, dk/dt = -E - v x B for H = eps(k) - V(x) (U = -e V, E = -grad V)."""
    eps = sp.Function("epsilon")(KX, KY)
    potential = sp.Function("V")(X, Y, T)
    h = eps - potential
    v = sp.Matrix([sp.diff(eps, KX), sp.diff(eps, KY), 0])
    e_field = sp.Matrix([-sp.diff(potential, X), -sp.diff(potential, Y), 0])
    force = -e_field - v.cross(sp.Matrix([0, 0, B]))
    for j, (xj, kj) in enumerate(zip(MAGNETIC.x, MAGNETIC.k)):
        assert sp.expand(poisson_bracket(xj, h, MAGNETIC) - v[j]) == 0
        assert sp.expand(poisson_bracket(kj, h, MAGNETIC) - force[j]) == 0


def test_magnetic_star_product_is_associative_order_by_order():
    rng = random.Random(5)
    a, b, c = (random_polynomial(rng, MAGNETIC.coordinates, 3, density=0.25) for _ in range(3))
    order = 3
    left = star(star(a, b, MAGNETIC, order), c, MAGNETIC, order)
    right = star(a, star(b, c, MAGNETIC, order), MAGNETIC, order)
    for m in range(order + 1):
        assert is_zero(hbar_coefficient(left - right, m)), f"hbar^{m}"


def test_magnetic_matrix_star_product_is_associative_order_by_order():
    rng = random.Random(8)
    a, b, c = (sp.Matrix(2, 2, lambda i, j: random_polynomial(rng, MAGNETIC.coordinates, 2, 0.3))
               for _ in range(3))
    left = star(star(a, b, MAGNETIC, 2), c, MAGNETIC, 2)
    right = star(a, star(b, c, MAGNETIC, 2), MAGNETIC, 2)
    for m in range(3):
        assert is_zero(hbar_coefficient(left - right, m)), f"hbar^{m}"


def test_magnetic_star_commutator_is_i_hbar_poisson_bracket_plus_hbar_cubed():
    """A*B - B*A = i hbar {A, B} + O(hbar^3), {A, B} written out by hand with the k-k block."""
    rng = random.Random(4)
    a, b = (random_polynomial(rng, MAGNETIC.coordinates, 4, density=0.3) for _ in range(2))
    by_hand = sum(sp.diff(a, xj) * sp.diff(b, kj) - sp.diff(a, kj) * sp.diff(b, xj)
                  for xj, kj in zip(MAGNETIC.x, MAGNETIC.k)) \
        - B * (sp.diff(a, KX) * sp.diff(b, KY) - sp.diff(a, KY) * sp.diff(b, KX))
    assert sp.expand(poisson_bracket(a, b, MAGNETIC) - by_hand) == 0
    commutator = star_commutator(a, b, MAGNETIC, 3)
    assert hbar_coefficient(commutator, 0) == 0
    assert sp.expand(hbar_coefficient(commutator, 1) - sp.I * by_hand) == 0
    assert hbar_coefficient(commutator, 2) == 0
    assert hbar_coefficient(commutator, 3) != 0  # the series goes on at hbar^3
    assert sp.expand(moyal_bracket(a, b, MAGNETIC, 2) - by_hand) == 0


@pytest.mark.parametrize("side", ["left", "right"])
def test_magnetic_shift_form_agrees_with_the_star_series(side):
    """A cubic polynomial F makes star(W, F) finite at hbar^3: it must equal the shift form."""
    rng = random.Random(2)
    symbol = random_polynomial(rng, MAGNETIC.coordinates, 3, density=0.5)
    a, q = (sp.Rational(3, 2), sp.Rational(-1, 3)), (sp.Rational(2, 5), sp.Rational(1, 2))
    wave = sp.exp(sp.I * (KX * a[0] + KY * a[1] + X * q[0] + Y * q[1]))
    exact = plane_wave_star(a, q, symbol, MAGNETIC, side)
    series = star(wave, symbol, MAGNETIC, 3) if side == "left" else \
        star(symbol, wave, MAGNETIC, 3)
    assert sp.expand(sp.powsimp(sp.expand((exact - series) / wave))) == 0
    # the k shift of W * F carries the field: k_x -> k_x - hbar q_x/2 - hbar B a_y/2
    shifted = plane_wave_star(a, q, KX, MAGNETIC, "left") / wave
    assert sp.expand(shifted - (KX - HBAR * q[0] / 2 - HBAR * B * a[1] / 2)) == 0


# ------------------------------------------------------------------------------------------
# Jacobi identity
# ------------------------------------------------------------------------------------------

def test_constant_bivectors_are_poisson_and_bracket_jacobi_holds():
    space3 = phase_space(3)
    fields = sp.symbols("B_x B_y B_z", real=True)
    for bivector in (Bivector.canonical(PLANE), MAGNETIC.bivector,
                     Bivector.magnetic(space3, fields)):
        assert bivector.is_constant and bivector.is_poisson()
    rng = random.Random(6)
    a, b, c = (random_polynomial(rng, MAGNETIC.coordinates, 3, density=0.4) for _ in range(3))

    def pb(u, w):
        return poisson_bracket(u, w, MAGNETIC)

    assert sp.expand(pb(a, pb(b, c)) + pb(b, pb(c, a)) + pb(c, pb(a, b))) == 0


def test_non_uniform_field_in_a_plane_is_poisson():
    """Any B_z(x, y) is a closed 2-form in two dimensions: Jacobi holds."""
    field = sp.Function("B_z")(X, Y)
    assert Bivector.magnetic(PLANE, field).is_poisson()


def test_jacobi_fails_by_div_b_in_three_dimensions():
    """{k_x, {k_y, k_z}} + cyclic = div B ({k_y, k_z} = -B_x, {k_x, g(x)} = -d_x g)."""
    space = phase_space(3)
    x, k = space.x, space.k
    field = [sp.Function(f"B{c}")(*x) for c in "xyz"]
    magnetic = space.with_bivector(Bivector.magnetic(space, field))

    def pb(u, w):
        return poisson_bracket(u, w, magnetic)

    jacobi = pb(k[0], pb(k[1], k[2])) + pb(k[1], pb(k[2], k[0])) + pb(k[2], pb(k[0], k[1]))
    divergence = sum(sp.diff(field[j], x[j]) for j in range(3))
    assert sp.expand(jacobi - divergence) == 0
    assert not magnetic.bivector.is_poisson()
    assert sp.expand(magnetic.bivector.jacobiator()[3, 4, 5] - divergence) == 0
    solenoidal = [sp.Function("Bx")(x[1], x[2]), sp.Function("By")(x[0], x[2]),
                  sp.Function("Bz")(x[0], x[1])]
    assert Bivector.magnetic(space, solenoidal).is_poisson()


# ------------------------------------------------------------------------------------------
# refusals
# ------------------------------------------------------------------------------------------

def test_coordinate_dependent_bivector_is_refused_by_the_star_product():
    non_uniform = PLANE.with_bivector(Bivector.magnetic(PLANE, sp.Function("B_z")(X, Y)))
    assert not non_uniform.bivector.is_constant
    for call in (lambda: star_expansion(non_uniform, 1),
                 lambda: star(KX, KY, non_uniform, 1),
                 lambda: moyal_bracket(KX, KY, non_uniform, 1),
                 lambda: plane_wave_star((1, 0), (0, 0), KX, non_uniform)):
        with pytest.raises(ValueError, match="Kontsevich corrections .* not implemented"):
            call()
    # the Poisson bracket itself is exact for any bivector
    assert poisson_bracket(KX, KY, non_uniform) == -sp.Function("B_z")(X, Y)


def test_time_dependent_uniform_field_is_still_constant_in_phase_space():
    space = PLANE.with_bivector(Bivector.magnetic(PLANE, sp.Function("B_z")(T)))
    assert space.bivector.is_constant
    assert star_commutator(KX, KY, space, 2) == -sp.I * HBAR * sp.Function("B_z")(T)


def test_band_geometry_terms_refuse_a_magnetic_bivector():
    fields = band_fields(MAGNETIC)
    for call in (lambda: balents_template(MAGNETIC, fields),
                 lambda: band_mode_terms(MAGNETIC, fields, 1),
                 lambda: band_mode_terms(MAGNETIC, fields, 2)):
        with pytest.raises(ValueError, match="canonical Poisson bivector only"):
            call()


# ------------------------------------------------------------------------------------------
# kinetic terms read the bivector
# ------------------------------------------------------------------------------------------

def test_magnetic_matrix_mode_equals_star_commutator():
    h = sp.Matrix(2, 2, lambda i, j: sp.Function(f"h{i}{j}")(*MAGNETIC.coordinates))
    f = sp.Matrix(2, 2, lambda i, j: sp.Function(f"F{i}{j}")(*MAGNETIC.coordinates, T))
    direct = sp.expand(-sp.I / HBAR * (star(h, f, MAGNETIC, 2) - star(f, h, MAGNETIC, 2)))
    terms = matrix_mode_terms(MAGNETIC, hbar_order=1)
    assert is_zero(apply_matrix_terms(terms, {"H": h}, f, MAGNETIC) - direct)


def test_band_mode_order_zero_has_the_lorentz_force_as_a_k_flux():
    """d_t f = -div_x(v f) - div_k(F f), F = -E - v x B = grad V + (-v_y B, v_x B)."""
    fields = band_fields(MAGNETIC)
    eps, potential = fields.energy, fields.potential
    f = sp.Function("f")(*MAGNETIC.coordinates, T)
    v = [sp.diff(eps, kj) for kj in MAGNETIC.k]
    force = [sp.diff(potential, X) - v[1] * B, sp.diff(potential, Y) + v[0] * B]
    by_hand = -sum(sp.diff(v[j] * f, MAGNETIC.x[j]) + sp.diff(force[j] * f, MAGNETIC.k[j])
                   for j in range(2))
    terms = band_mode_terms(MAGNETIC, fields, 0)
    assert sp.expand(apply_flux_terms(terms, f, MAGNETIC) - by_hand) == 0


def test_magnetic_wigner_band_terms_are_conservative_to_hbar_squared():
    """The k-k remainders cancel in pairs: fluxes only, equal to the scalar Wigner equation."""
    fields = band_fields(MAGNETIC)
    f = sp.Function("f")(*MAGNETIC.coordinates, T)
    fluxes, sources = wigner_band_terms(MAGNETIC, fields, 2)
    assert sources == ()
    wigner = apply_matrix_terms(scalar_wigner_terms(MAGNETIC, 2),
                                {"H0": fields.energy, "U": -fields.potential}, f, MAGNETIC)
    assert sp.expand(apply_flux_terms(fluxes, f, MAGNETIC) - wigner) == 0
    assert any(t.coefficient.has(B) for t in fluxes if t.order == 2)


def test_quadratic_hamiltonian_in_a_uniform_field_evolves_classically():
    """eps = k^2/2, V quadratic: every hbar^2 term vanishes, d_t f = {H, f} with the field."""
    eps = (KX ** 2 + KY ** 2) / 2
    potential = 2 * X ** 2 - X * Y + 3 * Y + sp.Rational(1, 2) * Y ** 2
    f = sp.Function("f")(*MAGNETIC.coordinates, T)
    rate = apply_matrix_terms(scalar_wigner_terms(MAGNETIC, 2),
                              {"H0": eps, "U": -potential}, f, MAGNETIC)
    liouville = -KX * sp.diff(f, X) - KY * sp.diff(f, Y) \
        - (sp.diff(potential, X) - KY * B) * sp.diff(f, KX) \
        - (sp.diff(potential, Y) + KX * B) * sp.diff(f, KY)
    assert sp.expand(rate - liouville) == 0
