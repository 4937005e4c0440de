"""Per-rank checkpoints: blocks and an index, atomic per generation, never gathered, restarted
on other rank counts (subprocesses under the venv's mpirun), refusals in one line."""

import os
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
from petsc4py import PETSc
from test_output import field_vec, special_field
from test_reliability import BASE, ROOT, one_line_error, snapshot

from solvers import checkpoint
from solvers.checkpoint import (CheckpointError, blocks_dir, block_paths, read_checkpoint,
                                write_checkpoint)
from solvers.grid import Axis, PhaseSpaceGrid
from solvers.run import checkpoint_path, main

MPIRUN = Path(sys.executable).parent / "mpirun"
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


def make_grid(dof=3, comm=PETSc.COMM_SELF):
    axes = [Axis.uniform("x", 0.0, 30.0, 6), Axis.uniform("kx", -np.pi, np.pi, 5),
            Axis.uniform("ky", -np.pi, np.pi, 4)]
    return PhaseSpaceGrid(axes, dof=dof, stencil_width=2, comm=comm)


def generations(path):
    return sorted(p.name for p in blocks_dir(path).iterdir())


def test_the_state_is_never_gathered_nor_scattered_from_one_rank(tmp_path, monkeypatch):
    def whole_state(*args):
        raise AssertionError("the whole state passed through one rank")

    monkeypatch.setattr(PhaseSpaceGrid, "gather", whole_state)
    monkeypatch.setattr(PhaseSpaceGrid, "scatter_from_zero", whole_state)
    grid = make_grid()
    field = special_field(grid, 1)
    path = tmp_path / "r.chk.h5"
    write_checkpoint(path, grid, field_vec(grid, field), 0.5, 10, 0.05, "{}", {"mu": 0.25})
    vec = grid.da.createGlobalVec()
    meta = read_checkpoint(path, grid, vec)
    assert grid.view(vec).tobytes() == field.tobytes()
    assert (meta["t"], meta["step"], meta["ranks"], meta["extra"]["mu"]) == (0.5, 10, 1, 0.25)


def test_index_names_one_fsynced_generation_of_blocks(tmp_path):
    grid = make_grid()
    path = tmp_path / "r.chk.h5"
    for step, seed in ((5, 2), (10, 3)):
        field = special_field(grid, seed)
        write_checkpoint(path, grid, field_vec(grid, field), 0.1 * step, step, 0.1, "{}")
    assert generations(path) == ["g000002"]  # the first generation is gone
    [block] = block_paths(path)
    assert block == tmp_path / "r.chk.ranks" / "g000002" / "rank_00000.h5"
    with h5py.File(block, "r") as h5:
        assert np.array_equal(h5.attrs["ranges"], [[0, 6], [0, 5], [0, 4]])
        assert h5["state"][...].tobytes() == field.tobytes()
    with h5py.File(path, "r") as h5:  # the index maps the blocks for readers (h5py, h5dump)
        assert h5["state"].is_virtual and h5["state"][...].tobytes() == field.tobytes()
        assert h5.attrs["format_version"] == 3 and h5.attrs["step"] == 10


@pytest.mark.parametrize("moment", ["writing a block", "before the rename",
                                    "removing the old generation"])
def test_a_kill_at_any_moment_leaves_the_previous_or_the_new_checkpoint(tmp_path, monkeypatch,
                                                                        moment):
    grid = make_grid()
    path = tmp_path / "r.chk.h5"
    old, new = special_field(grid, 4), special_field(grid, 5)
    write_checkpoint(path, grid, field_vec(grid, old), 1.0, 10, 0.1, "{}")

    def killed(*args, **kwargs):
        raise KeyboardInterrupt(f"killed while {moment}")

    target = {"writing a block": (checkpoint, "_fsync"),
              "before the rename": (checkpoint.os, "replace"),
              "removing the old generation": (checkpoint.shutil, "rmtree")}[moment]
    with monkeypatch.context() as patch:
        patch.setattr(*target, killed)
        with pytest.raises(KeyboardInterrupt):
            write_checkpoint(path, grid, field_vec(grid, new), 2.0, 20, 0.1, "{}")
    assert len(generations(path)) == 2  # the kill left both generations on disk
    vec = grid.da.createGlobalVec()
    step = read_checkpoint(path, grid, vec)["step"]
    expected = new if moment == "removing the old generation" else old
    assert step == (20 if expected is new else 10)
    assert grid.view(vec).tobytes() == expected.tobytes()
    newest = special_field(grid, 6)  # the next checkpoint removes what the kill left
    write_checkpoint(path, grid, field_vec(grid, newest), 3.0, 30, 0.1, "{}")
    assert generations(path) == ["g000003"] and not path.with_suffix(".tmp").exists()
    assert read_checkpoint(path, grid, vec)["step"] == 30
    assert grid.view(vec).tobytes() == newest.tobytes()


def test_a_failed_block_write_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    grid = make_grid()
    path = tmp_path / "r.chk.h5"
    old = special_field(grid, 7)
    write_checkpoint(path, grid, field_vec(grid, old), 1.0, 10, 0.1, "{}")
    before = snapshot(tmp_path)

    def full(target, nbytes):
        raise OSError(28, "No space left on device", str(target))

    monkeypatch.setattr(checkpoint, "ensure_space", full)
    with pytest.raises(OSError, match="No space left"):
        write_checkpoint(path, grid, field_vec(grid, special_field(grid, 8)), 2.0, 20, 0.1, "{}")
    after = snapshot(tmp_path)
    assert {k: v for k, v in after.items() if k != "r.chk.ranks"} == \
        {k: v for k, v in before.items() if k != "r.chk.ranks"}  # only the directory's mtime
    vec = grid.da.createGlobalVec()
    assert read_checkpoint(path, grid, vec)["step"] == 10
    assert grid.view(vec).tobytes() == old.tobytes()


def test_a_damaged_index_or_block_is_refused_in_one_line(tmp_path):
    grid = make_grid()
    path = tmp_path / "r.chk.h5"
    write_checkpoint(path, grid, field_vec(grid, special_field(grid, 9)), 1.0, 10, 0.1, "{}")
    vec = grid.da.createGlobalVec()
    with h5py.File(block_paths(path)[0], "r+") as h5:
        h5["state"][1, 2, 3, 1] = np.nextafter(h5["state"][1, 2, 3, 1], np.inf)  # one ulp
    with pytest.raises(CheckpointError, match="damaged: the sha256 of block rank_00000.h5"):
        read_checkpoint(path, grid, vec)
    write_checkpoint(path, grid, field_vec(grid, special_field(grid, 9)), 1.0, 10, 0.1, "{}")
    with h5py.File(path, "r+") as h5:
        h5.attrs["step"] = 11
    with pytest.raises(CheckpointError, match="damaged: the sha256 of its index") as info:
        read_checkpoint(path, grid, vec)
    assert "\n" not in str(info.value)


def test_the_single_file_format_of_earlier_versions_is_refused_in_one_line(tmp_path, capsys,
                                                                           monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "c.toml").write_text(BASE + "[initial]\ntemperature = 4.0\n[numerics]\ndt = 0.05\n")
    assert main(["c.toml"]) == 0
    chk = checkpoint_path(tmp_path / "out" / "r.h5")
    for child in blocks_dir(chk).iterdir():  # the layout of format_version 2: one file
        for block in child.iterdir():
            block.unlink()
        child.rmdir()
    blocks_dir(chk).rmdir()
    with h5py.File(chk, "w") as h5:
        h5["state"] = np.zeros((1, 16))
        h5["grid/k_edges"] = np.linspace(-np.pi, np.pi, 17)
        h5.attrs.update({"format_version": 2, "t": 0.5, "step": 10, "dt": 0.05, "dof": 1,
                         "axes": '["k"]', "config": "{}", "ranks": 1, "sha256": "0" * 64})
    capsys.readouterr()
    before = snapshot(tmp_path / "out")
    line = one_line_error(main(["c.toml", "run.restart=true", "run.t_end=1.0"]),
                          capsys.readouterr().err)
    assert "r.chk.h5 is in the single-file format (format_version 2)" in line, line
    assert snapshot(tmp_path / "out") == before


# -- restarts across rank counts, in subprocesses -------------------------------------------

# (x, k) phase space, so the decompositions on 1, 2 and 3 ranks split both axes differently
SPLIT = BASE.replace("nk = [16]", 'nk = [16]\nx = "periodic"\nnx = 24\nx_max = 30.0') + """
[fields]
E = 0.3
[initial]
kind = "packet"
x_center = 15.0
temperature = 4.0
[numerics]
dt = 0.05
"""


def mpirun(ranks, args, cwd):
    return subprocess.run([str(MPIRUN), "-n", str(ranks), sys.executable, "-m", "solvers.run",
                           "c.toml", "run.output_every=1", *args], cwd=cwd, capture_output=True, text=True, env=ENV,
                          timeout=180)


@pytest.fixture
def split_dir(tmp_path):
    (tmp_path / "c.toml").write_text(SPLIT)
    return tmp_path


def test_restarts_on_3_2_1_ranks_give_the_uninterrupted_state_bitwise(split_dir):
    """Stopped by the wall-time limit after one step on 2 ranks, after one more on 3, run to
    the end on 1: every write equals the uninterrupted run's bitwise. The rate of a cell reads
    only its neighbours and the Runge-Kutta stages are elementwise, so no sum runs over ranks
    and the decomposition does not change the arithmetic (checked: -n 1, 2, 3 agree bitwise).
    A stop by run.t_end would not do: its last step is shortened to land on t_end (PETSc's
    MATCHSTEP), which moves the state by an ulp against the uninterrupted run.
    """
    reference = mpirun(1, ["run.name=ref"], split_dir)
    assert reference.returncode == 0, reference.stderr
    chk = checkpoint_path(split_dir / "out" / "r.h5")
    for ranks, step, args in ((2, 1, ["run.stop_wall_time=1e-9"]),
                              (3, 2, ["run.stop_wall_time=1e-9", "run.restart=true"]),
                              (1, 10, ["run.restart=true"])):
        proc = mpirun(ranks, args, split_dir)
        assert proc.returncode == (0 if step == 10 else 3), proc.stderr
        with h5py.File(chk, "r") as h5:
            assert (h5.attrs["ranks"], h5.attrs["step"]) == (ranks, step)
    with h5py.File(split_dir / "out" / "ref.h5", "r") as ref, \
            h5py.File(split_dir / "out" / "r.h5", "r") as got:
        assert np.array_equal(got["scales/iteration"][...], np.arange(11))
        assert np.array_equal(got["scales/iteration"][...], ref["scales/iteration"][...])
        assert got["tasks/f"][...].tobytes() == ref["tasks/f"][...].tobytes()
        assert got["tasks/f"][-1].std() > 0  # a state that moved, not a constant


def test_a_damaged_block_of_a_two_rank_checkpoint_is_refused_on_one_rank(split_dir):
    first = mpirun(2, ["run.stop_wall_time=1e-9"], split_dir)
    assert first.returncode == 3, first.stderr
    chk = checkpoint_path(split_dir / "out" / "r.h5")
    block = block_paths(chk)[1]
    with h5py.File(block, "r") as h5:
        start = h5["state"].id.get_offset() + h5["state"].id.get_storage_size() // 2
    with open(block, "r+b") as stream:
        stream.seek(start)
        byte = stream.read(1)
        stream.seek(start)
        stream.write(bytes([byte[0] ^ 0x01]))
    before = snapshot(split_dir / "out")
    proc = mpirun(1, ["run.restart=true"], split_dir)
    line = one_line_error(proc.returncode, proc.stderr)
    assert "r.chk.h5 is damaged: the sha256 of block rank_00001.h5" in line, line
    assert snapshot(split_dir / "out") == before
