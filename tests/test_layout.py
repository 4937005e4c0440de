"""Phase-space layouts (solvers.layout): the k-distributed and the real-space-distributed
layout present the same owned and ghosted blocks, and band-mode runs on them agree to 1e-12.

The reference is the k-distributed DMDA (one DMDA over the whole phase space, the layout of
every earlier release); the real-space layout holds the same cells in another order, so
everything it computes must be the same numbers up to rounding.
"""

from itertools import product
from pathlib import Path

import h5py
import numpy as np
import pytest
from petsc4py import PETSc

from solvers import config
from solvers.layout import Axis, PhaseSpaceGrid, RealSpaceLayout, make_layout
from solvers.problem import BandProblem
from solvers.run import simulate

G = 2


def axes_for(x_boundary, k_boundary, n_k):
    """Nonuniform x cells and 1 or 2 k axes (periodic torus or continuum box)."""
    s = np.linspace(0.0, 1.0, 8)
    x = Axis("x", 10.0 * (s + 0.08 * np.sin(2 * np.pi * s)), x_boundary)
    k = [Axis.uniform(name, -np.pi, np.pi, n, k_boundary) for name, n in zip(("kx", "ky"), n_k)]
    return [x] + k


def random_state(layout, vec, seed=0):
    """A random field set through gather's inverse, identical on every layout."""
    rng = np.random.default_rng(seed)
    full = rng.standard_normal((layout.dof,) + layout.sizes)
    layout.scatter_from_zero(full, vec)
    return full


@pytest.mark.parametrize("x_boundary,k_boundary,n_k", list(product(
    ("periodic", "outflow", "vacuum"), ("periodic", "outflow"), ((6,), (6, 5)))))
def test_real_space_layout_presents_the_same_blocks(x_boundary, k_boundary, n_k):
    axes = axes_for(x_boundary, k_boundary, n_k)
    reference = PhaseSpaceGrid(axes, dof=2, stencil_width=G, comm=PETSc.COMM_SELF)
    layout = RealSpaceLayout(axes, dof=2, stencil_width=G, comm=PETSc.COMM_SELF)
    assert layout.ranges == reference.ranges and layout.ghost_ranges == reference.ghost_ranges
    u_ref, u = reference.da.createGlobalVec(), layout.da.createGlobalVec()
    full = random_state(reference, u_ref)
    random_state(layout, u)
    assert np.array_equal(layout.gather(u), full)
    assert np.array_equal(layout.view(u, readonly=True), reference.view(u_ref, readonly=True))
    # every ghost, corners included, and the boundary fills of open axes
    assert np.array_equal(layout.ghosted(u), reference.ghosted(u_ref))
    assert np.array_equal(layout.integrate(u), reference.integrate(u_ref))
    f = layout.view(u, readonly=True)
    assert np.array_equal(layout.k_sum().reduce(f), reference.k_sum().reduce(f))


def test_owned_view_writes_through_to_the_vec():
    layout = RealSpaceLayout(axes_for("periodic", "periodic", (6, 5)), dof=3,
                             comm=PETSc.COMM_SELF)
    u = layout.da.createGlobalVec()
    u.set(0.0)
    layout.view(u)[2, 3, 4, 1] = 7.0
    assert layout.gather(u)[2, 3, 4, 1] == 7.0 and layout.gather(u).sum() == 7.0


def test_auto_layout_and_refusals():
    three = axes_for("periodic", "periodic", (6, 5))
    assert make_layout(three, 2, G, PETSc.COMM_SELF).kind == "k_distributed"
    y = Axis.uniform("y", 0.0, 1.0, 8)
    four = three[:1] + [y] + three[1:]
    assert make_layout(four, 2, G, PETSc.COMM_SELF).kind == "real_space"
    with pytest.raises(ValueError, match="at most 3"):
        make_layout(four, 2, G, PETSc.COMM_SELF, "k_distributed")
    with pytest.raises(ValueError, match="needs a real-space axis"):
        make_layout(three[1:], 2, G, PETSc.COMM_SELF, "real_space")


QUIET = {"output_every": 3, "progress_every": 10 ** 6, "overwrite": True}

# existing problem classes: (x, kx, ky) of a Chern insulator with a periodic potential and
# an open x axis, and (x, kx) of a two-band chain at order 2 with conserving relaxation
CASES = {
    "x_kx_ky": {
        "model": {"name": "qwz", "parameters": {"m": -1.5, "g": 0.3}},
        "mode": {"order": 1},
        "fields": {"E": [0.05, 0.02],
                   "potential": [{"kind": "cosine", "amplitude": 0.05, "q": 2 * np.pi / 20}]},
        "grid": {"x": "outflow", "nx": 8, "x_max": 20.0, "nk": [10, 8]},
        "initial": {"kind": "packet", "x_center": 10.0, "x_width": 3.0, "mu": 0.2},
        "run": {"t_end": 0.6},
    },
    "x_kx": {
        "model": {"name": "rice_mele"},
        "mode": {"order": 2},
        "fields": {"E": 0.05,
                   "potential": [{"kind": "cosine", "amplitude": 0.1, "q": 2 * np.pi / 16}]},
        "grid": {"x": "periodic", "nx": 8, "x_max": 16.0, "nk": [16], "x_refine": [8.0]},
        "initial": {"kind": "packet", "x_center": 8.0, "mu": 0.0},
        "collisions": {"kind": "conserving", "tau": 0.5, "mu": 0.0},
        "run": {"t_end": 0.6},
    },
}


def run(tmp_path, tables, layout, comm=PETSc.COMM_SELF):
    numerics = {**tables.get("numerics", {}), "layout": layout}
    cfg = config.from_dict({**tables, "numerics": numerics,
                            "run": {**QUIET, **tables["run"], "output_dir": str(tmp_path),
                                    "name": layout}})
    out = Path(tmp_path) / f"{layout}.h5"
    summary, final = simulate(cfg, out, comm, stream=None)
    return summary, final, out


@pytest.mark.parametrize("name", sorted(CASES))
def test_band_mode_runs_agree_on_both_layouts(tmp_path, name):
    ref_summary, ref, ref_out = run(tmp_path, CASES[name], "k_distributed")
    summary, final, out = run(tmp_path, CASES[name], "real_space")
    assert summary["steps"] == ref_summary["steps"] > 0
    scale = np.max(np.abs(ref))
    assert np.max(np.abs(final - ref)) <= 1e-12 * scale
    with h5py.File(out, "r") as h5, h5py.File(ref_out, "r") as h5_ref:
        for task in ("f", "density", "current", "band_energy"):
            a, b = h5["tasks"][task][:], h5_ref["tasks"][task][:]
            assert np.max(np.abs(a - b)) <= 1e-12 * np.max(np.abs(b)), task


def test_real_space_layout_refused_without_x_in_one_line():
    cfg = config.from_dict({"model": {"name": "chain"}, "grid": {"nk": [16]},
                            "numerics": {"layout": "real_space"}})
    with pytest.raises(config.ConfigError, match="numerics.layout = 'real_space'"):
        BandProblem(cfg, PETSc.COMM_SELF)


def test_restart_on_the_real_space_layout_continues_bitwise(tmp_path):
    """The checkpoint holds each rank's owned block by the layout's ranges (one per
    phase-space axis, k included), so a restart continues the uninterrupted run exactly."""
    tables = {**CASES["x_kx_ky"], "numerics": {"dt": 0.05}}  # the stop at 0.3 is a step
    _, straight, _ = run(tmp_path / "straight", tables, "real_space")
    half = {**tables, "run": {**tables["run"], "t_end": 0.3}}
    run(tmp_path / "stopped", half, "real_space")
    cfg = config.from_dict({**tables, "numerics": {"dt": 0.05, "layout": "real_space"},
                            "run": {**QUIET, **tables["run"], "restart": True,
                                    "overwrite": False,
                                    "output_dir": str(tmp_path / "stopped"),
                                    "name": "real_space"}})
    summary, final = simulate(cfg, tmp_path / "stopped" / "real_space.h5", PETSc.COMM_SELF,
                              stream=None)
    assert summary["restarted"] and np.array_equal(final, straight)


@pytest.mark.parametrize("name", sorted(CASES))
def test_fused_c_rate_reads_the_real_space_block_through_its_strides(name):
    """The C kernel takes the ghosted block and the (transposed, strided) owned view of the
    real-space layout as they are: its rate equals numpy's on the k-distributed layout."""
    rates = {}
    for layout, backend in (("k_distributed", "numpy"), ("real_space", "c")):
        tables = {**CASES[name], "numerics": {"layout": layout, "backend": backend}}
        problem = BandProblem(config.from_dict(tables), PETSc.COMM_SELF)
        u = problem.grid.da.createGlobalVec()
        problem.initial_state(u)
        out = u.duplicate()
        problem.explicit_rate(0.1, u, out, include_relaxation=True)
        rates[layout] = problem.grid.gather(out)
    reference = rates["k_distributed"]
    assert np.max(np.abs(rates["real_space"] - reference)) <= 1e-12 * np.max(np.abs(reference))


def test_the_command_line_never_gathers_the_state(tmp_path, monkeypatch):
    """A run from the command line with per-rank output writes, checkpoints and reports
    without ever assembling the whole state on one rank (gather refuses here)."""
    from solvers.layout.base import LayoutBase
    from solvers.run import main

    def refuse(self, vec):
        raise AssertionError("the whole state was gathered on one rank")

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(LayoutBase, "gather", refuse)
    (tmp_path / "c.toml").write_text(
        '[model]\nname = "qwz"\n[mode]\norder = 1\n'
        '[fields]\nE = [0.01, 0.0]\n'
        'potential = [{kind = "cosine", amplitude = 0.05, q = 0.314159}]\n'
        '[grid]\nx = "periodic"\nnx = 8\nx_max = 20.0\nnk = [8, 8]\n'
        '[numerics]\nlayout = "real_space"\n'
        '[initial]\nkind = "equilibrium"\nmu = 0.0\ntemperature = 1.0\n'
        '[run]\nt_end = 0.2\noutput_every = 2\ncheckpoint_every = 2\noutput_dir = "out"\n'
        'name = "r"\noutput_mode = "per_rank"\n')
    assert main(["c.toml"]) == 0
    with h5py.File(tmp_path / "out" / "r.h5") as h5:
        assert h5["tasks/density"].shape[0] >= 2
