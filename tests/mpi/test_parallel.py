"""Run under `mpirun -n 2` (make test-mpi): ghost exchange, serial == parallel, one MPI."""

import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
from mpi4py import MPI
from petsc4py import PETSc

from solvers import config
from solvers.collisions import KSum, fermi_dirac, solve_chemical_potential
from solvers.grid import Axis, PhaseSpaceGrid
from solvers.problem import BandProblem
from solvers.run import simulate
from tests.tolerance import (chemical_potential_tolerance, fermi_dirac_floor,
                             linear_combination_floor, tolerance)

pytestmark = pytest.mark.mpi


def shared_tmpdir():
    """One temporary directory for all ranks (rank 0 creates it)."""
    comm = MPI.COMM_WORLD
    path = tempfile.mkdtemp(prefix="moyal-mpi-") if comm.Get_rank() == 0 else None
    return Path(comm.bcast(path, root=0))


def test_petsc4py_and_mpi4py_share_the_venv_mpi_library():
    comm = MPI.COMM_WORLD
    assert PETSc.COMM_WORLD.getSize() == comm.Get_size() == 2
    assert PETSc.COMM_WORLD.getRank() == comm.Get_rank()
    # the same library object is mapped once into the process, from the venv
    maps = Path("/proc/self/maps").read_text()
    libs = sorted(set(re.findall(r"(/\S*/libmpi[^/\s]*\.so[.\d]*)", maps)))
    assert len(libs) == 1, libs
    assert libs[0].startswith(sys.prefix), (libs, sys.prefix)
    # ...and it is the MPICH that the venv's mpirun belongs to
    version = subprocess.run([os.path.join(sys.prefix, "bin", "mpichversion")],
                             capture_output=True, text=True).stdout
    wanted = re.search(r"MPICH Version:\s*(\S+)", version).group(1)
    assert re.search(r"MPICH Version:\s*(\S+)", MPI.Get_library_version()).group(1) == wanted
    assert os.environ.get("PMI_SIZE") == "2"  # launched by the venv's Hydra mpirun


def test_ghost_exchange_across_ranks_is_periodic():
    nx, nk = 12, 10
    grid = PhaseSpaceGrid([Axis.uniform("x", 0, 1, nx), Axis.uniform("kx", -np.pi, np.pi, nk)],
                          dof=2, stencil_width=2, comm=PETSc.COMM_WORLD)
    assert grid.owned_shape[1] * grid.owned_shape[2] < nx * nk  # the block is really split
    u = grid.da.createGlobalVec()
    (xs, xe), (ks, ke) = grid.ranges
    ix = np.arange(xs, xe)[:, None]
    ik = np.arange(ks, ke)[None, :]
    owned = grid.view(u)
    for d in range(2):
        owned[d] = 1000 * d + ix + nx * ik
    local = grid.da.createLocalVec()
    grid.da.globalToLocal(u, local)
    block = grid.view(local, ghosted=True, readonly=True)
    (gxs, gxe), (gks, gke) = grid.ghost_ranges
    gx = np.mod(np.arange(gxs, gxe), nx)[:, None]
    gk = np.mod(np.arange(gks, gke), nk)[None, :]
    for d in range(2):
        assert np.array_equal(block[d], 1000 * d + gx + nx * gk)


# (x, kx, ky) phase space with every band-mode term active: order 2 on a two-band lattice
# model, a cosine potential (x-dependent forces, hbar^2 and metric-gradient terms), a ramped
# field with both components, conserving relaxation (a global nonlinear solve per x), and
# refined nonuniform x and k cells.
PARALLEL_CASES = {
    "band_order2_x_kx_ky": {
        "model": {"name": "qwz", "parameters": {"m": -1.5, "g": 0.3}},
        "mode": {"order": 2},
        "fields": {"E": [0.05, 0.02], "ramp_time": 0.5,
                   "potential": [{"kind": "cosine", "amplitude": 0.05, "q": 2 * np.pi / 20}]},
        "grid": {"x": "periodic", "nx": 16, "x_max": 20.0, "x_refine": [10.0],
                 "x_refine_width": 3.0, "nk": [16, 12], "k_refine": [0.5]},
        "initial": {"kind": "packet", "x_center": 10.0, "mu": 0.2},
        "collisions": {"kind": "conserving", "tau": 1.0, "mu": 0.2},
        "run": {"t_end": 1.0},
    },
    "matrix_x_kx_order2": {
        "model": {"name": "rice_mele"},
        "mode": {"kind": "matrix", "order": 2},
        "fields": {"E": 0.05,
                   "potential": [{"kind": "cosine", "amplitude": 0.1, "q": 2 * np.pi / 16}]},
        "grid": {"x": "periodic", "nx": 24, "x_max": 16.0, "nk": [20], "k_refine": [1.0]},
        "initial": {"kind": "packet", "x_center": 8.0, "mu": 0.0},
        "collisions": {"kind": "fixed", "tau": 2.0, "tau_inter": 0.5},
        "run": {"t_end": 1.0},
    },
    "band_uniform_kx_ky_imex": {
        "model": {"name": "qwz", "parameters": {"g": 0.4}},
        "mode": {"order": 2},
        "fields": {"E": [0.05, 0.0]},
        "grid": {"nk": [24, 20]},
        "collisions": {"kind": "fixed", "tau": 0.05},
        "numerics": {"integrator": "imex"},
        "run": {"t_end": 1.0},
    },
}


def run_on_one_and_two_ranks(tables):
    """Simulate ``tables`` on all ranks and on each rank alone.

    Returns (parallel summary, parallel final f, serial summary, serial final f, directory);
    rank r's serial run is written to ``ser<r>.h5`` in the directory shared by the ranks.
    """
    tmp = shared_tmpdir()
    rank = MPI.COMM_WORLD.Get_rank()
    quiet = {"output_every": 4, "progress_every": 10**6, "overwrite": True}
    cfg = config.from_dict({**tables, "run": {**quiet, **tables["run"]}})
    parallel, final_par = simulate(cfg, tmp / "par.h5", PETSc.COMM_WORLD, stream=None)
    serial, final_ser = simulate(cfg, tmp / f"ser{rank}.h5", PETSc.COMM_SELF, stream=None)
    assert parallel["ranks"] == 2 and serial["ranks"] == 1
    assert parallel["steps"] == serial["steps"] > 0
    return parallel, final_par, serial, final_ser, tmp


@pytest.mark.parametrize("name", sorted(PARALLEL_CASES))
def test_two_ranks_match_one_rank_to_1e12(name):
    _, final_par, _, final_ser, tmp = run_on_one_and_two_ranks(PARALLEL_CASES[name])
    if MPI.COMM_WORLD.Get_rank() == 0:
        scale = np.max(np.abs(final_ser))
        assert np.max(np.abs(final_par - final_ser)) <= 1e-12 * scale
        import h5py

        with h5py.File(tmp / "par.h5", "r") as h5, h5py.File(tmp / "ser0.h5", "r") as ser:
            assert h5.attrs["ranks"] == 2
            assert np.array_equal(h5["tasks/f"][-1], final_par)
            for task in ("density", "current", "band_energy"):
                a, b = h5["tasks"][task][:], ser["tasks"][task][:]
                assert np.max(np.abs(a - b)) <= 1e-12 * max(np.max(np.abs(b)), 1e-300), task
    MPI.COMM_WORLD.Barrier()


# Conserving relaxation where the DMDA splits a k axis between the two ranks: mu(x) is set by
# the density summed over the bands and ALL k cells of x, so each rank holds only part of it.
K_SPLIT_CONSERVING_CASES = {
    "x_kx_ky": {
        "model": {"name": "qwz", "parameters": {"m": -1.5, "g": 0.3}},
        "mode": {"order": 1},
        "fields": {"E": [0.05, 0.02],
                   "potential": [{"kind": "cosine", "amplitude": 0.05, "q": 2 * np.pi / 20}]},
        "grid": {"x": "periodic", "nx": 8, "x_max": 20.0, "nk": [16, 16]},
        "initial": {"kind": "packet", "x_center": 10.0, "x_width": 3.0, "mu": 0.2},
        "collisions": {"kind": "conserving", "tau": 0.5, "mu": 0.2},
        "run": {"t_end": 1.5},
    },
    "x_kx": {
        "model": {"name": "rice_mele"},
        "mode": {"order": 2},
        "fields": {"E": 0.05,
                   "potential": [{"kind": "cosine", "amplitude": 0.1, "q": 2 * np.pi / 16}]},
        "grid": {"x": "periodic", "nx": 8, "x_max": 16.0, "nk": [32]},
        "initial": {"kind": "packet", "x_center": 8.0, "mu": 0.0},
        "collisions": {"kind": "conserving", "tau": 0.5, "mu": 0.0},
        "run": {"t_end": 1.5},
    },
    "kx_ky": {
        "model": {"name": "qwz", "parameters": {"m": -1.5, "g": 0.3}},
        "mode": {"order": 1},
        "fields": {"E": [0.1, 0.05]},
        "grid": {"nk": [16, 16]},
        "initial": {"kind": "band_window", "band": 0, "k_center": [0.5, 0.0],
                    "k_width": 0.8},
        "collisions": {"kind": "conserving", "tau": 0.5, "mu": -0.5},
        "run": {"t_end": 1.5},
    },
}


@pytest.mark.parametrize("name", sorted(K_SPLIT_CONSERVING_CASES))
def test_conserving_relaxation_with_k_split_between_ranks_matches_one_rank(name):
    tables = K_SPLIT_CONSERVING_CASES[name]
    grid = BandProblem(config.from_dict(tables), PETSc.COMM_WORLD).grid
    assert any(grid.ranges[axis] != (0, grid.sizes[axis]) for axis in grid.k_axes), \
        grid.ranges  # this rank owns part of the k cells only
    parallel, final_par, serial, final_ser, _ = run_on_one_and_two_ranks(tables)
    assert parallel["number_drift"] <= 1e-12 and serial["number_drift"] <= 1e-12
    # rank 0 holds both gathered states; every rank asserts, so a failure keeps them in step
    difference = MPI.COMM_WORLD.bcast(
        np.max(np.abs(final_par - final_ser)) / np.max(np.abs(final_ser))
        if MPI.COMM_WORLD.Get_rank() == 0 else None, root=0)
    assert difference <= 1e-12, difference


# Owned (x, k) blocks of an 8 x 24 grid on 2 ranks: k split (each rank holds every x), or x
# split (each rank holds every k).
SPLITS = {"k": lambda r: ((0, 8), (12 * r, 12 * r + 12)),
          "x": lambda r: ((4 * r, 4 * r + 4), (0, 24))}


@pytest.mark.parametrize("split", sorted(SPLITS))
def test_chemical_potential_on_split_blocks_equals_the_serial_solve(split):
    rank = MPI.COMM_WORLD.Get_rank()
    nk, temperature = 24, 0.2
    k = -np.pi + 2 * np.pi * (np.arange(nk) + 0.5) / nk
    energy = np.array([1.5 * np.sin(k) - 1.5, 0.8 * np.cos(k) + 1.2 + 0.3 * np.sin(k)])
    weights = np.full(nk, 1.0 / nk)
    # band 0 = 1.5 sin k - 1.5 has its minimum in the lower half of k only: with k split, a
    # bracket from one rank's energies would miss the dilute roots.  mu from far below to
    # far above the bands; each rank's x cells have different mu when x is split.
    mu_true = np.array([-4.0, -2.5, -0.3, 0.0, 0.6, 1.1, 2.9, 4.2])
    density = np.einsum("bxk,k->x", fermi_dirac(energy[:, None], mu_true[None, :, None],
                                                temperature), weights)
    mu_serial, occupation_serial = solve_chemical_potential(energy, weights, density,
                                                            temperature, guess=0.0)
    (xs, xe), (ks, ke) = SPLITS[split](rank)
    k_sum = KSum(weights[ks:ke], MPI.COMM_WORLD, (xs, xe), 8)
    assert abs(k_sum.measure - 1.0) <= tolerance(linear_combination_floor(weights, 1.0))
    mu, occupation = solve_chemical_potential(energy[:, ks:ke], k_sum, density[xs:xe],
                                              temperature, guess=0.0)
    # both solves stop within the solver's criterion of the same density, by sums in
    # different orders: mu within twice the derived tolerance (large far above the bands,
    # where n fixes mu only to ~ T eps / holes), occupations within df/dmu times that
    mu_tolerance = 2 * chemical_potential_tolerance(energy, weights, mu_true, temperature)
    assert np.all(np.abs(mu - mu_serial[xs:xe]) <= mu_tolerance[xs:xe])
    assert np.all(np.abs(mu_serial - mu_true) <= mu_tolerance / 2)
    f = occupation_serial[:, xs:xe, ks:ke]
    slope = f * (1 - f) / temperature
    assert np.all(np.abs(occupation - f) <= slope * mu_tolerance[xs:xe, None]
                  + tolerance(fermi_dirac_floor(energy[:, None, ks:ke],
                                                mu_serial[None, xs:xe, None], temperature)))
    # an empty x cell (rank 1's alone when x is split): every rank raises, none is left
    # waiting in a reduction
    empty = density.copy()
    empty[7] = 0.0
    with pytest.raises(ValueError, match="no chemical potential exists"):
        solve_chemical_potential(energy[:, ks:ke], k_sum, empty[xs:xe], temperature)
    MPI.COMM_WORLD.Barrier()
