"""The Python API (solvers.api): the command line's checks and messages, the same files, the
results returned, PETSc options per run, and the k-space calculators against exact values."""

import math
import tomllib
from pathlib import Path

import h5py
import numpy as np
import pytest
from petsc4py import PETSc
from test_reliability import BAD_CONFIGS, BASE, snapshot

from solvers.api import ConfigError, conductivities, moyal_config, run
from solvers.run import main


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """BASE (the chain, 16 k cells, output out/r.h5) and an output dir with another file."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "c.toml").write_text(BASE)
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "other.h5").write_bytes(b"an earlier run")
    return tmp_path


@pytest.mark.parametrize("overrides", [o for o, _, _ in BAD_CONFIGS],
                         ids=[" ".join(o) for o, _, _ in BAD_CONFIGS])
def test_a_bad_config_raises_the_command_lines_message_and_touches_nothing(workdir, capsys,
                                                                            overrides):
    before = snapshot(workdir / "out")
    with pytest.raises(ConfigError) as raised:
        run(moyal_config("c.toml", overrides), stream=None)
    assert snapshot(workdir / "out") == before
    assert main(["c.toml", *overrides]) == 2
    assert capsys.readouterr().err.strip() == f"moyal-run: error: {raised.value}"


def test_an_existing_output_is_refused_before_any_file_is_touched(workdir):
    (workdir / "out" / "r.h5").write_bytes(b"keep me")
    before = snapshot(workdir / "out")
    with pytest.raises(ConfigError, match="run.name = 'r': output 'out/r.h5' exists"):
        run(moyal_config("c.toml"), stream=None)
    assert snapshot(workdir / "out") == before


def test_overrides_as_strings_as_a_dict_and_from_a_dict_source_agree(workdir):
    strings = moyal_config("c.toml", ["grid.nk=[32]", "run.name=s", "fields.E=0.25"])
    assert strings == moyal_config("c.toml", {"grid.nk": [32], "run.name": "s",
                                              "fields.E": 0.25})
    raw = tomllib.loads(BASE)
    assert strings == moyal_config(raw, {"grid.nk": [32], "run.name": "s", "fields.E": 0.25})
    assert raw == tomllib.loads(BASE)  # the caller's dict is not changed
    with pytest.raises(ConfigError, match=r"override 'gridnk=\[32\]': expected table.key=value"):
        moyal_config(raw, {"gridnk": [32]})
    with pytest.raises(ConfigError, match=r"grid.nxx = 64: unknown key \(did you mean 'nx'\?\)"):
        moyal_config(raw, {"grid.nxx": 64})


def test_a_run_writes_the_command_lines_file_and_returns_its_summary(workdir, capsys):
    """The same config through the API and through main: bitwise the same data."""
    result = run(moyal_config("c.toml", {"fields.E": 0.3}), stream=None)
    assert main(["c.toml", "fields.E=0.3", "run.name=cli"]) == 0
    assert "wrote out/cli.h5" in capsys.readouterr().out
    assert result.status == "finished" and result.path == Path("out/r.h5")
    assert result.response is None and result.response_path is None
    summary = result.summary
    assert summary["t"] == pytest.approx(0.5, rel=1e-12) == summary["t_end"]
    assert summary["steps"] * summary["dt"] == pytest.approx(0.5, rel=1e-12)
    with h5py.File(result.path) as api, h5py.File(workdir / "out" / "cli.h5") as cli:
        assert api["scales/t"][-1] == summary["t"]
        for name in ("scales/t", "tasks/f", "tasks/current", "tasks/density"):
            np.testing.assert_array_equal(api[name][()], cli[name][()])
        np.testing.assert_array_equal(summary["series_current"], api["tasks/current"][()])
    assert not list((workdir / "out").glob("*.lock"))


def test_petsc_options_hold_for_their_run_only(workdir):
    """PETSc is already running in this process (imported above): the options of a run are
    put into the options database for the run and taken out afterwards."""
    before = PETSc.Options().getAll()
    rk = run(moyal_config("c.toml", {"run.name": "rk"}), petsc_args=["-ts_type", "rk"],
             stream=None)
    assert rk.summary["ts_type"] == "rk"
    assert PETSc.Options().getAll() == before
    assert run(moyal_config("c.toml"), stream=None).summary["ts_type"] != "rk"
    with pytest.raises(ConfigError, match="PETSc options '-ts_type nonsense'"):
        run(moyal_config("c.toml", {"run.name": "bad"}), petsc_args=["-ts_type", "nonsense"],
            stream=None)
    assert PETSc.Options().getAll() == before
    assert not (workdir / "out" / "bad.h5").exists()


def test_a_field_sweep_returns_the_conductivities_and_the_formulas(workdir):
    """Drude on the chain eps = -2 cos k (order 0, relaxation to the fixed target): the
    response returned is the one written, and its prediction is the k-space formula."""
    cfg = moyal_config("c.toml", {
        "run.name": "sweep", "run.t_end": 12.0, "fields.E": 0.01, "grid.nk": [64],
        "initial.temperature": 0.5, "collisions.kind": "fixed", "collisions.tau": 1.0,
        "collisions.temperature": 0.5, "response.scales": [1.0, -1.0],
        "response.average_window": 2.0})
    result = run(cfg, stream=None)
    assert result.status == "finished"
    assert [p.name for p in result.paths] == ["sweep_s+1.h5", "sweep_s-1.h5"]
    assert result.response_path == Path("out/sweep_response.h5")
    with h5py.File(result.response_path) as h5:
        np.testing.assert_array_equal(h5["sigma1"][()], result.response["sigma1"])
    table = conductivities({"name": "chain"}, [0.0], grid=[64], temperature=0.5, tau=1.0,
                           quantities=["drude"])
    sigma1_formula = result.response["prediction"][0]
    np.testing.assert_allclose(sigma1_formula, table.component("drude", "xx"), rtol=1e-12)


QWZ = {"name": "qwz", "parameters": {"A": 1.0, "B": 1.0, "m": -1.0, "g": 0.0}}


def test_conductivities_hall_quantised_in_the_gap_and_zero_below_the_bands():
    """Qi-Wu-Zhang with 0 < |m| < 2: Chern number +-1, sigma_xy = C / (2 pi) e^2/hbar with mu
    in the gap (Thouless, Kohmoto, Nightingale, den Nijs, Phys. Rev. Lett. 49, 405 (1982));
    with mu below both bands (|d(k)| <= sqrt(2 + 9) < 3.5) nothing is occupied."""
    table = conductivities(QWZ, [-3.5, 0.0], grid=[48, 48], quantities=["drude", "ahe"])
    hall = table.component("ahe", "xy")
    assert abs(abs(hall[1]) - 1 / (2 * math.pi)) < 1e-9
    assert hall[0] == 0 and np.all(table.tensors["drude"] == 0)
    np.testing.assert_allclose(table.component("ahe", "yx"), -hall, rtol=1e-14)
    assert table.units["ahe"] == "e^2/hbar * L0^(0)"
    assert table.forms == {"drude": "surface", "ahe": "sea"}


def test_conductivities_chain_drude_weight_and_tau_powers():
    """The chain eps = -2 t cos k at T = 0: sigma_xx / tau = (1/2 pi) sum over the two Fermi
    points of |v| = (2/pi) t sin(k_F), cos(k_F) = -mu / (2 t); nonlinear Drude scales as
    tau^2."""
    mu = np.array([-1.0, 0.0, 1.5])
    per_tau = conductivities({"name": "chain"}, mu, grid=[400],
                             quantities=["drude", "nonlinear_drude"])
    exact = 2 / math.pi * np.sin(np.arccos(-mu / 2))
    np.testing.assert_allclose(per_tau.component("drude", "xx"), exact, rtol=1e-4)
    tau = conductivities({"name": "chain"}, mu, grid=[400], tau=3.0,
                         quantities=["drude", "nonlinear_drude"])
    np.testing.assert_allclose(tau.tensors["drude"], 3.0 * per_tau.tensors["drude"], rtol=1e-14)
    np.testing.assert_allclose(tau.tensors["nonlinear_drude"],
                               9.0 * per_tau.tensors["nonlinear_drude"], rtol=1e-14, atol=0)


def test_conductivities_refuse_bad_input_with_one_line():
    with pytest.raises(ConfigError, match="unknown \\['hall'\\]"):
        conductivities(QWZ, [0.0], grid=[16, 16], quantities=["hall"])
    with pytest.raises(ConfigError, match="grid = \\[16\\]: expected 2"):
        conductivities(QWZ, [0.0], grid=[16])
    with pytest.raises(ConfigError, match="registered: chain"):
        conductivities({"name": "qwzz"}, [0.0], grid=[16, 16])
