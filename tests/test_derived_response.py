"""Response formulas derived from band mode (docs/formulas.md)."""
import pytest
import sympy as sp

from moyal.derived_response import (anomalous_hall_kernel, berry_curvature_dipole_kernel,
                                    classify_metric_dipole, drude_kernel, fermi_sea_kernel,
                                    nonlinear_drude_kernel, response_symbols, static_limit,
                                    tau_power, travelling_wave_response, uniform_field_response)

SYMBOLS = response_symbols(2)
D = 2
INDICES = [(i, j, l) for i in range(D) for j in range(D) for l in range(D)]


@pytest.fixture(scope="module")
def fixed_response():
    return uniform_field_response(SYMBOLS, "fixed")


def static(kernel, response):
    return static_limit(kernel.subs(SYMBOLS.space.hbar, 1), response.frequencies)


def test_fermi_sea_kernel_integrates_by_parts():
    k, f0, slope = SYMBOLS.space.k, SYMBOLS.equilibrium, SYMBOLS.equilibrium_slope
    c = sp.Function("c")(*k)
    # int c d_x d_y f0 = int f0 d_x d_y c ; int v_x c f0' = int c d_x f0 = -int f0 d_x c
    assert fermi_sea_kernel(c * sp.diff(f0, k[0], k[1]), SYMBOLS) == sp.diff(c, k[0], k[1])
    v_x = sp.diff(SYMBOLS.fields.energy, k[0])
    assert fermi_sea_kernel(v_x * c * slope, SYMBOLS) == -sp.diff(c, k[0])
    with pytest.raises(ValueError):
        fermi_sea_kernel(c * slope, SYMBOLS)


def test_derived_linear_response_is_drude_plus_anomalous_hall(fixed_response):
    for i in range(D):
        for j in range(D):
            expected = drude_kernel(SYMBOLS, i, j) + anomalous_hall_kernel(SYMBOLS, i, j)
            assert sp.expand(static(fixed_response.linear[i][j], fixed_response) - expected) == 0


def test_derived_drude_has_relaxation_denominator(fixed_response):
    omega, tau = fixed_response.frequencies[0], SYMBOLS.tau
    kernel = fixed_response.linear[0][0].subs(SYMBOLS.space.hbar, 0)
    expected = drude_kernel(SYMBOLS, 0, 0) / (1 - sp.I * omega * tau)
    assert sp.simplify(kernel - expected) == 0


def test_derived_second_order_tau2_is_nonlinear_drude(fixed_response):
    for i, j, l in INDICES:
        kernel = static(fixed_response.quadratic[i][j][l], fixed_response)
        assert sp.expand(tau_power(kernel, SYMBOLS.tau, 2) * SYMBOLS.tau ** 2
                         - nonlinear_drude_kernel(SYMBOLS, i, j, l)) == 0


def test_derived_second_order_tau1_is_berry_curvature_dipole(fixed_response):
    for i, j, l in INDICES:
        kernel = static(fixed_response.quadratic[i][j][l], fixed_response)
        assert sp.expand(tau_power(kernel, SYMBOLS.tau, 1) * SYMBOLS.tau
                         - berry_curvature_dipole_kernel(SYMBOLS, i, j, l)) == 0


def intrinsic(response):
    return [[[tau_power(static(response.quadratic[i][j][l], response), SYMBOLS.tau, 0)
              for l in range(D)] for j in range(D)] for i in range(D)]


def test_metric_dipole_classifier_recognises_literature_forms():
    from moyal.derived_response import LITERATURE_METRIC_FORMS, metric_dipole_kernel
    for name, (own, exchanged) in LITERATURE_METRIC_FORMS.items():
        kernels = [[[metric_dipole_kernel(SYMBOLS, i, j, l, own, exchanged) for l in range(D)]
                    for j in range(D)] for i in range(D)]
        verdict = classify_metric_dipole(kernels, SYMBOLS)
        assert verdict["matches"] == [name]
        assert (verdict["own"], verdict["exchanged"]) == (own, exchanged)


def test_band_mode_intrinsic_term_fixed_relaxation(fixed_response):
    """Recorded in docs/formulas.md: a = 1/2, b = 1/2, none of WPD/LKA/QK."""
    verdict = classify_metric_dipole(intrinsic(fixed_response), SYMBOLS)
    assert (verdict["own"], verdict["exchanged"]) == (sp.Rational(1, 2), sp.Rational(1, 2))
    assert verdict["matches"] == []


def test_band_mode_intrinsic_term_field_renormalised_relaxation():
    """Recorded in docs/formulas.md: a = 0, b = 1/2 with target f0(eps + E.Gq.E/2)."""
    verdict = classify_metric_dipole(
        intrinsic(uniform_field_response(SYMBOLS, "field_renormalised")), SYMBOLS)
    assert (verdict["own"], verdict["exchanged"]) == (0, sp.Rational(1, 2))
    assert verdict["matches"] == []


def test_travelling_wave_long_wavelength_limit_is_uniform_linear_response(fixed_response):
    symbols = response_symbols(1)
    wave = travelling_wave_response(symbols)
    uniform = uniform_field_response(symbols, "fixed")
    assert sp.simplify(wave.uniform[0][0] - uniform.linear[0][0].subs(uniform.frequencies[0],
                                                                       wave.omega)) == 0
