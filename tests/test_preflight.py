"""solvers.preflight counts every real-space axis: with grid.y the cells, the memory estimate
and the collapsed-cell check include y (the configs are made by replacing the validated grid,
which keeps them independent of the other grid checks)."""

import dataclasses

import pytest
from test_input_bounds import assert_memory_limit

from solvers import config, preflight


def with_y(**grid):
    """The chain on nk = [64] k cells, x and y periodic with 16 cells each, plus ``grid``."""
    cfg = config.from_dict({"grid": {"x": "periodic", "nx": 16, "nk": [64]}})
    return dataclasses.replace(cfg, grid=dataclasses.replace(
        cfg.grid, **{"y": "periodic", "ny": 16, **grid}))


def test_memory_estimate_counts_the_y_cells(monkeypatch):
    """64 x 16 x 16 = 16384 cells of one band: 230 bytes per unknown, plus the band geometry
    2 x 52 x 8 bytes per k cell and band (64 k cells)."""
    assert_memory_limit(monkeypatch, with_y(), 64 * 16 * 16 * 230 + 64 * 2 * 52 * 8,
                        r"grid.nx = 16, grid.ny = 16, grid.nk = \[64\]: "
                        r"about .* GB for 16384 cells x 1 unknowns")


def test_collapsed_y_cells_are_refused_naming_ny():
    cfg = with_y(y_refine=(20.0,), y_refine_width=1e-200, y_refine_ratio=1e300)
    with pytest.raises(config.ConfigError, match=r"grid.ny = 16 on \[grid.y_min, grid.y_max\]"):
        preflight.check_resources(cfg)
