"""Values of the right type but absurd size (issue 13): refused before anything is allocated or
written, with one line naming the key and the value (solvers.preflight)."""

import pytest
from test_reliability import one_line_error, snapshot, workdir  # noqa: F401 (workdir: fixture)

from solvers import config, preflight
from solvers.run import main

FIELD = ["fields.E=0.5"]  # chain, 16 k cells of 2 pi/16: stable step ~ cfl * 0.785

# (overrides, key, value as printed)
ABSURD = [
    (["grid.nk=[9223372036854775807]"], "grid.nk", "[9223372036854775807]"),
    (["grid.nk=[2147483648]"], "grid.nk", "[2147483648]"),
    (["grid.x=periodic", "grid.nx=1099511627776"], "grid.nx", "1099511627776"),
    (["numerics.dt=1e-300"], "numerics.dt", "1e-300"),
    (FIELD + ["numerics.cfl=1e-300"], "numerics.cfl", "1e-300"),
    (FIELD + ["run.t_end=1e308"], "run.t_end", "1e+308"),
    (["fields.E=1e308"], "fields.E", "1e+308"),
    (["grid.x=periodic", "grid.x_min=-1e308", "grid.x_max=1e308"], "grid.nx", "1e+308"),
    (["grid.x=periodic", "grid.x_refine=[20.0]", "grid.x_refine_width=1e-200",
      "grid.x_refine_ratio=1e300"], "grid.x_refine_ratio", "1e+300"),
    (["grid.k_refine=[0.0]", "grid.k_refine_width=1e-200", "grid.k_refine_ratio=1e300"],
     "grid.k_refine_ratio", "1e+300"),
    (["model.name=chain", "model.parameters={t=nan}"], "model.parameters.t", "nan"),
    (["model.name=chain", "model.parameters={t=inf}"], "model.parameters.t", "inf"),
    (["model.name=tilted_dirac", "model.domain=[[-inf, 3.0], [-3.0, 3.0]]",
      "grid.nk=[16, 16]"], "model", "-inf"),
]


@pytest.mark.parametrize("overrides, key, value", ABSURD, ids=[" ".join(o) for o, _, _ in ABSURD])
def test_absurd_value_exit_2_one_line_nothing_written(workdir, capsys, overrides, key,  # noqa: F811
                                                      value):
    before = snapshot(workdir / "out")
    line = one_line_error(main(["c.toml", *overrides]), capsys.readouterr().err)
    assert key in line and value in line and "expected" in line, line
    assert snapshot(workdir / "out") == before
    assert sorted(p.name for p in workdir.iterdir()) == ["c.toml", "out"]


def test_memory_estimate_refuses_above_the_available_memory(monkeypatch):
    """Chain (one band), band mode, 2**20 k cells: 230 bytes per unknown plus 2 x 52 reals of
    band geometry per k cell and band = 1062 bytes per cell, 1.114 GB in all."""
    cfg = config.from_dict({"grid": {"nk": [2 ** 20]}})
    assert_memory_limit(monkeypatch, cfg, 2 ** 20 * (230 + 2 * 52 * 8),
                        r"grid.nk = \[1048576\]: about 1.11 GB .* expected fewer cells")


def assert_memory_limit(monkeypatch, cfg, need: int, message: str):
    """check_resources passes with 1% more than ``need`` bytes available and refuses with
    ``message`` (a regex) with 1% less."""
    monkeypatch.setattr(preflight, "available_memory", lambda: int(need * 1.01))
    preflight.check_resources(cfg)
    monkeypatch.setattr(preflight, "available_memory", lambda: int(need * 0.99))
    with pytest.raises(config.ConfigError, match=message):
        preflight.check_resources(cfg)


def test_grid_beyond_the_available_memory_exit_2(workdir, capsys, monkeypatch):  # noqa: F811
    """2**25 k cells of the chain need about 35.6 GB by the estimate above: refused with 1 GB
    available, before anything is allocated."""
    monkeypatch.setattr(preflight, "available_memory", lambda: 10 ** 9)
    before = snapshot(workdir / "out")
    line = one_line_error(main(["c.toml", "grid.nk=[33554432]"]), capsys.readouterr().err)
    assert "grid.nk = [33554432]: about 35.6 GB" in line and "expected fewer cells" in line
    assert snapshot(workdir / "out") == before
