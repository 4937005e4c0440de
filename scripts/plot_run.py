"""Plot a moyal run: f(x, k) at the first, middle and last write, and the density n(x).

Usage: python -m scripts.plot_run output/default.h5 [--out PNG]
Writes <file>.png next to the HDF5 file unless --out is given; prints the PNG path.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import h5py
import numpy as np


def plot(path: Path, out: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with h5py.File(path, "r") as h5:
        units = json.loads(h5.attrs["units"])
        x_edges, k_edges = h5["grid/x_edges"][:], h5["grid/k_edges"][:]
        x = h5["grid/x"][:]
        t = h5["scales/t"][:]
        writes = sorted({0, t.size // 2, t.size - 1})
        f = {i: h5["tasks/f"][i, 0] for i in writes}
        density = {i: h5["tasks/density"][i] for i in writes}
    fig, axes = plt.subplots(1, 4, figsize=(18, 4), constrained_layout=True)
    vmax = max(v.max() for v in f.values())
    for ax, i in zip(axes[:3], [writes[0], writes[len(writes) // 2], writes[-1]]):
        mesh = ax.pcolormesh(x_edges, k_edges, f[i].T, shading="flat", cmap="viridis",
                             vmin=0, vmax=vmax)
        ax.set_xlabel(f"x ({units['length']})")
        ax.set_ylabel(f"k (1/{units['length']})")
        ax.set_title(f"f(x, k) at t = {t[i]:.4g} hbar/{units['energy']}")
    fig.colorbar(mesh, ax=axes[:3], label="occupation")
    for i, style in zip(writes, ("-", ":", "--")):
        axes[3].plot(x, density[i], style, label=f"t = {t[i]:.4g}")
    axes[3].set_xlabel(f"x ({units['length']})")
    axes[3].set_ylabel(f"n(x) (1/{units['length']})")
    axes[3].legend()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file", type=Path)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    if not args.file.is_file():
        print(f"plot_run: error: {args.file} is not a file", file=sys.stderr)
        return 2
    try:
        out = plot(args.file, args.out or args.file.with_suffix(".png"))
    except (OSError, KeyError) as err:
        print(f"plot_run: error: {args.file} is not a moyal run file ({err})", file=sys.stderr)
        return 2
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
