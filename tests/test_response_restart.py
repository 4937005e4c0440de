"""A field sweep or an AC run stopped and restarted gives the uninterrupted result.

The response (steady currents minus the t = 0 current, averaged over a window) and the AC
harmonics are computed from the run files' whole time series, so where a run was stopped
and which process wrote which write does not matter. A restart repeats the uninterrupted
time steps (bitwise, but for one ulp of t where PETSc evens out the last two steps to meet
t_end), so the conductivities agree to rounding: the stops below give 0 and 1.2e-13
relative (sigma2 is a difference quotient of currents: (j(E) + j(-E)) / 2E^2 amplifies
rounding). 1e-12 relative leaves that margin; the defect moved them by tens of percent.
"""

import h5py
import numpy as np
import pytest

from solvers import run as solver

QUIET = 'progress_every = 100000\n'
SWEEP = """
[model]
name = "qwz"
parameters = {m = -1.5, g = 0.4}
[mode]
order = 2
[fields]
E = [0.02, 0.0]
ramp_time = 1.0
[grid]
nk = [16, 16]
[initial]
mu = 0.5
temperature = 1.0
[collisions]
kind = "fixed"
tau = 1.0
mu = 0.5
temperature = 1.0
[response]
scales = [1, -1]
average_window = 1.0
[run]
name = "sweep"
t_end = 3.0
output_every = 2
"""
AC = """
[model]
name = "chain"
[fields]
E_ac = 1e-3
omega = 0.8
[grid]
nk = [64]
[initial]
mu = -0.5
temperature = 0.3
[collisions]
kind = "fixed"
tau = 2.0
mu = -0.5
temperature = 0.3
[numerics]
dt = 0.19634954084936207   # 2 pi / omega / 40
[run]
name = "ac"
t_end = 47.12388980384690  # six periods
output_every = 2
"""
RELATIVE = 1e-12


class StopAfter:
    """Stands in for :class:`solvers.run.StopRequest`: the stop flag rises at time step
    ``steps``, counted over all runs of the sweep (a deterministic SIGTERM)."""

    def __init__(self, steps):
        self.left = steps

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        pass

    @property
    def signal(self):
        self.left -= 1
        return "SIGTERM" if self.left <= 0 else None


def config(directory, text):
    path = directory / "config.toml"
    path.write_text(text + QUIET + f'output_dir = "{directory}"\n')
    return str(path)


def conductivities(path):
    with h5py.File(path, "r") as h5:
        return h5["sigma1"][:], h5["sigma2"][:]


def last_iteration(path):
    with h5py.File(path, "r") as h5:
        return int(h5["scales/iteration"][-1])


def assert_close(measured, expected):
    scale = np.max(np.abs(expected))
    assert scale > 0
    assert np.max(np.abs(measured - expected)) <= RELATIVE * scale, (measured, expected)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    """The sweep run in one go: its conductivities and the step count of one run."""
    directory = tmp_path_factory.mktemp("uninterrupted")
    assert solver.main([config(directory, SWEEP)]) == 0
    return {"directory": directory, "nsteps": last_iteration(directory / "sweep_s+1.h5"),
            "sigma": conductivities(directory / "sweep_response.h5")}


def stop_points(nsteps):
    """Steps to stop at: the first step; an odd step (off the output_every = 2 schedule)
    inside the last averaging window of the first run; a step of the second run."""
    return {"first_step": 1, "in_window": nsteps - 3 if nsteps % 2 == 0 else nsteps - 2,
            "second_run": nsteps + 3}


@pytest.mark.parametrize("where", ["first_step", "in_window", "second_run"])
def test_stopped_and_restarted_sweep_gives_the_uninterrupted_conductivities(
        tmp_path, monkeypatch, uninterrupted, where):
    steps = stop_points(uninterrupted["nsteps"])[where]
    path = config(tmp_path, SWEEP)
    with monkeypatch.context() as patch:
        patch.setattr(solver, "StopRequest", lambda: StopAfter(steps))
        assert solver.main([path]) == solver.EXIT_STOPPED
    stopped = tmp_path / ("sweep_s+1.chk.h5" if where != "second_run" else "sweep_s-1.chk.h5")
    with h5py.File(stopped, "r") as h5:
        assert int(h5.attrs["step"]) == steps % uninterrupted["nsteps"]
    assert not (tmp_path / "sweep_response.h5").exists()
    assert solver.main([path, "run.restart=true"]) == 0
    sigma1, sigma2 = conductivities(tmp_path / "sweep_response.h5")
    assert_close(sigma1, uninterrupted["sigma"][0])
    assert_close(sigma2, uninterrupted["sigma"][1])


def test_sweep_stopped_by_wall_time_restarts_to_the_uninterrupted_conductivities(
        tmp_path, uninterrupted):
    path = config(tmp_path, SWEEP)
    assert solver.main([path, "run.stop_wall_time=1e-9"]) == solver.EXIT_STOPPED
    assert solver.main([path, "run.restart=true"]) == 0
    sigma1, sigma2 = conductivities(tmp_path / "sweep_response.h5")
    assert_close(sigma1, uninterrupted["sigma"][0])
    assert_close(sigma2, uninterrupted["sigma"][1])


def test_restarting_a_finished_sweep_reports_the_same_conductivities(
        tmp_path, capsys, uninterrupted):
    path = config(tmp_path, SWEEP)
    assert solver.main([path]) == 0
    first = capsys.readouterr().out
    assert solver.main([path, "run.restart=true"]) == 0
    again = capsys.readouterr().out
    report = [line for line in first.splitlines() if "sigma1_x" in line]
    assert report and all(line in again.splitlines() for line in report)
    sigma1, sigma2 = conductivities(tmp_path / "sweep_response.h5")
    assert np.array_equal(sigma1, uninterrupted["sigma"][0])
    assert np.array_equal(sigma2, uninterrupted["sigma"][1])


def harmonic(path):
    with h5py.File(path, "r") as h5:
        return h5["analysis/current_harmonic_re"][:] + 1j * h5["analysis/current_harmonic_im"][:]


def test_stopped_and_restarted_ac_run_gives_the_uninterrupted_harmonics(
        tmp_path, monkeypatch):
    reference_dir, stopped_dir = tmp_path / "a", tmp_path / "b"
    reference_dir.mkdir(), stopped_dir.mkdir()
    assert solver.main([config(reference_dir, AC)]) == 0
    expected = harmonic(reference_dir / "ac.h5")
    nsteps = last_iteration(reference_dir / "ac.h5")
    path = config(stopped_dir, AC)
    with monkeypatch.context() as patch:  # an odd step in the middle of the fit window
        patch.setattr(solver, "StopRequest", lambda: StopAfter(3 * nsteps // 4 | 1))
        assert solver.main([path]) == solver.EXIT_STOPPED
    assert solver.main([path, "run.restart=true"]) == 0
    measured = harmonic(stopped_dir / "ac.h5")
    assert_close(measured, expected)
    # restarting the finished run recomputes the same harmonics from the file
    assert solver.main([path, "run.restart=true"]) == 0
    assert_close(harmonic(stopped_dir / "ac.h5"), expected)
