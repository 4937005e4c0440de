"""Model registry and user Hamiltonians (issue 4)."""
import numpy as np
import pytest

from moyal.models import MODELS, ModelError, get_model, hamiltonian_from_string, \
    model_from_config

RNG = np.random.default_rng(7)


@pytest.mark.parametrize("name", MODELS)
def test_registered_model_is_hermitian_and_derivatives_match_finite_differences(name):
    model = get_model(name)
    k = RNG.uniform(-1.0, 1.0, size=(model.dimension, 5))
    h = model.derivative_function(())(k)
    assert h.shape == (5, model.n_bands, model.n_bands)
    np.testing.assert_allclose(h, np.conj(np.swapaxes(h, -1, -2)), atol=1e-14)
    step = 1e-5
    for order in (1, 2, 3):
        for alpha, analytic in model.evaluate(k, order).items():
            lower = alpha[:-1]
            shift = np.zeros((model.dimension, 1))
            shift[alpha[-1]] = step
            f = model.derivative_function(lower)
            numeric = (f(k + shift) - f(k - shift)) / (2 * step)
            np.testing.assert_allclose(analytic, numeric, atol=1e-7 * max(1, abs(analytic).max()))


def test_toy003_spectrum_is_the_doubly_degenerate_deformed_dirac_cone():
    model = get_model("toy003", t=0.9)
    k = RNG.uniform(-1, 1, size=(2, 20))
    eps = np.linalg.eigvalsh(model.derivative_function(())(k))
    p = model.parameters
    k2 = k[0] ** 2 + k[1] ** 2
    closed = np.sqrt(p["v"] ** 2 * k2 + (p["m"] - p["b"] * k2 + p["t"] * k[0]) ** 2)
    np.testing.assert_allclose(eps, np.stack([-closed, -closed, closed, closed], -1), atol=1e-13)


def test_flatband002_bands_are_flat_and_doubly_degenerate():
    eps = np.linalg.eigvalsh(get_model("flatband002").derivative_function(())(
        RNG.uniform(-np.pi, np.pi, (2, 30))))
    np.testing.assert_allclose(eps, np.tile([-1.0, -1.0, 1.0, 1.0], (30, 1)), atol=1e-13)


def test_user_hamiltonian_equals_registered_qwz():
    text = "A*sin(kx)*sx + A*sin(ky)*sy + (m + B*cos(kx) + B*cos(ky))*sz + g*sin(kx)*s0"
    params = {"A": 1.0, "B": 1.0, "m": -1.2, "g": 0.3}
    user = model_from_config({"hamiltonian": text, "parameters": params, "domain": "bz"})
    reference = get_model("qwz", **params)
    k = RNG.uniform(-np.pi, np.pi, (2, 10))
    np.testing.assert_allclose(user.derivative_function(())(k),
                               reference.derivative_function(())(k), atol=1e-14)
    assert user.dimension == 2 and user.domain.periodic


def test_kron_builds_four_band_user_model():
    matrix, dim = hamiltonian_from_string("v*kron(sx, kx*sx + ky*sy) + m*kron(sz, s0)",
                                          {"v": 1.0, "m": 0.1})
    assert matrix.shape == (4, 4) and dim == 2


@pytest.mark.parametrize("text, fragment", [
    ("A*sin(kx)*sx + q*sz", "unknown symbol(s) q"),
    ("A*sin(kx)*sx + I*sy*A", "not Hermitian"),
    ("sx + kron(sx, sy)", "dimensions do not match"),
    ("sin(kx)*sx + 1", "cannot add a scalar to a matrix"),
    ("sx.T", "attribute access"),
    ("A*(sx", "syntax error"),
])
def test_bad_user_hamiltonian_is_rejected_with_a_named_problem(text, fragment):
    with pytest.raises(ModelError, match=None) as info:
        hamiltonian_from_string(text, {"A": 1.0})
    assert fragment in str(info.value)
    assert "\n" not in str(info.value)
    assert isinstance(info.value, ValueError)


def test_named_model_config_overrides_parameters_and_rejects_unknown_ones():
    model = model_from_config({"name": "qwz", "parameters": {"m": 1.5}})
    assert model.parameters["m"] == 1.5
    with pytest.raises(ModelError, match="no parameter"):
        model_from_config({"name": "qwz", "parameters": {"mass": 1.5}})
    with pytest.raises(ModelError, match="unknown"):
        get_model("graphene")
