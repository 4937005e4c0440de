"""docs/toy003_qm.png: toy model of X.-B. Qiang, T. Liu, Z.-X. Gao, H.-Z. Lu, X. C. Xie, "A
Clarification on Quantum-Metric-Induced Nonlinear Transport", sigma^qm_xyy (j_x = sigma_xyy
E_y^2, the nonlinear Hall response written sigma^qm_xy by Qiang et al.) against mu for t/v =
0, 0.5, 0.9, one panel per literature form (WPD, LKA, QK), next to the anomalous Hall and BCD
conductivities (zero by PT symmetry).  T = 0, Fermi-surface forms, box [-0.8, 0.8]^2 nm^-1,
400 x 400.

Usage: python -m scripts.plot_toy003 [--out docs/toy003_qm.png] [--grid 400]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import matplotlib
import numpy as np

from moyal.geometry import band_geometry, k_grid
from moyal.models import KDomain, get_model
from moyal.response import response_tensors

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

T_OVER_V = (0.0, 0.5, 0.9)
FORMS = ("qm_wpd", "qm_lka", "qm_qk")


def toy_curves(mu, grid_points: int = 400) -> dict:
    """t -> {quantity: tensor array (n_mu, 2, 2[, 2])} in e^3/hbar nm/eV and e^2/hbar."""
    curves = {}
    for t in T_OVER_V:
        model = get_model("toy003", t=t).with_domain(KDomain("box", ((-0.8, 0.8),) * 2))
        grid = k_grid(model, (grid_points, grid_points))
        geometry = band_geometry(model, grid)
        curves[t] = response_tensors(geometry, grid, mu, 0.0, ["ahe", "bcd", *FORMS])
    return curves


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=Path("docs/toy003_qm.png"))
    parser.add_argument("--grid", type=int, default=400)
    args = parser.parse_args(argv)
    mu = np.linspace(0.11, 0.45, 35)
    curves = toy_curves(mu, args.grid)
    fig, axes = plt.subplots(1, 5, figsize=(19, 3.6))
    for ax, q in zip(axes, FORMS):
        for t in T_OVER_V:
            ax.plot(mu, curves[t][q][:, 0, 1, 1], label=f"t/v = {t}")
        ax.set_title(f"{q[3:].upper()}: sigma^qm_xyy")
        ax.set_ylabel("e^3/hbar * nm/eV")
    for ax, q, index, unit in ((axes[3], "ahe", (0, 1), "e^2/hbar"),
                               (axes[4], "bcd", (0, 1, 1), "e^3/hbar * nm/eV per tau")):
        for t in T_OVER_V:
            ax.plot(mu, curves[t][q][(slice(None),) + index], label=f"t/v = {t}")
        ax.set_title(f"{q.upper()} {'xy' if q == 'ahe' else 'xyy'} (zero by PT)")
        ax.set_ylim(-0.05, 0.05)
        ax.set_ylabel(unit)
    for ax in axes:
        ax.set_xlabel("mu [eV]")
        ax.axhline(0, color="0.7", lw=0.5)
        ax.legend(fontsize=7)
    fig.suptitle("Qiang et al. toy model Eq. (20): v = 1 eV nm, m = 0.1 eV, b = 1 eV nm^2, T = 0")
    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=110)
    for t in T_OVER_V:
        row = ", ".join(f"{q[3:]} {curves[t][q][list(mu).index(mu[4]), 0, 1, 1]:+.4f}"
                        for q in FORMS)
        print(f"t/v = {t}: mu = {mu[4]:.2f} eV: {row}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
