"""Band geometry: sum-over-states derivatives, Chern numbers, sign relations (issue 4)."""
import numpy as np
import pytest

from moyal.geometry import GeometryError, balents_T, band_geometry, k_grid, \
    nonadiabatic_metric
from moyal.models import get_model

RNG = np.random.default_rng(11)
STEP = 1e-5


def _shift(dimension, axis, step):
    s = np.zeros((dimension, 1))
    s[axis] = step
    return s


@pytest.mark.parametrize("name, params", [("qwz", {"m": -1.2, "g": 0.3}),
                                          ("haldane", {"M": 0.2}),
                                          ("rice_mele", {}),
                                          ("toy003", {"t": 0.9})])
def test_analytic_k_derivatives_match_finite_differences_of_the_geometry(name, params):
    """Finite differences of the band quantities themselves are an independent check of the
    product-rule (sum-over-states) derivatives."""
    model = get_model(name, **params)
    k = RNG.uniform(-0.8, 0.8, (model.dimension, 6))
    geo = band_geometry(model, k)
    pairs = [("energy", "velocity"), ("velocity", "inverse_mass"),
             ("inverse_mass", "energy_third_derivative"),
             ("berry_curvature", "berry_curvature_derivative"),
             ("quantum_metric", "quantum_metric_derivative"),
             ("band_normalised_metric", "band_normalised_metric_derivative")]
    for c in range(model.dimension):
        plus = band_geometry(model, k + _shift(model.dimension, c, STEP))
        minus = band_geometry(model, k - _shift(model.dimension, c, STEP))
        for value, derivative in pairs:
            numeric = (getattr(plus, value) - getattr(minus, value)) / (2 * STEP)
            # The derivative direction c is the last tensor index of the energy derivatives
            # and the first index of d_c Omega, d_c g, d_c Gq.
            analytic = getattr(geo, derivative)
            analytic = {"velocity": analytic[:, c],
                        "inverse_mass": analytic[:, :, c]}.get(value, analytic[c])
            scale = max(1.0, np.abs(analytic).max())
            np.testing.assert_allclose(analytic, numeric, atol=2e-6 * scale, err_msg=derivative)
    third = geo.energy_third_derivative
    np.testing.assert_allclose(third, np.swapaxes(third, 0, 2), atol=1e-12)


def _projector(model, k, bands):
    _, vectors = np.linalg.eigh(model.derivative_function(())(k))
    u = vectors[..., bands]
    return u @ np.conj(np.swapaxes(u, -1, -2))


@pytest.mark.parametrize("name, params, bands", [("qwz", {"m": -1.2, "g": 0.3}, [0]),
                                                 ("toy003", {"t": 0.5}, [0, 1])])
def test_curvature_and_metric_match_projector_finite_differences(name, params, bands):
    """Gauge-free reference: g = 1/2 tr(dP dP), Omega^{xy} = i tr(P [d_x P, d_y P]) for the
    projector P on the band (or degenerate multiplet), traced over the multiplet."""
    model = get_model(name, **params)
    k = RNG.uniform(-0.8, 0.8, (2, 5))
    geo = band_geometry(model, k)
    dP = [(_projector(model, k + _shift(2, a, STEP), bands)
           - _projector(model, k - _shift(2, a, STEP), bands)) / (2 * STEP) for a in range(2)]
    P = _projector(model, k, bands)
    size = len(bands)
    for a in range(2):
        for b in range(2):
            metric = 0.5 * np.real(np.trace(dP[a] @ dP[b], axis1=-2, axis2=-1))
            np.testing.assert_allclose(size * geo.quantum_metric[a, b, :, 0], metric, atol=1e-7)
    curvature = np.real(1j * np.trace(P @ (dP[0] @ dP[1] - dP[1] @ dP[0]), axis1=-2, axis2=-1))
    np.testing.assert_allclose(size * geo.berry_curvature[0, 1, :, 0], curvature, atol=1e-7)


def fukui_hatsugai_suzuki_chern(model, n, band=0):
    """Chern number of one band from U(1) link variables (Fukui, Hatsugai, Suzuki 2005),
    written with the convention C = (1/2 pi) int Omega^{xy}, Omega = d_x A_y - d_y A_x,
    A = i<u|grad u>: the plaquette phase arg(U_x U_y U_x^* U_y^*) equals -int Omega."""
    axis = -np.pi + 2 * np.pi * np.arange(n) / n
    k = np.array(np.meshgrid(axis, axis, indexing="ij"))
    _, vectors = np.linalg.eigh(model.derivative_function(())(k.reshape(2, -1)))
    u = vectors[..., band].reshape(n, n, -1)

    def link(shift_axis):
        overlap = np.sum(np.conj(u) * np.roll(u, -1, axis=shift_axis), axis=-1)
        return overlap / np.abs(overlap)

    ux, uy = link(0), link(1)
    plaquette = ux * np.roll(uy, -1, axis=0) * np.conj(np.roll(ux, -1, axis=1)) * np.conj(uy)
    return -np.sum(np.angle(plaquette)) / (2 * np.pi)


@pytest.mark.parametrize("name, params, chern", [
    ("qwz", {"m": -1.0}, 1), ("qwz", {"m": 1.0}, -1), ("qwz", {"m": 3.0}, 0),
    ("qwz", {"m": -1.0, "g": 0.2}, 1),
    ("haldane", {"M": 0.0, "phi": np.pi / 2}, None), ("haldane", {"M": 1.0}, 0)])
def test_chern_number_from_berry_curvature_matches_link_variables(name, params, chern):
    """Lower-band Chern number: int Omega on the grid vs the FHS algorithm (to 1e-6).  The
    sign convention (QWZ m = -1 gives C = +1) was cross-checked once against PythTB 1.8.0's
    wf_array.berry_flux (docs/geometry.md)."""
    model = get_model(name, **params)
    grid = k_grid(model, (120, 120))
    geo = band_geometry(model, grid)
    from_curvature = 2 * np.pi * np.sum(geo.berry_curvature[0, 1, ..., 0] * grid.weights)
    from_links = fukui_hatsugai_suzuki_chern(model, 60)
    assert abs(from_links - round(from_links)) < 1e-9
    assert from_curvature == pytest.approx(round(from_links), abs=1e-6)
    if chern is not None:
        assert round(from_links) == chern
    else:
        assert abs(round(from_links)) == 1


def _printed_formula_by_finite_differences(model, k):
    """A^i_nm = i <u_n|d_i u_m> from finite differences of gauge-fixed eigenvectors (the
    phase of each eigenvector is fixed by making its first component real positive)."""
    def vectors(q):
        _, v = np.linalg.eigh(model.derivative_function(())(q))
        phase = v[..., :1, :] / np.abs(v[..., :1, :])
        return v / phase
    u = vectors(k)
    du = [(vectors(k + _shift(2, a, STEP)) - vectors(k - _shift(2, a, STEP))) / (2 * STEP)
          for a in range(2)]
    eps = np.linalg.eigvalsh(model.derivative_function(())(k))
    return u, du, eps


def test_gq_T_and_nonadiabatic_metric_sign_relations():
    """docs/geometry.md: Balents' T = -Gq and Ren's G = -Gq, each evaluated from its
    own printed formula with eigenvector finite differences; G is positive for band 0."""
    model = get_model("qwz", m=-1.2, g=0.3)
    k = RNG.uniform(-np.pi, np.pi, (2, 6))
    geo = band_geometry(model, k)
    u, du, eps = _printed_formula_by_finite_differences(model, k)
    uh = np.conj(np.swapaxes(u, -1, -2))
    # <u_m | d_a u_n> as a matrix [m, n]
    overlap = [uh @ d for d in du]
    for n in range(2):
        m = 1 - n
        for a in range(2):
            for b in range(2):
                # Balents' talk: T = -sum_m [<d_a n|m><m|d_b n> + (a<->b)] / (eps_n - eps_m)
                t_talk = -np.real(np.conj(overlap[a][:, m, n]) * overlap[b][:, m, n]
                                  + np.conj(overlap[b][:, m, n]) * overlap[a][:, m, n]) \
                    / (eps[:, n] - eps[:, m])
                # Ren: G = 2 Re A^a_nm A^b_mn / (eps_m - eps_n), A^a_nm = i <n|d_a m>
                a_nm = 1j * overlap[a][:, n, m]
                a_mn = 1j * overlap[b][:, m, n]
                g_ren = 2 * np.real(a_nm * a_mn) / (eps[:, m] - eps[:, n])
                np.testing.assert_allclose(balents_T(geo)[a, b, :, n], t_talk, atol=1e-7)
                np.testing.assert_allclose(nonadiabatic_metric(geo)[a, b, :, n], g_ren,
                                           atol=1e-7)
                np.testing.assert_allclose(geo.band_normalised_metric[a, b, :, n], -t_talk,
                                           atol=1e-7)
    lowest = np.moveaxis(nonadiabatic_metric(geo)[..., 0], -1, 0)
    assert np.all(np.linalg.eigvalsh(lowest) > 0)


def test_flat_band_nonadiabatic_metric_is_quantum_metric_over_gap():
    """Flat bands of Balents' talk (+-t, degenerate pairs): Gq = 2 g / (eps_n - eps_m) = -g / t
    for the lower pair, so Ren's metric is g / t > 0 (flat-band effective mass)."""
    model = get_model("flatband002")
    grid = k_grid(model, (16, 16))
    geo = band_geometry(model, grid)
    np.testing.assert_allclose(nonadiabatic_metric(geo)[..., 0], geo.quantum_metric[..., 0],
                               atol=1e-12)
    np.testing.assert_allclose(geo.velocity, 0, atol=1e-12)
    assert np.all(geo.multiplicity == 2)


def test_degeneracy_is_an_error_in_the_non_degenerate_path_and_named():
    with pytest.raises(GeometryError, match=r"bands 0 and 1 are degenerate .* k = \[0.0, 0.0\]"):
        band_geometry(get_model("qwz", m=-2.0), np.zeros((2, 1)))
    with pytest.raises(GeometryError, match="bands 0 and 1"):
        band_geometry(get_model("toy003"), np.full((2, 1), 0.3), degeneracy="error")


def test_pt_symmetric_toy_model_has_zero_traced_curvature_and_finite_metric():
    geo = band_geometry(get_model("toy003", t=0.9), RNG.uniform(-1, 1, (2, 50)))
    np.testing.assert_allclose(geo.berry_curvature, 0, atol=1e-12)
    assert np.all(geo.quantum_metric[0, 0] > 0)
