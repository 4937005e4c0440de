"""Matrix mode and band mode derived from the star product (docs/symbolic.md, docs/equations.md)."""
import sympy as sp

from moyal.kinetic import (ANTICOMMUTATOR, COMMUTATOR, SCALAR, MatrixTerm, apply_flux_terms,
                           apply_matrix_terms, balents_template, band_fields, band_mode_terms,
                           matrix_mode_terms, scalar_wigner_terms, separable_matrix_mode_terms,
                           wigner_band_terms)
from moyal.star import phase_space, star

SPACE = phase_space(1)
X, K, HBAR, T = SPACE.x[0], SPACE.k[0], SPACE.hbar, SPACE.t


def function_matrix(name, *args):
    return sp.Matrix(2, 2, lambda i, j: sp.Function(f"{name}{i}{j}")(*args))


def test_separable_matrix_mode_reproduces_the_stated_equation_term_by_term():
    """d_t F = -(i/hbar)[H0,F] - 1/2{H0',F_x} + (i hbar/8)[H0'',F_xx] + (hbar^2/48){H0''',F_xxx}
    + U' F_k - (hbar^2/24) U''' F_kkk."""
    expected = {
        MatrixTerm("H0", (0, 0), COMMUTATOR, (0, 0), -sp.I / HBAR, -1),
        MatrixTerm("H0", (0, 1), ANTICOMMUTATOR, (1, 0), -sp.Rational(1, 2), 0),
        MatrixTerm("H0", (0, 2), COMMUTATOR, (2, 0), sp.I * HBAR / 8, 1),
        MatrixTerm("H0", (0, 3), ANTICOMMUTATOR, (3, 0), HBAR ** 2 / 48, 2),
        MatrixTerm("U", (1, 0), SCALAR, (0, 1), sp.Integer(1), 0),
        MatrixTerm("U", (3, 0), SCALAR, (0, 3), -HBAR ** 2 / 24, 2),
    }
    assert set(separable_matrix_mode_terms(SPACE, hbar_order=2)) == expected


def test_separable_matrix_mode_equals_star_commutator():
    h0, f = function_matrix("h", K), function_matrix("F", X, K, T)
    u = sp.Function("U")(X, T)
    h = h0 + u * sp.eye(2)
    direct = sp.expand(-sp.I / HBAR * (star(h, f, SPACE, 3) - star(f, h, SPACE, 3)))
    terms = separable_matrix_mode_terms(SPACE, hbar_order=2)
    assert sp.expand(apply_matrix_terms(terms, {"H0": h0, "U": u}, f, SPACE) - direct) \
        == sp.zeros(2, 2)


def test_general_matrix_mode_equals_star_commutator():
    h, f = function_matrix("h", X, K), function_matrix("F", X, K, T)
    direct = sp.expand(-sp.I / HBAR * (star(h, f, SPACE, 2) - star(f, h, SPACE, 2)))
    terms = matrix_mode_terms(SPACE, hbar_order=1)
    assert sp.expand(apply_matrix_terms(terms, {"H": h}, f, SPACE) - direct) == sp.zeros(2, 2)


def test_one_band_limit_is_scalar_wigner_equation():
    """d_t f = -v f_x + U' f_k + (hbar^2/24)(eps''' f_xxx - U''' f_kkk)."""
    eps, u, f = sp.Function("epsilon")(K), sp.Function("U")(X, T), sp.Function("f")(X, K, T)
    hand = (-sp.diff(eps, K) * sp.diff(f, X) + sp.diff(u, X) * sp.diff(f, K)
            + HBAR ** 2 / 24 * (sp.diff(eps, K, 3) * sp.diff(f, X, 3)
                                - sp.diff(u, X, 3) * sp.diff(f, K, 3)))
    one_band = apply_matrix_terms(separable_matrix_mode_terms(SPACE, 2),
                                  {"H0": sp.Matrix([[eps]]), "U": u}, sp.Matrix([[f]]), SPACE)
    assert sp.expand(one_band[0, 0] - hand) == 0
    scalar = apply_matrix_terms(scalar_wigner_terms(SPACE, 2), {"H0": eps, "U": u}, f, SPACE)
    assert sp.expand(scalar - hand) == 0


def _without_geometry(expression, fields):
    geometry = list(fields.berry_curvature) + list(fields.quantum_metric) \
        + list(fields.band_normalised_metric)
    return sp.expand(expression.subs({g: 0 for g in geometry if g != 0}).doit())


def test_band_mode_one_band_no_geometry_equals_scalar_wigner_expansion():
    for dimension in (1, 2):
        space = phase_space(dimension)
        fields = band_fields(space)
        f = sp.Function("f")(*space.coordinates, space.t)
        band = _without_geometry(apply_flux_terms(band_mode_terms(space, fields, 2), f, space),
                                 fields)
        wigner = apply_matrix_terms(scalar_wigner_terms(space, 2),
                                    {"H0": fields.energy, "U": -fields.potential}, f, space)
        assert sp.expand(band - wigner) == 0


def test_band_mode_orders_are_nested():
    space = phase_space(2)
    fields = band_fields(space)
    orders = [band_mode_terms(space, fields, n) for n in (0, 1, 2)]
    assert set(orders[0]) < set(orders[1]) < set(orders[2])
    assert all(t.order == 0 for t in orders[0])
    assert {t.order for t in orders[2]} == {0, 1, 2}


def test_balents_template_non_geometric_terms_agree_with_derivation():
    """Every geometry-free coefficient of Eq. (3.29) is a claim checked against the Wigner terms."""
    space = phase_space(2)
    fields = band_fields(space)
    f = sp.Function("f")(*space.coordinates, space.t)
    template = _without_geometry(apply_flux_terms(balents_template(space, fields), f, space),
                                 fields)
    derived, sources = wigner_band_terms(space, fields, 2)
    assert sources == ()
    assert sp.expand(template - apply_flux_terms(derived, f, space)) == 0


def test_anomalous_velocity_sign_after_balents_template_conversion():
    """Order 1: dx_i/dt = v_i - Omega^{ij} dk_j/dt with dk/dt = -E = grad V (docs/equations.md)."""
    space = phase_space(2)
    fields = band_fields(space)
    order1 = [t for t in band_mode_terms(space, fields, 1) if t.order == 1]
    omega, v_pot = fields.berry_curvature, fields.potential
    for i in range(2):
        velocity = sum(t.coefficient for t in order1 if t.direction == i)
        expected = -space.hbar * sum(omega[i, j] * sp.diff(v_pot, space.x[j]) for j in range(2))
        assert sp.expand(velocity - expected) == 0
    unconverted = balents_template(space, fields, convert_signs=False)
    converted = balents_template(space, fields)
    assert set(unconverted) != set(converted)


def _documented_band_mode_rate(space, fields, f):
    """d_t f = -d_xi J^xi - d_ki J^ki with the fluxes exactly as docs/equations.md writes
    them (section 1, index form, order 2), transcribed independently of the kernels."""
    x, k, t, hbar, dims = space.x, space.k, space.t, space.hbar, range(space.dimension)
    eps, potential = fields.energy, fields.potential
    omega, g, gq = fields.berry_curvature, fields.quantum_metric, fields.band_normalised_metric
    v = [sp.diff(eps, kj) for kj in k]

    def dv(*indices):
        return sp.diff(potential, *(x[n] for n in indices))

    rate = sp.S.Zero
    for i in dims:
        flux_x = v[i] * f - hbar * sum(omega[i, j] * dv(j) for j in dims) * f
        flux_x -= hbar ** 2 * f * sum(gq[i, j] * sp.diff(dv(j), t) for j in dims)
        flux_x -= hbar ** 2 * f * sum((sp.diff(gq[i, l], k[j]) - sp.diff(gq[j, l], k[i]) / 2)
                                      * dv(j) * dv(l) for j in dims for l in dims)
        flux_x -= hbar ** 2 * f * sum((v[j] * gq[i, l] + sp.diff(g[j, l], k[i]) / 2) * dv(j, l)
                                      for j in dims for l in dims)
        flux_x -= hbar ** 2 / 2 * sum(sp.diff(sum(sp.diff(g[i, l], k[j]) * dv(j) for j in dims)
                                              * f, x[l]) for l in dims)
        flux_x -= hbar ** 2 / 24 * sum(sp.diff(eps, k[i], k[j], k[l]) * sp.diff(f, x[j], x[l])
                                       for j in dims for l in dims)
        flux_k = dv(i) * f + hbar ** 2 * sum(sp.diff(sum(g[j, l] * dv(i, l) for l in dims) * f,
                                                     x[j]) for j in dims)
        flux_k -= hbar ** 2 / 24 * sum(dv(i, j, l) * sp.diff(f, k[j], k[l])
                                       for j in dims for l in dims)
        rate -= sp.diff(flux_x, x[i]) + sp.diff(flux_k, k[i])
    return sp.expand(rate)


def test_documented_band_mode_equation_is_the_one_derived():
    """docs/equations.md section 1 states the flux the solver integrates; the kernels are
    generated from band_mode_terms, so the two must have the same divergence (1D and 2D)."""
    for dimension in (1, 2):
        space = phase_space(dimension)
        fields = band_fields(space)
        f = sp.Function("f")(*space.coordinates, space.t)
        derived = apply_flux_terms(band_mode_terms(space, fields, 2), f, space)
        assert sp.expand(_documented_band_mode_rate(space, fields, f) - derived) == 0
