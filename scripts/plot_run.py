"""Plot a moyal run: what changed in f at the first, middle and last write, and the observables.

Usage: python -m scripts.plot_run FILE.h5 [--out PNG] [--band B]

The top row shows f - f_eq of the band where it changes most (``--band`` picks another),
f_eq being the run file's equilibrium ``/model/f_eq`` (of the collisions, else of the initial
state; f itself for a packet without collisions, f - f(t = 0) for a file without one), on
the stored, possibly nonuniform, cells: steps of the cell averages for a 1D k run, maps
(pcolormesh on the cell edges) for (x, kx) and (kx, ky), and for (x, kx, ky) a map over
(x, kx) of the ky-marginal int dky/(2 pi). Changes at or below 10 eps max|f| are rounding and
drawn as "0 (round-off)". With an x axis, the potential energy U(x) = -V(x) (electron charge
-e) of ``/model/potential`` is overlaid. Matrix mode shows the band populations <n|F|n> and
the interband coherence |F_mn| in the band basis of H0(k). The bottom row shows the time
series of the x-averaged current components (a component at rounding level drawn as
"0 (round-off)") and density. Axis labels name the file's units. Reads gathered and
per_rank files, also while the run is still writing them. Writes <FILE>.png unless --out is
given and prints the PNG path.
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
        "energy": energy,
        "time": f"hbar/{energy}",
        "length": length,
        "momentum": f"1/{length}",
        "field": f"{energy}/(e {length})",
        "density": f"1/{power(dk)}",
        "current": f"e {energy}/hbar" if dk == 1 else f"e {energy}/(hbar {power(dk - 1)})",
        "sigma1": f"e^2{times(2 - dk)}/hbar",
        "sigma2": f"e^3{times(3 - dk)}/(hbar {energy})",
    }


def current_floor(h5: h5py.File, axes: list, density: np.ndarray) -> float:
    """Largest |j| that is rounding: 10 eps v_max max|n| (current units; 0 if unknown).

    j = -sum_n int dk/(2 pi)^dk v_n f_n is a sum of terms bounded by v_max |f|, so its
    rounding error is about eps v_max n; v_max, the largest band velocity |d eps / dk|, is
    taken from the run file's band energies ``/model/energy`` (differences of neighbouring
    k cells); 0 when the file has none.
    """
    if "model/energy" not in h5:
        return 0.0
    energy = h5["model/energy"][...]
    speeds = [np.abs(np.diff(energy, axis=1 + i)) / np.expand_dims(
        np.diff(h5[f"grid/{a}"][...]), tuple(d for d in range(energy.ndim) if d != 1 + i))
        for i, a in enumerate(a for a in axes if a.startswith("k"))]
    v_max = max((float(np.max(v, initial=0.0)) for v in speeds), default=0.0)
    return 10 * np.finfo(float).eps * v_max * float(np.max(np.abs(density), initial=0.0))


def read_series(path) -> dict:
    """x-averaged observables of a run file, one entry per complete write.

    Returns
    -------
    dict
        ``t`` (n,) in hbar/energy; ``current`` (n, directions) and ``density`` (n,),
        x-averaged; ``current_floor`` (float, see :func:`current_floor`); ``axes`` (list of str); ``units`` (dict of unit labels, see
        :func:`unit_labels`); ``config`` (dict).
    """
    with open_run(path) as h5:
        axes = json.loads(h5.attrs["axes"])
        n = complete_writes(h5, ("current", "density"))
        x_edges = h5["grid/x_edges"][...] if "x" in axes else None
        dk = sum(a.startswith("k") for a in axes)
        density = x_average(h5["tasks/density"][:n], x_edges)
        return {"t": h5["scales/t"][:n],
                "current": x_average(h5["tasks/current"][:n], x_edges),
                "density": density,
                "current_floor": current_floor(h5, axes, density),
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
        dof = h5["tasks/f"].shape[1]
        if not 0 <= band < dof:
            raise ValueError(f"--band {band}: expected 0 to {dof - 1} (f has {dof} per cell)")
        shown = Shown(h5)
        return {**shown.layout(), "f": [shown.integrate(shown.f(i)[band]) for i in shown.writes]}


class Shown:
    """What the top row of a run's figure shows: writes, kept axes, the k-integration.

    The writes are the first, middle and last complete one; axes beyond the first two (ky of
    an (x, kx, ky) run) are integrated out with int dk/(2 pi).
    """

    def __init__(self, h5: h5py.File):
        self.h5 = h5
        self.axes = json.loads(h5.attrs["axes"])
        n = complete_writes(h5, ("f",))
        if n == 0 and h5["scales/t"].shape[0] > 0:
            raise ValueError(f"/tasks/f has no write: per_rank output without its rank files "
                             f"({Path(h5.filename).stem}.ranks/ next to the file)?")
        if n == 0:
            raise ValueError("no complete write yet")
        self.writes = sorted({0, (n - 1) // 2, n - 1})
        self.kept, self.integrated = self.axes[:2], self.axes[2:]
        self.widths = [np.diff(h5[f"grid/{a}_edges"][...]) / (2 * np.pi)
                       for a in self.integrated]

    def f(self, write: int) -> np.ndarray:
        """``/tasks/f`` at one write, shape (dof, *sizes)."""
        return self.h5["tasks/f"][write]

    def integrate(self, values: np.ndarray) -> np.ndarray:
        """int dk/(2 pi) over the integrated (trailing) axes."""
        for w in reversed(self.widths):
            values = values @ w
        return values

    def layout(self) -> dict:
        return {"writes": self.writes, "t": [float(self.h5["scales/t"][i]) for i in self.writes],
                "axes": self.kept, "edges": [self.h5[f"grid/{a}_edges"][...] for a in self.kept],
                "integrated": self.integrated}

    def constant(self, name: str):
        """``/model/<name>`` broadcast against f (x axes inserted), or None if absent."""
        if f"model/{name}" not in self.h5:
            return None
        data = self.h5[f"model/{name}"]
        dims = json.loads(data.attrs["dims"])
        leading = [d for d in dims if d not in self.axes]
        index = tuple(slice(None) if a in dims else None for a in self.axes)
        return data[...][(slice(None),) * len(leading) + index], dict(data.attrs)


def roundoff_floor(magnitude: np.ndarray) -> float:
    """Largest |f - f_eq| that is rounding: 10 eps max |f| (same integration as shown).

    f - f_eq is formed cell by cell before any k-integration, so its rounding error is at most
    eps |f| per cell, and eps int |f| after the integration; 10x that is the floor.
    """
    return 10 * np.finfo(float).eps * float(np.max(magnitude, initial=0.0))


def band_basis(h5: h5py.File, axes: list) -> np.ndarray:
    """Eigenvectors W(k) of H0 at the k-cell centres, shape (*k sizes, N, N), broadcast
    against the x axes of f (x axes of size 1); from the file's model table."""
    from solvers.matrix_mode import hamiltonian_on_cells
    from solvers.preflight import model_from_table

    model, _ = model_from_table(json.loads(h5.attrs["config"])["model"])
    k_axes = [a for a in axes if a.startswith("k")]
    h0 = hamiltonian_on_cells(model, [h5[f"grid/{a}"][...] for a in k_axes], 0)[()]
    vectors = np.linalg.eigh(h0)[1]
    return vectors.reshape((1,) * (len(axes) - len(k_axes)) + vectors.shape)


def read_change(path, band: int | None = None) -> dict:
    """f - f_eq of the band where it changes most (band mode), or band populations and
    coherence (matrix mode), at the first, middle and last complete write.

    The reference f_eq is the run file's ``/model/f_eq`` (the equilibrium of the relaxation,
    or of the initial state); without one, the first write (t = 0); none (f itself) for a
    packet without collisions, which is near no equilibrium. Values at or below the rounding
    floor (:func:`roundoff_floor`) are shown as 0.

    Returns
    -------
    dict
        The keys of :func:`read_distribution` (``f``: the change of the chosen band, integrated
        like it) and ``band`` (chosen dof index), ``reference`` (label of f_eq; None: f
        itself is shown), ``floor``,
        ``roundoff`` (True if every shown change is at or below the floor), ``matrix``
        (matrix mode only: ``populations`` (write, N, *shown) and ``coherence`` (write,
        *shown) of the band-basis Wigner matrix, integrated like f).
    """
    from solvers.matrix_mode import unpack

    with open_run(path) as h5:
        shown = Shown(h5)
        config = json.loads(h5.attrs["config"])
        matrix = config.get("mode", {}).get("kind", "band") == "matrix"
        reference = shown.constant("f_eq")
        states = [shown.f(i) for i in shown.writes]
        if config.get("initial", {}).get("kind") == "packet" and (
                reference is None or reference[1]["source"] == "initial"):
            # no equilibrium the run is near: f_eq of the initial (mu, T) is x-uniform
            f_eq, label = np.zeros_like(states[0]), None
        elif reference is None:
            f_eq, label = states[0], "f(t = 0)"
        else:
            f_eq, attrs = reference
            label = f"equilibrium at mu = {attrs['mu']:g}, T = {attrs['temperature']:g}"
        if matrix:  # occupations and coherences in the band basis of H0(k)
            basis = band_basis(h5, shown.axes)

            def rotate(packed):
                F = unpack(packed)
                return np.swapaxes(basis.conj(), -1, -2) @ F @ basis

            f_eq_band = np.real(np.diagonal(rotate(f_eq), axis1=-2, axis2=-1))
            rotated = [rotate(f) for f in states]
            occupations = [np.moveaxis(np.real(np.diagonal(r, axis1=-2, axis2=-1)), -1, 0)
                           for r in rotated]
            rows, cols = np.triu_indices(rotated[0].shape[-1], 1)
            coherence = [np.sqrt(np.sum(np.abs(r[..., rows, cols]) ** 2, axis=-1))
                         for r in rotated]
            f_eq = np.moveaxis(f_eq_band, -1, 0)
            states = occupations
        changes = [f - f_eq for f in states]
        dof = changes[0].shape[0]
        if band is not None and not 0 <= band < dof:
            raise ValueError(f"--band {band}: expected 0 to {dof - 1} (f has {dof} per cell)")
        magnitude = [[shown.integrate(np.abs(f[b])) for f in states] for b in range(dof)]
        shown_changes = [[shown.integrate(c[b]) for c in changes] for b in range(dof)]
        if band is None:
            band = int(np.argmax([max(np.max(np.abs(c)) for c in per_band)
                                  for per_band in shown_changes]))
        floor = roundoff_floor(np.array(magnitude[band]))
        values = [np.where(np.abs(c) <= floor, 0.0, c) for c in shown_changes[band]]
        result = {**shown.layout(), "f": values, "band": band, "reference": label,
                  "floor": floor, "roundoff": all(not np.any(v) for v in values)}
        if matrix:
            result["matrix"] = {
                "populations": np.array([[shown.integrate(p[n]) for n in range(dof)]
                                         for p in occupations]),
                "coherence": np.array([shown.integrate(c) for c in coherence])}
        return result


def axis_label(name: str, units: dict) -> str:
    return f"{name} ({units['momentum'] if name.startswith('k') else units['length']})"


def potential_profile(path) -> np.ndarray | None:
    """U(x) = -V(x) at t = 0 on the x cells (energy; electron charge -e), or None when the
    run has no potential profile (or one along y too), or the file predates
    ``/model/potential``."""
    with open_run(path) as h5:
        if "model/potential" not in h5 or json.loads(h5["model/potential"].attrs["dims"]) \
                != ["x"]:
            return None
        profile = -h5["model/potential"][...]
        return profile if np.any(profile) else None  # a uniform field only: V has no profile


def overlay_potential(ax, x_edges: np.ndarray, profile: np.ndarray, energy: str):
    """U(x) on a twin y axis (energy) of a map whose horizontal axis is x."""
    from matplotlib import patheffects

    twin = ax.twinx()
    twin.stairs(profile, x_edges, color="black", linewidth=1.5, label="U = -V",
                path_effects=[patheffects.withStroke(linewidth=3.5, foreground="white")])
    twin.set_ylabel(f"potential energy U = -V ({energy})")
    spread = np.ptp(profile)
    middle = 0.5 * (profile.max() + profile.min())
    pad = max(0.6 * spread, 1e-12 * max(abs(middle), 1.0))
    twin.set_ylim(middle - pad, middle + pad)
    twin.ticklabel_format(axis="y", useOffset=False)


def draw_maps(fig, axes, arrays, dist, units, title, colour_label, symmetric=True):
    """pcolormesh maps of ``arrays`` (one per shown write) on a shared colour scale: diverging
    and centred on 0 for changes and for signed values (a Wigner function can be negative)."""
    values = np.concatenate([a.ravel() for a in arrays])
    top = float(np.nanmax(np.abs(values)))
    if symmetric or np.nanmin(values) < 0:
        limits, cmap = (-top, top) if top > 0 else (-1.0, 1.0), "RdBu_r"
    else:
        limits, cmap = (float(np.nanmin(values)), float(np.nanmax(values))), "viridis"
    mesh = None
    for a, f, t in zip(axes, arrays, dist["t"]):
        mesh = a.pcolormesh(*dist["edges"], f.T, shading="flat", cmap=cmap, vmin=limits[0],
                            vmax=limits[1])
        a.set_xlabel(axis_label(dist["axes"][0], units))
        a.set_ylabel(axis_label(dist["axes"][1], units))
        a.set_title(f"{title}, t = {t:.4g} {units['time']}", fontsize="medium")
        if all(n.startswith("k") for n in dist["axes"]):
            a.set_aspect("equal")
    for a in axes[len(arrays):]:  # a run with fewer than three writes
        a.set_axis_off()
    bar = fig.colorbar(mesh, ax=list(axes), label=colour_label)
    if top == 0:
        bar.set_ticks([0.0], labels=["0 (round-off)"])
    else:
        bar.formatter.set_useOffset(False)
    return mesh


def plot(path: Path, out: Path, band: int | None = None) -> tuple[Path, dict]:
    """Write the PNG ``out`` for the run file ``path``; returns ``out`` and what the top
    row shows (:func:`read_change`)."""
    import matplotlib.pyplot as plt

    fig, change = draw(path, band)
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out, change


def draw(path: Path, band: int | None = None):
    """The matplotlib Figure of the run file ``path`` and :func:`read_change`'s dict.

    ``band`` None: the band (dof index) where f - f_eq changes most."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    series = read_series(path)
    change = read_change(path, band)
    units, config = series["units"], series["config"]
    mode = config.get("mode", {})
    b = change["band"]
    what = f"band {mode['bands'][b] if mode.get('bands') else b}"
    integral = "" if not change["integrated"] else \
        "int " + " ".join(f"d{a}/(2 pi)" for a in change["integrated"]) + " "
    symbol = "f_nn" if "matrix" in change else "f"
    if change["reference"] is None:
        name, reference = f"{integral}{symbol}", "no equilibrium near: a packet without collisions"
    else:
        name, reference = f"{integral}({symbol} - f_eq)", f"f_eq = {change['reference']}"
    two = len(change["axes"]) == 2
    if "matrix" not in change:
        layout = [["f0", "f1", "f2"] if two else ["f", "f", "f"]]
    else:  # populations: changes of one band as maps, or every band as curves
        layout = [["f0", "f1", "f2"], ["c0", "c1", "c2"]] if two else [["p", "p", "p"]]
    layout.append(["j", "j", "n"])
    fig, ax = plt.subplot_mosaic(layout, figsize=(15, 4.3 * len(layout)),
                                 constrained_layout=True)
    profile = potential_profile(path) if change["axes"][0] == "x" else None
    if two:
        draw_maps(fig, [ax[f"f{j}"] for j in range(3)], change["f"], change, units,
                  f"{symbol} - f_eq, {what}" if change["reference"] else f"{symbol}, {what}",
                  f"{name}, {what}", symmetric=change["reference"] is not None)
        if profile is not None:
            for j in range(len(change["f"])):
                overlay_potential(ax[f"f{j}"], change["edges"][0], profile, units["energy"])
    elif "matrix" not in change:
        for f, t, style in zip(change["f"], change["t"], ("-", "--", ":")):  # cell averages
            ax["f"].stairs(f, change["edges"][0], linestyle=style,
                           label=f"t = {t:.4g} {units['time']}")
        ax["f"].set_xlabel(axis_label(change["axes"][0], units))
        ax["f"].set_ylabel(f"{name}, {what}")
        ax["f"].set_title(f"{name} of {what} (where it changes most) at the first, middle and "
                          f"last write; {reference}", fontsize="medium")
        if change["roundoff"]:
            ax["f"].set_yticks([0.0], labels=["0 (round-off)"])
        else:
            ax["f"].ticklabel_format(axis="y", useOffset=False)
        ax["f"].legend(loc="upper left")
        if profile is not None:
            overlay_potential(ax["f"], change["edges"][0], profile, units["energy"])
    if "matrix" in change:
        coherence = change["matrix"]["coherence"]
        label = f"{integral}|F_mn| (m < n, band basis; quadrature sum)"
        if two:
            draw_maps(fig, [ax[f"c{j}"] for j in range(3)], list(coherence), change, units,
                      "interband coherence", label, symmetric=False)
        else:
            populations = change["matrix"]["populations"]
            styles = ("-", "--", ":")
            for w, t in enumerate(change["t"]):
                for n in range(populations.shape[1]):
                    ax["p"].stairs(populations[w, n], change["edges"][0],
                                   linestyle=styles[w], color=f"C{n}",
                                   label=f"f_{n}{n}, t = {t:.4g}")
                ax["p"].stairs(coherence[w], change["edges"][0], linestyle=styles[w],
                               color="black", label=f"|F_mn|, t = {t:.4g}")
            ax["p"].set_xlabel(axis_label(change["axes"][0], units))
            ax["p"].set_ylabel(f"{integral}band population f_nn, coherence |F_mn|")
            ax["p"].set_title(f"band populations <n|F|n> and interband coherence |F_mn| "
                              f"(band basis of H0(k)) at t in {units['time']}")
            ax["p"].legend(ncol=len(change["t"]), fontsize="small")
    averaged = "x-averaged " if "x" in series["axes"] else ""
    current, floor = series["current"], series["current_floor"]
    roundoff = np.max(np.abs(current), axis=0, initial=0.0) <= floor
    for r in range(current.shape[1]):
        ax["j"].plot(series["t"], 0 * current[:, r] if roundoff[r] else current[:, r],
                     label=f"j_{DIRECTIONS[r]}" + (" = 0 (round-off)" if roundoff[r] else ""))
    ax["j"].set_xlabel(f"t ({units['time']})")
    ax["j"].set_ylabel(f"current density ({units['current']})")
    ax["j"].set_title(f"{averaged}electric current" + (
        f" (round-off: |j| <= {floor:.1e} = 10 eps v_max n)" if roundoff.any() else ""))
    if roundoff.all():
        ax["j"].set_yticks([0.0], labels=["0 (round-off)"])
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
    shows_change = "matrix" not in change or two
    fig.suptitle(f"{path.name}: model {model}, axes ({', '.join(series['axes'])})" + (
        f"; top: {name} of {what}, where it changes most ({reference})" if shows_change
        else ""))
    return fig, change


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file", type=Path, help="run file <name>.h5 (not _response.h5)")
    parser.add_argument("--out", type=Path, help="PNG path (default: FILE with .png)")
    parser.add_argument("--band", type=int, default=None,
                        help="index along f's band axis (default: where f - f_eq changes most)")
    args = parser.parse_args(argv)
    if not args.file.is_file():
        print(f"plot_run: error: {args.file} is not a file", file=sys.stderr)
        return 2
    try:
        out, change = plot(args.file, args.out or args.file.with_suffix(".png"), args.band)
    except (OSError, KeyError) as err:
        print(f"plot_run: error: {args.file} is not a moyal run file ({err})", file=sys.stderr)
        return 2
    except ValueError as err:
        print(f"plot_run: error: {args.file}: {err}", file=sys.stderr)
        return 2
    if change["roundoff"]:
        print(f"plot_run: note: the change shown is 0 (round-off): |f - f_eq| <= "
              f"{change['floor']:.1e} = 10 eps max|f| everywhere")
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
