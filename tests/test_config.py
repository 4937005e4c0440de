"""Config validation: typed, range-checked keys with one-line errors naming key and value.

One schema (solvers/schema.py) checks every key; solvers.config adds relations between
tables; solvers.preflight.check_setup what needs other modules (the model, potential files,
the C kernel). The reference docs/config.md is generated from the schema.
"""

import re
from pathlib import Path

import pytest

from solvers import config, preflight, schema
from solvers.run import main

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
        preflight.check_setup(config.from_dict(raw))
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
    (or none)."""
    grid = config.from_dict({}).grid
    assert (grid.y, grid.ny, grid.y_min, grid.y_max) == ("none", 128, 0.0, 40.0)
    refusals = [({"y": "periodic"}, "grid.y = 'periodic': a y axis needs an x axis"),
                ({"x": "periodic", "y": "outflow", "y_min": 2.0, "y_max": 1.0},
                 "grid.y_max = 1.0: expected a value above grid.y_min = 2.0"),
                ({"x": "periodic", "y": "periodic", "y_refine": [50.0]},
                 "grid.y_refine[0] = 50.0"),
                ({"ny": 4}, "grid.ny = 4: expected an integer >= 8")]
    for grid_table, fragment in refusals:
        with pytest.raises(config.ConfigError, match=re.escape(fragment)):
            config.from_dict({"grid": grid_table})


@pytest.mark.parametrize("raw, fragment", [
    ({"model": {"name": "chain", "units": {"energy": "eV"}}},
     "model.units = {'energy': 'eV'}: unknown key; expected one of the keys name, parameters, "),
    ({"model": {"hamiltonian": "kx*sz", "dimension": 3}}, "model.dimension = 3: expected 1 or 2"),
    ({"model": {"name": "qwz", "degeneracy": "trace"}},
     "model.degeneracy = 'trace': expected one of 'auto', 'error', 'traced' (did you mean"),
    ({"model": {}}, "model: expected either name = "),
    ({"fields": {"potential": [{"kind": "stepp"}]}}, "(did you mean 'step'?)"),
    ({"fields": {"potential": [{"kind": "barrier", "amplitude": 1, "x1": 2, "x2": 1,
                                "width": 1}]}}, "x2 = 1.0: expected a position > x1 = 2.0"),
    ({"numerics": {"limiter": "vanler"}}, "(did you mean 'vanleer'?)"),
    ({"run": {"overwrite": 1}}, "run.overwrite = 1: expected true or false"),
])
def test_the_schema_alone_refuses_structure_without_building_anything(raw, fragment):
    """Unknown keys, types, choices and tags of [model] and [fields] are the schema's: no
    model is built (sympy is not needed) and no file is read."""
    with pytest.raises(config.ConfigError) as err:
        config.from_dict(raw)
    assert fragment in str(err.value) and "\n" not in str(err.value)


def test_what_needs_other_modules_is_refused_by_preflight(tmp_path):
    """A model name the registry lacks, a tabulated file that does not exist: valid
    structure (from_dict accepts it), refused by the preflight step."""
    for raw, fragment in [
            ({"model": {"name": "qwzz"}}, "model: "),
            ({"grid": {"x": "periodic"},
              "fields": {"potential": [{"kind": "tabulated", "file": str(tmp_path / "no.csv")}]}},
             "fields.potential[0].file = "),
            ({"model": {"name": "chain", "parameters": {"tt": 1.0}}}, "model: ")]:
        cfg = config.from_dict(raw)
        with pytest.raises(config.ConfigError, match=re.escape(fragment)):
            preflight.check_setup(cfg)


def test_config_error_is_one_class_from_the_leaf_module():
    from solvers import errors, fields

    assert config.ConfigError is errors.ConfigError is fields.ConfigError


def test_every_dataclass_field_is_a_schema_key_with_a_meaning():
    for name, table in schema.TABLES.items():
        tables = table.variants.values() if isinstance(table, schema.Union) else [table]
        for variant in tables:
            for key in variant.keys:
                assert key.doc and key.expected, (name, key.name)
                if key.item is not None:
                    for component in key.item.variants.values():
                        assert all(k.doc for k in component.keys), component.name
    cfg = config.from_dict({})
    for name, table in schema.TABLES.items():
        if isinstance(table, schema.Table) and name != "fields":
            assert [k.name for k in table.keys] == list(cfg.to_dict()[name]), name


def test_reference_doc_is_generated_from_the_schema():
    """docs/config.md is the output of `python -m solvers.schema --markdown`: regenerate it
    after changing a key."""
    assert Path("docs/config.md").read_text(encoding="utf-8") == schema.markdown(), \
        "docs/config.md is stale: python -m solvers.schema --markdown > docs/config.md"
    text = schema.markdown()
    for name, table in schema.TABLES.items():
        assert f"[{name}]" in text
    for key in ("`nk`", "`tau_inter`", "`stiffness`", "`hamiltonian`", "`ny`"):
        assert key in text


def test_list_keys_prints_the_reference(capsys):
    assert main(["--list-keys"]) == 0
    assert capsys.readouterr().out == schema.markdown()


def test_a_potential_profile_needs_its_real_space_axis():
    """A profile V_c(x) on a uniform problem (grid.x = 'none') was built and ignored by the
    k-only rate; it is refused, as is a profile along y without grid.y."""
    cosine = {"kind": "cosine", "amplitude": 0.1, "q": 1.0}
    for grid, component, fragment in [
            ({}, cosine, "fields.potential[0].axis = 'x': a profile along x needs a real-space x "
                         "axis; expected grid.x to be set"),
            ({"x": "periodic"}, {**cosine, "axis": "y"}, "fields.potential[0].axis = 'y'"),
            ({"x": "periodic"}, {**cosine, "axis": "z"},
             "fields.potential[0].axis = 'z': expected one of 'x', 'y'")]:
        with pytest.raises(config.ConfigError, match=re.escape(fragment)):
            config.from_dict({"grid": grid, "fields": {"potential": [component]}})
    assert config.from_dict({"grid": {"x": "periodic"}, "fields": {"potential": [cosine]}})


def test_model_keys_of_the_schema_are_the_model_layers():
    """The [model] keys are validated by the schema for runs and by moyal.models for direct
    callers (moyal-conductivity, notebooks): both sets must stay the same (the schema adds
    the solver option degeneracy)."""
    from moyal.models import MODEL_KEYS
    from solvers.schema import MODEL

    schema_keys = {key.name for variant in MODEL.variants.values() for key in variant.keys}
    assert schema_keys - {"degeneracy"} == MODEL_KEYS
