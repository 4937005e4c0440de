"""Conductivity scan: the Drude and anomalous Hall conductivities of the Qi-Wu-Zhang model
over a few chemical potentials, from the k-space formulas (no simulation; a few seconds).

Model: H0(k) = A sin(kx) sx + A sin(ky) sy + (m + B (cos kx + cos ky)) sz (X.-L. Qi, Y.-S. Wu,
S.-C. Zhang, Phys. Rev. B 74, 085308 (2006)), lattice constant 1, energies in E0. With
0 < |m| < 2 the lower band has Chern number C = +-1, so with mu in the gap (|mu| < 1 here)
sigma_xy = C e^2/h = C / (2 pi) e^2/hbar (D. J. Thouless, M. Kohmoto, M. P. Nightingale,
M. den Nijs, Phys. Rev. Lett. 49, 405 (1982)), and no Fermi surface: sigma_xx = 0. Below both
bands nothing is occupied and above both bands the total Chern number is 0: all zero.

Run from anywhere: ``python examples/conductivity_scan.py``.
"""

import math

from solvers.api import conductivities

MODEL = {"name": "qwz", "parameters": {"A": 1.0, "B": 1.0, "m": -1.0, "g": 0.0}}
MU = [-3.5, -2.0, -0.5, 0.0, 0.5, 2.0, 3.5]  # E0; the bands span [-3, -1] and [1, 3]
GRID = [96, 96]  # k points per direction

table = conductivities(MODEL, MU, grid=GRID, temperature=0.0, quantities=["drude", "ahe"])
drude, hall = table.component("drude", "xx"), table.component("ahe", "xy")
print(f"Qi-Wu-Zhang m = -1, T = 0, {GRID[0]} x {GRID[1]} k points")
print(f"{'mu [E0]':>8}  {'sigma_xx/tau [e^2/hbar per hbar/E0]':>36}  {'sigma_xy [e^2/hbar]':>20}")
for mu, xx, xy in zip(table.mu, drude, hall):
    print(f"{mu:8.2f}  {xx:36.6f}  {xy:20.6f}")
print(f"reference in the gap: |sigma_xy| = 1/(2 pi) = {1 / (2 * math.pi):.6f} e^2/hbar "
      "(Chern number +-1)")
