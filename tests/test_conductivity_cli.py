"""Command line: python -m scripts.conductivity CONFIG [--json] [--out PATH]."""
import json

import h5py
import numpy as np
import pytest

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
        assert f["bcd"].attrs["units"] == "e^3/hbar * L0^(1) / E0"
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


def test_non_hermitian_user_model_is_rejected(tmp_path, capsys):
    path = tmp_path / "u.toml"
    path.write_text('[model]\nhamiltonian = "a*sin(kx)*sx + I*a*sy"\nparameters = { a = 1.0 }\n'
                    '[response]\nmu = [0.0]\ngrid = [16]\n')
    assert main([str(path), "--out", str(tmp_path / "x.h5")]) == 2
    assert "not Hermitian" in capsys.readouterr().err
