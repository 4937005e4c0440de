"""Band-mode solver against exact solutions (docs/solver.md), serial.

Each test names the physics it checks and compares with an analytic result; where a
discretisation is involved the observed order of convergence is asserted.
"""

from pathlib import Path

import h5py
import numpy as np
import pytest
from petsc4py import PETSc
from scipy.interpolate import CubicSpline

from solvers import config
from solvers.collisions import fermi_dirac
from solvers.run import simulate

QUIET = {"output_every": 100000, "progress_every": 100000, "overwrite": True}


def run(tmp_path, name, **tables):
    tables.setdefault("run", {})
    tables["run"] = {**QUIET, "output_dir": str(tmp_path), "name": name, **tables["run"]}
    cfg = config.from_dict(tables)
    out = Path(tmp_path) / f"{name}.h5"
    summary, final = simulate(cfg, out, PETSc.COMM_SELF, stream=None)
    return summary, final, out


def grid_of(path):
    with h5py.File(path, "r") as h5:
        return {name: h5["grid"][name][:] for name in h5["grid"]}


def test_bloch_oscillation_period_is_2pi_over_E(tmp_path):
    field = 0.5
    period = 2 * np.pi / field
    summary, _, out = run(tmp_path, "bloch", model={"name": "chain"}, fields={"E": field},
                          grid={"nk": [256]},
                          initial={"kind": "band_window", "k_center": [0.7], "k_width": 0.5},
                          run={"t_end": 3 * period, "output_every": 1})
    with h5py.File(out, "r") as h5:
        t, current = h5["scales/t"][:], h5["tasks/current"][:, 0, 0]
    spline = CubicSpline(t, current)
    roots = np.array([r for r in spline.roots(extrapolate=False)
                      if spline(r, 1) > 0])  # upward zero crossings, one per period
    measured = np.mean(np.diff(roots))
    assert roots.size >= 3
    assert abs(measured / period - 1) < 1e-4, (measured, period)


@pytest.mark.parametrize("integrator", ["explicit", "imex"])
def test_relaxation_is_exponential_pointwise(tmp_path, integrator):
    tau, t_end = 2.0, 3.0
    mu0, mu_eq, temperature = 0.8, -0.3, 0.4
    summary, final, out = run(
        tmp_path, integrator, model={"name": "chain"}, grid={"nk": [64]},
        initial={"mu": mu0, "temperature": temperature},
        collisions={"kind": "fixed", "tau": tau, "mu": mu_eq, "temperature": temperature},
        numerics={"integrator": integrator, "dt": 0.01}, run={"t_end": t_end})
    assert summary["integrator"] == integrator
    assert summary["ts_type"] == ("ssp" if integrator == "explicit" else "arkimex")
    eps = -2 * np.cos(grid_of(out)["kx"])
    f0, f_eq = fermi_dirac(eps, mu0, temperature), fermi_dirac(eps, mu_eq, temperature)
    exact = f_eq + (f0 - f_eq) * np.exp(-t_end / tau)
    assert np.max(np.abs(final[0] - exact)) < 1e-6 * np.max(np.abs(f0 - f_eq))


def observed_orders(errors):
    errors = np.asarray(errors)
    return np.log2(errors[:-1] / errors[1:])


def packet(x, centre, width, period):
    return sum(np.exp(-0.5 * ((x + n * period - centre) / width) ** 2) for n in (-1, 0, 1))


def test_second_order_in_x_and_k_on_nonuniform_grids_free_streaming(tmp_path):
    """E = 0: f(x, k, t) = P(x - v(k) t) f0(eps(k)) on refined (stretched) x and k cells."""
    t_end, length, errors = 5.0, 40.0, []
    for n in (32, 64, 128):
        _, final, out = run(
            tmp_path, f"free{n}", model={"name": "chain"},
            grid={"x": "periodic", "nx": 2 * n, "x_max": length, "x_refine": [20.0],
                  "x_refine_width": 6.0, "x_refine_ratio": 2.0, "nk": [n],
                  "k_refine": [0.5], "k_refine_width": 1.0, "k_refine_ratio": 2.0},
            initial={"kind": "packet", "x_center": 20.0, "x_width": 3.0, "temperature": 0.5},
            numerics={"limiter": "none"}, run={"t_end": t_end})
        g = grid_of(out)
        wx, wk = np.diff(g["x_edges"]), np.diff(g["kx_edges"])
        assert wx.max() / wx.min() > 1.8 and wk.max() / wk.min() > 1.8  # really nonuniform
        foot = np.mod(g["x"][:, None] - 2 * np.sin(g["kx"])[None] * t_end, length)
        exact = packet(foot, 20.0, 3.0, length) * fermi_dirac(-2 * np.cos(g["kx"]), 0.0, 0.5)
        cell = np.outer(wx, wk)
        errors.append(np.sum(np.abs(final[0] - exact) * cell) / np.sum(exact * cell))
    # measured: 9.0e-3, 2.2e-3, 5.3e-4 (orders 2.06, 2.02)
    assert min(observed_orders(errors)) > 1.95, errors


def test_second_order_in_k_on_a_nonuniform_grid_bloch_translation(tmp_path):
    """Uniform field, no x: after one Bloch period f(k) returns to f(k, 0)."""
    field, errors = 1.0, []
    for n in (64, 128, 256):
        _, final, out = run(
            tmp_path, f"k{n}", model={"name": "chain"}, fields={"E": field},
            grid={"nk": [n], "k_refine": [0.5], "k_refine_width": 0.8, "k_refine_ratio": 3.0},
            initial={"kind": "band_window", "k_center": [0.0], "k_width": 0.6},
            numerics={"limiter": "none"}, run={"t_end": 2 * np.pi / field})
        g = grid_of(out)
        wk = np.diff(g["kx_edges"])
        assert wk.max() / wk.min() > 2.5
        k = g["kx"]
        exact = sum(np.exp(-0.5 * ((k + m * 2 * np.pi) / 0.6) ** 2) for m in (-1, 0, 1))
        errors.append(np.sum(np.abs(final[0] - exact) * wk) / np.sum(exact * wk))
    assert min(observed_orders(errors)) > 1.95, errors


def test_harmonic_potential_flow_is_classical_and_order2_terms_vanish(tmp_path):
    """U = K x^2 / 2 on eps = k^2 / 2m: U''' = eps''' = 0, so the flow is a rigid rotation of
    phase space with omega = sqrt(K/m); order-2 band mode equals order 0 exactly."""
    stiffness, mass = 0.25, 1.0
    omega = np.sqrt(stiffness / mass)
    t_end = 0.25 * 2 * np.pi / omega  # a quarter turn: x -> k / (m omega), k -> -m omega x
    finals, errors = {}, []
    for order in (0, 2):
        for n in (64, 128):
            _, final, out = run(
                tmp_path, f"h{order}_{n}", model={"name": "parabolic"}, mode={"order": order},
                fields={"potential": [{"kind": "harmonic", "stiffness": stiffness, "x0": 0.0}]},
                grid={"x": "outflow", "nx": n, "x_min": -12.0, "x_max": 12.0, "nk": [n]},
                initial={"kind": "packet", "x_center": 3.0, "x_width": 1.0, "mu": -1.0,
                         "temperature": 0.3},
                run={"t_end": t_end})
            finals[order, n] = final
            if order == 0:
                g = grid_of(out)
                x, k = g["x"][:, None], g["kx"][None]
                # foot of the characteristic a quarter turn back
                x0, k0 = -k / (mass * omega), mass * omega * x
                exact = np.exp(-0.5 * ((x0 - 3.0) / 1.0) ** 2) * fermi_dirac(
                    k0 ** 2 / (2 * mass), -1.0, 0.3)
                cell = np.outer(np.diff(g["x_edges"]), np.diff(g["kx_edges"]))
                errors.append(np.sum(np.abs(final[0] - exact) * cell) / np.sum(exact * cell))
    for n in (64, 128):
        assert np.array_equal(finals[0, n], finals[2, n])
    assert errors[1] < 0.02 and observed_orders(errors)[0] > 1.8, errors


def test_conserving_relaxation_keeps_particle_number(tmp_path):
    summary, _, _ = run(
        tmp_path, "conserving", model={"name": "qwz", "parameters": {"m": -1.5, "g": 0.3}},
        mode={"order": 1},
        fields={"E": [0.05, 0.02],
                "potential": [{"kind": "cosine", "amplitude": 0.05, "q": 2 * np.pi / 20}]},
        grid={"x": "periodic", "nx": 16, "x_max": 20.0, "nk": [16, 16]},
        initial={"kind": "packet", "x_center": 10.0, "x_width": 3.0, "mu": 0.2},
        collisions={"kind": "conserving", "tau": 1.0, "mu": 0.2},
        run={"t_end": 3.0})
    assert summary["number_drift"] < 1e-12, summary["number_drift"]


def test_restart_from_checkpoint_reaches_the_same_state(tmp_path):
    tables = dict(model={"name": "qwz", "parameters": {"g": 0.3}}, mode={"order": 2},
                  fields={"E": [0.05, 0.0], "ramp_time": 1.0},
                  grid={"x": "periodic", "nx": 16, "x_max": 20.0, "nk": [16, 16]},
                  initial={"kind": "packet", "x_center": 10.0, "mu": 0.2},
                  collisions={"kind": "conserving", "tau": 2.0, "mu": 0.2},
                  run={"t_end": 4.0, "output_every": 3})
    _, reference, _ = run(tmp_path / "a", "r", **tables)

    class StopAfter:
        """Raises the stop flag after a number of steps (a deterministic SIGTERM)."""

        def __init__(self, steps):
            self.left = steps

        @property
        def signal(self):
            self.left -= 1
            return "SIGTERM" if self.left < 0 else None

    cfg = config.from_dict({**tables, "run": {**QUIET, **tables["run"],
                                              "output_dir": str(tmp_path / "b"), "name": "r"}})
    out = tmp_path / "b" / "r.h5"
    first, _ = simulate(cfg, out, PETSc.COMM_SELF, stream=None, stop=StopAfter(5))
    assert first["status"] == "stopped" and 0 < first["steps"] < first["nsteps"]
    restarted = config.from_dict({**tables, "run": {
        **QUIET, **tables["run"], "output_dir": str(tmp_path / "b"), "name": "r",
        "overwrite": False, "restart": True}})
    second, final = simulate(restarted, out, PETSc.COMM_SELF, stream=None)
    assert second["restarted"] and second["status"] == "finished"
    assert np.array_equal(final, reference)  # bitwise, same rank count
    with h5py.File(out, "r") as h5:
        iterations = h5["scales/iteration"][:]
        assert np.all(np.diff(iterations) > 0)  # no duplicated or lost writes
        assert np.array_equal(h5["tasks/f"][-1], final)


@pytest.mark.parametrize("ratio", [0.5, 2.0])
def test_landau_zener_transfer_in_matrix_mode(tmp_path, ratio):
    """v k sigma_z + m sigma_x driven through the crossing: P = exp(-pi m^2 / (v E)), with the
    commutator implicit (ARKIMEX) in the full solver (tests/test_matrix_mode.py sweeps 0.1-3
    with its own splitting integrator)."""
    summary, _, out = run(
        tmp_path, f"lz{ratio}", model={"name": "landau_zener",
                                       "parameters": {"v": 1.0, "m": np.sqrt(ratio)},
                                       "domain": [[-18.0, 18.0]]},
        mode={"kind": "matrix"}, fields={"E": 1.0}, grid={"nk": [1536]},
        initial={"kind": "band_window", "band": 0, "k_center": [10.0], "k_width": 1.5},
        numerics={"limiter": "mc", "cfl": 0.5}, run={"t_end": 20.0, "output_every": 10**6})
    assert summary["integrator"] == "imex"
    with h5py.File(out, "r") as h5:
        populations = h5["tasks/band_population"][-1, :, 0]
    transfer = populations[1] / populations.sum()
    assert abs(transfer / np.exp(-np.pi * ratio) - 1) < 0.02, transfer


def test_ac_drive_harmonics_of_a_relaxing_band_match_the_drude_response(tmp_path):
    """One band, E(t) = E cos(w t), fixed relaxation: the linear current at w is
    sigma(w) E with sigma(w) = tau int v^2 (-f0') / (1 - i w tau) (Drude, exp(-i w t))."""
    tau, omega, field, mu, temperature = 2.0, 0.8, 1e-3, -0.5, 0.3
    summary, _, out = run(
        tmp_path, "ac", model={"name": "chain"}, grid={"nk": [256]},
        fields={"E_ac": field, "omega": omega},
        initial={"mu": mu, "temperature": temperature},
        collisions={"kind": "fixed", "tau": tau, "mu": mu, "temperature": temperature},
        numerics={"dt": 2 * np.pi / omega / 200},
        run={"t_end": 12 * 2 * np.pi / omega, "output_every": 1})
    with h5py.File(out, "r") as h5:
        measured = h5["analysis/current_harmonic_re"][1, 0, 0] \
            + 1j * h5["analysis/current_harmonic_im"][1, 0, 0]
        k = h5["grid/kx"][:]
    eps, v = -2 * np.cos(k), 2 * np.sin(k)
    f0 = fermi_dirac(eps, mu, temperature)
    weight = np.sum(v ** 2 * f0 * (1 - f0) / temperature) / k.size  # int dk/(2pi) v^2 (-f0')
    expected = tau * weight / (1 - 1j * omega * tau) * field
    assert abs(measured / expected - 1) < 2e-3, (measured, expected)
