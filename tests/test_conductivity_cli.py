"""Command line: python -m scripts.conductivity CONFIG [--json] [--si] [--out PATH]."""
import json
import re

import h5py
import numpy as np
import pytest

from moyal.geometry import band_geometry, k_grid
from moyal.models import get_model
from moyal.response import QUANTITIES, response_tensors
from scripts.conductivity import main

CONFIG = """
[model]
name = "qwz"
parameters = {{ m = -1.2, g = 0.3 }}

[response]
mu = [-1.5, 0.0, 1.2]
temperature = 0.0
grid = {grid}
{tau}
quantities = ["drude", "ahe", "nonlinear_drude", "bcd", "qm_wpd", "qm_lka", "qm_qk"]
"""


def _write(tmp_path, grid="[48, 48]", tau=""):
    path = tmp_path / "c.toml"
    path.write_text(CONFIG.format(grid=grid, tau=tau))
    return path


def test_json_output_is_one_object_with_every_component(tmp_path, capsys):
    out = tmp_path / "r.h5"
    assert main([str(_write(tmp_path)), "--json", "--out", str(out)]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["mu"] == [-1.5, 0.0, 1.2]
    assert set(data["drude"]) == {"xx", "xy", "yx", "yy"}
    assert len(data["qm_wpd"]) == 8 and all(len(v) == 3 for v in data["qm_wpd"].values())
    assert data["ahe"]["xy"][1] == pytest.approx(-1 / (2 * np.pi), abs=1e-6)  # in the gap
    with h5py.File(out) as f:
        assert f["bcd"].attrs["units"] == "e^3 L0/(hbar E0)"  # as printed in the table
        assert np.isnan(f["bcd"].attrs["si_factor"])  # E0, L0 have no SI value
        assert f["mu"].attrs["units"] == "E0"
        assert f["drude"].attrs["tau_power"] == 1
        np.testing.assert_allclose(f["qm_wpd"][:, 0, 1, 1], data["qm_wpd"]["xyy"])
    assert out.with_suffix(".png").stat().st_size > 0


def test_tau_multiplies_each_tensor_by_its_power(tmp_path, capsys):
    main([str(_write(tmp_path)), "--json", "--out", str(tmp_path / "a.h5")])
    per_tau = json.loads(capsys.readouterr().out)
    main([str(_write(tmp_path, tau="tau = 2.0")), "--json", "--out", str(tmp_path / "b.h5")])
    with_tau = json.loads(capsys.readouterr().out)
    for q, power in (("drude", 1), ("nonlinear_drude", 2), ("bcd", 1), ("ahe", 0),
                     ("qm_qk", 0)):
        for key in per_tau[q]:
            np.testing.assert_allclose(with_tau[q][key], np.array(per_tau[q][key]) * 2 ** power)


@pytest.mark.parametrize("grid, tau, fragment", [
    ("[400]", "", "grid = [400]"),
    ("[48, 48]", "tau = -1.0", "tau = -1.0"),
    ("[48, 48]", "temperature_K = 3", "unknown key(s) temperature_K"),
])
def test_bad_config_exits_2_with_one_line_and_writes_nothing(tmp_path, capsys, grid, tau,
                                                            fragment):
    out = tmp_path / "never.h5"
    code = main([str(_write(tmp_path, grid, tau)), "--out", str(out)])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert err.count("\n") == 0 and err.startswith("error:")
    assert fragment in err and "expected" in err
    assert not out.exists() and not out.with_suffix(".png").exists()


@pytest.mark.parametrize("units", ['"eV"', '{ energy_unit = "eV" }', '{ energy = 1.0 }'])
def test_malformed_model_units_exit_2_before_any_file(tmp_path, capsys, units):
    path = tmp_path / "u.toml"
    path.write_text(f'[model]\nhamiltonian = "sin(kx)*sx + (2 + cos(kx))*sz"\nunits = {units}\n'
                    '[response]\nmu = [0.0]\ngrid = [16]\n')
    out = tmp_path / "never.h5"
    assert main([str(path), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.startswith("error: [model] units = ") \
        and "expected a table" in err, err
    assert not out.exists()


def test_non_hermitian_user_model_is_rejected(tmp_path, capsys):
    path = tmp_path / "u.toml"
    path.write_text('[model]\nhamiltonian = "a*sin(kx)*sx + I*a*sy"\nparameters = { a = 1.0 }\n'
                    '[response]\nmu = [0.0]\ngrid = [16]\n')
    assert main([str(path), "--out", str(tmp_path / "x.h5")]) == 2
    assert "not Hermitian" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------------
# The printed table, units, SI and zeros by symmetry
# ---------------------------------------------------------------------------------------------

# Conductance quantum G0 = 2 e^2/h = 7.748091729...e-5 S, CODATA 2018 (Tiesinga et al.,
# Rev. Mod. Phys. 93, 025010 (2021)); e^2/hbar = 2 pi e^2/h = pi G0.  1 eV / e = 1 V exactly.
G0_SIEMENS = 7.748091729e-5
E2_OVER_HBAR_SIEMENS = np.pi * G0_SIEMENS

# Mirror M_y: every term is even in ky, so H(kx, -ky) = H(kx, ky); the Berry curvature is
# odd in ky and the anomalous Hall conductivity, and every tensor component with an odd
# number of y indices, vanishes; the k grid k_j = -pi + 2 pi j / n maps onto itself.
MIRROR = """
[model]
hamiltonian = "a*sin(kx)*sy + d*cos(ky)*sx + (m + cos(kx) + cos(ky))*sz + t*sin(kx)*s0"
parameters = { a = 1.0, d = 0.4, m = -1.2, t = 0.3 }
units = { energy = "eV", length = "Angstrom" }

[response]
mu = [-1.0, 0.5]
grid = [32, 32]
quantities = ["ahe", "bcd", "drude"]
forms = { bcd = "sea" }
"""


def _table(text):
    """Data rows of the stdout table (columns split at runs of two or more spaces)."""
    lines = [line for line in text.splitlines() if line and not line.startswith("#")]
    header, *rows = (re.split(r"\s{2,}", line.strip()) for line in lines)
    assert header[1:] == ["tensor", "component", "value", "unit"], header
    return [dict(zip(("mu", "tensor", "component", "value", "unit"), row)) for row in rows]


def _run(tmp_path, capsys, text, *options):
    path = tmp_path / "c.toml"
    path.write_text(text)
    code = main([str(path), "--out", str(tmp_path / "c.h5"), *options])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "wrote" in captured.err and "wrote" not in captured.out
    return captured.out


def test_table_equals_json_and_direct_response_calls(tmp_path, capsys):
    text = CONFIG.format(grid="[24, 24]", tau="")
    table = _table(_run(tmp_path, capsys, text))
    data = json.loads(_run(tmp_path, capsys, text, "--json"))
    model = get_model("qwz", m=-1.2, g=0.3)
    grid = k_grid(model, [24, 24])
    direct = response_tensors(band_geometry(model, grid), grid, [-1.5, 0.0, 1.2], 0.0,
                              list(QUANTITIES))
    assert len(table) == len(data["rows"]) == 3 * (2 * 4 + 5 * 8)
    for printed, row in zip(table, data["rows"]):
        assert (printed["tensor"], printed["component"]) == (row["tensor"], row["component"])
        assert float(printed["mu"]) == row["mu"]
        assert printed["unit"] == row["unit"]
        value = direct[row["tensor"]][(data["mu"].index(row["mu"]),)
                                      + tuple("xy".index(c) for c in row["component"])]
        assert row["value"] == pytest.approx(value, rel=1e-13, abs=0)
        if printed["value"] == "0 (by symmetry)":
            assert row["zero"] == "symmetry"
            scale = np.max(np.abs(direct[row["tensor"]]))
            assert abs(value) <= 1e-12 * scale  # far below anything physical
        else:
            assert row["zero"] is None
            # ten significant digits are printed: rounding within 5e-10 relative
            assert float(printed["value"]) == pytest.approx(value, rel=6e-10, abs=0)
    # in the gap the Chern insulator's AHE is a number, -1/(2 pi) e^2/hbar (C = 1)
    ahe = [r for r in table if r["tensor"] == "ahe" and r["component"] == "xy"
           and r["mu"] == "0"]
    assert float(ahe[0]["value"]) == pytest.approx(-1 / (2 * np.pi), abs=1e-6)
    meta = data["metadata"]
    assert meta["model"] == "qwz" and meta["parameters"]["g"] == 0.3
    assert meta["grid"] == [24, 24] and meta["temperature"] == 0.0
    assert meta["forms"]["ahe"]["form"] == "sea" and meta["forms"]["bcd"]["form"] == "surface"
    assert meta["moyal_version"] and meta["git_commit"]


# Independent dimension analysis from the formulas with e and hbar restored (Qiang et al.
# Eqs. 11-14 and the Drude/AHE terms): sigma = e^a tau^p / hbar^h int d^dk/(2 pi)^d K,
# with tau = hbar/E, [d^dk] = L^-d and the dimension (E^m L^n) of the integrand K.
#            e  hbar  tau  K: E  L
FORMULAS = {"drude": (2, 2, 1, 1, 2),            # e^2 tau/hbar^2 int d_a d_b eps
            "ahe": (2, 1, 0, 0, 2),              # e^2/hbar int Omega
            "nonlinear_drude": (3, 3, 2, 1, 3),  # e^3 tau^2/hbar^3 int d^3 eps
            "bcd": (3, 2, 1, 0, 3),              # e^3 tau/hbar^2 int d Omega
            "qm_wpd": (3, 1, 0, -1, 3),          # e^3/hbar int d Gq, Gq = g / (energy)
            "qm_lka": (3, 1, 0, -1, 3), "qm_qk": (3, 1, 0, -1, 3)}


def _dimension(quantity, d):
    e, hbar, tau, energy, length = FORMULAS[quantity]
    return {"e": e, "hbar": tau - hbar, "E": energy - tau, "L": length - d}


def _parse_unit(unit, names):
    """'e^3 nm/(hbar eV)' -> powers of e, hbar, E, L."""
    powers = {"e": 0, "hbar": 0, "E": 0, "L": 0}
    symbol = {"e": "e", "hbar": "hbar", names["E"]: "E", names["L"]: "L"}
    upper, _, lower = unit.partition("/")
    for sign, part in ((1, upper), (-1, lower)):
        for factor in part.strip("()").split():
            name, _, power = factor.partition("^")
            powers[symbol[name]] += sign * int(power or 1)
    return powers


@pytest.mark.parametrize("text, names, d", [
    (CONFIG.format(grid="[8, 8]", tau=""), {"E": "E0", "L": "L0"}, 2),
    ('[model]\nname = "toy003"\n[response]\nmu = [0.2]\ngrid = [8, 8]\n',
     {"E": "eV", "L": "nm"}, 2),
    ('[model]\nname = "rice_mele"\n[response]\nmu = [0.8]\ngrid = [16]\n',
     {"E": "E0", "L": "L0"}, 1),
])
def test_units_follow_the_dimension_of_each_formula(tmp_path, capsys, text, names, d):
    data = json.loads(_run(tmp_path, capsys, text, "--json"))
    assert {row["tensor"] for row in data["rows"]} == set(FORMULAS)
    for row in data["rows"]:
        assert _parse_unit(row["unit"], names) == _dimension(row["tensor"], d), row
    table = _table(_run(tmp_path, capsys, text))
    assert [r["unit"] for r in table] == [r["unit"] for r in data["rows"]]
    assert all(r["mu"] for r in table)


def test_si_factors_equal_codata_values(tmp_path, capsys):
    text = ('[model]\nname = "toy003"\n[response]\nmu = [0.2]\ngrid = [8, 8]\n'
            'quantities = ["drude", "qm_wpd"]\n')
    data = json.loads(_run(tmp_path, capsys, text, "--json"))
    factor = {r["tensor"]: (r["si_factor"], r["si_unit"]) for r in data["rows"]}
    # e^2/hbar in S; e^3 nm/(hbar eV) = e^2/hbar * 1e-9 m / (eV/e) = e^2/hbar * 1e-9 m/V
    assert factor["drude"][1] == "S" and factor["qm_wpd"][1] == "A m/V^2"
    assert factor["drude"][0] == pytest.approx(E2_OVER_HBAR_SIEMENS, rel=1e-9)
    assert factor["qm_wpd"][0] == pytest.approx(E2_OVER_HBAR_SIEMENS * 1e-9, rel=1e-9)
    with h5py.File(tmp_path / "c.h5") as f:  # the file carries the same units and factors
        assert f["mu"].attrs["units"] == "eV"
        for q in ("drude", "qm_wpd"):
            assert f[q].attrs["units"] == data["rows"][0 if q == "drude" else -1]["unit"]
            assert (f[q].attrs["si_factor"], f[q].attrs["si_unit"]) == factor[q]
    si_table = _table(_run(tmp_path, capsys, text, "--si"))
    for printed, row in zip(si_table, data["rows"]):
        assert printed["unit"] == row["si_unit"]
        assert float(printed["value"]) == pytest.approx(row["value"] * row["si_factor"],
                                                        rel=6e-10)
    # user units E0, L0 converted by the two options: 1 meV and 0.5 nm in one dimension
    text = '[model]\nname = "rice_mele"\n[response]\nmu = [0.8]\ngrid = [16]\n'
    data = json.loads(_run(tmp_path, capsys, text, "--json", "--si",
                           "--energy-unit-eV", "1e-3", "--length-unit-m", "5e-10"))
    factor = {r["tensor"]: (r["si_factor"], r["si_unit"]) for r in data["rows"]}
    assert factor["drude"] == (pytest.approx(E2_OVER_HBAR_SIEMENS * 5e-10, rel=1e-9), "S m")
    # e^3 L0^2 / (hbar E0) = e^2/hbar L0^2 / (1 mV)
    assert factor["bcd"] == (pytest.approx(E2_OVER_HBAR_SIEMENS * 25e-20 / 1e-3, rel=1e-9),
                             "A m^2/V^2")


def test_mirror_symmetric_model_prints_zero_by_symmetry(tmp_path, capsys):
    table = _table(_run(tmp_path, capsys, MIRROR))
    data = json.loads(_run(tmp_path, capsys, MIRROR, "--json"))
    assert max(abs(v) for v in data["ahe"]["xy"]) > 0  # not exactly zero: rounding
    for row in table:
        odd_y = row["component"].count("y") % 2 == 1
        vanishes = row["tensor"] == "ahe" or (row["tensor"] == "bcd"
                                              and (odd_y or row["component"] == "xxx"))
        # drude uses the surface form, whose triangulation of the grid breaks the mirror
        # at O(dk^2); only the sea-form tensors are compared for the odd components
        if row["tensor"] != "drude":
            assert (row["value"] == "0 (by symmetry)") == vanishes, row
    assert {r["unit"] for r in table if r["tensor"] == "bcd"} == {"e^3 Angstrom/(hbar eV)"}


@pytest.mark.parametrize("units, options, fragment", [
    ("", (), "[model] units.energy = 'E0': expected one of eV, meV, J"),
    ('units = { energy = "eV", length = "L0" }', (), "[model] units.length = 'L0': expected"),
    ('units = { energy = "Ry", length = "nm" }', (), "units.energy = 'Ry'"),
    ("", ("--energy-unit-eV", "1.0"), "units.length = 'L0'"),
    ("", ("--energy-unit-eV", "-1.0"), "--energy-unit-eV = -1.0: expected a positive"),
])
def test_si_refused_for_user_units_before_any_file(tmp_path, capsys, units, options, fragment):
    path = tmp_path / "u.toml"
    path.write_text(f'[model]\nhamiltonian = "sin(kx)*sx + (1 + cos(kx))*sz"\n{units}\n'
                    '[response]\nmu = [0.0]\ngrid = [16]\n')
    out = tmp_path / "never.h5"
    assert main([str(path), "--si", "--out", str(out), *options]) == 2
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert err.count("\n") == 0 and err.startswith("error:") and fragment in err, err
    assert captured.out == "" and not out.exists() and not out.with_suffix(".png").exists()


def test_pt_symmetric_model_berry_curvature_tensors_are_zero_by_symmetry(tmp_path, capsys):
    """PT symmetry (toy003, doubly degenerate bands) makes the traced Berry curvature vanish
    at every k, so its computed value is rounding noise of size eps tr g, not a sum that
    cancels: the floor counts the curvature's own rounding (term_scale)."""
    text = ('[model]\nname = "toy003"\n[response]\nmu = [0.2, 0.3]\ngrid = [24, 24]\n'
            'quantities = ["ahe", "bcd", "qm_wpd"]\n')
    table = _table(_run(tmp_path, capsys, text))
    data = json.loads(_run(tmp_path, capsys, text, "--json"))
    assert max(abs(v) for v in data["bcd"]["yxx"]) > 0  # not exactly zero: rounding
    for row in table:
        if row["tensor"] in ("ahe", "bcd"):
            assert row["value"] == "0 (by symmetry)", row
    # the quantum-metric dipole is not forbidden: xyy is a number
    assert [r["value"] for r in table if r["tensor"] == "qm_wpd"
            and r["component"] == "xyy"][0] != "0 (by symmetry)"


def test_plot_names_the_components_zero_by_symmetry_instead_of_drawing_them(
        tmp_path, capsys, monkeypatch):
    import matplotlib.figure

    drawn = {}

    def record(fig, path, **kwargs):
        for ax in fig.axes:
            if ax.get_title():
                drawn[ax.get_title()] = ([line.get_label() for line in ax.lines],
                                         [text.get_text() for text in ax.texts],
                                         ax.get_ylabel())

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", record)
    _run(tmp_path, capsys, MIRROR)
    assert drawn["ahe"] == ([], ["0 (by symmetry): all components"], "e^2/hbar")
    lines, texts, unit = drawn["bcd"]
    assert lines == ["xyy", "yxy", "yyx"] and unit == "e^3 Angstrom/(hbar eV)"
    assert texts == ["0 (by symmetry): xxx, xxy, xyx, yxx, yyy"]
