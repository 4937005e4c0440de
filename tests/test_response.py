"""Conductivity k-integrals (issue 4, acceptance 1-5)."""
import numpy as np
import pytest
from scipy.integrate import quad

from moyal.geometry import band_geometry, k_grid
from moyal.models import KDomain, get_model
from moyal.response import QUANTITIES, response_tensors

TILTED_QWZ = {"m": -1.2, "g": 0.3}
MU = [-1.3, -0.7, 0.9, 1.4]


@pytest.fixture(scope="module")
def qwz_300():
    model = get_model("qwz", **TILTED_QWZ)
    grid = k_grid(model, (300, 300))
    return grid, band_geometry(model, grid)


def _chain(n):
    model = get_model("chain")
    grid = k_grid(model, (n,))
    return grid, band_geometry(model, grid)


def test_chain_drude_equals_closed_form_at_zero_temperature():
    """sigma_xx / tau = (1/pi) sqrt(4 t^2 - mu^2) (two Fermi points, |v_F| = sqrt(4-mu^2))."""
    mu = np.array([-1.7, -0.4, 0.0, 1.1])
    closed = np.sqrt(4 - mu ** 2) / np.pi
    grid, geo = _chain(400)
    sea = response_tensors(geo, grid, mu, 0.0, ["drude"], {"drude": "sea"})["drude"]
    np.testing.assert_allclose(sea[:, 0, 0], closed, rtol=2e-2)  # O(dk), erratic
    # The surface form (linear-simplex delta function) converges as dk^2 (erratically: the
    # Fermi points' positions within their cells change with n): over 200 -> 1600 cells the
    # largest relative error must drop by at least 2^(3 x 1.8); measured 4.0e-4 -> 5.6e-6.
    errors = []
    for n in (200, 1600):
        grid, geo = _chain(n)
        surface = response_tensors(geo, grid, mu, 0.0, ["drude"], {"drude": "surface"})
        errors.append(np.max(np.abs(surface["drude"][:, 0, 0] / closed - 1)))
    assert np.log2(errors[0] / errors[1]) / 3 >= 1.8, errors


def test_chain_drude_at_finite_temperature_matches_quadrature():
    T, mu = 0.2, 0.5
    grid, geo = _chain(256)

    def integrand(k):
        x = (-2 * np.cos(k) - mu) / (2 * T)
        return (2 * np.sin(k)) ** 2 / (4 * T * np.cosh(x) ** 2) / (2 * np.pi)
    reference = quad(integrand, -np.pi, np.pi, epsabs=1e-13)[0]
    value = response_tensors(geo, grid, [mu], T, ["drude"])["drude"][0, 0, 0]
    assert value == pytest.approx(reference, rel=1e-10)


@pytest.mark.parametrize("m, chern", [(-1.0, 1), (1.0, -1), (3.0, 0)])
def test_anomalous_hall_in_the_gap_is_minus_chern_over_two_pi(m, chern):
    model = get_model("qwz", m=m)
    grid = k_grid(model, (100, 100))
    ahe = response_tensors(band_geometry(model, grid), grid, [0.0], 0.0, ["ahe"])["ahe"][0]
    assert ahe[0, 1] == pytest.approx(-chern / (2 * np.pi), abs=1e-6)
    assert ahe[1, 0] == pytest.approx(chern / (2 * np.pi), abs=1e-6)


FERMI_FORMS = ["drude", "nonlinear_drude", "bcd", "qm_wpd", "qm_lka", "qm_qk"]


def _both_forms(geo, grid, T):
    return [response_tensors(geo, grid, MU, T, FERMI_FORMS, {q: form for q in FERMI_FORMS})
            for form in ("sea", "surface")]


def test_fermi_sea_and_surface_forms_agree_at_finite_temperature(qwz_300):
    """Integration by parts is exact on the periodic grid: BCD (Eq. 12), WPD Eq. 13 vs 14,
    and all other forms agree to round-off."""
    grid, geo = qwz_300
    sea, surface = _both_forms(geo, grid, 0.05)
    for q in FERMI_FORMS:
        assert np.abs(sea[q]).max() > 1e-3, q
        np.testing.assert_allclose(sea[q], surface[q], atol=1e-10 * np.abs(sea[q]).max(),
                                   err_msg=q)


def test_fermi_sea_and_surface_forms_agree_at_zero_temperature(qwz_300):
    """T = 0: step occupation vs the linear-simplex delta function.  The limiting error is
    the sea form's (the rectangle rule on a discontinuous f0, erratic O(dk)); at 300 x 300
    the largest relative difference measured is 3.1e-3 (nonlinear Drude), 1.5e-3 at 600."""
    grid, geo = qwz_300
    sea, surface = _both_forms(geo, grid, 0.0)
    for q in FERMI_FORMS:
        np.testing.assert_allclose(sea[q], surface[q], atol=5e-3 * np.abs(sea[q]).max(),
                                   err_msg=q)


def test_wpd_longitudinal_response_vanishes_but_not_lka_or_qk(qwz_300):
    grid, geo = qwz_300
    out = response_tensors(geo, grid, MU, 0.05, ["qm_wpd", "qm_lka", "qm_qk"])
    for i in range(2):
        np.testing.assert_allclose(out["qm_wpd"][:, i, i, i], 0, atol=1e-14)
    assert np.abs(out["qm_lka"][:, 0, 0, 0]).max() > 1e-3
    assert np.abs(out["qm_qk"][:, 0, 0, 0]).max() > 1e-3


def test_second_order_tensors_are_symmetric_in_the_field_indices(qwz_300):
    grid, geo = qwz_300
    out = response_tensors(geo, grid, MU, 0.0, [q for q in QUANTITIES if QUANTITIES[q].rank == 3])
    for q, value in out.items():
        np.testing.assert_allclose(value, np.swapaxes(value, 2, 3), atol=1e-14, err_msg=q)


def _toy(t, n=200, half_width=0.8):
    model = get_model("toy003", t=t).with_domain(KDomain("box", ((-half_width, half_width),) * 2))
    grid = k_grid(model, (n, n))
    return grid, band_geometry(model, grid)


def test_toy003_quantum_metric_hall_response_needs_the_symmetry_breaking_t():
    """Qiang et al. Sec. 6: sigma^qm_xyy = 0 at t = 0, non-zero at t/v = 0.5, 0.9; the Berry
    curvature terms (AHE, BCD) vanish by PT symmetry for every t."""
    mu = [0.15, 0.25, 0.35]
    quantities = ["ahe", "bcd", "qm_wpd", "qm_lka", "qm_qk"]
    values = {}
    for t in (0.0, 0.5, 0.9):
        grid, geo = _toy(t)
        values[t] = response_tensors(geo, grid, mu, 0.0, quantities)
        np.testing.assert_allclose(values[t]["ahe"], 0, atol=1e-14)
        np.testing.assert_allclose(values[t]["bcd"], 0, atol=1e-14)
    for q in ("qm_wpd", "qm_lka", "qm_qk"):
        np.testing.assert_allclose(values[0.0][q], 0, atol=1e-12)
        assert np.all(np.abs(values[0.5][q][:, 0, 1, 1]) > 0.05)
        # Larger deformation, larger response (Qiang et al. Fig. 2c).
        assert np.all(np.abs(values[0.9][q][:, 0, 1, 1]) > np.abs(values[0.5][q][:, 0, 1, 1]))


def test_zero_temperature_results_converge_with_grid():
    """Toy model WPD sigma_xyy at mu = 0.25: successive differences shrink by more than 3
    per grid doubling."""
    values = []
    for n in (100, 200, 400):
        grid, geo = _toy(0.9, n)
        tensor = response_tensors(geo, grid, [0.25], 0.0, ["qm_wpd"])["qm_wpd"]
        values.append(tensor[0, 0, 1, 1])
    first, second = abs(values[1] - values[0]), abs(values[2] - values[1])
    assert second < first / 3
    assert second < 1e-3 * abs(values[2])  # measured 7.4e-4
