"""k-space steady state of the matrix-mode equation (moyal/matrix_response.py).

Independent references: the sum-over-states band-geometry formulas of moyal/response.py
(Drude, anomalous Hall, nonlinear Drude, Berry-curvature dipole), and the exact-in-tau
response against its own Laurent expansion.
"""

import numpy as np
import pytest

from moyal import matrix_response as mr
from moyal.geometry import band_geometry, k_grid
from moyal.models import KDomain, get_model, model_from_config
from moyal.response import fermi_dirac, response_tensors

QWZ = get_model("qwz", m=-1.5, g=0.4)


def test_laurent_coefficients_are_the_band_formulas():
    grid = k_grid(QWZ, [48, 48])
    laurent = mr.laurent_response(QWZ, grid, 0.5, 0.2)
    tensors = {q: v[0] for q, v in response_tensors(
        band_geometry(QWZ, grid), grid, [0.5], 0.2,
        ["drude", "ahe", "nonlinear_drude", "bcd"]).items()}
    pairs = ((laurent["sigma1"][1], "drude"), (laurent["sigma1"][0], "ahe"),
             (laurent["sigma2"][2], "nonlinear_drude"), (laurent["sigma2"][1], "bcd"))
    for value, name in pairs:
        assert np.max(np.abs(value - tensors[name])) < 1e-12 * np.max(np.abs(tensors[name])) \
            + 1e-15, name


def test_chern_insulator_hall_conductivity_is_quantised():
    grid = k_grid(QWZ.with_parameters(g=0.0), [64, 64])
    laurent = mr.laurent_response(QWZ.with_parameters(g=0.0), grid, 0.0, 0.01)
    assert abs(abs(laurent["sigma1"][0][0, 1]) - 1 / (2 * np.pi)) < 1e-9


@pytest.mark.parametrize("ratio", [0.5, 1.0, 3.0])
def test_exact_response_approaches_its_laurent_series(ratio):
    grid = k_grid(QWZ, [32, 32])
    laurent = mr.laurent_response(QWZ, grid, 0.5, 0.2, ratio)["sigma2"]
    remainders = []
    for tau in (200.0, 400.0):
        exact = mr.response(QWZ, grid, 0.5, 0.2, tau, ratio * tau).sigma2
        series = tau ** 2 * laurent[2] + tau * laurent[1] + laurent[0]
        remainders.append(np.max(np.abs(exact - series)))
    # the next term is O(1/tau): doubling tau halves the remainder
    assert 1.8 < remainders[0] / remainders[1] < 2.2, remainders


@pytest.mark.parametrize("ratio", [0.5, 1.0, 2.0])
def test_tau0_closed_form_two_bands_and_two_degenerate_pairs(ratio):
    grid = k_grid(QWZ, [48, 48])
    geometry = band_geometry(QWZ, grid)
    occupation = fermi_dirac(geometry.energy, 0.5, 0.2)
    laurent = mr.laurent_response(QWZ, grid, 0.5, 0.2, ratio)["sigma2"][0]
    closed = mr.intrinsic_two_multiplet(geometry, grid, occupation, ratio)
    assert np.max(np.abs(laurent - closed)) < 1e-10 * np.max(np.abs(laurent))  # spectral
    toy = get_model("toy003").with_domain(KDomain("box", ((-0.6, 0.6), (-0.6, 0.6))))
    grid = k_grid(toy, [96, 96])
    geometry = band_geometry(toy, grid, "traced")
    occupation = fermi_dirac(geometry.energy, 0.15, 0.03) \
        - fermi_dirac(geometry.energy, 0.0, 0.03)
    laurent = mr.laurent_response(toy, grid, 0.15, 0.03, ratio, mu_reference=0.0)["sigma2"][0]
    closed = mr.intrinsic_two_multiplet(geometry, grid, occupation, ratio)
    # spectral k derivatives on the box vs analytic geometry: limited by the box edge tails
    assert np.max(np.abs(laurent - closed)) < 1e-6 * np.max(np.abs(laurent))


def test_closed_form_refuses_more_than_two_multiplets():
    model = model_from_config({"hamiltonian": "(2 + cos(kx))*kron(sz, s0) + 0.7*kron(s0, sz)"
                                              " + 0.1*sin(kx)*kron(sx, sx)", "domain": "bz"})
    grid = k_grid(model, [8])
    geometry = band_geometry(model, grid)
    assert set(geometry.multiplicity.ravel()) == {1}  # four separate bands
    with pytest.raises(ValueError, match="two multiplets"):
        mr.intrinsic_two_multiplet(geometry, grid, np.zeros(geometry.energy.shape))
