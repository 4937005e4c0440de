"""Plot a moyal run: f at the first, middle and last write, and the x-averaged observables.

Usage: python -m scripts.plot_run FILE.h5 [--out PNG] [--band B]

The top row shows f of one band (default 0) on the stored, possibly nonuniform, cells: steps
of the cell averages for a 1D k run, maps (pcolormesh on the cell edges) for (x, kx) and
(kx, ky), and for (x, kx, ky) a map over (x, kx) of the ky-marginal int dky/(2 pi) f.
The bottom row shows the time series of the x-averaged current components and density.
Reads gathered and per_rank files, also while the run is still writing them. Writes
<FILE>.png unless --out is given and prints the PNG path.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import h5py
import numpy as np

DIRECTIONS = "xy"


def open_run(path) -> h5py.File:
    """Open a run file for reading; works while the solver still has it open for writing."""
    return h5py.File(path, "r", locking=False)


def complete_writes(h5: h5py.File, tasks) -> int:
    """Writes present in /scales and in each of ``tasks`` (names under /tasks).

    A reader can catch the writer between appending /scales and the tasks, and a per_rank
    virtual dataset can be longer than /scales (blocks of an unfinished write) or shorter
    (rank files missing), so only the common length is read.
    """
    return min([h5["scales/t"].shape[0]] + [h5["tasks"][name].shape[0] for name in tasks])


def x_average(values: np.ndarray, x_edges: np.ndarray | None) -> np.ndarray:
    """Average over the last axis (x cells), weighted by the cell widths.

    Parameters
    ----------
    values : ndarray, shape (..., nx)
    x_edges : ndarray, shape (nx + 1,), or None
        Cell edges (length unit); None for a uniform problem (nx = 1).

    Returns
    -------
    ndarray, shape (...)
        (1/L) int values dx over the x interval of length L.
    """
    if x_edges is None:
        return values.mean(axis=-1)
    widths = np.diff(x_edges)
    return values @ widths / widths.sum()


def unit_labels(units: dict, dk: int) -> dict:
    """Unit strings from the file's ``units`` attribute for a run with ``dk`` k directions.

    With hbar = e = 1: density int dk/(2 pi)^dk f is in 1/length^dk; current density
    int dk/(2 pi)^dk v f (v in energy * length / hbar) is in e * energy * length^(1 - dk) / hbar;
    with the field E in energy/(e * length), sigma1 = j/|E| is in e^2 length^(2 - dk)/hbar and
    sigma2 = j/|E|^2 in e^3 length^(3 - dk)/(hbar energy).
    """
    energy, length = units["energy"], units["length"]

    def power(p):
        return "" if p == 0 else length if p == 1 else f"{length}^{p}"

    def times(p):
        return "" if p == 0 else f" {power(p)}" if p > 0 else f"/{power(-p)}"

    return {
        "time": f"hbar/{energy}",
        "length": length,
        "momentum": f"1/{length}",
        "field": f"{energy}/(e {length})",
        "density": f"1/{power(dk)}",
        "current": f"e {energy}/hbar" if dk == 1 else f"e {energy}/(hbar {power(dk - 1)})",
        "sigma1": f"e^2{times(2 - dk)}/hbar",
        "sigma2": f"e^3{times(3 - dk)}/(hbar {energy})",
    }


def read_series(path) -> dict:
    """x-averaged observables of a run file, one entry per complete write.

    Returns
    -------
    dict
        ``t`` (n,) in hbar/energy; ``current`` (n, directions) and ``density`` (n,),
        x-averaged; ``axes`` (list of str); ``units`` (dict of unit labels, see
        :func:`unit_labels`); ``config`` (dict).
    """
    with open_run(path) as h5:
        axes = json.loads(h5.attrs["axes"])
        n = complete_writes(h5, ("current", "density"))
        x_edges = h5["grid/x_edges"][...] if "x" in axes else None
        dk = sum(a.startswith("k") for a in axes)
        return {"t": h5["scales/t"][:n],
                "current": x_average(h5["tasks/current"][:n], x_edges),
                "density": x_average(h5["tasks/density"][:n], x_edges),
                "axes": axes,
                "units": unit_labels(json.loads(h5.attrs["units"]), dk),
                "config": json.loads(h5.attrs["config"])}


def read_distribution(path, band: int) -> dict:
    """f of one band at the first, middle and last complete write.

    Axes beyond the first two (ky of an (x, kx, ky) run) are integrated out with
    int dk/(2 pi), so the result is at most two-dimensional.

    Returns
    -------
    dict
        ``writes`` (list of write indices), ``t`` (list of times), ``f`` (list of arrays of
        shape (n_0[, n_1])), ``axes`` (the kept axis names), ``edges`` (their cell edges),
        ``integrated`` (names of the integrated axes).
    """
    with open_run(path) as h5:
        axes = json.loads(h5.attrs["axes"])
        n = complete_writes(h5, ("f",))
        if n == 0 and h5["scales/t"].shape[0] > 0:
            raise ValueError(f"/tasks/f has no write: per_rank output without its rank files "
                             f"({Path(path).stem}.ranks/ next to the file)?")
        if n == 0:
            raise ValueError("no complete write yet")
        dof = h5["tasks/f"].shape[1]
        if not 0 <= band < dof:
            raise ValueError(f"--band {band}: expected 0 to {dof - 1} (f has {dof} per cell)")
        writes = sorted({0, (n - 1) // 2, n - 1})
        kept, integrated = axes[:2], axes[2:]
        widths = [np.diff(h5[f"grid/{a}_edges"][...]) / (2 * np.pi) for a in integrated]
        slices = []
        for i in writes:
            f = h5["tasks/f"][i, band]
            for w in reversed(widths):
                f = f @ w
            slices.append(f)
        return {"writes": writes, "t": [float(h5["scales/t"][i]) for i in writes], "f": slices,
                "axes": kept, "edges": [h5[f"grid/{a}_edges"][...] for a in kept],
                "integrated": integrated}


def axis_label(name: str, units: dict) -> str:
    return f"{name} ({units['momentum'] if name.startswith('k') else units['length']})"


def plot(path: Path, out: Path, band: int = 0) -> Path:
    """Write the PNG ``out`` for the run file ``path``; returns ``out``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    series = read_series(path)
    dist = read_distribution(path, band)
    units, config = series["units"], series["config"]
    mode = config.get("mode", {})
    if mode.get("kind", "band") == "band":  # f[b] is the b-th evolved band
        what = f"band {mode['bands'][band] if mode.get('bands') else band}"
    else:  # matrix mode: N*N real components of the Wigner matrix per cell
        what = f"component {band}"
    name = "f" if not dist["integrated"] else \
        "int " + " ".join(f"d{a}/(2 pi)" for a in dist["integrated"]) + " f"
    layout = [["f0", "f1", "f2"], ["j", "j", "n"]] if len(dist["axes"]) == 2 \
        else [["f", "f", "f"], ["j", "j", "n"]]
    fig, ax = plt.subplot_mosaic(layout, figsize=(15, 8.5), constrained_layout=True)
    if len(dist["axes"]) == 2:
        values = np.concatenate([f.ravel() for f in dist["f"]])
        vmin, vmax = np.nanmin(values), np.nanmax(values)
        for j, (f, t) in enumerate(zip(dist["f"], dist["t"])):
            a = ax[f"f{j}"]
            mesh = a.pcolormesh(*dist["edges"], f.T, shading="flat", cmap="viridis",
                                vmin=vmin, vmax=vmax)
            a.set_xlabel(axis_label(dist["axes"][0], units))
            a.set_ylabel(axis_label(dist["axes"][1], units))
            a.set_title(f"{name}, {what}, t = {t:.4g} {units['time']}")
            if all(n.startswith("k") for n in dist["axes"]):
                a.set_aspect("equal")
        for j in range(len(dist["f"]), 3):  # a run with fewer than three writes
            ax[f"f{j}"].set_axis_off()
        fig.colorbar(mesh, ax=[ax["f0"], ax["f1"], ax["f2"]], label=f"{name} ({what})")
    else:
        for f, t, style in zip(dist["f"], dist["t"], ("-", "--", ":")):  # cell averages
            ax["f"].stairs(f, dist["edges"][0], linestyle=style,
                           label=f"t = {t:.4g} {units['time']}")
        ax["f"].set_xlabel(axis_label(dist["axes"][0], units))
        ax["f"].set_ylabel(f"f ({what})")
        ax["f"].set_title(f"f, {what}, at the first, middle and last write")
        ax["f"].legend()
    averaged = "x-averaged " if "x" in series["axes"] else ""
    for r in range(series["current"].shape[1]):
        ax["j"].plot(series["t"], series["current"][:, r], label=f"j_{DIRECTIONS[r]}")
    ax["j"].set_xlabel(f"t ({units['time']})")
    ax["j"].set_ylabel(f"current density ({units['current']})")
    ax["j"].set_title(f"{averaged}electric current")
    ax["j"].legend()
    density = series["density"]
    drift = np.max(np.abs(density - density[0])) / max(abs(density[0]), 1e-300)
    ax["n"].plot(series["t"], density)
    # a conserved density would otherwise fill the panel with rounding noise
    middle = 0.5 * (np.nanmax(density) + np.nanmin(density))
    pad = max(0.6 * np.ptp(density), 1e-3 * abs(middle), 1e-300)
    ax["n"].set_ylim(middle - pad, middle + pad)
    ax["n"].ticklabel_format(axis="y", useOffset=False)
    ax["n"].set_xlabel(f"t ({units['time']})")
    ax["n"].set_ylabel(f"density ({units['density']})")
    ax["n"].set_title(f"{averaged}density (largest relative change {drift:.1e})")
    model = config.get("model", {}).get("name", "?")
    fig.suptitle(f"{path.name}: model {model}, axes ({', '.join(series['axes'])})")
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file", type=Path, help="run file <name>.h5 (not _response.h5)")
    parser.add_argument("--out", type=Path, help="PNG path (default: FILE with .png)")
    parser.add_argument("--band", type=int, default=0,
                        help="index along f's dof axis (default 0: the lowest evolved band)")
    args = parser.parse_args(argv)
    if not args.file.is_file():
        print(f"plot_run: error: {args.file} is not a file", file=sys.stderr)
        return 2
    try:
        out = plot(args.file, args.out or args.file.with_suffix(".png"), args.band)
    except (OSError, KeyError) as err:
        print(f"plot_run: error: {args.file} is not a moyal run file ({err})", file=sys.stderr)
        return 2
    except ValueError as err:
        print(f"plot_run: error: {args.file}: {err}", file=sys.stderr)
        return 2
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
