"""HDF5 output (gathered and per-rank virtual layouts, restarts) and atomic checkpoints."""

import json
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
from petsc4py import PETSc

from solvers import checkpoint
from solvers.checkpoint import CheckpointError, read_checkpoint, write_checkpoint
from solvers.grid import Axis, PhaseSpaceGrid
from solvers.output import GATHER_LIMIT, Writer, plan_segments, resolve_mode

UNITS = {"energy": "eV", "length": "nm"}
AXES = {"x": (0.0, 50.0), "k": (-np.pi, np.pi), "kx": (-np.pi, np.pi), "ky": (-1.0, 1.0)}
LAYOUTS = {"1d": (("k", 10),), "2d": (("x", 6), ("k", 8)), "2dk": (("kx", 5), ("ky", 7)),
           "3d": (("x", 4), ("kx", 5), ("ky", 6))}


def make_grid(layout, dof=2, comm=PETSc.COMM_SELF):
    axes = [Axis.uniform(name, *AXES[name], n) for name, n in layout]
    return PhaseSpaceGrid(axes, dof=dof, stencil_width=2, comm=comm)


def field_vec(grid, field):
    """A Vec on ``grid`` whose owned block is the block of the global ``field``."""
    vec = grid.da.createGlobalVec()
    block = (slice(None),) + tuple(slice(s, e) for s, e in grid.ranges)
    grid.view(vec)[...] = field[block]
    return vec


def tasks_for(grid):
    return {"f": ("phase_space", (grid.dof,) + grid.sizes, "occupation"),
            "density": ("global", (grid.sizes[0],), "1/nm"),
            "mu": ("global", (), "eV")}


def random_series(grid, n, seed):
    """``n`` random fields ``(n, dof, *sizes)`` and densities ``(n, n_0)``."""
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((n, grid.dof) + grid.sizes),
            rng.standard_normal((n, grid.sizes[0])))


def write_series(writer, grid, iterations, seed=0):
    """Write :func:`random_series` at ``iterations``; returns the fields and densities."""
    fields, densities = random_series(grid, len(iterations), seed)
    for it, field, density in zip(iterations, fields, densities):
        writer.write(0.5 * it, it, phase_space={"f": field_vec(grid, field)},
                     globals={"density": density, "mu": float(it)})
    return fields, densities


def test_auto_mode_gathers_up_to_the_limit_and_splits_above():
    assert resolve_mode("auto", GATHER_LIMIT) == "gathered"
    assert resolve_mode("auto", GATHER_LIMIT + 1) == "per_rank"
    assert resolve_mode("per_rank", 10) == "per_rank"
    with pytest.raises(ValueError, match="mode"):
        resolve_mode("parallel", 10)


@pytest.mark.parametrize("mode", ["gathered", "per_rank"])
@pytest.mark.parametrize("layout", LAYOUTS, ids=list(LAYOUTS))
def test_layout_stores_every_write_exactly(tmp_path, layout, mode):
    grid = make_grid(LAYOUTS[layout])
    path = tmp_path / "run.h5"
    config = {"run": {"name": "run"}, "grid": {"n": list(grid.sizes)}}
    with Writer(path, grid, tasks_for(grid), config, UNITS, "-ts_type rk", mode=mode) as w:
        fields, densities = write_series(w, grid, [0, 10, 20])
    with h5py.File(path, "r") as h5:
        assert h5.attrs["mode"] == mode and h5.attrs["ranks"] == 1
        assert json.loads(h5.attrs["config"]) == config
        assert json.loads(h5.attrs["units"]) == UNITS
        assert json.loads(h5.attrs["axes"]) == [name for name, _ in LAYOUTS[layout]]
        assert h5.attrs["petsc_options"] == "-ts_type rk"
        assert np.array_equal(h5["scales/iteration"][...], [0, 10, 20])
        assert np.array_equal(h5["scales/write_number"][...], [0, 1, 2])
        assert np.array_equal(h5["scales/t"][...], [0.0, 5.0, 10.0])
        assert h5["scales/t"].attrs["units"] == "hbar/eV"
        assert h5["tasks/f"].is_virtual == (mode == "per_rank")
        assert np.array_equal(h5["tasks/f"][...], fields)
        assert np.array_equal(h5["tasks/density"][...], densities)
        assert np.array_equal(h5["tasks/mu"][...], [0.0, 10.0, 20.0])
        assert h5["tasks/f"].attrs["units"] == "occupation"
        for axis in grid.axes:
            assert np.array_equal(h5[f"grid/{axis.name}_edges"][...], axis.edges)
            assert np.array_equal(h5[f"grid/{axis.name}"][...], axis.centres)
            unit = "nm" if axis.name == "x" else "1/nm"
            assert h5[f"grid/{axis.name}"].attrs["units"] == unit
    assert (tmp_path / "run.ranks").exists() == (mode == "per_rank")


def test_per_rank_block_file_and_relative_sources_survive_a_move(tmp_path, monkeypatch):
    grid = make_grid(LAYOUTS["3d"])
    (tmp_path / "out").mkdir()
    with Writer(tmp_path / "out/run.h5", grid, tasks_for(grid), {}, UNITS, "",
                mode="per_rank") as w:
        fields, _ = write_series(w, grid, [1, 2])
    with h5py.File(tmp_path / "out/run.ranks/rank_00000.h5", "r") as h5:
        assert np.array_equal(h5.attrs["ranges"], [[0, 4], [0, 5], [0, 6]])
        assert np.array_equal(h5["scales/iteration"][...], [1, 2])
        assert np.array_equal(h5["tasks/f"][...], fields)
    shutil.move(tmp_path / "out", tmp_path / "moved")
    monkeypatch.chdir(tmp_path.parent)  # relative source names must resolve from the file, not cwd
    with h5py.File(tmp_path / "moved/run.h5", "r") as h5:
        sources = {s.file_name for s in h5["tasks/f"].virtual_sources()}
        assert sources == {"run.ranks/rank_00000.h5"}
        assert np.array_equal(h5["tasks/f"][...], fields)


READER = """
import sys, h5py
with h5py.File(sys.argv[1], "r", locking=False) as h5:
    print(h5["tasks/f"].shape[0], h5["scales/t"].shape[0], float(h5["tasks/f"][-1].sum()))
"""


def test_virtual_dataset_grows_while_the_run_is_writing(tmp_path):
    grid = make_grid(LAYOUTS["2d"])
    path = tmp_path / "run.h5"

    def read_in_another_process():
        out = subprocess.run([sys.executable, "-c", READER, str(path)], capture_output=True,
                             text=True, check=True).stdout.split()
        return int(out[0]), int(out[1]), float(out[2])

    with Writer(path, grid, tasks_for(grid), {}, UNITS, "", mode="per_rank") as w:
        fields, _ = write_series(w, grid, [0], seed=1)
        n_f, n_t, total = read_in_another_process()
        assert (n_f, n_t) == (1, 1) and total == pytest.approx(fields[-1].sum(), rel=1e-12)
        fields, _ = write_series(w, grid, [5], seed=2)
        n_f, n_t, total = read_in_another_process()
        assert (n_f, n_t) == (2, 2) and total == pytest.approx(fields[-1].sum(), rel=1e-12)


KILLED_RUN = """
import os, signal, sys
sys.path.insert(0, sys.argv[2])
import test_output as t
from solvers.output import Writer
grid = t.make_grid(t.LAYOUTS["2d"])
for mode in ("gathered", "per_rank"):
    writer = Writer(os.path.join(sys.argv[1], mode + ".h5"), grid, t.tasks_for(grid), {},
                    t.UNITS, "", mode=mode)
    t.write_series(writer, grid, [0, 1], seed=9)
os.kill(os.getpid(), signal.SIGKILL)  # no close, no interpreter shutdown
"""


def test_every_write_is_readable_after_a_kill(tmp_path):
    run = subprocess.run([sys.executable, "-c", KILLED_RUN, str(tmp_path),
                          str(Path(__file__).parent)], capture_output=True, text=True)
    assert run.returncode == -signal.SIGKILL, run.stderr
    expected, _ = random_series(make_grid(LAYOUTS["2d"]), 2, seed=9)
    for mode in ("gathered", "per_rank"):
        with h5py.File(tmp_path / f"{mode}.h5", "r") as h5:
            assert np.array_equal(h5["scales/iteration"][...], [0, 1])
            assert np.array_equal(h5["tasks/f"][...], expected)


@pytest.mark.parametrize("mode", ["gathered", "per_rank"])
def test_resume_drops_later_writes_and_continues_numbering(tmp_path, mode):
    grid = make_grid(LAYOUTS["2d"])
    path = tmp_path / "run.h5"
    with Writer(path, grid, tasks_for(grid), {}, UNITS, "", mode=mode) as w:
        first, _ = write_series(w, grid, [0, 10, 20, 30], seed=3)
    with Writer(path, grid, tasks_for(grid), {}, UNITS, "", mode="auto", resume=15) as w:
        assert w.mode == mode and w.count == 2
        later, _ = write_series(w, grid, [25], seed=4)
    with h5py.File(path, "r") as h5:
        assert np.array_equal(h5["scales/iteration"][...], [0, 10, 25])
        assert np.array_equal(h5["scales/write_number"][...], [0, 1, 2])
        assert np.array_equal(h5["tasks/mu"][...], [0.0, 10.0, 25.0])
        assert np.array_equal(h5["tasks/f"][...], np.concatenate([first[:2], later]))


def test_resume_refuses_another_grid_mode_or_a_missing_file(tmp_path):
    grid = make_grid(LAYOUTS["2d"])
    path = tmp_path / "run.h5"
    with Writer(path, grid, tasks_for(grid), {}, UNITS, "", mode="per_rank") as w:
        write_series(w, grid, [0])
    shifted = PhaseSpaceGrid([Axis.uniform("x", 0.0, 51.0, 6), grid.axes[1]], dof=2,
                             comm=PETSc.COMM_SELF)
    with pytest.raises(ValueError, match="grid differs .axis x: cell edges differ"):
        Writer(path, shifted, tasks_for(shifted), {}, UNITS, "", mode="auto", resume=0)
    with pytest.raises(ValueError, match="written in mode 'per_rank'"):
        Writer(path, grid, tasks_for(grid), {}, UNITS, "", mode="gathered", resume=0)
    with pytest.raises(FileNotFoundError, match="no such file"):
        Writer(tmp_path / "none.h5", grid, tasks_for(grid), {}, UNITS, "", resume=0)


@pytest.mark.parametrize("mode", ["gathered", "per_rank"])
def test_new_output_replaces_stale_rank_files_of_an_older_run(tmp_path, mode):
    grid = make_grid(LAYOUTS["1d"])
    stale = tmp_path / "run.ranks" / "from_write_000003"
    stale.mkdir(parents=True)
    (tmp_path / "run.ranks" / "rank_00007.h5").write_bytes(b"old")
    with Writer(tmp_path / "run.h5", grid, tasks_for(grid), {}, UNITS, "", mode=mode):
        pass
    left = sorted(p.name for p in (tmp_path / "run.ranks").glob("*"))
    assert left == (["rank_00000.h5"] if mode == "per_rank" else [])


def test_write_needs_every_task(tmp_path):
    grid = make_grid(LAYOUTS["1d"])
    with Writer(tmp_path / "run.h5", grid, tasks_for(grid), {}, UNITS, "") as w:
        with pytest.raises(ValueError, match="write needs"):
            w.write(0.0, 0, phase_space={"f": grid.da.createGlobalVec()}, globals={})


def test_segments_after_a_restart_on_another_decomposition():
    two = [[[0, 3], [0, 8]], [[3, 6], [0, 8]]]
    one = [[[0, 6], [0, 8]]]
    segments = [{"dir": "", "first_write": 0, "count": None, "blocks": two}]
    kept, dropped, continuing = plan_segments(segments, 4, one)
    assert not continuing and dropped == []
    assert [(s["first_write"], s["count"], s["dir"]) for s in kept] == \
        [(0, 4, ""), (4, None, "from_write_000004")]
    # restarting earlier than the second segment drops it and reopens the first
    kept, dropped, continuing = plan_segments(kept, 3, two)
    assert continuing and [s["first_write"] for s in dropped] == [4]
    assert [(s["first_write"], s["count"]) for s in kept] == [(0, None)]


# -- checkpoints -------------------------------------------------------------------------

def special_field(grid, seed=5):
    """Random values plus ones that a lossy path would change: subnormals, -0, huge."""
    field = np.random.default_rng(seed).standard_normal((grid.dof,) + grid.sizes)
    flat = field.reshape(-1)
    flat[:4] = [5e-324, -0.0, 1.7976931348623157e308, np.nextafter(1.0, 2.0)]
    return field


@pytest.mark.parametrize("layout", ["1d", "3d"])
def test_checkpoint_round_trip_is_bitwise(tmp_path, layout):
    grid = make_grid(LAYOUTS[layout], dof=3)
    field = special_field(grid)
    extra = {"mu": np.array([0.1, 1 / 3]), "n_events": 7, "beta": np.float64(np.pi)}
    path = tmp_path / "run.chk.h5"
    write_checkpoint(path, grid, field_vec(grid, field), 1 / 3, 42, 0.1 / 3, '{"a": 1}', extra)
    vec = grid.da.createGlobalVec()
    meta = read_checkpoint(path, grid, vec)
    assert grid.view(vec).tobytes() == field.tobytes()
    assert (meta["t"], meta["step"], meta["dt"]) == (1 / 3, 42, 0.1 / 3)
    assert meta["config"] == '{"a": 1}'
    assert meta["extra"]["mu"].tobytes() == extra["mu"].tobytes()
    assert meta["extra"]["n_events"] == 7 and meta["extra"]["beta"] == np.pi
    assert not path.with_suffix(".tmp").exists()


def test_a_kill_before_the_rename_leaves_the_last_good_checkpoint(tmp_path, monkeypatch):
    grid = make_grid(LAYOUTS["2d"])
    path = tmp_path / "run.chk"
    good = special_field(grid, seed=6)
    write_checkpoint(path, grid, field_vec(grid, good), 1.0, 10, 0.1, "{}")

    def killed(src, dst):
        raise KeyboardInterrupt("killed between the temporary write and the rename")

    monkeypatch.setattr(checkpoint.os, "replace", killed)
    with pytest.raises(KeyboardInterrupt):
        write_checkpoint(path, grid, field_vec(grid, special_field(grid, 7)), 2.0, 20, 0.1, "{}")
    monkeypatch.undo()
    assert path.with_suffix(".tmp").exists()  # the new state sits in the stale temporary
    vec = grid.da.createGlobalVec()
    assert read_checkpoint(path, grid, vec)["step"] == 10
    assert grid.view(vec).tobytes() == good.tobytes()
    # a torn temporary from a kill during the write is overwritten by the next checkpoint
    path.with_suffix(".tmp").write_bytes(b"\x89HDF\r\n torn")
    newer = special_field(grid, seed=8)
    write_checkpoint(path, grid, field_vec(grid, newer), 3.0, 30, 0.1, "{}")
    assert read_checkpoint(path, grid, vec)["step"] == 30
    assert grid.view(vec).tobytes() == newer.tobytes()


def test_checkpoint_on_another_grid_is_refused_in_one_line(tmp_path):
    grid = make_grid(LAYOUTS["2d"], dof=2)
    path = tmp_path / "run.chk"
    write_checkpoint(path, grid, field_vec(grid, special_field(grid)), 0.0, 0, 0.1, "{}")
    others = {
        "axis x: cell edges differ": [Axis.uniform("x", 0.0, 50.0 + 1e-9, 6), grid.axes[1]],
        "axis k: 8 cells stored, grid has 9": [grid.axes[0], Axis.uniform("k", -np.pi, np.pi, 9)],
        r"axes \('x', 'k'\) stored, grid has \('kx', 'ky'\)": make_grid(LAYOUTS["2dk"]).axes,
    }
    for message, axes in others.items():
        other = PhaseSpaceGrid(axes, dof=2, comm=PETSc.COMM_SELF)
        with pytest.raises(CheckpointError, match=f"run.chk is for another grid: {message}"):
            read_checkpoint(path, other, other.da.createGlobalVec())
    other = make_grid(LAYOUTS["2d"], dof=1)
    with pytest.raises(CheckpointError, match="dof 2 stored, grid has 1") as info:
        read_checkpoint(path, other, other.da.createGlobalVec())
    assert "\n" not in str(info.value)


def test_missing_or_corrupt_checkpoint_raises_checkpoint_error(tmp_path):
    grid = make_grid(LAYOUTS["1d"])
    vec = grid.da.createGlobalVec()
    with pytest.raises(CheckpointError, match="no such file"):
        read_checkpoint(tmp_path / "none.chk", grid, vec)
    (tmp_path / "garbage.chk").write_bytes(b"not an HDF5 file")
    with pytest.raises(CheckpointError, match="garbage.chk: unreadable"):
        read_checkpoint(tmp_path / "garbage.chk", grid, vec)
    write_checkpoint(tmp_path / "whole.chk", grid, vec, 0.0, 0, 0.1, "{}")
    data = (tmp_path / "whole.chk").read_bytes()
    (tmp_path / "torn.chk").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="torn.chk: unreadable"):
        read_checkpoint(tmp_path / "torn.chk", grid, vec)
    assert issubclass(CheckpointError, ValueError)
