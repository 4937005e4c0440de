"""The Moyal star product (docs/symbolic.md)."""
import random

import pytest
import sympy as sp

from moyal.star import (hbar_coefficients, moyal_bracket, phase_space, plane_wave_star,
                        poisson_bracket, star, star_commutator)

SPACE = phase_space(1)
X, K = SPACE.x[0], SPACE.k[0]
HBAR = SPACE.hbar


def random_polynomial(rng, variables, degree):
    """Polynomial with small random integer coefficients, total degree <= degree."""
    monomials = sorted(sp.itermonomials(variables, degree), key=sp.default_sort_key)
    return sp.Add(*(rng.randint(-3, 3) * m for m in monomials))


def random_matrix(rng, variables, degree):
    return sp.Matrix(2, 2, lambda i, j: random_polynomial(rng, variables, degree))


def assert_equal_to_order(left, right, order):
    for m, (a, b) in enumerate(zip(hbar_coefficients(left, SPACE, order),
                                   hbar_coefficients(right, SPACE, order))):
        difference = sp.expand(a - b)
        assert difference == sp.zeros(*difference.shape) if isinstance(difference, sp.MatrixBase) \
            else difference == 0, f"hbar^{m} coefficients differ by {difference}"


@pytest.mark.parametrize("order", [1, 2, 3])
def test_star_associativity_order_by_order_scalar(order):
    rng = random.Random(order)
    a, b, c = (random_polynomial(rng, (X, K), 4) for _ in range(3))
    assert_equal_to_order(star(star(a, b, SPACE, order), c, SPACE, order),
                          star(a, star(b, c, SPACE, order), SPACE, order), order)


@pytest.mark.parametrize("order", [1, 3])
def test_star_associativity_order_by_order_matrix(order):
    rng = random.Random(10 + order)
    a, b, c = (random_matrix(rng, (X, K), 3) for _ in range(3))
    assert_equal_to_order(star(star(a, b, SPACE, order), c, SPACE, order),
                          star(a, star(b, c, SPACE, order), SPACE, order), order)


def test_star_associativity_two_dimensional_phase_space():
    space = phase_space(2)
    rng = random.Random(7)
    a, b, c = (random_polynomial(rng, space.coordinates, 2) for _ in range(3))
    left = star(star(a, b, space, 2), c, space, 2)
    right = star(a, star(b, c, space, 2), space, 2)
    for m in range(3):
        assert sp.expand(left - right).coeff(space.hbar, m) == 0


def test_matrix_star_keeps_factor_order():
    # sigma_x * sigma_z with k-independent symbols is the plain (non-commuting) product
    sx, sz = sp.Matrix([[0, 1], [1, 0]]), sp.Matrix([[1, 0], [0, -1]])
    assert star(sx * X, sz * K, SPACE, 2) == sp.expand(sx * sz * (X * K + sp.I * HBAR / 2))
    assert star(sx * X, sz * K, SPACE, 2) != star(sz * K, sx * X, SPACE, 2)


def test_canonical_commutator_x_k():
    assert star_commutator(X, K, SPACE, 3) == sp.I * HBAR


def test_scalar_star_commutator_is_poisson_plus_known_hbar3_term():
    """A*B - B*A = i hbar {A,B} - (i hbar^3/24) P^3(A,B) + O(hbar^5) (2 i sin(hbar P / 2))."""
    rng = random.Random(3)
    a, b = random_polynomial(rng, (X, K), 5), random_polynomial(rng, (X, K), 5)
    # hand formula, independent of the multi-index code: binomial expansion of
    # (d<_x d>_k - d<_k d>_x)^3 in one dimension
    p3 = sum(sp.binomial(3, j) * (-1) ** j * sp.diff(a, X, 3 - j, K, j) * sp.diff(b, K, 3 - j, X, j)
             for j in range(4))
    expected = sp.I * HBAR * poisson_bracket(a, b, SPACE) - sp.I * HBAR ** 3 / 24 * p3
    assert sp.expand(star_commutator(a, b, SPACE, 4) - expected) == 0
    assert sp.expand(moyal_bracket(a, b, SPACE, 2) - poisson_bracket(a, b, SPACE)) == 0


def test_k_only_times_x_only_is_exact_and_finite():
    a, b = K ** 3 + 2 * K, X ** 2 - X ** 3
    assert sp.expand(star(a, b, SPACE, 3) - star(a, b, SPACE, 8)) == 0


@pytest.mark.parametrize("side", ["left", "right"])
def test_shift_forms_agree_with_truncated_series(side):
    a, q = sp.Rational(3, 2), sp.Rational(-2, 3)
    wave = sp.exp(sp.I * (K * a + X * q))
    symbol = sp.sin(X) * K ** 2 + sp.exp(K) * X ** 3
    order = 4
    exact = plane_wave_star([a], [q], symbol, SPACE, side)
    series = star(wave, symbol, SPACE, order) if side == "left" else star(symbol, wave, SPACE, order)
    exact_series = sp.series(exact, HBAR, 0, order + 1).removeO()
    assert sp.simplify(sp.expand(exact_series - series) / wave) == 0


def test_shift_form_exact_for_lattice_hopping_and_cosine_potential():
    # exp(i k a) * F(x, k) = exp(i k a) F(x + hbar a/2, k) (docs/symbolic.md)
    a = sp.Symbol("a", positive=True)
    f = sp.Function("F")(X, K)
    result = plane_wave_star([a], [0], f, SPACE, "left")
    assert result == sp.exp(sp.I * K * a) * sp.Function("F")(X + HBAR * a / 2, K)
