"""Run under `mpirun -n 2` (make test-mpi): per-rank virtual output and checkpoints across ranks."""

import json
from pathlib import Path

import h5py
import numpy as np
import pytest
from mpi4py import MPI
from petsc4py import PETSc

from solvers.checkpoint import CheckpointError, read_checkpoint, write_checkpoint
from solvers.grid import Axis, PhaseSpaceGrid
from solvers.layout import make_layout
from solvers.output import Writer, raise_collectively

pytestmark = pytest.mark.mpi

UNITS = {"energy": "eV", "length": "nm"}
LAYOUTS = {"2d": [Axis.uniform("x", 0.0, 30.0, 12), Axis.uniform("k", -np.pi, np.pi, 10)],
           "3d": [Axis.uniform("x", 0.0, 30.0, 6), Axis.uniform("kx", -np.pi, np.pi, 8),
                  Axis.uniform("ky", -np.pi, np.pi, 5)]}


@pytest.fixture
def shared_dir(tmp_path):
    """Rank 0's temporary directory, the same path on every rank."""
    return Path(MPI.COMM_WORLD.bcast(str(tmp_path), root=0))


def on_rank_zero(check):
    """Run ``check()`` on rank 0 only; a failure there fails every rank (none is left waiting)."""
    error = None
    if MPI.COMM_WORLD.Get_rank() == 0:
        try:
            check()
        except BaseException as exc:  # noqa: BLE001 -- re-raised on every rank
            error = exc
    raise_collectively(MPI.COMM_WORLD, error)


def make_grid(layout, comm=PETSc.COMM_WORLD, dof=2):
    return PhaseSpaceGrid(LAYOUTS[layout], dof=dof, stencil_width=2, comm=comm)


def field_vec(grid, field):
    """A Vec on ``grid`` whose owned block is the block of the global ``field``."""
    vec = grid.da.createGlobalVec()
    grid.view(vec)[...] = field[(slice(None),) + tuple(slice(s, e) for s, e in grid.ranges)]
    return vec


def fields_for(grid, n, seed):
    """``n`` random global fields, identical on every rank (same seed)."""
    return np.random.default_rng(seed).standard_normal((n, grid.dof) + grid.sizes)


def tasks_for(grid):
    return {"f": ("phase_space", (grid.dof,) + grid.sizes, "occupation"),
            "n": ("global", (grid.sizes[0],), "1/nm")}


def write_fields(writer, grid, fields, iterations):
    for field, it in zip(fields, iterations):
        writer.write(float(it), it, phase_space={"f": field_vec(grid, field)},
                     globals={"n": field[0].sum(axis=tuple(range(1, grid.dim)))})


@pytest.mark.parametrize("mode", ["per_rank", "gathered"])
@pytest.mark.parametrize("layout", ["2d", "3d"])
def test_two_rank_output_reads_back_the_gathered_field(shared_dir, layout, mode):
    grid = make_grid(layout)
    assert np.prod(grid.owned_shape) < grid.dof * np.prod(grid.sizes)  # really split
    fields = fields_for(grid, 2, seed=1)
    path = shared_dir / "run.h5"
    with Writer(path, grid, tasks_for(grid), {}, UNITS, "", mode=mode) as writer:
        write_fields(writer, grid, fields, [0, 7])
    gathered = [grid.gather(field_vec(grid, field)) for field in fields]

    def check():
        with h5py.File(path, "r") as h5:
            assert h5.attrs["ranks"] == 2 and h5.attrs["mode"] == mode
            assert h5["tasks/f"].is_virtual == (mode == "per_rank")
            assert np.array_equal(h5["tasks/f"][...], np.array(gathered))
            assert np.array_equal(h5["tasks/f"][...], fields)
            assert np.array_equal(h5["scales/iteration"][...], [0, 7])
        if mode == "per_rank":
            cells = 0
            for r in range(2):
                with h5py.File(path.parent / f"run.ranks/rank_{r:05d}.h5", "r") as h5:
                    cells += np.prod(np.diff(h5.attrs["ranges"], axis=1))
            assert cells == np.prod(grid.sizes)  # the blocks tile the grid

    on_rank_zero(check)


def test_per_rank_output_resumes_on_another_rank_count(shared_dir):
    """2 ranks write 3, 1 rank resumes after write 1, then 2 ranks resume after all."""
    grid = make_grid("2d")
    fields = fields_for(grid, 5, seed=2)
    path = shared_dir / "run.h5"
    with Writer(path, grid, tasks_for(grid), {}, UNITS, "", mode="per_rank") as writer:
        write_fields(writer, grid, fields[:3], [0, 10, 20])

    def resume_on_one_rank():
        serial = make_grid("2d", comm=PETSc.COMM_SELF)
        with Writer(path, serial, tasks_for(serial), {}, UNITS, "", mode="auto",
                    resume=10) as writer:
            assert writer.count == 2
            write_fields(writer, serial, fields[3:4], [15])

    on_rank_zero(resume_on_one_rank)
    with Writer(path, grid, tasks_for(grid), {}, UNITS, "", mode="auto", resume=15) as writer:
        write_fields(writer, grid, fields[4:], [30])

    def check():
        expected = fields[[0, 1, 3, 4]]
        with h5py.File(path, "r") as h5:
            assert np.array_equal(h5["scales/iteration"][...], [0, 10, 15, 30])
            assert np.array_equal(h5["scales/write_number"][...], [0, 1, 2, 3])
            assert np.array_equal(h5["tasks/f"][...], expected)
            assert np.array_equal(h5["tasks/n"][...], expected[:, 0].sum(axis=2))
            assert h5.attrs["ranks"] == 2
        assert (path.parent / "run.ranks/from_write_000002/rank_00000.h5").is_file()
        assert (path.parent / "run.ranks/from_write_000003/rank_00001.h5").is_file()

    on_rank_zero(check)


@pytest.mark.parametrize("layout", ["2d", "3d"])
def test_checkpoint_written_on_two_ranks_reads_bitwise_on_one(shared_dir, layout):
    grid = make_grid(layout, dof=3)
    field = fields_for(grid, 1, seed=3)[0]
    path = shared_dir / "state.chk"
    write_checkpoint(path, grid, field_vec(grid, field), 2.5, 25, 0.1, "{}", {"mu": [0.3]})
    serial = make_grid(layout, comm=PETSc.COMM_SELF, dof=3)
    vec = serial.da.createGlobalVec()
    meta = read_checkpoint(path, serial, vec)  # every rank reads the file on its own
    assert serial.view(vec).tobytes() == field.tobytes()
    assert (meta["t"], meta["step"], meta["extra"]["mu"][0]) == (2.5, 25, 0.3)
    vec = grid.da.createGlobalVec()
    read_checkpoint(path, grid, vec)
    block = (slice(None),) + tuple(slice(s, e) for s, e in grid.ranges)
    assert grid.view(vec).tobytes() == np.ascontiguousarray(field[block]).tobytes()

    def check():
        with h5py.File(path, "r") as h5:
            assert h5.attrs["ranks"] == 2

    on_rank_zero(check)


def test_a_refusal_on_rank_zero_raises_on_every_rank(shared_dir):
    grid = make_grid("2d")
    write_checkpoint(shared_dir / "state.chk", grid, grid.da.createGlobalVec(), 0.0, 0, 0.1, "{}")
    with Writer(shared_dir / "run.h5", grid, tasks_for(grid), {}, UNITS, "", mode="per_rank"):
        pass
    other = PhaseSpaceGrid([LAYOUTS["2d"][0], Axis.uniform("k", -np.pi, np.pi, 11)], dof=2)
    with pytest.raises(CheckpointError, match="axis k: 10 cells stored, grid has 11"):
        read_checkpoint(shared_dir / "state.chk", other, other.da.createGlobalVec())
    with pytest.raises(ValueError, match="grid differs .axis k: 10 cells stored"):
        Writer(shared_dir / "run.h5", other, tasks_for(other), {}, UNITS, "", resume=0)


@pytest.mark.parametrize("kind", ["k_distributed", "real_space"])
@pytest.mark.parametrize("layout", ["2d", "3d"])
def test_two_rank_constants_are_assembled_from_the_owned_blocks(shared_dir, layout, kind):
    """A k-only array (band energies) and an x-only one (the potential), given as each rank's
    owned block, come out whole in /model, on a layout splitting k and on one splitting x."""
    k = [Axis.uniform(name, -np.pi, np.pi, 24) for name in ("kx", "ky")[:int(layout[0]) - 1]]
    grid = make_layout([Axis.uniform("x", 0.0, 30.0, 8)] + k, 2, 2, PETSc.COMM_WORLD, kind)
    rng = np.random.default_rng(3)  # the same arrays on every rank
    whole = {"energy": rng.standard_normal((3,) + tuple(grid.sizes[a] for a in grid.k_axes)),
             "potential": rng.standard_normal(tuple(grid.sizes[a] for a in grid.x_axes))}
    spans = {"energy": grid.k_axes, "potential": grid.x_axes}
    blocks = {name: whole[name][(...,) + tuple(slice(*grid.ranges[a]) for a in spans[name])]
              for name in whole}
    split = MPI.COMM_WORLD.allgather(blocks["energy"].size < whole["energy"].size)
    assert any(split) == (kind == "k_distributed")  # k really split (or not) across ranks
    dims = {name: (("band",) if name == "energy" else ()) + tuple(grid.names[a]
                                                                  for a in spans[name])
            for name in whole}
    constants = {name: (blocks[name], dims[name], "eV", {"note": name}) for name in whole}
    path = shared_dir / "run.h5"
    with Writer(path, grid, tasks_for(grid), {}, UNITS, "", mode="gathered",
                constants=constants):
        pass

    def check():
        with h5py.File(path, "r") as h5:
            for name, array in whole.items():
                np.testing.assert_array_equal(h5["model"][name][...], array)
                assert h5["model"][name].attrs["units"] == "eV"
                assert json.loads(h5["model"][name].attrs["dims"]) == list(dims[name])
                assert h5["model"][name].attrs["note"] == name
    on_rank_zero(check)


def test_two_rank_run_file_reads_like_the_one_rank_one(shared_dir):
    """A per_rank run on 2 ranks and a gathered one on 1 hold the same arrays (moyal.io):
    the /model arrays assembled from the ranks' blocks, the field history, every task."""
    from moyal.io import open_run
    from solvers import config
    from solvers.run import simulate

    tables = {"model": {"name": "chain"},
              "grid": {"x": "periodic", "nx": 8, "x_min": 0.0, "x_max": 10.0, "nk": [48]},
              "fields": {"E": 0.1, "ramp_time": 0.3,
                         "potential": [{"kind": "cosine", "amplitude": 0.2, "q": 0.6}]},
              "initial": {"mu": 0.1, "temperature": 1.0},
              "collisions": {"kind": "fixed", "tau": 1.0, "mu": -0.2, "temperature": 1.0},
              "run": {"t_end": 0.5, "output_every": 2, "progress_every": 10**6,
                      "overwrite": True, "output_dir": str(shared_dir)}}
    cfg = config.from_dict({**tables, "run": {**tables["run"], "output_mode": "per_rank"}})
    simulate(cfg, shared_dir / "par.h5", PETSc.COMM_WORLD, stream=None)

    def check():
        simulate(config.from_dict(tables), shared_dir / "ser.h5", PETSc.COMM_SELF, stream=None)
        with open_run(shared_dir / "par.h5") as par, open_run(shared_dir / "ser.h5") as ser:
            assert (par.mode, ser.mode) == ("per_rank", "gathered")
            assert {"energy", "f_eq", "potential", "field"} <= set(par.names)
            assert par.names == ser.names
            for name in par.names:
                np.testing.assert_allclose(par[name].values, ser[name].values, rtol=1e-12,
                                           atol=1e-15, err_msg=name)
    on_rank_zero(check)
