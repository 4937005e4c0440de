"""Config validation: typed, range-checked keys with one-line errors naming key and value."""

import re
from pathlib import Path

import pytest

from solvers import config

# conductivity_*.toml are inputs of the k-space calculator (scripts/conductivity.py)
CONFIGS = sorted(p for p in Path("configs").glob("*.toml")
                 if not p.name.startswith("conductivity_"))


def test_defaults_round_trip():
    cfg = config.from_dict({})
    assert cfg.grid.nk == (64,) and cfg.numerics.limiter == "vanleer"
    assert cfg.to_dict()["mode"]["kind"] == "band"


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_shipped_configs_are_valid(path):
    config.load(path)


def test_default_is_a_2d_lattice_model_in_band_mode_of_order_2():
    cfg = config.load("configs/default.toml")
    assert cfg.mode.kind == "band" and cfg.mode.order == 2 and len(cfg.grid.nk) == 2
    assert cfg.response.scales and cfg.grid.x == "none"


@pytest.mark.parametrize("raw, fragment", [
    ({"grid": {"nx": 3}}, "grid.nx = 3: expected an integer >= 8"),
    ({"grid": {"nx": 64.0}}, "grid.nx = 64.0: expected an integer >= 8"),
    ({"grid": {"nx": True}}, "grid.nx = True"),
    ({"grid": {"nxx": 64}}, "did you mean 'nx'"),
    ({"gird": {"nx": 64}}, "did you mean 'grid'"),
    ({"grid": {"nk": [4]}}, "grid.nk[0] = 4"),
    ({"grid": {"nk": [16, 16, 16]}}, "expected a list of 1 or 2 integers >= 8"),
    ({"grid": {"x": "periodic", "x_min": 5.0, "x_max": 1.0}}, "grid.x_max = 1.0"),
    ({"numerics": {"limiter": "superbee"}}, "expected one of 'minmod'"),
    ({"numerics": {"cfl": 1.5}}, "numerics.cfl = 1.5: expected a number in (0, 1]"),
    ({"numerics": {"cfl": 0.0}}, "numerics.cfl = 0.0"),
    ({"initial": {"temperature": -1.0}}, "initial.temperature = -1.0"),
    ({"collisions": {"tau": 0.0}}, "collisions.tau = 0.0: expected a positive time"),
    ({"collisions": {"kind": "bgk"}}, "collisions.kind = 'bgk'"),
    ({"fields": {"E": float("nan")}}, "fields.E"),
    ({"model": {"name": "qwzz"}}, "model: "),
    ({"mode": {"order": 3}}, "mode.order = 3"),
    ({"response": {"scales": [1.0, 2.0]}}, "response.scales"),
    ({"response": {"scales": [1.0, -1.0]}}, "a steady current needs collisions"),
    ({"run": 3}, "run = 3: expected a table"),
    ({"run": {"restart": True, "overwrite": True}}, "run.restart = true"),
    ({"run": {"name": "../x"}}, "run.name = '../x': expected one file-name component"),
    ({"model": {"hamiltonian": "sx.T"}}, "model.hamiltonian: 'sx.T': attribute access"),
    ({"model": {"name": "chain", "parameters": {"t": float("nan")}}},
     "model.parameters.t = nan: expected a finite real number"),
])
def test_bad_values_name_key_value_and_expectation(raw, fragment):
    with pytest.raises(config.ConfigError) as err:
        config.from_dict(raw)
    assert fragment in str(err.value)
    assert "\n" not in str(err.value)


def test_overrides_are_typed(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text("[grid]\nnx = 16\n")
    cfg = config.load(path, ["grid.nk=[32]", "run.name=sweep_1", "fields.E=0.5"])
    assert (cfg.grid.nx, cfg.grid.nk, cfg.run.name, cfg.fields["E"]) == \
        (16, (32,), "sweep_1", 0.5)
    with pytest.raises(config.ConfigError, match="expected table.key=value"):
        config.load(path, ["nx=3"])


def test_y_axis_keys_default_to_no_y_axis_and_are_checked():
    """grid.y and its keys exist for the 2D real-space layout; the default keeps a 1D x axis
    (or none), and a y axis is refused until the layout builds it."""
    grid = config.from_dict({}).grid
    assert (grid.y, grid.ny, grid.y_min, grid.y_max) == ("none", 128, 0.0, 40.0)
    refusals = [({"y": "periodic"}, "grid.y = 'periodic': a y axis needs an x axis"),
                ({"x": "periodic", "y": "outflow", "y_min": 2.0, "y_max": 1.0},
                 "grid.y_max = 1.0: expected a value above grid.y_min = 2.0"),
                ({"x": "periodic", "y": "periodic", "y_refine": [50.0]}, "grid.y_refine[0] = 50.0"),
                ({"ny": 4}, "grid.ny = 4: expected an integer >= 8"),
                ({"x": "periodic", "y": "periodic"}, "not implemented yet")]
    for grid_table, fragment in refusals:
        with pytest.raises(config.ConfigError, match=re.escape(fragment)):
            config.from_dict({"grid": grid_table})
