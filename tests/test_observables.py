"""Response extraction: drive harmonics, +-E differences with Richardson, steady-state values."""

import numpy as np
import pytest

from solvers import observables

OMEGA = 1.3
PERIOD = 2 * np.pi / OMEGA
SAMPLES_PER_PERIOD = 24


def sample_times(periods, offset=0.37):
    return offset + np.arange(periods * SAMPLES_PER_PERIOD + 1) * PERIOD / SAMPLES_PER_PERIOD


def signal(t, amplitudes):
    """y(t) = a_0 + sum_n a_n cos(n w t) + b_n sin(n w t) for {n: (a_n, b_n)}, written out."""
    y = np.zeros_like(t)
    for n, (a, b) in amplitudes.items():
        y += a * np.cos(n * OMEGA * t) + b * np.sin(n * OMEGA * t)
    return y


def test_convention_cos_is_real_and_sin_is_imaginary():
    t = sample_times(3)
    amplitudes = observables.harmonics(t, np.cos(OMEGA * t) + 2 * np.sin(OMEGA * t), OMEGA,
                                       orders=(1,))
    # y = Re[Y exp(-i w t)] with Y = 1 + 2i gives cos + 2 sin
    assert amplitudes[0] == pytest.approx(1 + 2j, abs=1e-12)


def test_harmonics_are_exact_on_noiseless_data_with_trailing_axes():
    t = sample_times(5)
    first = {0: (0.4, 0.0), 1: (1.2, -0.7), 2: (0.05, 0.3)}
    second = {0: (-2.0, 0.0), 1: (0.0, 0.9), 2: (-0.6, 0.0)}
    y = np.stack([signal(t, first), signal(t, second)], axis=1)
    amplitudes = observables.harmonics(t, y, OMEGA)
    assert amplitudes.shape == (3, 2)
    for column, truth in enumerate((first, second)):
        expected = [complex(*truth[n]) for n in (0, 1, 2)]
        assert np.max(np.abs(amplitudes[:, column] - expected)) < 1e-12


def test_unfitted_higher_harmonic_does_not_leak_on_whole_periods():
    t = sample_times(4)
    y = signal(t, {0: (0.1, 0.0), 1: (0.3, 0.2), 2: (0.0, 0.0), 3: (0.8, -0.5)})
    amplitudes = observables.harmonics(t, y, OMEGA, orders=(0, 1, 2))
    assert np.max(np.abs(amplitudes - [0.1, 0.3 + 0.2j, 0.0])) < 1e-12


def test_transient_before_the_window_does_not_enter():
    t = sample_times(6)
    steady = {0: (0.25, 0.0), 1: (-0.4, 0.6), 2: (0.1, 0.15)}
    window_start = t[-1] - 2 * PERIOD
    # a transient that has died out exactly when the window starts
    transient = 3.0 * np.clip(window_start - t, 0.0, None) ** 2
    y = signal(t, steady) + transient
    expected = [complex(*steady[n]) for n in (0, 1, 2)]
    late = observables.harmonics(t, y, OMEGA, periods=2)
    assert np.max(np.abs(late - expected)) < 1e-12
    # the same data fitted over all periods is visibly wrong: the test can fail
    everything = observables.harmonics(t, y, OMEGA)
    assert np.max(np.abs(everything - expected)) > 1e-1
    # an exponential transient enters only through its size inside the window
    tau = 0.2 * PERIOD
    decaying = signal(t, steady) + 5.0 * np.exp(-(t - t[0]) / tau)
    error = np.max(np.abs(observables.harmonics(t, decaying, OMEGA, periods=2) - expected))
    assert error < 2 * 5.0 * np.exp(-(window_start - t[0]) / tau) < 1e-7


@pytest.mark.parametrize("kwargs, fragment", [
    ({"periods": 7}, "asked for 7 period(s)"),
    ({"omega": -1.0}, "must be > 0"),
    ({"orders": (1, 1)}, "distinct integers"),
])
def test_harmonics_reject_bad_requests(kwargs, fragment):
    t = sample_times(6)
    arguments = {"omega": OMEGA, **kwargs}
    with pytest.raises(ValueError, match=fragment.replace("(", r"\(").replace(")", r"\)")):
        observables.harmonics(t, np.cos(OMEGA * t), **arguments)


def test_harmonics_reject_undersampled_windows():
    t = np.linspace(0.0, 2 * PERIOD, 5)  # two samples per period cannot fit n = 0, 1, 2
    with pytest.raises(ValueError, match="cannot separate"):
        observables.harmonics(t, np.cos(OMEGA * t), OMEGA)


# --------------------------------------------------------------------------------------------
# symmetric +-E differences
# --------------------------------------------------------------------------------------------

SIGMA1 = np.array([0.7, -1.1, 0.05])
SIGMA2 = np.array([0.3, 0.25, -0.4])
C3 = np.array([2.0, -0.6, 1.5])
C4 = np.array([-1.2, 0.8, 3.0])


def polynomial_current(field, c5=0.0, c6=0.0):
    return (SIGMA1 * field + SIGMA2 * field ** 2 + C3 * field ** 3 + C4 * field ** 4
            + c5 * field ** 5 + c6 * field ** 6)


def test_two_pairs_cancel_cubic_and_quartic_terms_exactly():
    E = 0.3
    scales = [2.0, -1.0, 1.0, -2.0]  # any order
    currents = np.array([polynomial_current(s * E) for s in scales])
    sigma1, sigma2 = observables.symmetric_differences(scales, currents, E)
    assert np.max(np.abs(sigma1 - SIGMA1)) < 1e-12
    assert np.max(np.abs(sigma2 - SIGMA2)) < 1e-12


def test_one_pair_error_is_the_predicted_E_squared_term():
    for E in (0.2, 0.1):
        currents = np.array([polynomial_current(E), polynomial_current(-E)])
        sigma1, sigma2 = observables.symmetric_differences([1.0, -1.0], currents, E)
        assert np.max(np.abs(sigma1 - SIGMA1 - C3 * E ** 2)) < 1e-12
        assert np.max(np.abs(sigma2 - SIGMA2 - C4 * E ** 2)) < 1e-12


def test_three_pairs_cancel_through_the_sixth_power():
    E = 0.25
    scales = np.array([1.0, -1.0, 2.0, -2.0, 3.0, -3.0])
    currents = np.array([polynomial_current(s * E, c5=4.0, c6=-2.5) for s in scales])
    sigma1, sigma2 = observables.symmetric_differences(scales, currents, E)
    assert np.max(np.abs(sigma1 - SIGMA1)) < 1e-11
    assert np.max(np.abs(sigma2 - SIGMA2)) < 1e-11


@pytest.mark.parametrize("scales", [[1.0, 2.0], [1.0, -1.0, 1.0, -1.0], [0.0, 1.0, -1.0],
                                    [1.0, -1.5]])
def test_scales_must_be_plus_minus_pairs(scales):
    with pytest.raises(ValueError):
        observables.symmetric_differences(scales, np.zeros((len(scales), 3)), 0.1)


# --------------------------------------------------------------------------------------------
# steady state
# --------------------------------------------------------------------------------------------

def test_linear_drift_is_measured_exactly_on_nonuniform_samples():
    rng = np.random.default_rng(7)
    t = np.sort(np.concatenate(([0.0, 10.0], rng.uniform(0.0, 10.0, 40))))
    y = np.stack([1.5 + 0.2 * t, -0.3 * t], axis=1)
    value, drift = observables.steady_state_value(t, y, window=3.0)
    assert value == pytest.approx([1.5 + 0.2 * 8.5, -0.3 * 8.5], abs=1e-13)
    assert drift == pytest.approx([0.2 * 3.0, -0.3 * 3.0], abs=1e-13)


def test_relaxation_residual_follows_from_the_drift():
    tau, y_inf, amplitude, window = 0.8, 2.0, -1.5, 1.3
    t = np.linspace(0.0, 6.0, 6001)
    y = y_inf + amplitude * np.exp(-t / tau)
    value, drift = observables.steady_state_value(t, y, window)
    # exact window averages of the exponential
    mean = lambda a, b: y_inf + amplitude * tau * (np.exp(-a / tau) - np.exp(-b / tau)) / (b - a)
    assert value == pytest.approx(mean(6.0 - window, 6.0), rel=1e-7)
    assert drift == pytest.approx(mean(6.0 - window, 6.0) - mean(6.0 - 2 * window,
                                                                 6.0 - window), rel=1e-6)
    assert value - y_inf == pytest.approx(-drift / np.expm1(window / tau), rel=1e-5)


def test_whole_period_window_averages_out_an_oscillation():
    t = np.linspace(0.0, 5 * PERIOD, 2001)
    value, drift = observables.steady_state_value(t, 0.4 + np.cos(OMEGA * t + 0.3), PERIOD)
    # the trapezoid rule is exact to round-off for a whole period of a trigonometric signal
    assert abs(value - 0.4) < 1e-12 and abs(drift) < 1e-12


def test_window_must_fit_twice():
    t = np.linspace(0.0, 1.0, 11)
    with pytest.raises(ValueError, match="fit twice"):
        observables.steady_state_value(t, t, 0.6)
