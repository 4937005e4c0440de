"""Relaxation-time collision operators (docs/equations.md) against exact results."""

import numpy as np
import pytest
from mpi4py import MPI
from scipy.integrate import solve_ivp

from moyal.geometry import band_geometry
from moyal.models import get_model
from solvers.collisions import fermi_dirac
from solvers.collisions import (ConservingRelaxation, FieldRenormalisedRelaxation,
                                FixedRelaxation, KSum, MatrixRelaxation, relaxation_from_config,
                                solve_chemical_potential)
from solvers.config import ConfigError
from tests.tolerance import (UNIT_ROUNDOFF, chemical_potential_tolerance, fermi_dirac_floor,
                             linear_combination_floor, tolerance)

TAU, MU, TEMPERATURE = 0.7, 0.3, 0.25


def two_band_chain(nk=64):
    """Energies (2, nk) of two cosine bands and their k-cell measures dk/(2 pi)."""
    k = -np.pi + 2 * np.pi * (np.arange(nk) + 0.5) / nk
    energy = np.array([-2 * np.cos(k) - 1.5, 0.8 * np.cos(k) + 1.5])
    return energy, np.full(nk, (2 * np.pi / nk) / (2 * np.pi))


PAULI = np.array([[[0, 1], [1, 0]], [[0, -1j], [1j, 0]], [[1, 0], [0, -1]]])


def qwz_d_vector(k):
    """d(k) of QWZ with A = B = 1, m = -1: H0 = 0.3 sin kx + d.sigma (k of shape (2, ...))."""
    kx, ky = k
    return np.array([np.sin(kx), np.sin(ky), -1 + np.cos(kx) + np.cos(ky)])


def qwz_hamiltonian(k):
    """H0(k), shape (*k.shape[1:], 2, 2)."""
    return (np.einsum("a...,aij->...ij", qwz_d_vector(k), PAULI)
            + 0.3 * np.sin(k[0])[..., None, None] * np.eye(2))


def test_fixed_relaxation_is_exponential_decay_to_fermi_dirac():
    energy, _ = two_band_chain(16)
    nx = 3
    collisions = FixedRelaxation(energy, TAU, MU, TEMPERATURE, x_axes=1)
    f_eq = fermi_dirac(energy, MU, TEMPERATURE)[:, None, :]
    rng = np.random.default_rng(0)
    f_start = rng.uniform(0, 1, (2, nx, 16))
    times = np.array([0.3, 1.0, 2.5]) * TAU
    solution = solve_ivp(lambda t, y: collisions(y.reshape(f_start.shape)).ravel(),
                         (0, times[-1]), f_start.ravel(), t_eval=times, method="DOP853",
                         rtol=1e-12, atol=1e-14)
    for t, y in zip(times, solution.y.T):
        exact = f_eq + (f_start - f_eq) * np.exp(-t / TAU)
        np.testing.assert_allclose(y.reshape(f_start.shape), exact, rtol=1e-9, atol=1e-12)


def assert_inverts_shifted_linear_part(collisions, rhs, shift, atol):
    """solve_shifted returns X with shift X - (R[X] - R[0]) = rhs (R is affine)."""
    x = collisions.solve_shifted(shift, rhs)
    linear = collisions(x) - collisions(np.zeros_like(x))
    np.testing.assert_allclose(shift * x - linear, rhs, rtol=0, atol=atol)


def test_fixed_relaxation_rate_target_and_shifted_solve():
    energy, _ = two_band_chain(8)
    collisions = FixedRelaxation(energy, TAU, MU, TEMPERATURE)
    assert collisions.rate == 1 / TAU
    np.testing.assert_array_equal(collisions.target(), fermi_dirac(energy, MU, TEMPERATURE))
    rhs = np.random.default_rng(1).normal(size=energy.shape)
    assert_inverts_shifted_linear_part(collisions, rhs, shift=3.0, atol=1e-13)


def test_block_shape_is_checked():
    energy, _ = two_band_chain(8)
    collisions = FixedRelaxation(energy, TAU, MU, TEMPERATURE, x_axes=1)
    with pytest.raises(ValueError, match="1 x axes"):
        collisions(np.zeros((2, 8)))


def test_conserving_relaxation_conserves_density_at_every_x():
    energy, weights = two_band_chain()
    collisions = ConservingRelaxation(energy, weights, TAU, MU, TEMPERATURE, x_axes=1)
    f = np.random.default_rng(2).uniform(0.01, 0.99, (2, 7, energy.shape[1]))
    density = np.einsum("bxk,k->x", f, weights)
    for _ in range(2):  # cold start from mu = MU, then the warm start
        moments = np.einsum("bxk,k->x", collisions(f), weights)
        assert np.all(np.abs(moments) * TAU <= 1e-13 * density)
    # mu(x) is the Fermi-Dirac chemical potential of the conserved density, solved directly.
    f_eq = collisions.equilibrium(f)
    for x, mu in enumerate(collisions.chemical_potential):
        # the same formula, possibly through another SIMD path (strided vs contiguous)
        assert np.all(np.abs(f_eq[:, x] - fermi_dirac(energy, mu, TEMPERATURE))
                      <= tolerance(fermi_dirac_floor(energy, mu, TEMPERATURE)))


def test_conserving_relaxation_recovers_local_chemical_potential():
    energy, weights = two_band_chain()
    # From far below the bands (dilute) to far above (nearly full), cold start at mu = 0.
    mu_true = np.array([-4.0, -2.5, -0.3, 0.0, 1.1, 2.9, 4.2])
    f = fermi_dirac(energy[:, None, :], mu_true[None, :, None], TEMPERATURE)
    collisions = ConservingRelaxation(energy, weights, TAU, 0.0, TEMPERATURE, x_axes=1)
    rate = collisions(f)
    assert np.all(np.abs(collisions.chemical_potential - mu_true)
                  <= chemical_potential_tolerance(energy, weights, mu_true, TEMPERATURE))
    assert np.max(np.abs(rate)) <= 1e-12


def test_conserving_relaxation_without_x_axis_in_two_k_dimensions():
    k = np.meshgrid(*2 * [-np.pi + 2 * np.pi * (np.arange(12) + 0.5) / 12], indexing="ij")
    energy = np.array([-2 * (np.cos(k[0]) + np.cos(k[1])), 5 + np.cos(k[0])])
    weights = np.full((12, 12), (2 * np.pi / 12) ** 2 / (2 * np.pi) ** 2)
    f = fermi_dirac(energy, 0.77, 0.1)
    collisions = ConservingRelaxation(energy, weights, TAU, -1.0, 0.1)
    collisions(f)
    assert collisions.chemical_potential.shape == ()
    assert abs(collisions.chemical_potential - 0.77) <= 1e-12


@pytest.mark.parametrize("filling", [0.0, 2.0, -0.1])
def test_conserving_relaxation_rejects_densities_without_chemical_potential(filling):
    energy, weights = two_band_chain(8)
    collisions = ConservingRelaxation(energy, weights, TAU, MU, TEMPERATURE)
    with pytest.raises(ValueError, match="no chemical potential exists"):
        collisions(np.full(energy.shape, filling / 2))


def test_chemical_potential_solver_from_a_far_guess():
    energy, weights = two_band_chain()
    # mu = 3.5 lies 24 T above the top band: n determines it only to ~T * eps/holes, but the
    # density is still reproduced, which is what conservation needs.
    mu_true = np.array([-3.0, 0.4, 2.2, 3.5])
    density = np.einsum("bxk,k->x", fermi_dirac(energy[:, None, :], mu_true[None, :, None],
                                                0.05), weights)
    mu, occupation = solve_chemical_potential(energy, weights, density, 0.05, guess=40.0)
    assert np.all(np.abs(mu - mu_true)[:3]
                  <= chemical_potential_tolerance(energy, weights, mu_true, 0.05)[:3])
    # the solver's stopping criterion, DENSITY_RTOL n + eps bands sum(w), with SAFETY
    from solvers.collisions import DENSITY_RTOL
    stop = DENSITY_RTOL * density + 2 * UNIT_ROUNDOFF * 2 * np.sum(weights)
    assert np.all(np.abs(np.einsum("bxk,k->x", occupation, weights) - density)
                  <= tolerance(stop))


@pytest.mark.parametrize("comm", [None, MPI.COMM_SELF])
def test_k_sum_on_one_process_is_the_weighted_band_sum(comm):
    energy, weights = two_band_chain(16)
    f = np.random.default_rng(8).uniform(0, 1, (2, 5, 16))
    k_sum = KSum(weights, comm)
    # sums of 16 (32) positive terms in another order: n u of the sum each way, times SAFETY
    assert abs(k_sum.measure - 1.0) <= tolerance(linear_combination_floor(weights, 1.0))
    band_sum = linear_combination_floor(np.broadcast_to(weights, (2, 16)).ravel(),
                                        np.moveaxis(f, 1, 0).reshape(5, -1))
    np.testing.assert_array_less(np.abs(k_sum(f) - np.einsum("bxk,k->x", f, weights)),
                                 tolerance(2 * band_sum))
    assert abs(k_sum(f[:, 0]) - np.einsum("bk,k->", f[:, 0], weights)) \
        <= tolerance(2 * band_sum[0])
    assert k_sum(f[:, 0]).shape == ()
    assert (k_sum.min(energy), k_sum.max(energy)) == (energy.min(), energy.max())
    assert k_sum.all([True, True]) and not k_sum.all([True, False])
    # owned x cells [1, 4) of 6: reduce places the sums there, zeros at the other ranks' x
    placed = KSum(weights, comm, x_range=(1, 4), nx=6)
    expected = np.zeros(6)
    expected[1:4] = np.einsum("bxk,k->x", f[:, :3], weights)
    floor = np.concatenate([[0.0], 2 * band_sum[:3], [0.0, 0.0]])
    np.testing.assert_array_less(np.abs(placed.reduce(f[:, :3]) - expected),
                                 tolerance(floor) + np.finfo(float).tiny)
    np.testing.assert_array_less(np.abs(placed(f[:, :3]) - expected[1:4]), tolerance(floor[1:4]))
    with pytest.raises(ValueError, match="x_range"):
        KSum(weights, comm, x_range=(3, 7), nx=6)


def test_conserving_relaxation_with_a_serial_k_sum_equals_plain_weights():
    energy, weights = two_band_chain(32)
    f = np.random.default_rng(9).uniform(0.1, 0.9, (2, 3, 32))
    plain = ConservingRelaxation(energy, weights, TAU, MU, TEMPERATURE, x_axes=1)
    summed = ConservingRelaxation(energy, KSum(weights), TAU, MU, TEMPERATURE, x_axes=1)
    np.testing.assert_array_equal(summed(f), plain(f))
    np.testing.assert_array_equal(summed.solve_shifted(2.0, f), plain.solve_shifted(2.0, f))


def test_conserving_shifted_solve_inverts_the_jacobian():
    energy, weights = two_band_chain(32)
    collisions = ConservingRelaxation(energy, weights, TAU, MU, TEMPERATURE, x_axes=1)
    rng = np.random.default_rng(3)
    f = rng.uniform(0.1, 0.9, (2, 4, 32))
    rhs = rng.normal(size=f.shape)
    collisions(f)
    shift = 2.0
    x = collisions.solve_shifted(shift, rhs)
    h = 1e-5  # central difference of R along x: the Jacobian to O(h^2)
    jacobian_x = (collisions(f + h * x) - collisions(f - h * x)) / (2 * h)
    collisions(f)
    np.testing.assert_allclose(shift * x - jacobian_x, rhs, rtol=0, atol=1e-7)


def qwz_geometry():
    k = np.array(np.meshgrid([-2.1, -0.4, 0.9, 2.6], [-1.3, 0.2, 1.7], indexing="ij"))
    geometry = band_geometry(get_model("qwz", g=0.3), k)
    return k, np.moveaxis(geometry.energy, -1, 0), geometry.band_normalised_metric


def qwz_energy_shift_from_d_vector(k, field):
    """E.Gq_n.E/2 for H = g sin kx + d.sigma: Gq_n = -+ g^{ab}/|d|, g^{ab} = d_a n . d_b n/4."""
    kx, ky = k
    d = qwz_d_vector(k)
    zero = np.zeros_like(kx)
    dd = [np.array([np.cos(kx), zero, -np.sin(kx)]), np.array([zero, np.cos(ky), -np.sin(ky)])]
    norm = np.linalg.norm(d, axis=0)
    unit = d / norm
    dn = [(v - unit * np.sum(unit * v, axis=0)) / norm for v in dd]
    metric = np.array([[np.sum(dn[a] * dn[b], axis=0) / 4 for b in range(2)]
                       for a in range(2)])
    e_metric_e = np.einsum("i,j,ij...->...", field, field, metric)
    return 0.5 * np.array([-e_metric_e / norm, e_metric_e / norm])


def test_field_renormalised_target_at_zero_field_is_fixed():
    _, energy, metric = qwz_geometry()
    renormalised = FieldRenormalisedRelaxation(energy, metric, TAU, MU, TEMPERATURE, x_axes=1)
    fixed = FixedRelaxation(energy, TAU, MU, TEMPERATURE, x_axes=1)
    f = np.random.default_rng(4).uniform(0, 1, (2, 5) + energy.shape[1:])
    renormalised(f, np.array([0.4, -0.2]))
    np.testing.assert_array_equal(renormalised(f, np.zeros(2)), fixed(f))


def test_field_renormalised_shift_is_half_field_metric_field():
    k, energy, metric = qwz_geometry()
    field = np.array([0.35, -0.6])
    collisions = FieldRenormalisedRelaxation(energy, metric, TAU, MU, TEMPERATURE)
    delta = qwz_energy_shift_from_d_vector(k, field)
    assert np.max(np.abs(delta)) > 1e-2  # the check below is not trivially satisfied
    np.testing.assert_allclose(collisions.energy_shift(field), delta, rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(collisions.target(field),
                               fermi_dirac(energy + delta, MU, TEMPERATURE), rtol=1e-10)
    f = np.zeros_like(energy)
    # -(0 - target) / tau * tau: two roundings
    np.testing.assert_allclose(collisions(f, field) * TAU, collisions.target(field),
                               rtol=tolerance(2 * UNIT_ROUNDOFF))


def test_field_renormalised_needs_geometry_layout_and_field():
    _, energy, metric = qwz_geometry()
    with pytest.raises(ValueError, match="geometry layout"):
        FieldRenormalisedRelaxation(energy, np.moveaxis(metric, -1, 2), TAU, MU, TEMPERATURE)
    collisions = FieldRenormalisedRelaxation(energy, metric, TAU, MU, TEMPERATURE)
    with pytest.raises(ValueError, match="electric field"):
        collisions(energy)


def qwz_matrix_problem():
    k = np.array(np.meshgrid(np.linspace(-3, 3, 5), np.linspace(-2.5, 2.9, 4), indexing="ij"))
    return k, qwz_hamiltonian(k)


def dagger(a):
    return np.conj(np.swapaxes(a, -1, -2))


def test_matrix_equilibrium_is_fermi_dirac_of_h0():
    k, hamiltonian = qwz_matrix_problem()
    f_eq = MatrixRelaxation(hamiltonian, TAU, MU, TEMPERATURE).target()
    # f0(c + d.sigma) = (f0(c + |d|) + f0(c - |d|))/2 + (f0(c + |d|) - f0(c - |d|))/2 d^.sigma
    d = qwz_d_vector(k)
    norm, centre = np.linalg.norm(d, axis=0), 0.3 * np.sin(k[0])
    upper, lower = (fermi_dirac(centre + s * norm, MU, TEMPERATURE) for s in (1, -1))
    exact = (0.5 * (upper + lower)[..., None, None] * np.eye(2)
             + np.einsum("...,a...,aij->...ij", 0.5 * (upper - lower) / norm, d, PAULI))
    np.testing.assert_allclose(f_eq, exact, rtol=0, atol=1e-14)
    np.testing.assert_allclose(f_eq, dagger(f_eq), atol=1e-15)
    np.testing.assert_allclose(f_eq @ hamiltonian - hamiltonian @ f_eq, 0, atol=1e-14)
    # Eigenvalues in ascending order: the upper band is the less occupied one.
    np.testing.assert_allclose(np.linalg.eigvalsh(f_eq), np.stack([upper, lower], axis=-1),
                               atol=1e-14)


def random_hermitian(rng, shape, n):
    a = rng.normal(size=shape + (n, n)) + 1j * rng.normal(size=shape + (n, n))
    return a + dagger(a)


def test_matrix_dephasing_with_equal_times_is_single_time_relaxation():
    _, hamiltonian = qwz_matrix_problem()
    single = MatrixRelaxation(hamiltonian, TAU, MU, TEMPERATURE)
    banded = MatrixRelaxation(hamiltonian, TAU, MU, TEMPERATURE, tau_inter=TAU)
    F = random_hermitian(np.random.default_rng(5), (3,) + hamiltonian.shape[:-2], 2)
    np.testing.assert_allclose(banded(F), -(F - single.target()) / TAU, atol=1e-13)
    np.testing.assert_allclose(single(F), -(F - single.target()) / TAU, atol=1e-15)


def test_matrix_coherence_decays_at_tau_inter_and_populations_at_tau():
    _, hamiltonian = qwz_matrix_problem()
    tau_inter = 0.2
    collisions = MatrixRelaxation(hamiltonian, TAU, MU, TEMPERATURE, tau_inter=tau_inter)
    vectors = np.linalg.eigh(hamiltonian)[1]
    coherence = vectors @ np.array([[0, 0.3 - 0.1j], [0.3 + 0.1j, 0]]) @ dagger(vectors)
    population = vectors @ np.diag([0.2, -0.15]) @ dagger(vectors)
    f_eq = collisions.target()
    start = f_eq + coherence + population
    times = np.array([0.1, 0.4, 1.0])
    shape = start.shape
    solution = solve_ivp(
        lambda t, y: collisions(y.view(complex).reshape(shape)).view(float).ravel(),
        (0, times[-1]), start.ravel().view(float), t_eval=times, method="DOP853",
        rtol=1e-12, atol=1e-14)
    for t, y in zip(times, solution.y.T):
        exact = (f_eq + coherence * np.exp(-t / tau_inter) + population * np.exp(-t / TAU))
        state = np.ascontiguousarray(y).view(complex).reshape(shape)
        np.testing.assert_allclose(state, exact, rtol=0, atol=1e-10)


def test_matrix_degenerate_multiplet_coherence_relaxes_at_tau():
    # H0 = diag(-1, -1, 2, 2) in a random basis: coherences inside the degenerate multiplet
    # are not interband, so they relax at 1/tau whatever eigenbasis eigh returns.
    rng = np.random.default_rng(6)
    basis = np.linalg.qr(rng.normal(size=(4, 4)) + 1j * rng.normal(size=(4, 4)))[0]
    hamiltonian = basis @ np.diag([-1.0, -1.0, 2.0, 2.0]) @ dagger(basis)
    collisions = MatrixRelaxation(hamiltonian[None], TAU, MU, TEMPERATURE, tau_inter=0.05)
    lower = basis[:, :2]
    inside = lower @ np.array([[0.1, 0.2j], [-0.2j, -0.3]]) @ dagger(lower)
    rate = collisions(collisions.target() + inside[None])
    np.testing.assert_allclose(rate[0], -inside / TAU, atol=1e-12)


@pytest.mark.parametrize("tau_inter", [None, 0.3])
def test_matrix_shifted_solve_inverts_shift_minus_linear_part(tau_inter):
    _, hamiltonian = qwz_matrix_problem()
    collisions = MatrixRelaxation(hamiltonian, TAU, MU, TEMPERATURE, tau_inter=tau_inter)
    rhs = random_hermitian(np.random.default_rng(7), (2,) + hamiltonian.shape[:-2], 2)
    assert_inverts_shifted_linear_part(collisions, rhs, shift=1.7, atol=1e-12)


def test_relaxation_from_config_builds_each_kind():
    energy, weights = two_band_chain(8)
    _, hamiltonian = qwz_matrix_problem()
    _, qwz_energy, metric = qwz_geometry()
    common = dict(tau=TAU, mu=MU, temperature=TEMPERATURE)
    assert relaxation_from_config("none", **common) is None
    assert isinstance(relaxation_from_config("fixed", energy=energy, **common), FixedRelaxation)
    assert isinstance(relaxation_from_config("conserving", energy=energy, k_weights=weights,
                                             **common), ConservingRelaxation)
    assert isinstance(relaxation_from_config("field_renormalised", energy=qwz_energy,
                                             band_normalised_metric=metric, **common),
                      FieldRenormalisedRelaxation)
    matrix = relaxation_from_config("matrix", tau_inter=0.1, hamiltonian=hamiltonian, **common)
    assert isinstance(matrix, MatrixRelaxation)


@pytest.mark.parametrize("kwargs, message", [
    (dict(kind="bgk"), "collisions.kind = 'bgk': expected one of 'none', 'fixed'"),
    (dict(tau=0.0), r"collisions.tau = 0.0: expected a positive time \(hbar/energy\)"),
    (dict(tau=-2), r"collisions.tau = -2: expected a positive time \(hbar/energy\)"),
    (dict(temperature=0.0), "collisions.temperature = 0.0: expected a positive temperature"),
    (dict(tau_inter=0.1), "collisions.tau_inter = 0.1: applies to kind 'matrix' only"),
    (dict(energy=None), "collisions.kind = 'fixed' needs energy"),
])
def test_relaxation_from_config_errors_name_the_key(kwargs, message):
    energy, _ = two_band_chain(8)
    arguments = dict(kind="fixed", tau=TAU, mu=MU, temperature=TEMPERATURE, energy=energy)
    arguments.update(kwargs)
    with pytest.raises(ValueError, match=message):
        relaxation_from_config(**arguments)
    with pytest.raises(ConfigError):
        relaxation_from_config(**arguments)
