"""The run's diagnostics: particle number, its expected change, the Landau-Zener transfer.

References: the particle number is int dk/(2 pi) tr F computed here from the gathered final
state (matrix mode: the N diagonal unknowns, not the coherences); the relaxation towards a
fixed mu changes it by (N_eq - N_0)(1 - exp(-t/tau)), N = int dk/(2 pi) f0(-2 cos k) by
quadrature; the transfer probability of a Landau-Zener sweep is exp(-pi m^2/(v E))
(hbar = 1).
"""

import math
import re
from pathlib import Path

import numpy as np
import pytest
from petsc4py import PETSc
from scipy.integrate import quad

from solvers import config
from solvers.collisions import fermi_dirac
from solvers.run import main, simulate

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def test_matrix_particle_number_is_the_trace_not_the_coherences(tmp_path):
    """Landau-Zener sweep in matrix mode: the coherences grow from 0 to O(1), so the sum of
    all packed unknowns changes by more than 1e-3, while tr F changes only by the Gaussian
    tails crossing the open k ends (6 widths away: ~1e-7). The reported drift is that of
    tr F, computed here from the final state."""
    nk = 256
    cfg = config.load(CONFIGS / "landau_zener.toml",
                      [f"grid.nk=[{nk}]", f"run.output_dir='{tmp_path}'",
                       "run.output_every=100000", "run.progress_every=100000"])
    summary, final = simulate(cfg, tmp_path / "lz.h5", PETSc.COMM_SELF, stream=None)
    edges = np.linspace(-21.0, 21.0, nk + 1)
    k, measure = 0.5 * (edges[1:] + edges[:-1]), np.diff(edges) / (2 * np.pi)
    initial = np.exp(-0.5 * ((k - 12.0) / 1.5) ** 2) @ measure  # band_window, tr P = 1
    trace_change = abs(final[:2].sum(axis=0) @ measure - initial) / initial
    assert trace_change < 1e-6
    assert summary["number_drift"] == pytest.approx(trace_change, rel=1e-6, abs=1e-15)
    assert abs(final.sum(axis=0) @ measure - initial) > 1e-3 * initial


def test_landau_zener_run_prints_the_transfer_probability(tmp_path, capsys):
    """configs/landau_zener.toml on 256 k cells: P = 0.2087 (0.2080 on 512 and 1024 cells)
    against exp(-pi/2) = 0.2079."""
    cfg_path = CONFIGS / "landau_zener.toml"
    code = main([str(cfg_path), "grid.nk=[256]", f"run.output_dir='{tmp_path}'",
                 "run.progress_every=100000", "run.output_every=100000"])
    assert code == 0
    text = capsys.readouterr().out
    match = re.search(r"interband transfer P = ([0-9.]+) \(Landau-Zener exp\(-pi m\^2/\(v E\)\)"
                      r" = ([0-9.]+)\)", text)
    assert match, text
    measured, formula = float(match.group(1)), float(match.group(2))
    assert formula == pytest.approx(math.exp(-math.pi * 0.5), abs=1e-4)  # m^2/(v E) = 0.5
    assert measured == pytest.approx(formula, abs=2e-3), text
    assert "band populations at t = 24" in text


def test_fixed_mu_relaxation_reports_the_expected_number_change(tmp_path, capsys):
    """configs/relaxation.toml: mu 0.8 -> -0.3 at T = 0.4, tau = 2; the line says the change
    is expected and gives its size, (N_eq - N_0)(1 - e^{-t/tau}) / N_0."""
    t_end = 2.0
    code = main([str(CONFIGS / "relaxation.toml"), f"run.t_end={t_end}",
                 f"run.output_dir='{tmp_path}'", "run.progress_every=100000"])
    assert code == 0
    text = capsys.readouterr().out

    def number(mu):
        return quad(lambda k: fermi_dirac(-2 * np.cos(k), mu, 0.4), -np.pi, np.pi)[0] / (2 * np.pi)

    expected = abs(number(-0.3) - number(0.8)) * (1 - math.exp(-t_end / 2.0)) / number(0.8)
    match = re.search(r"particle number changed by ([0-9.e+-]+) \(relative; expected: "
                      r"collisions.kind = 'fixed' relaxes to a fixed mu and does not conserve "
                      r"it\)", text)
    assert match, text
    assert float(match.group(1)) == pytest.approx(expected, rel=0.02)  # printed to 2 digits
