"""The time step resolves every time scale of the run, and a user step is checked.

Independent references: the Drude conductivity sigma(w) = sigma0 / (1 - i w tau),
sigma0 = tau int dk/(2 pi)^d v_x^2 (-f0'), from a fine k-space quadrature written here (not
the solver's k-space module), and the CFL bound of k advection at the field's peak,
|E_dc| + |E_ac|, from the grid spacing.
"""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from petsc4py import PETSc

from solvers import config
from solvers.run import make_problem, simulate

QUIET = {"output_every": 100000, "progress_every": 100000, "overwrite": True}
MU, TEMPERATURE, TAU = -0.5, 0.3, 4.0


def run(tmp_path, name, **tables):
    tables["run"] = {**QUIET, "output_dir": str(tmp_path), "name": name,
                     **tables.get("run", {})}
    cfg = config.from_dict(tables)
    summary, final = simulate(cfg, Path(tmp_path) / f"{name}.h5", PETSc.COMM_SELF,
                              stream=None)
    return summary, final


def drude_sigma0(band, dimension: int, temperature: float, n: int = 2048) -> float:
    """tau int d^dk/(2 pi)^d v_x^2 (-f0') for eps = band(k) on the zone [-pi, pi)^d: the
    midpoint rule of a smooth periodic integrand (exponentially accurate)."""
    k1 = (np.arange(n) + 0.5) * 2 * np.pi / n - np.pi
    k = np.meshgrid(*[k1] * dimension, indexing="ij")
    h = 1e-5
    eps = band(*k)
    shifted = [kk + (h if i == 0 else 0.0) for i, kk in enumerate(k)]
    back = [kk - (h if i == 0 else 0.0) for i, kk in enumerate(k)]
    vx = (band(*shifted) - band(*back)) / (2 * h)
    minus_df = 1.0 / (4 * temperature * np.cosh((eps - MU) / (2 * temperature)) ** 2)
    return TAU * float(np.mean(vx ** 2 * minus_df))  # int dk/(2 pi) = mean over the zone


def chain(k):
    return -2 * np.cos(k)


def ac_drude_tables(**numerics):
    """configs/drude_1d.toml's chain, tau, mu, T and ramp, driven by E_ac cos(5 t)."""
    return dict(model={"name": "chain"}, mode={"order": 0},
                fields={"E_ac": 0.01, "omega": 5.0, "ramp_time": 4.0},
                grid={"nk": [128]}, initial={"mu": MU, "temperature": TEMPERATURE},
                collisions={"kind": "fixed", "tau": TAU, "mu": MU, "temperature": TEMPERATURE},
                numerics=numerics, run={"t_end": 2 * np.pi / 5.0 * 48, "output_every": 2})


def test_ac_drude_with_the_default_step_matches_sigma_of_omega(tmp_path):
    """|J_1| = |sigma0 / (1 - i w tau)| E_ac at w = 5 (w tau = 20). The CFL step alone
    (1.72, w dt = 8.6) gave 3.0x the Drude value. Error budget: k grid (second order, ~2e-4 at 128 cells),
    time (<= 1e-4 at the accuracy bound, docs/solver.md), nonlinearity
    (E_ac v / (T w))^2 ~ 1e-7, transient before the fit window exp(-24/tau) ~ 2e-3 projected
    on w with weight ~1/(w tau); tolerance 1e-3."""
    summary, _ = run(tmp_path, "ac", **ac_drude_tables())
    expected = abs(drude_sigma0(chain, 1, TEMPERATURE) / (1 - 1j * 5.0 * TAU)) * 0.01
    measured = abs(summary["harmonics"][1][0]).mean()
    assert abs(measured / expected - 1) < 1e-3, (measured, expected, summary["dt"])
    assert 5.0 * summary["dt"] <= 0.2 * (1 + 1e-12)
    assert summary["dt_limit"] == "1/omega"


def test_a_user_step_beyond_the_accuracy_bound_is_warned_with_the_number(tmp_path):
    tables = ac_drude_tables(dt=0.5)
    tables["run"]["t_end"] = 2.0
    with pytest.warns(RuntimeWarning, match=r"numerics.dt = 0.5: above the accuracy bound "
                                            r"0.04 hbar/energy \(0.2 x 1/omega = 0.2\)"):
        summary, _ = run(tmp_path, "warned", **tables)
    assert (summary["dt"], summary["dt_limit"]) == (0.5, "numerics.dt")


def square_lattice(kx, ky):
    return -2 * np.cos(kx) - 2 * np.cos(ky)


def test_imex_step_resolves_tau_below_the_cfl_step(tmp_path):
    """A user 2D model, ARKIMEX, tau = 4 far below the CFL step (the old step: 13.3 for
    E = 0.005 on 64^2 cells, 3 steps to t_end, which leaves the transient in the current). The step
    must resolve tau, the ramp and the window, and sigma1 from the +-E sweep match
    sigma0 within 2e-3 (grid: 0.4 T per cell at the Fermi surface, sigma1 error < 1e-4 in
    docs/solver.md; E^3 term ~(E tau v / T)^2 ~ 2e-3 x O(0.1))."""
    from solvers.response import steady_current

    tables = dict(model={"hamiltonian": "-2*cos(kx) - 2*cos(ky)", "domain": "bz"},
                  mode={"order": 0}, fields={"E": [0.005, 0.0], "ramp_time": 4.0},
                  grid={"nk": [64, 64]}, initial={"mu": MU, "temperature": 1.0},
                  collisions={"kind": "fixed", "tau": TAU, "mu": MU, "temperature": 1.0},
                  numerics={"integrator": "imex"},
                  response={"scales": [1.0, -1.0], "average_window": 4.0},
                  run={"t_end": 40.0, "output_every": 5})
    currents = []
    for scale in (1.0, -1.0):
        tables["run"] = {**tables["run"], "name": f"s{scale:+g}"}
        cfg = config.from_dict({**tables, "run": {**QUIET, **tables["run"],
                                                  "output_dir": str(tmp_path)}})
        summary, _ = simulate(cfg, Path(tmp_path) / f"s{scale:+g}.h5", PETSc.COMM_SELF,
                              stream=None, scale=scale)
        assert summary["integrator"] == "imex"
        assert summary["dt"] <= 0.2 * TAU, summary["dt"]
        currents.append(steady_current(summary, 4.0)[0])
    sigma1 = (currents[0] - currents[1]) / (2 * 0.005)
    expected = drude_sigma0(square_lattice, 2, 1.0, n=1024)
    assert abs(sigma1 / expected - 1) < 2e-3, (sigma1, expected)


def aliasing_tables(dt=0.0):
    """E = 0.5 sin(w t) with w = 256 pi / t_end: zero at all 257 times t_end j / 256."""
    t_end = 1.0
    return dict(model={"name": "chain"}, mode={"order": 0},
                fields={"E_ac": 0.5, "omega": 256 * np.pi / t_end, "phase": -np.pi / 2},
                grid={"nk": [16]}, initial={"mu": 0.0, "temperature": 2.0},
                numerics={"dt": dt}, run={**QUIET, "t_end": t_end, "name": "alias"})


def test_an_aliased_ac_field_gets_a_stable_step(tmp_path):
    """The CFL bound is taken at the field's peak |E_ac| = 0.5, not at sampled times where
    this drive vanishes (the old step: t_end in one step, Courant number 2.5, occupations
    in [-0.51, 1.32]): dt |E| / dk <= cfl (k advection is the only rate here), and the
    occupations stay in [0, 1] (MUSCL with a limiter is TVD below Courant number 1)."""
    summary, final = run(tmp_path, "alias", **aliasing_tables())
    dk = 2 * np.pi / 16
    assert summary["dt"] * 0.5 / dk <= 0.8 * (1 + 1e-12), summary["dt"]
    assert final.min() >= -1e-12 and final.max() <= 1 + 1e-12, (final.min(), final.max())
    cfg = config.from_dict(aliasing_tables())
    assert make_problem(cfg, PETSc.COMM_SELF).stable_dt(include_relaxation=False) \
        == pytest.approx(cfg.numerics.cfl * dk / 0.5, rel=1e-12)


def test_an_aliased_ac_field_refuses_a_user_step_beyond_its_peak_cfl(tmp_path):
    """numerics.dt = t_end (one step, Courant number 2.5 at the peak) ran and gave
    occupations outside [0, 1] with exit code 0."""
    limit = 2 * np.pi / 16 / 0.5  # Courant number 1 at the peak field
    with pytest.raises(config.ConfigError, match=rf"numerics.dt = 1.0: expected a step <= "
                                                 rf"{limit:.6g} hbar/energy"):
        run(tmp_path, "alias", **aliasing_tables(dt=1.0))
    assert not (tmp_path / "alias.h5").exists()


BASE = """
[model]
name = "chain"
[mode]
order = 0
[fields]
E = 0.5
[grid]
nk = [32]
[initial]
temperature = 1.0
[run]
output_dir = "out"
t_end = 1.0
"""


def cli(tmp_path, *args):
    (tmp_path / "c.toml").write_text(BASE)
    return subprocess.run([sys.executable, "-m", "solvers.run", "c.toml", *args],
                          capture_output=True, text=True, cwd=tmp_path, timeout=300)


def test_petsc_time_step_beyond_stability_is_refused(tmp_path):
    """-ts_time_step overrode the checked step inside TSSetFromOptions (a blow-up to 1e136
    with exit code 0); now it is checked like numerics.dt, before any file is written."""
    proc = cli(tmp_path, "-ts_time_step", "10")
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(
        f"moyal-run: error: -ts_time_step = 10.0: expected a step <= "
        f"{2 * np.pi / 32 / 0.5:.6g} hbar/energy"), proc.stderr
    assert not (tmp_path / "out").exists()


def test_petsc_time_step_within_the_bounds_is_the_step_used(tmp_path):
    proc = cli(tmp_path, "-ts_dt", "0.1")
    assert proc.returncode == 0, proc.stderr
    assert "in 10 steps of 0.1 (dt limited by -ts_dt;" in proc.stdout, proc.stdout


def test_the_wrote_line_says_what_limits_the_step(tmp_path):
    proc = cli(tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "(dt limited by CFL;" in proc.stdout, proc.stdout


def test_default_step_is_the_smaller_of_stability_and_accuracy(tmp_path):
    """Relaxation with tau = 0.5 in a weak field: the accuracy bound 0.2 tau = 0.1 is below
    the stable step (the old code took ARKIMEX and one step of t_end = 2 tau)."""
    tables = aliasing_tables()
    tables["fields"] = {"E": 0.01}
    tables["collisions"] = {"kind": "fixed", "tau": 0.5, "mu": 0.0, "temperature": 2.0}
    summary, _ = run(tmp_path, "tau", **tables)
    assert summary["dt"] == pytest.approx(0.1, rel=1e-12)
    assert summary["dt_limit"] == "tau"


def test_derivative_ranges_enclose_every_sampled_value():
    """Potential.derivative_ranges bounds each derivative over all times (not sampled): a
    ramped AC+DC field plus every kind of profile component, static and driven."""
    from solvers import fields

    nodes = np.linspace(-2.0, 3.0, 9)
    potential = fields.Potential(
        fields.UniformField(dc=(0.3, -0.1), ac=(0.2, 0.4), omega=1.3, phase=0.2,
                            ramp_time=2.0),
        (fields.CosinePotential(0.8, 1.3, omega=0.6, phase=0.4),
         fields.CosinePotential(0.3, 0.7),
         fields.StepPotential(-0.5, 0.4, 0.7, omega=1.1),
         fields.BarrierPotential(0.9, -1.0, 1.5, 0.8),
         fields.HarmonicPotential(0.35, 0.6, omega=0.8),
         fields.TabulatedPotential(nodes, np.sin(nodes), omega=0.5)))
    x = np.linspace(-3.0, 4.0, 57)
    ranges = potential.derivative_ranges(x)
    times = np.linspace(0.0, 40.0, 801)
    for name, (mid, radius) in ranges.items():
        sampled = np.array([np.broadcast_to(potential.derivatives(x, t, [name])[name], x.shape)
                            for t in times])
        assert np.all(np.abs(sampled - mid) <= radius + 1e-12), name


def test_enclosure_bounds_a_generated_coefficient_over_the_field_range():
    """The order-2 x flux of the 1D band mode, -Gq' V_x^2 / 2 - Gq V_tx - ..., on
    V_x in [-0.7, 0.3], V_tx in [-2, 2]: the interval bound contains every sampled value."""
    from moyal._generated import band_mode_1d as kernels
    from solvers.coefficients import Enclosure

    rng = np.random.default_rng(1)
    tables = {name: rng.normal(size=50) for name in
              ("Gq_xx", "Gq_xx_dkx", "epsilon_dkx", "g_xx_dkx")}
    bound = Enclosure.of(kernels.order2_flux_x(
        V_dx=Enclosure(-0.2, 0.5), V_dtx=Enclosure(0.0, 2.0), V_dxx=0.1, **tables)).bound
    for vx in np.linspace(-0.7, 0.3, 41):
        for vtx in np.linspace(-2.0, 2.0, 41):
            value = kernels.order2_flux_x(V_dx=vx, V_dtx=vtx, V_dxx=0.1, **tables)
            assert np.all(np.abs(value) <= bound + 1e-12)
