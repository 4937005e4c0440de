"""Reliability (issue 8): bad input fails loudly before any file is touched, physics sanity
checks, NaN detection, clean stops on signals and wall time with a bitwise restart, output
never overwritten unless asked, and bitwise determinism.

Runs are made in-process with ``simulate``/``main`` where possible and as real subprocesses
where the behaviour under test is the process itself (exit codes, signals).
"""

import dataclasses
import os
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import h5py
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from petsc4py import PETSc

from solvers import config
from solvers import problem as problem_module
from solvers.run import checkpoint_path, main, make_problem, simulate

QUIET = {"output_every": 100000, "progress_every": 100000}
ROOT = Path(__file__).resolve().parents[1]

# A small valid run; every bad case below is this config plus overrides on the command line.
BASE = """
[grid]
nk = [16]
[run]
t_end = 0.5
output_dir = "out"
name = "r"
"""

# (overrides, text naming the key, text naming the value). Config stage, then setup stage.
BAD_CONFIGS = [
    (["grid.nx=3"], "grid.nx", "3"),
    (["grid.nx=64.5"], "grid.nx", "64.5"),
    (["grid.nx=true"], "grid.nx", "True"),
    (["grid.nxx=64"], "grid.nxx", "did you mean 'nx'"),
    (["gird.nx=64"], "[gird]", "did you mean 'grid'"),
    (["grid.nk=[4]"], "grid.nk[0]", "4"),
    (["grid.nk=[16, 16, 16]"], "grid.nk", "[16, 16, 16]"),
    (["grid.nk=16"], "grid.nk", "16"),
    (["grid.x=periodic", "grid.x_min=5.0", "grid.x_max=1.0"], "grid.x_max", "1.0"),
    (["grid.x=sphere"], "grid.x", "'sphere'"),
    (["grid.x_refine_ratio=0.5"], "grid.x_refine_ratio", "0.5"),
    (["grid.k_refine_width=0.0"], "grid.k_refine_width", "0.0"),
    (["numerics.limiter=superbee"], "numerics.limiter", "'superbee'"),
    (["numerics.cfl=1.5"], "numerics.cfl", "1.5"),
    (["numerics.cfl=0.0"], "numerics.cfl", "0.0"),
    (["numerics.dt=-0.1"], "numerics.dt", "-0.1"),
    (["numerics.integrator=rk4"], "numerics.integrator", "'rk4'"),
    (["numerics.flux=roe"], "numerics.flux", "'roe'"),
    (["initial.temperature=-1.0"], "initial.temperature", "-1.0"),
    (["initial.temperature=0.0"], "initial.temperature", "0.0"),
    (["initial.kind=gaussian"], "initial.kind", "'gaussian'"),
    (["initial.k_center=[1.0, 2.0, 3.0]"], "initial.k_center", "[1.0, 2.0, 3.0]"),
    (["collisions.tau=0.0"], "collisions.tau", "0.0"),
    (["collisions.tau=-2.0"], "collisions.tau", "-2.0"),
    (["collisions.temperature=-0.1"], "collisions.temperature", "-0.1"),
    (["collisions.kind=bgk"], "collisions.kind", "'bgk'"),
    (["collisions.tau_inter=1.0"], "collisions.tau_inter", "1.0"),
    (["mode.order=3"], "mode.order", "3"),
    (["mode.kind=wigner"], "mode.kind", "'wigner'"),
    (["mode.bands=[-1]"], "mode.bands[0]", "-1"),
    (["run.t_end=-1.0"], "run.t_end", "-1.0"),
    (["run.t_end=inf"], "run.t_end", "inf"),
    (["run.output_every=0"], "run.output_every", "0"),
    (["run.stop_wall_time=-5.0"], "run.stop_wall_time", "-5.0"),
    (["run.restart=true", "run.overwrite=true"], "run.restart", "true"),
    (["run.overwrite='yes'"], "run.overwrite", "'yes'"),
    (["units.energy=3"], "units.energy", "3"),
    (["response.scales=[1.0, 2.0]"], "response.scales", "[1.0, 2.0]"),
    (["fields.E=nan"], "fields.E", "nan"),
    (["model.name=qwzz"], "model", "qwzz"),
    # setup stage (after the config loaded, before any file is created)
    (["grid.nk=[16, 16]"], "grid.nk", "[16, 16]"),
    (["mode.bands=[5]"], "mode.bands", "[5]"),
    (["initial.kind=packet"], "initial.kind", "'packet'"),
    (["fields.E=0.5", "numerics.dt=10.0"], "numerics.dt", "10.0"),  # above the CFL step
    (["model.name=landau_zener", "model.parameters={m=0.0}", "model.domain=[[-5.0, 5.0]]",
      "mode.order=1", "grid.nk=[65]"], "mode.order", "1"),  # bands touch at a cell centre
]


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """A config dir with BASE and an output dir holding an existing file of another run."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "c.toml").write_text(BASE)
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "other.h5").write_bytes(b"an earlier run")
    return tmp_path


def snapshot(directory):
    """Everything under ``directory`` (checkpoint blocks included): relative path -> (bytes
    or None for a directory, mtime)."""
    return {str(p.relative_to(directory)): (p.read_bytes() if p.is_file() else None,
                                            p.stat().st_mtime_ns)
            for p in sorted(directory.rglob("*"))}


def one_line_error(code, stderr):
    assert code == 2, stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("moyal-run: error:"), stderr
    return lines[0]


@pytest.mark.parametrize("overrides, key, value", BAD_CONFIGS,
                         ids=[" ".join(o) for o, _, _ in BAD_CONFIGS])
def test_bad_config_one_line_exit_2_no_file_touched(workdir, capsys, overrides, key, value):
    before = snapshot(workdir / "out")
    code = main(["c.toml", *overrides])
    line = one_line_error(code, capsys.readouterr().err)
    # the model layer (moyal.models) lists the valid names as "registered: ..."
    expectation = "registered: chain" if key == "model" else "expected"
    assert key in line and value in line and expectation in line, line
    assert snapshot(workdir / "out") == before  # nothing created, nothing touched


@pytest.mark.parametrize("overrides", [["grid.nxx=64"], ["fields.E=0.5", "numerics.dt=10.0"]])
def test_bad_config_in_a_real_process(workdir, overrides):
    before = snapshot(workdir / "out")
    proc = subprocess.run([sys.executable, "-m", "solvers.run", "c.toml", *overrides],
                          capture_output=True, text=True, cwd=workdir, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    one_line_error(proc.returncode, proc.stderr)
    assert snapshot(workdir / "out") == before


TABLES = {f.name: [g.name for g in dataclasses.fields(f.default_factory())]
          for f in dataclasses.fields(config.Config)
          if f.name not in ("model", "fields")}
TABLES["fields"] = ["E", "E_ac", "omega", "ramp_time", "potential"]
values = st.recursive(
    st.booleans() | st.integers(-10**6, 10**6)
    | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner,
                                                                max_size=2),
    max_leaves=6)
configs = st.lists(st.sampled_from(sorted(TABLES) + ["gird", "numeric"]).flatmap(
    lambda name: st.tuples(st.just(name), st.dictionaries(
        st.sampled_from(TABLES.get(name, ["nx"]) + ["nxx", "tua"]), values, max_size=4)
        | values)), max_size=4).map(dict)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(raw=configs)
def test_fuzzed_configs_load_or_fail_with_one_line_config_error(raw):
    try:
        cfg = config.from_dict(raw)
    except config.ConfigError as err:
        message = str(err)
        # solvers/fields.py words unknown keys "valid keys are ..." instead of "expected"
        assert message and "\n" not in message, message
        assert "expected" in message or "valid keys are" in message, message
    else:
        assert isinstance(cfg, config.Config)


# ------------------------------------------------------------------------- physics sanity
def problem_for(**tables):
    """The band-gap resolution warnings of the problem's setup (the Fermi-surface check, which
    the default temperature trips on these grids, is tested in tests/test_configs.py)."""
    cfg = config.from_dict({"run": {"t_end": 1.0}, **tables})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        make_problem(cfg, PETSc.COMM_SELF)
    return [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)
            and "Fermi surface" not in str(w.message)]


def landau_zener(mass, nk, **extra):
    model = {"name": "landau_zener", "parameters": {"m": mass}, "domain": [[-5.0, 5.0]],
             **extra.pop("model", {})}
    return dict(model=model, mode={"order": 1, **extra.pop("mode", {})}, grid={"nk": [nk]},
                **extra)


def test_bands_touching_between_cells_warn_with_the_way_out():
    """SSH at t1 = t2 closes its gap at k = pi, a cell edge: no cell centre sees it."""
    messages = problem_for(model={"name": "ssh", "parameters": {"t1": 1.0, "t2": 1.0}},
                           mode={"order": 1}, grid={"nk": [64]})
    assert len(messages) == 1
    assert "nearly degenerate" in messages[0] and "matrix" in messages[0] \
        and "finer grid" in messages[0]


def test_near_degenerate_gap_warns_until_the_grid_resolves_it():
    """Gap 2m = 0.04, curvature width m/v = 0.02: unresolved by 64 cells on [-5, 5] (width
    0.156), resolved by 2048 (width 0.0049); matrix mode and the traced treatment are quiet."""
    assert len(problem_for(**landau_zener(0.02, 64))) == 1
    assert problem_for(**landau_zener(0.02, 2048)) == []
    assert problem_for(**landau_zener(0.5, 64)) == []
    assert problem_for(**landau_zener(0.02, 64, model={"degeneracy": "traced"})) == []
    assert problem_for(**landau_zener(0.02, 64, mode={"kind": "matrix", "order": 0})) == []


def test_bands_touching_at_a_cell_centre_are_refused_with_the_way_out():
    with pytest.raises(config.ConfigError) as err:
        problem_for(**landau_zener(0.0, 65))
    assert "degenerate" in str(err.value) and "mode.kind = \"matrix\"" in str(err.value)
    assert problem_for(**landau_zener(0.0, 65, mode={"kind": "matrix", "order": 0})) == []


def test_time_step_above_the_cfl_bound_is_refused_below_it_accepted(tmp_path):
    """Chain, E = 0.5, 16 cells of width 2 pi/16: the k speed is |E| = 0.5, so the Courant
    number 1 step is w / |E| = 0.785 (independent of the code's own bound)."""
    bound = (2 * np.pi / 16) / 0.5
    tables = {"grid": {"nk": [16]}, "fields": {"E": 0.5}}
    for dt, ok in ((1.01 * bound, False), (0.99 * bound, True)):
        cfg = config.from_dict({**tables, "numerics": {"dt": dt}, "run": {
            **QUIET, "t_end": 2.0, "output_dir": str(tmp_path), "name": f"dt{ok}"}})
        if ok:
            summary, _ = simulate(cfg, tmp_path / "ok.h5", PETSc.COMM_SELF, stream=None)
            assert summary["status"] == "finished"
        else:
            with pytest.raises(config.ConfigError, match="numerics.dt = .*expected a step"):
                simulate(cfg, tmp_path / "bad.h5", PETSc.COMM_SELF, stream=None)
            assert not (tmp_path / "bad.h5").exists()


# ---------------------------------------------------------------------- numerical safety
def poison_after(monkeypatch, t_bad):
    """Band-mode rates become NaN for t > t_bad (a blow-up the solver must catch)."""
    rate = problem_module.BandProblem.explicit_rate

    def poisoned(self, t, u, out, include_relaxation):
        rate(self, t, u, out, include_relaxation)
        if t > t_bad:
            self.grid.view(out)[...] = np.nan

    monkeypatch.setattr(problem_module.BandProblem, "explicit_rate", poisoned)


def test_nan_is_caught_within_one_step_and_the_last_good_checkpoint_kept(tmp_path,
                                                                        monkeypatch):
    dt, t_bad = 0.05, 1.02  # the step ending at t = 1.05 is the first poisoned one (step 21)
    poison_after(monkeypatch, t_bad)
    cfg = config.from_dict({"grid": {"nk": [32]}, "fields": {"E": 0.3},
                            "initial": {"kind": "band_window"}, "numerics": {"dt": dt},
                            "run": {**QUIET, "output_every": 1, "checkpoint_every": 5,
                                    "t_end": 5.0, "output_dir": str(tmp_path), "name": "n"}})
    out = tmp_path / "n.h5"
    summary, _ = simulate(cfg, out, PETSc.COMM_SELF, stream=None)
    assert summary["status"] == "failed" and "NaN" in summary["reason"]
    assert summary["steps"] == 21  # detected at the end of the first bad step
    with h5py.File(checkpoint_path(out), "r") as h5:
        assert h5.attrs["step"] == 20
        assert all(np.all(np.isfinite(h5[name][()])) for name in h5
                   if isinstance(h5[name], h5py.Dataset))
    with h5py.File(out, "r") as h5:
        assert h5["scales/iteration"][-1] <= 21
        good = h5["scales/iteration"][:] <= 20
        assert np.all(np.isfinite(h5["tasks/f"][good]))


def test_nan_exits_1_with_a_clear_message(tmp_path):
    script = (
        "import sys, numpy as np, solvers.problem as p\n"
        "rate = p.BandProblem.explicit_rate\n"
        "def bad(self, t, u, out, include_relaxation):\n"
        "    rate(self, t, u, out, include_relaxation)\n"
        "    if t > 0.2: self.grid.view(out)[...] = np.inf\n"
        "p.BandProblem.explicit_rate = bad\n"
        "from solvers.run import main\n"
        "sys.exit(main(['c.toml']))\n")
    (tmp_path / "c.toml").write_text(BASE + "[fields]\nE = 0.3\n")
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          cwd=tmp_path, timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 1, proc.stderr
    assert "NaN or Inf" in proc.stderr and "last good checkpoint is kept" in proc.stderr


# ------------------------------------------------------------- signals, wall time, restart
KILL_RUN = ["grid.nk=[256]", "fields.E=0.5", "initial.kind=band_window", "run.t_end=150.0",
            "run.output_every=5", "run.progress_every=100000", "run.name=k"]


def _write_base(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text(BASE)
    return path


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    """The reference: the kill-test run without interruption (in-process, one rank)."""
    tmp = tmp_path_factory.mktemp("reference")
    cfg = config.load(_write_base(tmp), KILL_RUN + [f"run.output_dir={str(tmp)!r}"])
    out = tmp / "k.h5"
    summary, final = simulate(cfg, out, PETSc.COMM_SELF, stream=None)
    assert summary["status"] == "finished"
    with h5py.File(out, "r") as h5:
        return final, h5["scales/iteration"][:], h5["tasks/f"][:], h5["tasks/current"][:]


def cli(args, cwd, **kwargs):
    return subprocess.Popen([sys.executable, "-m", "solvers.run", *args], cwd=cwd,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)}, **kwargs)


def writes_so_far(path):
    try:
        with h5py.File(path, "r", locking=False) as h5:
            return len(h5["scales/iteration"])
    except (OSError, KeyError):
        return 0


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["TERM", "INT"])
def test_signal_stops_cleanly_and_restart_is_bitwise(tmp_path, uninterrupted, signum):
    _write_base(tmp_path)
    out = tmp_path / "out" / "k.h5"
    proc = cli(["c.toml", *KILL_RUN], tmp_path)
    deadline = time.monotonic() + 60
    while writes_so_far(out) < 20 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert proc.poll() is None, "run finished before it could be killed; raise t_end"
    proc.send_signal(signum)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 3, stderr
    assert f"{signal.Signals(signum).name} received" in stderr and "run.restart=true" in stderr
    with h5py.File(checkpoint_path(out), "r") as h5:
        stopped_at = int(h5.attrs["step"])
    reference_final, iterations, f_ref, current_ref = uninterrupted
    assert 0 < stopped_at < iterations[-1]
    with h5py.File(out, "r") as h5:  # readable, and the last write is the stopped state
        assert h5["scales/iteration"][-1] == stopped_at

    restart = cli(["c.toml", *KILL_RUN, "run.restart=true"], tmp_path)
    stdout, stderr = restart.communicate(timeout=120)
    assert restart.returncode == 0, stderr
    with h5py.File(out, "r") as h5:
        got = h5["scales/iteration"][:]
        keep = np.isin(got, iterations)
        assert np.array_equal(got[keep], iterations)  # every reference write, once
        assert np.array_equal(h5["tasks/f"][keep], f_ref)  # bitwise
        assert np.array_equal(h5["tasks/current"][keep], current_ref)
        assert np.array_equal(h5["tasks/f"][-1], reference_final)


def test_wall_time_limit_stops_with_a_checkpoint_and_restarts_bitwise(tmp_path):
    tables = {"grid": {"nk": [32]}, "fields": {"E": 0.3}, "initial": {"kind": "band_window"},
              "run": {**QUIET, "t_end": 3.0, "output_dir": str(tmp_path), "name": "w"}}
    reference_cfg = config.from_dict({**tables, "run": {**tables["run"], "name": "ref"}})
    _, reference = simulate(reference_cfg, tmp_path / "ref.h5", PETSc.COMM_SELF, stream=None)
    stopping = config.from_dict({**tables, "run": {**tables["run"], "stop_wall_time": 1e-9}})
    out = tmp_path / "w.h5"
    first, _ = simulate(stopping, out, PETSc.COMM_SELF, stream=None)
    assert first["status"] == "stopped" and "stop_wall_time" in first["reason"]
    assert first["steps"] == 1 and checkpoint_path(out).exists()
    resumed = config.from_dict({**tables, "run": {**tables["run"], "restart": True}})
    second, final = simulate(resumed, out, PETSc.COMM_SELF, stream=None)
    assert second["status"] == "finished" and np.array_equal(final, reference)


# ---------------------------------------------------------------------- file integrity
def test_existing_output_kept_unless_overwrite_is_asked(workdir, capsys):
    assert main(["c.toml"]) == 0
    out = workdir / "out" / "r.h5"
    before = snapshot(workdir / "out")
    line = one_line_error(main(["c.toml", "run.t_end=0.25"]), capsys.readouterr().err)
    assert "exists" in line and "run.overwrite=true" in line
    assert snapshot(workdir / "out") == before
    assert main(["c.toml", "run.t_end=0.25", "run.overwrite=true"]) == 0
    with h5py.File(out, "r") as h5:
        assert h5["scales/t"][-1] == 0.25  # the new run replaced the old file
    assert (workdir / "out" / "other.h5").read_bytes() == b"an earlier run"


def test_a_sweep_with_one_existing_file_creates_none(workdir, capsys):
    (workdir / "out" / "r_s-1.h5").write_bytes(b"keep")
    before = snapshot(workdir / "out")
    sweep = ["response.scales=[1.0, -1.0]", "collisions.kind=fixed", "fields.E=0.1"]
    line = one_line_error(main(["c.toml", *sweep]), capsys.readouterr().err)
    assert "r_s-1.h5" in line
    assert snapshot(workdir / "out") == before


# ---------------------------------------------------------------------------- determinism
def test_same_config_same_rank_count_is_bitwise_identical(tmp_path):
    tables = dict(model={"name": "qwz", "parameters": {"g": 0.3}}, mode={"order": 2},
                  fields={"E": [0.05, 0.02], "ramp_time": 0.5},
                  grid={"x": "periodic", "nx": 16, "x_max": 20.0, "nk": [16, 16]},
                  initial={"kind": "packet", "x_center": 10.0, "mu": 0.2},
                  collisions={"kind": "conserving", "tau": 2.0, "mu": 0.2})
    datasets = []
    for name in ("a", "b"):
        cfg = config.from_dict({**tables, "run": {**QUIET, "output_every": 4, "t_end": 1.5,
                                                  "output_dir": str(tmp_path), "name": name}})
        simulate(cfg, tmp_path / f"{name}.h5", PETSc.COMM_SELF, stream=None)
        with h5py.File(tmp_path / f"{name}.h5", "r") as h5:
            datasets.append({f"{group}/{key}": h5[group][key][()]
                             for group in ("tasks", "scales") for key in h5[group]})
    a, b = datasets
    assert sorted(a) == sorted(b) and len(a["scales/iteration"]) > 2
    for key in a:
        assert np.array_equal(a[key], b[key]), key
