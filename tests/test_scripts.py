"""scripts/plot_run.py, plot_response.py and sweep.py on small runs made here.

The plots are checked for being real pictures; the data they show is checked against
independent computations (x averages of nonuniform cells by hand, the solver's own density
task against f integrated over k, per_rank against gathered output); the sweep's product,
run names, validation and CSV rows are checked against values written out by hand.
"""

import csv
import json
import shlex
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from scripts import plot_response, plot_run, sweep
from solvers import run as solver

QUIET = 'progress_every = 100000\noverwrite = true\n'
CHAIN = """
[model]
name = "chain"
[fields]
E = 0.5
[grid]
nk = [16]
[initial]
kind = "band_window"
k_center = [1.0]
[run]
name = "chain"
t_end = 2.0
output_every = 4
"""
QWZ = """
[model]
name = "qwz"
parameters = {m = -1.5, g = 0.4}
[fields]
E = [0.02, 0.0]
[grid]
nk = [16, 16]
[initial]
mu = 0.5
temperature = 0.3
[collisions]
kind = "fixed"
tau = 1.0
mu = 0.5
temperature = 0.3
[run]
name = "qwz"
t_end = 3.0
output_every = 2
"""

LANDAU_ZENER = """
[model]
name = "landau_zener"
parameters = {v = 1.0, m = 0.5}
domain = [[-8.0, 8.0]]
[mode]
kind = "matrix"
[fields]
E = 1.0
[grid]
nk = [128]
k_boundary = "outflow"
[initial]
kind = "band_window"
band = 0
k_center = [3.0]
k_width = 1.0
[units]
energy = "meV"
length = "A"
[run]
name = "lz"
t_end = 4.0
output_every = 5
"""


def write_config(directory: Path, name: str, text: str) -> Path:
    path = directory / f"{name}.toml"
    path.write_text(text + QUIET + f'output_dir = "{directory}"\n')
    return path


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Five small runs: 1D k; (x, kx) gathered and per_rank; (x, kx, ky); a field sweep."""
    d = tmp_path_factory.mktemp("runs")
    chain, qwz = write_config(d, "chain", CHAIN), write_config(d, "qwz", QWZ)
    xk = ['grid.x="periodic"', "grid.nx=16", 'initial.kind="packet"', "initial.x_center=20.0"]
    commands = {
        "k": [chain],
        "xk": [chain, *xk, "run.name=xk", 'run.output_mode="gathered"'],
        "xk_per_rank": [chain, *xk, "run.name=xk_per_rank", 'run.output_mode="per_rank"'],
        "xkk": [qwz, 'grid.x="periodic"', "grid.nx=8", "grid.nk=[8,8]", "run.name=xkk",
                "run.t_end=1.0"],
        "response": [qwz, "response.scales=[1,-1]", "response.average_window=1.0"],
    }
    equilibrium = ['initial.kind="equilibrium"', "initial.mu=-0.5", "initial.temperature=0.5",
                   'collisions.kind="fixed"', "collisions.mu=-0.5",
                   "collisions.temperature=0.5", "collisions.tau=1.0"]
    commands.update({
        # a field of 1e-18 moves f by ~1e-18, far below 10 eps max|f| ~ 2e-15: round-off
        "roundoff": [chain, *equilibrium, "fields.E=1e-18", "run.name=roundoff"],
        "cosine": [chain, *xk, *equilibrium, "fields.E=0.0", "run.name=cosine",
                   'fields.potential=[{kind="cosine", amplitude=0.3, q=0.15707963267948966}]'],
        "matrix": [write_config(d, "lz", LANDAU_ZENER)],
    })
    for argv in commands.values():
        assert solver.main([str(a) for a in argv]) == 0, argv
    return {"dir": d, "chain_config": chain, "k": d / "chain.h5", "xk": d / "xk.h5",
            "xk_per_rank": d / "xk_per_rank.h5", "xkk": d / "xkk.h5",
            "response": d / "qwz_response.h5", "qwz": d / "qwz_s+1.h5",
            "roundoff": d / "roundoff.h5", "cosine": d / "cosine.h5", "matrix": d / "lz.h5"}


def assert_picture(path: Path, min_colours: int, min_coloured: float):
    """A PNG of the expected size with drawn data: at least ``min_colours`` distinct colours,
    and a fraction ``min_coloured`` of saturated (non-grey) pixels; axes, ticks and text are
    black on white, so a figure of empty axes has none."""
    import matplotlib.image

    image = matplotlib.image.imread(path)[..., :3]
    assert image.shape[0] >= 600 and image.shape[1] >= 1000, image.shape
    colours = np.unique((image * 255).astype(np.uint8).reshape(-1, 3), axis=0)
    assert len(colours) >= min_colours, len(colours)
    saturation = image.max(axis=-1) - image.min(axis=-1)
    assert np.mean(saturation > 0.3) > min_coloured, np.mean(saturation > 0.3)


def test_x_average_weights_nonuniform_cells():
    # cell averages of j(x) = x on cells [0, 1], [1, 3]: 0.5 and 2; (1/3) int_0^3 x dx = 1.5
    values = np.array([[0.5, 2.0], [1.0, 1.0]])
    assert np.allclose(plot_run.x_average(values, np.array([0.0, 1.0, 3.0])), [1.5, 1.0])
    assert np.allclose(plot_run.x_average(np.array([[4.0]]), None), [4.0])


def test_unit_labels_follow_dimension_of_k():
    units = {"energy": "eV", "length": "nm"}
    one, two = plot_run.unit_labels(units, 1), plot_run.unit_labels(units, 2)
    assert (one["density"], one["current"]) == ("1/nm", "e eV/hbar")
    assert (two["density"], two["current"]) == ("1/nm^2", "e eV/(hbar nm)")
    assert (one["sigma1"], two["sigma1"]) == ("e^2 nm/hbar", "e^2/hbar")
    assert (one["sigma2"], two["sigma2"]) == ("e^3 nm^2/(hbar eV)", "e^3 nm/(hbar eV)")


# maps of f - f_eq are white where nothing changed (xkk: a small field shifts few cells)
@pytest.mark.parametrize("kind, min_coloured", [("k", 0.003), ("xk", 0.1), ("xk_per_rank", 0.1),
                                                ("xkk", 0.03), ("cosine", 0.03),
                                                ("matrix", 0.003)])
def test_plot_run_writes_a_picture(runs, kind, min_coloured, tmp_path, capsys):
    out = tmp_path / f"{kind}.png"
    assert plot_run.main([str(runs[kind]), "--out", str(out)]) == 0
    assert capsys.readouterr().out.strip() == str(out)
    assert_picture(out, min_colours=100, min_coloured=min_coloured)


def test_plot_run_default_name_and_errors(runs, tmp_path, capsys):
    assert plot_run.main([str(runs["k"])]) == 0
    assert Path(capsys.readouterr().out.strip()) == runs["k"].with_suffix(".png")
    assert plot_run.main([str(runs["k"]), "--band", "1", "--out", str(tmp_path / "b.png")]) == 2
    assert plot_run.main([str(tmp_path / "missing.h5")]) == 2
    assert plot_run.main([str(runs["response"])]) == 2  # not a run file
    errors = capsys.readouterr().err.strip().splitlines()
    assert len(errors) == 3 and all(e.startswith("plot_run: error:") for e in errors)
    assert not (tmp_path / "b.png").exists()


@pytest.mark.parametrize("kind", ["k", "xkk"])
def test_shown_distribution_integrates_to_the_density_task(runs, kind):
    # the plotted f (ky-marginal for (x, kx, ky)), integrated over its k axis and summed
    # over bands, is the solver's own density task at the last write
    with h5py.File(runs[kind], "r") as h5:
        dof = h5["tasks/f"].shape[1]
        density = h5["tasks/density"][-1]
        kx_widths = np.diff(h5["grid/kx_edges"][:]) / (2 * np.pi)
    shown = [plot_run.read_distribution(runs[kind], b) for b in range(dof)]
    total = sum(s["f"][-1] for s in shown) @ kx_widths
    assert np.allclose(total, density, rtol=1e-12, atol=0)
    assert shown[0]["axes"][-1] == "kx" and shown[0]["writes"][0] == 0


def test_per_rank_file_reads_like_the_gathered_one(runs):
    gathered = plot_run.read_distribution(runs["xk"], 0)
    per_rank = plot_run.read_distribution(runs["xk_per_rank"], 0)
    with h5py.File(runs["xk_per_rank"], "r") as h5:
        assert h5.attrs["mode"] == "per_rank" and h5["tasks/f"].is_virtual
    assert gathered["writes"] == per_rank["writes"] and len(gathered["writes"]) == 3
    for a, b in zip(gathered["f"], per_rank["f"]):
        assert np.array_equal(a, b)


def test_series_is_the_width_weighted_x_average(runs):
    series = plot_run.read_series(runs["xk"])
    with h5py.File(runs["xk"], "r") as h5:
        widths = np.diff(h5["grid/x_edges"][:])
        current = h5["tasks/current"][:, 0, :]
        t_end = json.loads(h5.attrs["config"])["run"]["t_end"]
    assert np.allclose(series["current"][:, 0], current @ widths / widths.sum())
    assert series["t"][-1] == pytest.approx(t_end)
    assert series["units"]["current"] == "e eV/hbar"


def qwz_equilibrium(h5, m=-1.5, g=0.4, mu=0.5, temperature=0.3):
    """Fermi-Dirac occupation of the closed-form QWZ bands g sin kx -+ |d(k)| at the file's
    k-cell centres, shape (2, nkx, nky): the f_eq of the QWZ config, written out by hand."""
    kx, ky = np.meshgrid(h5["grid/kx"][:], h5["grid/ky"][:], indexing="ij")
    d = np.sqrt(np.sin(kx) ** 2 + np.sin(ky) ** 2 + (m + np.cos(kx) + np.cos(ky)) ** 2)
    energy = np.array([g * np.sin(kx) - d, g * np.sin(kx) + d])
    return 1 / (np.exp((energy - mu) / temperature) + 1)


def band_lines(ax):
    return [line for line in ax.get_lines() if not line.get_label().startswith("_")]


def test_default_view_is_f_minus_f_eq_of_the_band_that_changes_most(runs):
    # before: band 0 (the filled valence band, f ~ 1) and f itself; now the conduction band,
    # whose Fermi surface the field shifts, minus the equilibrium of the collisions
    import matplotlib.pyplot as plt

    fig, change = plot_run.draw(runs["qwz"])
    with h5py.File(runs["qwz"], "r") as h5:
        f_eq = qwz_equilibrium(h5)
        writes = change["writes"]
        changes = np.array([h5["tasks/f"][w] - f_eq for w in writes])  # (write, band, kx, ky)
        max_f = np.max(np.abs(h5["tasks/f"][writes]))
    # exp of arguments up to ~20 in f_eq: a few eps of f <= 1
    assert change["band"] == int(np.argmax(np.max(np.abs(changes), axis=(0, 2, 3)))) == 1
    maps = [ax for ax in fig.axes if ax.collections and ax.get_title().startswith("f - f_eq")]
    assert len(maps) == 3
    for ax, expected in zip(maps, changes[:, 1]):
        shown = ax.collections[0].get_array().reshape(expected.T.shape).T
        assert np.allclose(shown, expected, rtol=0, atol=1e-14 * max_f)
        assert ax.get_xlabel() == "kx (1/nm)" and ax.get_ylabel() == "ky (1/nm)"
    assert np.max(np.abs(changes[-1, 1])) > 1e-3  # a real change, not rounding
    colour_bar = fig.axes[-1]
    assert "f - f_eq" in colour_bar.get_ylabel() and "band 1" in colour_bar.get_ylabel()
    assert all("L0" not in ax.get_xlabel() + ax.get_ylabel() for ax in fig.axes)
    plt.close(fig)


def test_roundoff_change_is_shown_as_zero(runs, tmp_path, capsys):
    # E = 1e-18 moves f by ~1e-18: rounding next to f ~ 1 (10 eps max|f| ~ 2e-15); before,
    # the axis was labelled with an offset like 1e-18 and the change drawn as data
    out = tmp_path / "roundoff.png"
    assert plot_run.main([str(runs["roundoff"]), "--out", str(out)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert "0 (round-off)" in lines[0] and lines[-1] == str(out)
    fig, change = plot_run.draw(runs["roundoff"])
    with h5py.File(runs["roundoff"], "r") as h5:
        raw = h5["tasks/f"][-1, 0] - h5["model/f_eq"][0]
        assert 0 < np.max(np.abs(raw)) <= change["floor"]  # tiny but not zero
    assert change["roundoff"] and all(not np.any(f) for f in change["f"])
    top = fig.axes[0]
    assert [t.get_text() for t in top.get_yticklabels()] == ["0 (round-off)"]
    import matplotlib.pyplot as plt

    plt.close(fig)


def test_potential_profile_is_overlaid_on_the_x_maps(runs):
    import matplotlib.pyplot as plt

    fig, change = plot_run.draw(runs["cosine"])
    with h5py.File(runs["cosine"], "r") as h5:
        x = h5["grid/x"][:]
    overlays = [ax for ax in fig.axes if ax.get_ylabel().startswith("potential energy U = -V")]
    assert len(overlays) == 3 and all("(eV)" in ax.get_ylabel() for ax in overlays)
    for ax in overlays:
        (stairs,) = [p for p in ax.patches]
        # U = -V = -0.3 cos(q x) at the cell centres (amplitude 0.3 eV, q = pi/20 per nm)
        assert np.allclose(stairs.get_data().values, -0.3 * np.cos(np.pi / 20 * x),
                           rtol=0, atol=1e-15)
    assert change["reference"].startswith("equilibrium at mu = -0.5")
    plt.close(fig)


def test_matrix_mode_shows_band_populations_and_coherence(runs):
    # H0 = v k sz + m sx: with d = (m, 0, v k), |1><1| - |0><0| = d.sigma/|d|, so
    # f_11 - f_00 = (v k (F_00 - F_11) + 2 m Re F_01)/|d| and f_00 + f_11 = tr F; for 2x2,
    # |F'_01|^2 = (tr F^2 - f_00^2 - f_11^2)/2 in any basis
    import matplotlib.pyplot as plt

    fig, change = plot_run.draw(runs["matrix"])
    with h5py.File(runs["matrix"], "r") as h5:
        k = h5["grid/kx"][:]
        packed = h5["tasks/f"][change["writes"]]  # (write, 4, nk): F_00, F_11, Re, Im F_01
    v, m = 1.0, 0.5
    d = np.hypot(m, v * k)
    trace, difference = packed[:, 0] + packed[:, 1], (
        v * k * (packed[:, 0] - packed[:, 1]) + 2 * m * packed[:, 2]) / d
    f00, f11 = (trace - difference) / 2, (trace + difference) / 2
    square = packed[:, 0] ** 2 + packed[:, 1] ** 2 + 2 * (packed[:, 2] ** 2 + packed[:, 3] ** 2)
    coherence = np.sqrt(np.maximum(square - f00 ** 2 - f11 ** 2, 0) / 2)
    (panel,) = [ax for ax in fig.axes if ax.get_title().startswith("band populations")]
    curves = {p.get_label(): p.get_data().values for p in panel.patches}
    for w, t in enumerate(change["t"]):
        assert np.allclose(curves[f"f_00, t = {t:.4g}"], f00[w], rtol=0, atol=1e-14)
        assert np.allclose(curves[f"f_11, t = {t:.4g}"], f11[w], rtol=0, atol=1e-14)
        # sqrt of a difference of squares <= 1: rounding 1e-16 becomes up to ~1e-8 near 0
        assert np.allclose(curves[f"|F_mn|, t = {t:.4g}"], coherence[w], rtol=0, atol=1e-7)
    assert np.max(coherence[-1]) > 0.1 and np.max(f11[-1]) > 0.05  # Landau-Zener transfer
    labels = " ".join(ax.get_xlabel() + ax.get_ylabel() for ax in fig.axes)
    assert "1/A" in labels and "meV" in labels and "nm" not in labels and "eV/" not in \
        labels.replace("meV", "")
    plt.close(fig)


def test_plot_response_writes_a_picture(runs, tmp_path, capsys):
    out = tmp_path / "response.png"
    assert plot_response.main([str(runs["response"]), "--out", str(out)]) == 0
    assert capsys.readouterr().out.strip() == str(out)
    assert_picture(out, min_colours=50, min_coloured=0.05)
    data = plot_response.read_response(runs["response"])
    assert [p.name for p in data["runs"]] == ["qwz_s+1.h5", "qwz_s-1.h5"]
    assert data["predicted_sigma1"] is not None


def test_response_bars_annotate_relative_error_and_symmetry_zeros(runs):
    # QWZ with E along x at order 0: the band energies are even in ky, so v_y is odd and
    # sigma_y cancels, in the simulation (currents ~1e-17) and in the formulas (~1e-18)
    import matplotlib.pyplot as plt

    data = plot_response.read_response(runs["response"])
    floor = max(plot_run.read_series(r)["current_floor"] for r in data["runs"])
    floors = plot_response.sigma_floors(floor, float(data["field_strength"]), data["scales"])
    assert floors["sigma1"] == pytest.approx(floor / 0.02) and \
        floors["sigma2"] == pytest.approx(2 * floor / 0.02 ** 2)
    for order in ("sigma1", "sigma2"):
        simulated, predicted = data[order], data[f"predicted_{order}"]
        fig, ax = plt.subplots()
        notes = plot_response.bars(ax, simulated, predicted, order, "e^2/hbar", floors[order])
        error = abs(simulated[0] - predicted[0]) / abs(predicted[0])
        assert notes[0] == f"relative error {error:.1%}"
        assert notes[1].startswith("0 by symmetry")
        assert [t.get_text() for t in ax.texts] == notes
        assert abs(predicted[1]) < 1e-15 * abs(predicted[0])  # the test's premise
        plt.close(fig)
    # a formula that is a number while the simulation is at rounding is not a symmetry zero
    fig, ax = plt.subplots()
    notes = plot_response.bars(ax, np.array([1e-20]), np.array([2.0]), "sigma1", "", 1e-15)
    assert notes == ["relative error 100.0%"]
    plt.close(fig)


def test_plot_response_without_a_run_file_still_plots(runs, tmp_path, capsys):
    moved = tmp_path / runs["response"].name
    moved.write_bytes(runs["response"].read_bytes())  # the run files are not next to it
    assert plot_response.main([str(moved)]) == 0
    captured = capsys.readouterr()
    assert captured.err.count("plot_response: warning:") == 2
    assert_picture(moved.with_suffix(".png"), min_colours=20, min_coloured=0.02)


def test_split_values_keeps_lists_tables_and_strings_whole():
    assert sweep.split_values("[32,32],[64, 64]") == ["[32,32]", "[64, 64]"]
    assert sweep.split_values('{m = -1, g = 0.4},{m = 1, g = 0.4}') == \
        ["{m = -1, g = 0.4}", "{m = 1, g = 0.4}"]
    assert sweep.split_values('"a,b",c') == ['"a,b"', "c"]
    assert sweep.split_values("0.5") == ["0.5"]


def test_sweep_dry_run_lists_the_product(runs, tmp_path, capsys):
    config = str(runs["chain_config"])
    out_dir = tmp_path / "sweep"
    code = sweep.main([config, "--set", "grid.nk=[16],[32]", "--set", "fields.E=0.5,1,2",
                       "--set", f'run.output_dir="{out_dir}"', "-n", "2", "--dry-run",
                       "--", "-ts_monitor"])
    assert code == 0
    lines = capsys.readouterr().out.strip().splitlines()
    commands = [shlex.split(line) for line in lines[:-1]]
    expected = [(nk, label, e) for nk, label in (("[16]", "16"), ("[32]", "32"))
                for e in ("0.5", "1", "2")]
    assert len(commands) == 6
    bin_dir = Path(sys.executable).parent
    for argv, (nk, label, e) in zip(commands, expected):
        assert argv[:6] == [str(bin_dir / "mpirun"), "-n", "2", sys.executable, "-m",
                            "solvers.run"]
        assert argv[6:] == [config, f"grid.nk={nk}", f"fields.E={e}",
                            f'run.output_dir="{out_dir}"', f'run.name="chain_nk={label}_E={e}"',
                            "-ts_monitor"]
    assert lines[-1] == f"would write {out_dir / 'chain_sweep.csv'} (6 runs)"
    assert not out_dir.exists()


@pytest.mark.parametrize("args, message", [
    ([], "no --set given"),
    (["--set", "nk=1,2"], "expected table.key=v1,v2"),
    (["--set", "grid.nk="], "empty value"),
    (["--set", "run.name=a,b"], "run.name is set by the sweep"),
    (["--set", "fields.E=1,1"], "given twice"),
    (["--set", "fields.E=1", "--set", "fields.E=2"], "given twice"),
    (["--set", "grid.nk=[16],[4]"], "grid.nk[0] = 4"),
    (["--set", "grid.nkk=[16]"], "did you mean 'nk'"),
    (["--set", "fields.E=1", "-n", "0"], "-n 0"),
    (["--set", "fields.E=1", "--bogus"], "unrecognized arguments: --bogus"),
    (["--set", "fields.E=1", "--", "oops"], "PETSc option 'oops'"),
])
def test_sweep_rejects_bad_invocations_with_one_line(runs, tmp_path, capsys, args, message):
    config = str(runs["chain_config"])
    out_dir = tmp_path / "never"
    argv = [config, *args[:2], "--set", f'run.output_dir="{out_dir}"', *args[2:]] if args \
        else [config]
    assert sweep.main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("sweep: error:") and message in err[0], err
    assert not out_dir.exists()


def test_sweep_refuses_existing_outputs_before_running(runs, capsys):
    # the runs of the fixture exist and the config without overwrite must not replace them
    config = runs["dir"] / "no_overwrite.toml"
    config.write_text(runs["chain_config"].read_text().replace("overwrite = true",
                                                              "overwrite = false"))
    (runs["dir"] / "chain_E=0.5.h5").write_bytes(b"")
    assert sweep.main([str(config), "--set", "fields.E=0.5,1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert "exists" in err[-1] and "chain_E=0.5" in err[-1]
    assert not (runs["dir"] / "chain_E=1.h5").exists()


def test_sweep_runs_continue_past_a_failure_and_fill_the_csv(runs, tmp_path, capsys):
    # chain has one k direction: nk = [8, 8] passes the config check and fails at setup
    out_dir = tmp_path / "sweep"
    code = sweep.main([str(runs["chain_config"]), "--set", "grid.nk=[16],[8,8],[24]",
                       "--set", f'run.output_dir="{out_dir}"', "-n", "1"])
    assert code == 1
    with open(out_dir / "chain_sweep.csv", newline="") as stream:
        rows = list(csv.DictReader(stream))
    assert [r["name"] for r in rows] == ["chain_nk=16", "chain_nk=8-8", "chain_nk=24"]
    assert [r["status"] for r in rows] == ["finished", "bad_input", "finished"]
    assert [r["exit_code"] for r in rows] == ["0", "2", "0"]
    assert [r["grid.nk"] for r in rows] == ["[16]", "[8,8]", "[24]"]
    assert {r["run.output_dir"] for r in rows} == {str(out_dir)}
    for row in (rows[0], rows[2]):
        with h5py.File(row["path"], "r") as h5:
            final_current = h5["tasks/current"][-1, 0, 0]
        assert float(row["t_final"]) == pytest.approx(2.0)
        assert float(row["current_x"]) == final_current
    assert rows[1]["t_final"] == rows[1]["current_x"] == ""
    assert "sweep: 2 of 3 runs finished" in capsys.readouterr().out


def test_sweep_reads_conductivities_from_a_response_file(runs):
    run = {"paths": {"response": runs["response"], "runs": []}}
    values = sweep.final_values(run)
    with h5py.File(runs["response"], "r") as h5:
        sigma1, predicted2 = h5["sigma1"][:], h5["predicted_sigma2"][:]
    assert values["sigma1_x"] == sigma1[0] and values["sigma1_y"] == sigma1[1]
    assert values["predicted_sigma2_y"] == predicted2[1]


def test_sweep_stopped_then_continued_matches_an_uninterrupted_run(runs, tmp_path):
    # the fixture's run "k" is this config uninterrupted (E = 0.5, t_end = 2)
    out_dir = tmp_path / "resumed"
    common = [str(runs["chain_config"]), "--set", f'run.output_dir="{out_dir}"']
    stopped = sweep.main([*common, "--set", "fields.E=0.5", "--set", "run.stop_wall_time=1e-9"])
    assert stopped == 3
    with open(out_dir / "chain_sweep.csv", newline="") as stream:
        (row,) = list(csv.DictReader(stream))
    assert row["status"] == "stopped" and float(row["t_final"]) < 2.0
    # same names with run.restart: E = 0.5 continues from its checkpoint, E = 1 starts afresh
    assert sweep.main([*common, "--set", "fields.E=0.5,1", "--set", "run.restart=true",
                       "--set", "run.overwrite=false", "--set", "run.stop_wall_time=0"]) == 0
    with open(out_dir / "chain_sweep.csv", newline="") as stream:
        rows = list(csv.DictReader(stream))
    assert [(r["name"], r["status"]) for r in rows] == [("chain_E=0.5", "finished"),
                                                         ("chain_E=1", "finished")]
    with h5py.File(runs["k"], "r") as h5:
        uninterrupted = h5["tasks/current"][-1, 0, 0]
    with h5py.File(rows[0]["path"], "r") as h5:
        iterations = list(h5["scales/iteration"][:])
    assert iterations == [0, 1, 4]  # the stop write at step 1 is kept: a restart, not afresh
    assert float(rows[0]["t_final"]) == pytest.approx(2.0)
    assert float(rows[0]["current_x"]) == pytest.approx(uninterrupted, rel=1e-12)
