"""Run under `mpirun -n 2` (make test-mpi): per-rank checkpoints written on 2 ranks, read on 1
and on 2; failures on one rank raised on both; nothing gathered."""

import warnings

import h5py
import numpy as np
import pytest
from mpi4py import MPI
from petsc4py import PETSc

from solvers import checkpoint
from solvers.checkpoint import (CheckpointError, NonFiniteState, block_paths, read_checkpoint,
                                write_checkpoint)
from solvers.grid import Axis, PhaseSpaceGrid
from solvers.output import raise_collectively
from test_output_mpi import field_vec, shared_dir  # noqa: F401 -- shared_dir: a fixture

pytestmark = pytest.mark.mpi

RANK = MPI.COMM_WORLD.Get_rank()
# 3D so that PETSc may split more than one axis; sizes prime to 2 so the blocks are unequal
AXES = [Axis.uniform("x", 0.0, 30.0, 7), Axis.uniform("kx", -np.pi, np.pi, 6),
        Axis.uniform("ky", -np.pi, np.pi, 5)]


@pytest.fixture
def no_gather(monkeypatch):
    def whole_state(*args):
        raise AssertionError("the whole state passed through one rank")

    monkeypatch.setattr(PhaseSpaceGrid, "gather", whole_state)
    monkeypatch.setattr(PhaseSpaceGrid, "scatter_from_zero", whole_state)


def make_grid(comm=PETSc.COMM_WORLD, dof=2):
    return PhaseSpaceGrid(AXES, dof=dof, stencil_width=2, comm=comm)


def special_field(grid, seed):
    """The same global field on every rank: random values plus subnormal, -0, huge."""
    field = np.random.default_rng(seed).standard_normal((grid.dof,) + grid.sizes)
    field.reshape(-1)[:3] = [5e-324, -0.0, 1.7976931348623157e308]
    return field


def owned(grid, field):
    return field[(slice(None),) + tuple(slice(s, e) for s, e in grid.ranges)]


def test_written_on_two_ranks_reads_bitwise_on_one_and_on_two(shared_dir, no_gather):
    grid = make_grid()
    assert grid.ranges != make_grid(PETSc.COMM_SELF).ranges  # the state is split
    field = special_field(grid, 11)
    path = shared_dir / "r.chk.h5"
    write_checkpoint(path, grid, field_vec(grid, field), 0.75, 15, 0.05, '{"a": 1}',
                     {"mu": np.array([0.5, 0.25])})
    vec = grid.da.createGlobalVec()
    meta = read_checkpoint(path, grid, vec)
    assert grid.view(vec).tobytes() == np.ascontiguousarray(owned(grid, field)).tobytes()
    assert (meta["t"], meta["step"], meta["dt"], meta["ranks"]) == (0.75, 15, 0.05, 2)
    assert meta["config"] == '{"a": 1}' and list(meta["extra"]["mu"]) == [0.5, 0.25]
    serial = make_grid(PETSc.COMM_SELF)  # one rank holding every cell (each rank on its own)
    vec = serial.da.createGlobalVec()
    read_checkpoint(path, serial, vec)
    assert serial.view(vec).tobytes() == field.tobytes()
    files = MPI.COMM_WORLD.bcast([p.name for p in block_paths(path)] if RANK == 0 else None)
    assert files == ["rank_00000.h5", "rank_00001.h5"]


def test_extras_that_differ_between_ranks_come_back_on_the_same_decomposition(shared_dir):
    """mu(x) of the conserving relaxation lives on each rank's x cells."""
    grid = make_grid()
    path = shared_dir / "r.chk.h5"
    mine = np.arange(*grid.ranges[0], dtype=float) / 7
    write_checkpoint(path, grid, field_vec(grid, special_field(grid, 12)), 1.0, 20, 0.05, "{}",
                     {"chemical_potential": mine, "beta": 2.0})
    meta = read_checkpoint(path, grid, grid.da.createGlobalVec())
    assert meta["extra"]["chemical_potential"].tobytes() == mine.tobytes()
    assert meta["extra"]["beta"] == 2.0
    serial = make_grid(PETSc.COMM_SELF)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        meta = read_checkpoint(path, serial, serial.da.createGlobalVec())
    assert set(meta["extra"]) == {"beta"}  # a warm start only: left out, with a warning
    [message] = [str(w.message) for w in caught]  # each rank reads on its own here
    assert "chemical_potential differ between the 2 writing ranks" in message


def test_a_damaged_block_checked_by_rank_one_is_refused_on_both(shared_dir):
    grid = make_grid()
    path = shared_dir / "r.chk.h5"
    write_checkpoint(path, grid, field_vec(grid, special_field(grid, 13)), 1.0, 20, 0.05, "{}")
    if RANK == 0:  # one ulp of one value in block 1, which rank 1 reads and checks
        with h5py.File(block_paths(path)[1], "r+") as h5:
            h5["state"][0, 0, 0, 0] = np.nextafter(h5["state"][0, 0, 0, 0], np.inf)
    MPI.COMM_WORLD.Barrier()
    vec = grid.da.createGlobalVec()
    with pytest.raises(CheckpointError, match="damaged: the sha256 of block rank_00001.h5"):
        read_checkpoint(path, grid, vec)
    # destroyed here on both ranks: left to Python, the objects held by rank 1's traceback
    # (its own exception; rank 0 raised a copy) are freed in another order than on rank 0,
    # and PETSc's collective garbage cleanup then hangs at exit
    vec.destroy()
    grid.da.destroy()


def test_nan_on_one_rank_writes_nothing_on_either(shared_dir):
    grid = make_grid()
    path = shared_dir / "r.chk.h5"
    good = special_field(grid, 14)
    write_checkpoint(path, grid, field_vec(grid, good), 1.0, 20, 0.05, "{}")
    bad = field_vec(grid, special_field(grid, 15))
    if RANK == 1:
        grid.view(bad)[-1, -1, -1, -1] = np.nan
    with pytest.raises(NonFiniteState, match="step 40 holds NaN"):
        write_checkpoint(path, grid, bad, 2.0, 40, 0.05, "{}")
    vec = grid.da.createGlobalVec()
    assert read_checkpoint(path, grid, vec)["step"] == 20
    assert grid.view(vec).tobytes() == np.ascontiguousarray(owned(grid, good)).tobytes()


def test_a_block_write_failing_on_rank_one_keeps_the_previous_checkpoint(shared_dir,
                                                                          monkeypatch):
    grid = make_grid()
    path = shared_dir / "r.chk.h5"
    good = special_field(grid, 16)
    write_checkpoint(path, grid, field_vec(grid, good), 1.0, 20, 0.05, "{}")
    if RANK == 1:
        def full(target, nbytes):
            raise OSError(28, "No space left on device", str(target))

        monkeypatch.setattr(checkpoint, "ensure_space", full)
    with pytest.raises(OSError, match="No space left on device"):
        write_checkpoint(path, grid, field_vec(grid, special_field(grid, 17)), 2.0, 40, 0.05,
                         "{}")
    monkeypatch.undo()
    vec = grid.da.createGlobalVec()
    assert read_checkpoint(path, grid, vec)["step"] == 20
    assert grid.view(vec).tobytes() == np.ascontiguousarray(owned(grid, good)).tobytes()
    error = None
    if RANK == 0:  # the failed generation was removed, the good one kept
        try:
            assert [p.name for p in (shared_dir / "r.chk.ranks").iterdir()] == ["g000001"]
        except AssertionError as exc:
            error = exc
    raise_collectively(MPI.COMM_WORLD, error)
