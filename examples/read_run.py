"""Post-processing: read the run file of ``examples/trapped_packet.py``, measure the
oscillation from the phase-space distribution and plot it (a few seconds).

``moyal.io.open_run`` gives every array of the file with named dimensions, coordinates
(cell centres and edges) and units, and the run's resolved config; the raw layout (for
h5py) is docs/output.md. For the harmonic trap every phase-space point turns on the
classical orbit, so <x>(t) = x0 cos(omega t) and <k>(t) = -m omega x0 sin(omega t): the zero
crossings of <x> are half a period pi/omega apart. Writes
``output/examples/trap_phase_space.png``.

Run from the directory where ``python examples/trapped_packet.py`` ran.
"""

import math
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from moyal.io import open_run

PATH = Path("output/examples/trap.h5")

with open_run(PATH) as trap:
    print(trap)
    f = trap["f"]                                 # dims (t, band, x, kx)
    potential = trap["potential"]                 # V(x) at t = 0
    config, units = trap.config, trap.units
print(f"f: dims {f.dims}, shape {f.shape}, {f.units}; x in {f.coord_units['x']}, "
      f"kx in {f.coord_units['kx']}, t in {f.coord_units['t']}")
print(f"potential: dims {potential.dims}, {potential.units}")

t, x, k = f.coords["t"], f.coords["x"], f.coords["kx"]
band = f.values[:, 0]                             # the one band: (t, x, kx)
cell = np.outer(np.diff(f.edges["x"]), np.diff(f.edges["kx"])) / (2 * math.pi)
number = (band * cell).sum(axis=(1, 2))
mean_x = (band * cell * x[:, None]).sum(axis=(1, 2)) / number
mean_k = (band * cell * k[None, :]).sum(axis=(1, 2)) / number

# zero crossings of <x>(t), linearly interpolated between writes
i = np.flatnonzero(np.sign(mean_x[:-1]) != np.sign(mean_x[1:]))
crossings = t[i] - mean_x[i] * (t[i + 1] - t[i]) / (mean_x[i + 1] - mean_x[i])
period = 2 * (crossings[1] - crossings[0])
mass = config["model"]["parameters"]["mass"]
omega = math.sqrt(config["fields"]["potential"][0]["stiffness"] / mass)
x0 = config["initial"]["x_center"]
quarter = np.argmin(np.abs(t - math.pi / (2 * omega)))
print(f"period from the zero crossings of <x>(t): {period:.4f} hbar/{units['energy']} "
      f"(classical 2 pi/omega = {2 * math.pi / omega:.4f})")
print(f"<k> at t = {t[quarter]:.4f}: {mean_k[quarter]:.4f} 1/{units['length']} "
      f"(classical -m omega x0 sin(omega t) = "
      f"{-mass * omega * x0 * math.sin(omega * t[quarter]):.4f})")
print(f"particle number: relative change {number[-1] / number[0] - 1:.1e} over the run")

fig, axes = plt.subplots(1, 3, figsize=(11, 3.4), sharey=True, constrained_layout=True)
for ax, n in zip(axes, (0, quarter, np.argmin(np.abs(t - math.pi / omega)))):
    mesh = ax.pcolormesh(f.edges["x"], f.edges["kx"], band[n].T, shading="flat")
    ax.set_title(f"t = {t[n]:.2f} {f.coord_units['t']}")
    ax.set_xlabel(f"x [{f.coord_units['x']}]")
axes[0].set_ylabel(f"k [{f.coord_units['kx']}]")
fig.colorbar(mesh, ax=axes, label="f (occupation)")
fig.savefig(PATH.with_name("trap_phase_space.png"), dpi=100)
print(f"wrote {PATH.with_name('trap_phase_space.png')}")
