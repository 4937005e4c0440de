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
from solvers.grid import Axis, PhaseSpaceGrid
from solvers.run import simulate

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
    grid = PhaseSpaceGrid(Axis.uniform("x", 0, 1, nx), Axis.uniform("k", -np.pi, np.pi, nk),
                          dof=2, stencil_width=2, comm=PETSc.COMM_WORLD)
    assert grid.owned_shape[1] * grid.owned_shape[2] < nx * nk  # the block is really split
    u = grid.da.createGlobalVec()
    ix = np.arange(grid.xs, grid.xe)[:, None]
    ik = np.arange(grid.ks, grid.ke)[None, :]
    owned = grid.view(u)
    for d in range(2):
        owned[d] = 1000 * d + ix + nx * ik
    local = grid.da.createLocalVec()
    grid.da.globalToLocal(u, local)
    block = grid.view(local, ghosted=True, readonly=True)
    gx = np.mod(np.arange(grid.gxs, grid.gxe), nx)[:, None]
    gk = np.mod(np.arange(grid.gks, grid.gke), nk)[None, :]
    for d in range(2):
        assert np.array_equal(block[d], 1000 * d + gx + nx * gk)


def test_two_ranks_match_one_rank_to_1e12():
    cfg = config.from_dict({"grid": {"nx": 64, "nk": 32},
                            "run": {"t_end": 4.0, "output_every": 20, "progress_every": 10**6}})
    tmp = shared_tmpdir()
    rank = MPI.COMM_WORLD.Get_rank()
    parallel, final_par = simulate(cfg, tmp / "par.h5", PETSc.COMM_WORLD, stream=None)
    serial, final_ser = simulate(cfg, tmp / f"ser{rank}.h5", PETSc.COMM_SELF, stream=None)
    assert parallel["ranks"] == 2 and serial["ranks"] == 1
    assert parallel["steps"] == serial["steps"]
    if rank == 0:
        scale = np.max(np.abs(final_ser))
        assert np.max(np.abs(final_par - final_ser)) <= 1e-12 * scale
        import h5py

        with h5py.File(tmp / "par.h5", "r") as h5:
            assert h5.attrs["ranks"] == 2
            assert np.array_equal(h5["tasks/f"][-1], final_par)
    MPI.COMM_WORLD.Barrier()
