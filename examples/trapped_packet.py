"""A sample with a potential profile: an electron packet in a harmonic trap (a few seconds).

``configs/harmonic.toml`` at reduced size (48 x 48 cells instead of 128 x 128) through
overrides: a free electron eps = k^2 / (2 m) in U(x) = K x^2 / 2, started as a packet at
x0 = 3 nm at rest, for one period 2 pi / omega, omega = sqrt(K / m) = 0.5 eV/hbar. U''' =
eps''' = 0, so the Moyal terms vanish and every phase-space point turns on the classical
orbit; the mean position follows x0 cos(omega t) exactly (Ehrenfest's theorem is exact for
a quadratic Hamiltonian). The run writes ``output/examples/trap.h5``.

Run from anywhere: ``python examples/trapped_packet.py``.
"""

import math
from pathlib import Path

import numpy as np

import solvers
from moyal.io import open_run
from solvers.api import moyal_config, run

CONFIGS = Path(solvers.__file__).resolve().parents[1] / "configs"

cfg = moyal_config(CONFIGS / "harmonic.toml", {
    "grid.nx": 48, "grid.nk": [48],
    "run.name": "trap", "run.output_dir": "output/examples", "run.overwrite": True})
result = run(cfg, stream=None)
print(f"{result.status}: {result.path}, t = {result.summary['t']:.4f} hbar/eV in "
      f"{result.summary['steps']} steps")

with open_run(result.path) as trap:
    density = trap["density"]                    # dims (t, x), 1/nm
t, x, width = density.coords["t"], density.coords["x"], density.widths("x")  # hbar/eV, nm
mean_x = (density.values * width * x).sum(axis=1) / (density.values * width).sum(axis=1)

omega = math.sqrt(cfg.fields["potential"][0]["stiffness"] / cfg.model["parameters"]["mass"])
x0 = cfg.initial.x_center
classical = x0 * np.cos(omega * t)
print(f"x0 = {x0} nm, omega = {omega} eV/hbar, period 2 pi/omega = {2 * math.pi / omega:.4f} "
      "hbar/eV")
print(f"{'t [hbar/eV]':>12}  {'<x> [nm]':>9}  {'x0 cos(omega t) [nm]':>20}")
for quarter in range(5):  # the writes nearest to t = 0, T/4, T/2, 3T/4, T
    i = np.argmin(np.abs(t - quarter * math.pi / (2 * omega)))
    print(f"{t[i]:12.4f}  {mean_x[i]:9.4f}  {classical[i]:20.4f}")
print(f"max |<x> - x0 cos(omega t)| over {t.size} writes = "
      f"{np.abs(mean_x - classical).max():.4f} nm")
