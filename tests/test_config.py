"""Config validation: typed, range-checked keys with one-line errors naming key and value."""

import pytest

from solvers import config


def test_defaults_round_trip():
    cfg = config.from_dict({})
    assert cfg.grid.nx == 128 and cfg.numerics.limiter == "vanleer"
    assert cfg.to_dict()["fields"]["E"] == cfg.fields.E


def test_default_toml_is_valid():
    cfg = config.load("configs/default.toml")
    # the default runs exactly one Bloch period 2 pi / (E a)
    assert cfg.run.t_end == pytest.approx(2 * 3.141592653589793 / (cfg.fields.E
                                          * cfg.model.lattice_constant), rel=1e-15)


@pytest.mark.parametrize("raw, fragment", [
    ({"grid": {"nx": 3}}, "grid.nx = 3: expected an integer >= 8"),
    ({"grid": {"nx": 64.0}}, "grid.nx = 64.0: expected an integer >= 8"),
    ({"grid": {"nx": True}}, "grid.nx = True"),
    ({"grid": {"nxx": 64}}, "did you mean 'nx'"),
    ({"gird": {"nx": 64}}, "did you mean 'grid'"),
    ({"numerics": {"limiter": "superbee"}}, "expected one of 'minmod'"),
    ({"numerics": {"cfl": 1.5}}, "numerics.cfl = 1.5: expected a number in (0, 1]"),
    ({"initial": {"temperature": -1.0}}, "initial.temperature = -1.0"),
    ({"fields": {"E": float("nan")}}, "expected a finite number"),
    ({"run": 3}, "run = 3: expected a table"),
])
def test_bad_values_name_key_value_and_expectation(raw, fragment):
    with pytest.raises(config.ConfigError) as err:
        config.from_dict(raw)
    assert fragment in str(err.value)
    assert "\n" not in str(err.value)


def test_overrides_are_typed(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text("[grid]\nnx = 16\n")
    cfg = config.load(path, ["grid.nk=32", "run.name=sweep_1", "fields.E=0.5"])
    assert (cfg.grid.nx, cfg.grid.nk, cfg.run.name, cfg.fields.E) == (16, 32, "sweep_1", 0.5)
    with pytest.raises(config.ConfigError, match="expected table.key=value"):
        config.load(path, ["nx=3"])
