"""moyal.io reads run, response and checkpoint files into labelled arrays (docs/output.md).

Tiny runs are made in-process; every array the reader returns is compared with an
independent h5py read of the same dataset, its dims and coordinates with the grid, its units
with the stored attribute; the arrays the run file carries for post-processing (band
energies, equilibrium, potential, field history) with their closed forms.
"""

import json
import shutil
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
from petsc4py import PETSc

from moyal.io import Labelled, component_labels, open_checkpoint, open_response, open_run
from solvers import config
from solvers.run import checkpoint_path, output_paths, run_all, simulate

QUIET = {"progress_every": 100000, "overwrite": True}
AMPLITUDE, Q = 0.2, 2 * np.pi / 10.0
XK = {"model": {"name": "chain"},
      "grid": {"x": "periodic", "nx": 8, "x_min": 0.0, "x_max": 10.0, "nk": [32]},
      "fields": {"E": 0.1, "ramp_time": 0.3,
                 "potential": [{"kind": "cosine", "amplitude": AMPLITUDE, "q": Q}]},
      "initial": {"mu": 0.1, "temperature": 1.0},
      "collisions": {"kind": "fixed", "tau": 1.0, "mu": -0.2, "temperature": 0.8},
      "run": {"t_end": 0.5, "output_every": 2}}
T1, T2 = 1.0, 0.5  # the ssh model's defaults
MATRIX = {"model": {"name": "ssh"}, "mode": {"kind": "matrix"}, "grid": {"nk": [16]},
          "fields": {"E": 0.05}, "initial": {"mu": 0.2, "temperature": 1.0},
          "collisions": {"kind": "fixed", "tau": 1.0, "mu": 0.2, "temperature": 1.0},
          "run": {"t_end": 0.3, "output_every": 2}}
OMEGA = 2.0
AC = {"model": {"name": "chain"}, "grid": {"nk": [32]},
      "fields": {"E_ac": 0.01, "omega": OMEGA},
      "initial": {"mu": -0.5, "temperature": 1.0},
      "collisions": {"kind": "fixed", "tau": 1.0, "mu": -0.5, "temperature": 1.0},
      "run": {"t_end": 2.2 * 2 * np.pi / OMEGA, "output_every": 4}}
SWEEP = {"model": {"name": "chain"}, "grid": {"nk": [32]}, "fields": {"E": 0.02},
         "initial": {"mu": -0.5, "temperature": 1.0},
         "collisions": {"kind": "fixed", "tau": 1.0, "mu": -0.5, "temperature": 1.0},
         "response": {"scales": [1, -1], "average_window": 0.5},
         "run": {"t_end": 2.0, "output_every": 5}}


def fermi(eps, mu, temperature):
    return 1.0 / (np.exp((eps - mu) / temperature) + 1.0)


def make(directory, name, tables, **run):
    tables = {**tables, "run": {**QUIET, **tables["run"], **run, "name": name,
                                "output_dir": str(directory)}}
    return config.from_dict(tables)


def simulate_to(directory, name, tables, **run):
    cfg = make(directory, name, tables, **run)
    out = Path(directory) / f"{name}.h5"
    summary, final = simulate(cfg, out, PETSc.COMM_SELF, stream=None)
    assert summary["status"] == "finished"
    return out, final


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    directory = tmp_path_factory.mktemp("io")
    files = {}
    for name, tables, run in (("xk", XK, {}), ("xk_ranks", XK, {"output_mode": "per_rank"}),
                              ("matrix", MATRIX, {}), ("ac", AC, {})):
        files[name], files[f"{name}_final"] = simulate_to(directory, name, tables, **run)
    cfg = make(directory, "sweep", SWEEP)
    summaries, _ = run_all(cfg, output_paths(cfg), PETSc.COMM_SELF, stream=None)
    assert all(s["status"] == "finished" for s in summaries)
    files["response"] = output_paths(cfg)["response"]
    return files


def raw(path, name):
    """The dataset ``name`` of a run file read with h5py alone: tasks cut to the complete
    writes, the harmonics as re + i im."""
    with h5py.File(path, "r", locking=False) as h5:
        if name == "current_harmonic":
            group = h5["analysis"]
            return group["current_harmonic_re"][...] + 1j * group["current_harmonic_im"][...]
        if name in h5["tasks"]:
            n = min([h5["scales/t"].shape[0]] + [d.shape[0] for d in h5["tasks"].values()])
            return h5["tasks"][name][:n]
        return h5["model"][name][...]


@pytest.mark.parametrize("kind", ["xk", "xk_ranks", "matrix", "ac"])
def test_every_array_equals_the_raw_dataset_with_grid_coordinates(runs, kind):
    path = runs[kind]
    with open_run(path) as run, h5py.File(path, "r", locking=False) as h5:
        assert run.names, run
        assert run.axes == tuple(json.loads(h5.attrs["axes"]))
        np.testing.assert_array_equal(run.t, h5["scales/t"][: run.n_writes])
        for name in run.names:
            array = run[name]
            np.testing.assert_array_equal(array.values, raw(path, name), err_msg=name)
            assert len(array.dims) == array.values.ndim, name
            for dim in array.dims:
                if dim in run.axes:  # a phase-space axis: centres and edges of /grid
                    np.testing.assert_array_equal(array.coords[dim], h5["grid"][dim][...])
                    np.testing.assert_array_equal(array.edges[dim],
                                                  h5["grid"][f"{dim}_edges"][...])
                    np.testing.assert_allclose(array.widths(dim),
                                               np.diff(h5["grid"][f"{dim}_edges"][...]))
            if "t" in array.dims:
                assert array.dims[0] == "t"
                np.testing.assert_array_equal(array.coords["t"], run.t)
            stored = (h5["analysis/current_harmonic_re"] if name == "current_harmonic"
                      else h5["tasks"][name] if name in h5["tasks"] else h5["model"][name])
            assert array.units == stored.attrs["units"] and array.units, name
        for name in ("iteration", "write_number"):  # counts say so too
            assert h5["scales"][name].attrs["units"] == "1"


def test_dims_name_the_axes_of_each_array(runs):
    with open_run(runs["xk"]) as run:
        assert run.axes == ("x", "kx")
        assert run["f"].dims == ("t", "band", "x", "kx")
        assert run["density"].dims == ("t", "x")
        assert run["current"].dims == ("t", "direction", "x")
        assert list(run["current"].coords["direction"]) == ["x"]
        assert run["field"].dims == ("t", "direction")
        assert run["energy"].dims == ("band", "kx")
        assert run["f_eq"].dims == ("band", "kx")
        assert run["potential"].dims == ("x",)
        assert run.read("f", -1).dims == ("band", "x", "kx")
        assert run["f"].shape == (run.n_writes, 1, 8, 32)
    with open_run(runs["matrix"]) as run:
        assert run["f"].dims == ("t", "component", "kx")
        assert list(run["f"].coords["component"]) == ["F00", "F11", "Re F01", "Im F01"]
        assert run["band_population"].dims == ("t", "band", "x")  # x: the sample, no axis
        assert "x" not in run["density"].coords
        assert run["energy"].dims == ("band", "kx")
        assert "potential" not in run  # no x axis


def test_write_selection_reads_the_same_values(runs):
    with open_run(runs["ac"]) as run, h5py.File(runs["ac"], "r", locking=False) as h5:
        n = run.n_writes
        assert n >= 4
        picked = run.read("current", slice(n - 1, 0, -2))
        np.testing.assert_array_equal(picked.values, h5["tasks/current"][:n][n - 1:0:-2])
        np.testing.assert_array_equal(picked.coords["t"], h5["scales/t"][:n][n - 1:0:-2])
        assert run.read("current", slice(0, 0)).shape == (0, 1, 1)
        with pytest.raises(KeyError, match="expected one of"):
            run.read("nonsense")


def test_model_arrays_are_the_closed_forms(runs):
    """eps = -2 cos k (chain), f_eq = Fermi-Dirac at the relaxation's mu and T, V = A cos(q x)
    at the x centres, E(t) = E sin^2(pi t / (2 ramp)) during the ramp."""
    with open_run(runs["xk"]) as run:
        k, x = run.centres["kx"], run.centres["x"]
        energy, f_eq, potential, field = run["energy"], run["f_eq"], run["potential"], \
            run["field"]
        assert energy.units == "eV" and potential.units == "eV"
        assert list(energy.coords["band"]) == [0]
        np.testing.assert_allclose(energy.values[0], -2 * np.cos(k), rtol=0, atol=1e-14)
        assert f_eq.attrs == {"mu": -0.2, "temperature": 0.8, "source": "collisions"}
        np.testing.assert_allclose(f_eq.values[0], fermi(-2 * np.cos(k), -0.2, 0.8),
                                   rtol=1e-14, atol=1e-15)
        np.testing.assert_allclose(potential.values, AMPLITUDE * np.cos(Q * x), rtol=0,
                                   atol=1e-15)
        ramp = np.where(run.t < 0.3, np.sin(0.5 * np.pi * run.t / 0.3) ** 2, 1.0)
        np.testing.assert_allclose(field.values[:, 0], 0.1 * ramp, rtol=1e-14, atol=1e-17)
        assert field.values[0, 0] == 0.0 and field.values[-1, 0] == pytest.approx(0.1)
        assert field.units.endswith("eV/(e nm)")
    with open_run(runs["ac"]) as run:
        np.testing.assert_allclose(run["field"].values[:, 0], 0.01 * np.cos(OMEGA * run.t),
                                   rtol=1e-13, atol=1e-17)


def test_matrix_mode_energies_are_the_eigenvalues_of_h0(runs):
    """SSH: eps = +-|t1 + t2 e^{ik}|; tr F_eq = sum_n f0(eps_n) (basis independent)."""
    with open_run(runs["matrix"]) as run:
        k = run.centres["kx"]
        gap = np.sqrt(T1 ** 2 + T2 ** 2 + 2 * T1 * T2 * np.cos(k))
        np.testing.assert_allclose(run["energy"].values, [-gap, gap], rtol=0, atol=1e-14)
        f_eq = run["f_eq"]
        assert f_eq.dims == ("component", "kx")
        np.testing.assert_allclose(f_eq.values[0] + f_eq.values[1],
                                   fermi(-gap, 0.2, 1.0) + fermi(gap, 0.2, 1.0), rtol=1e-14)


def test_per_rank_file_reads_like_the_gathered_one(runs):
    with open_run(runs["xk"]) as gathered, open_run(runs["xk_ranks"]) as ranks:
        assert (gathered.mode, ranks.mode) == ("gathered", "per_rank")
        assert gathered.names == ranks.names
        np.testing.assert_array_equal(gathered.t, ranks.t)
        for name in gathered.names:
            a, b = gathered[name], ranks[name]
            np.testing.assert_array_equal(a.values, b.values, err_msg=name)
            assert (a.dims, a.units) == (b.dims, b.units)


def test_per_rank_file_is_read_from_another_working_directory(runs, tmp_path, monkeypatch):
    """The virtual dataset's sources are found beside the file, not in the current directory."""
    moved = tmp_path / "moved"
    moved.mkdir()
    shutil.copy(runs["xk_ranks"], moved / "xk_ranks.h5")
    shutil.copytree(runs["xk_ranks"].parent / "xk_ranks.ranks", moved / "xk_ranks.ranks")
    monkeypatch.chdir(tmp_path)
    with open_run(moved / "xk_ranks.h5") as run, open_run(runs["xk"]) as gathered:
        np.testing.assert_array_equal(run["f"].values, gathered["f"].values)


def test_incomplete_last_write_is_left_out(runs, tmp_path):
    """A reader racing the writer can see one more /scales entry than task rows."""
    copy = tmp_path / "racing.h5"
    shutil.copy(runs["ac"], copy)
    with h5py.File(copy, "a") as h5:
        n = h5["scales/t"].shape[0]
        h5["scales/t"].resize((n + 1,))
        h5["scales/t"][-1] = 1e9
    with open_run(copy) as run:
        assert run.n_writes == n and run.t[-1] < 1e9
        assert run["current"].shape[0] == n


def test_harmonics_are_complex_with_the_current_units(runs):
    with open_run(runs["ac"]) as run:
        harmonic = run["current_harmonic"]
        assert harmonic.dims == ("harmonic", "direction", "x")
        assert list(harmonic.coords["harmonic"]) == [0, 1, 2]
        assert harmonic.units == run["current"].units
        assert np.iscomplexobj(harmonic.values)


def test_config_and_units_come_from_the_file(runs):
    with open_run(runs["xk"]) as run:
        assert run.config["model"]["name"] == "chain"
        assert run.config["grid"]["nx"] == 8
        assert run.units == {"energy": "eV", "length": "nm"}
        assert run["f"].coord_units == {"t": "hbar/eV", "x": "nm", "kx": "1/nm"}


def test_checkpoint_is_the_final_state(runs):
    for kind in ("xk", "xk_ranks", "matrix"):
        chk = open_checkpoint(checkpoint_path(runs[kind]))
        np.testing.assert_array_equal(chk.state.values, runs[f"{kind}_final"])
        with open_run(runs[kind]) as run:
            assert chk.t == pytest.approx(run.t[-1], rel=1e-15)
            assert chk.step == run.iteration[-1]
            assert chk.axes == run.axes
            assert chk.state.dims == run["f"].dims[1:]
            for axis in run.axes:
                np.testing.assert_array_equal(chk.state.edges[axis], run.edges[axis])
                np.testing.assert_allclose(chk.state.coords[axis], run.centres[axis],
                                           rtol=0, atol=1e-15)
            np.testing.assert_array_equal(chk.state.values, run.read("f", -1).values)
        assert chk.config == run.config


def test_checkpoint_with_a_missing_block_cell_is_refused(runs, tmp_path):
    source = checkpoint_path(runs["xk"])
    shutil.copy(source, tmp_path / source.name)
    blocks = source.parent / (source.name[:-3] + ".ranks")
    shutil.copytree(blocks, tmp_path / blocks.name)
    (block,) = (tmp_path / blocks.name).rglob("rank_*.h5")
    with h5py.File(block, "a") as h5:
        h5["state"][0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="do not cover every cell"):
        open_checkpoint(tmp_path / source.name)


def test_response_arrays_and_units(runs):
    path = runs["response"]
    response = open_response(path)
    with h5py.File(path, "r", locking=False) as h5:
        for name in ("steady_current", "sigma1", "sigma2"):
            np.testing.assert_array_equal(getattr(response, name).values, h5[name][...])
        np.testing.assert_array_equal(response.scales, h5["scales"][...])
        assert response.field_strength == h5["field_strength"][()]
        has_prediction = "predicted_sigma1" in h5
        # every array of the file says its unit itself (the reader falls back to the run
        # files' names only for files of earlier versions)
        written = {name: h5[name].attrs["units"] for name in h5 if name != "runs"}
    assert written == {"scales": "1", "field_direction": "1", "field_strength": "eV/(e nm)",
                       "steady_current": "e eV nm^0/hbar", "sigma1": "e^2/hbar nm^1",
                       "predicted_sigma1": "e^2/hbar nm^1", "sigma2": "e^3 nm^2/(hbar eV)",
                       "predicted_sigma2": "e^3 nm^2/(hbar eV)"}
    assert has_prediction  # band mode without x, fixed relaxation
    assert response.predicted_sigma1.units == response.sigma1.units
    # dk = 1, eV and nm: sigma1 in e^2/hbar nm, sigma2 in e^3 nm^2/(hbar eV)
    assert response.sigma1.units == "e^2/hbar nm^1"
    assert response.sigma2.units == "e^3 nm^2/(hbar eV)"
    assert response.steady_current.units == "e eV nm^0/hbar"
    assert response.steady_current.dims == ("run", "direction")
    assert [p.name for p in response.runs] == ["sweep_s+1.h5", "sweep_s-1.h5"]
    assert all(p.is_file() for p in response.runs)
    assert "sigma1" in response.text
    assert response.sigma1.values[0] > 0  # Drude: sigma1 = tau int dk/2pi v^2 (-f0') > 0


def test_to_xarray_names_pip_install_when_xarray_is_missing(runs, monkeypatch):
    monkeypatch.setitem(sys.modules, "xarray", None)  # import xarray -> ImportError
    with open_run(runs["xk"]) as run:
        with pytest.raises(ImportError) as info:
            run["density"].to_xarray()
    message = str(info.value)
    assert "pip install xarray" in message and "\n" not in message


def test_xarray_arguments_map_dims_coords_and_widths(runs):
    """What to_xarray feeds to xarray.DataArray, checked without xarray; with xarray
    installed, the DataArray built from it."""
    with open_run(runs["xk"]) as run:
        f = run["f"]
    arguments = f.xarray_arguments()
    assert arguments["data"] is f.values
    assert arguments["dims"] == ("t", "band", "x", "kx")
    assert arguments["name"] == "f"
    assert arguments["attrs"]["units"] == f.units
    np.testing.assert_array_equal(arguments["attrs"]["x_edges"], f.edges["x"])
    coords = arguments["coords"]
    assert set(coords) == {"t", "band", "x", "kx", "x_width", "kx_width"}
    for name, (dim, values, attrs) in coords.items():
        assert dim in f.dims
        assert np.shape(values) == (f.values.shape[f.dims.index(dim)],), name
    np.testing.assert_array_equal(coords["x_width"][1], np.diff(f.edges["x"]))
    assert coords["kx"][2] == {"units": "1/nm"}
    assert coords["t"][2] == {"units": "hbar/eV"}
    try:
        import xarray  # noqa: F401 -- optional
    except ImportError:
        return
    array = f.to_xarray()
    assert array.dims == f.dims
    np.testing.assert_array_equal(array.values, f.values)
    np.testing.assert_array_equal(array["x_width"].values, np.diff(f.edges["x"]))


def test_labelled_refuses_inconsistent_shapes():
    with pytest.raises(ValueError, match="dims"):
        Labelled(np.zeros((2, 3)), ("a",))
    with pytest.raises(ValueError, match="coordinate 'a'"):
        Labelled(np.zeros((2, 3)), ("a", "b"), coords={"a": np.zeros(3)})
    with pytest.raises(ValueError, match="edges of 'b'"):
        Labelled(np.zeros((2, 3)), ("a", "b"), edges={"b": np.zeros(3)})


def test_component_labels_follow_the_packing():
    assert list(component_labels(3)) == ["F00", "F11", "F22", "Re F01", "Im F01", "Re F02",
                                         "Im F02", "Re F12", "Im F12"]


def docs_section(title: str) -> str:
    """The indented code blocks of a section of docs/output.md, joined."""
    text = (Path(__file__).resolve().parents[1] / "docs/output.md").read_text()
    section = text.split(f"## {title}\n", 1)[1].split("\n## ", 1)[0]
    blocks, block = [], []
    for line in section.splitlines():
        if line.startswith("    ") or (block and not line.strip()):
            block.append(line[4:])
        elif block:
            blocks.append("\n".join(block))
            block = []
    return "\n".join(blocks + ["\n".join(block)])


def test_reading_section_of_the_docs_runs(runs, capsys):
    code = docs_section("Reading files in Python")
    assert "open_run" in code and "open_response" in code and "open_checkpoint" in code
    for placeholder, path in (("output/NAME.h5", runs["xk"]),
                              ("output/NAME.chk.h5", checkpoint_path(runs["xk"])),
                              ("output/NAME_response.h5", runs["response"])):
        assert placeholder in code
        code = code.replace(placeholder, str(path))
    exec(compile(code, "docs/output.md", "exec"), {})  # noqa: S102 -- the docs' own example
    printed = capsys.readouterr().out
    assert "Run(" in printed and "e^2/hbar nm^1" in printed


def test_potential_and_dims_of_an_xy_run(tmp_path):
    """(x, y, kx, ky): V(x, y) = A cos(q x) + B cos(p y) at the cell centres, and the dims."""
    tables = {"model": {"name": "qwz"},
              "grid": {"x": "periodic", "nx": 8, "y": "periodic", "ny": 8, "x_min": 0.0,
                       "x_max": 4.0, "y_min": 0.0, "y_max": 6.0, "nk": [8, 8]},
              "fields": {"E": [0.1, 0.0], "potential": [
                  {"kind": "cosine", "amplitude": 0.2, "q": 1.0},
                  {"kind": "cosine", "amplitude": 0.1, "q": 0.5, "axis": "y"}]},
              "initial": {"mu": 0.0, "temperature": 2.0},
              "run": {"t_end": 0.05, "output_every": 5}}
    path, _ = simulate_to(tmp_path, "xy", tables)
    with open_run(path) as run:
        x, y = run.centres["x"], run.centres["y"]
        potential = run["potential"]
        assert potential.dims == ("x", "y")
        np.testing.assert_allclose(potential.values, 0.2 * np.cos(x)[:, None]
                                   + 0.1 * np.cos(0.5 * y)[None, :], rtol=0, atol=1e-15)
        assert run["f"].dims == ("t", "band", "x", "y", "kx", "ky")
        assert run["current"].dims == ("t", "direction", "x", "y")
        assert list(run["current"].coords["direction"]) == ["x", "y"]
        assert run["energy"].dims == ("band", "kx", "ky")
        np.testing.assert_array_equal(run["field"].values, [[0.1, 0.0]] * run.n_writes)


def test_a_file_without_model_arrays_reads_with_generic_labels(tmp_path):
    """A run file as an earlier version wrote it (no /model, no field task) and a task the
    reader does not know still read, labelled from the file alone."""
    from solvers.grid import Axis, PhaseSpaceGrid
    from solvers.output import Writer

    grid = PhaseSpaceGrid([Axis.uniform("x", 0.0, 1.0, 8), Axis.uniform("kx", -np.pi, np.pi, 6)],
                          dof=2, stencil_width=2, comm=PETSc.COMM_SELF)
    tasks = {"f": ("phase_space", (2, 8, 6), "occupation"), "mu": ("global", (3,), "eV")}
    field = np.arange(2 * 8 * 6, dtype=float).reshape(2, 8, 6)
    vec = grid.da.createGlobalVec()
    grid.view(vec)[...] = field
    with Writer(tmp_path / "old.h5", grid, tasks, {}, {"energy": "eV", "length": "nm"}, "") as w:
        w.write(0.5, 3, phase_space={"f": vec}, globals={"mu": [1.0, 2.0, 3.0]})
    with open_run(tmp_path / "old.h5") as run:
        assert run.names == ("f", "mu")
        f = run["f"]
        assert f.dims == ("t", "band", "x", "kx")
        assert list(f.coords["band"]) == [0, 1]
        np.testing.assert_array_equal(f.values[0], field)
        mu = run["mu"]
        assert (mu.dims, mu.units) == (("t", "mu_0"), "eV")
        np.testing.assert_array_equal(mu.values, [[1.0, 2.0, 3.0]])


def test_other_files_are_refused_in_one_line(runs):
    with pytest.raises(ValueError, match="is not a run file") as info:
        open_run(runs["response"])
    assert "\n" not in str(info.value)
