"""Plot a field sweep: current vs time of every scale run, and simulated vs predicted sigmas.

Usage: python -m scripts.plot_response NAME_response.h5 [--out PNG]

Left: the x-averaged current components of each run listed in the response file's ``runs``
(looked up next to the response file, so a moved output directory still works). Right: bar
charts of the conductivities from the steady currents (``sigma1``, ``sigma2``) beside the
k-space formulas (``predicted_sigma1/2``) when the file has them, each component annotated
with its relative difference from the formula, or "0 by symmetry" when simulation and
formula are both at rounding level. Writes <FILE>.png unless
--out is given and prints the PNG path.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import h5py
import numpy as np

from scripts.plot_run import DIRECTIONS, read_series


def run_files(response_path: Path, runs) -> list[Path]:
    """Paths of the scale runs; the solver writes them next to the response file."""
    return [response_path.parent / Path(r.decode() if isinstance(r, bytes) else r).name
            for r in runs]


def read_response(path: Path) -> dict:
    """Everything the plot needs from ``<name>_response.h5``.

    Returns
    -------
    dict
        ``scales`` (n_runs,), ``field_strength`` (float, energy/(e length)),
        ``field_direction`` (directions,), ``steady_current`` (n_runs, directions),
        ``sigma1``, ``sigma2`` (directions,), ``predicted_sigma1``, ``predicted_sigma2``
        ((directions,) or None), ``runs`` (list of Path).
    """
    with h5py.File(path, "r", locking=False) as h5:
        data = {name: h5[name][()] for name in ("scales", "field_strength", "field_direction",
                                                 "steady_current", "sigma1", "sigma2")}
        for name in ("predicted_sigma1", "predicted_sigma2"):
            data[name] = h5[name][()] if name in h5 else None
        data["runs"] = run_files(path, h5["runs"][()])
    return data


def zero_by_symmetry(simulated: np.ndarray, predicted: np.ndarray | None,
                     floor: float) -> np.ndarray:
    """Components at rounding level in the simulation and in the formulas, shape (directions,).

    ``floor`` bounds the rounding of a simulated component (:func:`sigma_floors`); a
    predicted component is rounding at or below 10 eps times the largest predicted component
    of the same order (the components are sums over the same k cells with weights of the
    same size). A component that is rounding in both is zero by a symmetry of the model and
    field.
    """
    zero = np.abs(simulated) <= floor
    if predicted is not None:
        zero &= np.abs(predicted) <= 10 * np.finfo(float).eps * np.max(np.abs(predicted))
    return zero


def sigma_floors(current_floor: float, field: float, scales) -> dict:
    """Rounding floors of sigma1 and sigma2 from the currents' floor (current units).

    sigma1 = (j(s) - j(-s))/(2 s |E|) and sigma2 = (j(s) + j(-s) - 2 j(0))/(2 s^2 |E|^2) (or
    least squares over the scales): a rounding delta of each j moves them by at most
    delta/(s_min |E|) and 2 delta/(s_min |E|)^2, s_min the smallest nonzero |scale|.
    """
    s = min(abs(float(x)) for x in scales if x) * field
    return {"sigma1": current_floor / s, "sigma2": 2 * current_floor / s ** 2}


def bars(ax, simulated: np.ndarray, predicted: np.ndarray | None, symbol: str, unit: str,
         floor: float = 0.0):
    """Grouped bars per component: simulated and (if given) predicted, each annotated with the
    relative difference |simulated - formula|/|formula|, or "0 by symmetry" when both are at
    rounding level (:func:`zero_by_symmetry`; drawn as 0)."""
    labels = [f"{symbol}_{DIRECTIONS[a]}" for a in range(simulated.size)]
    positions = np.arange(simulated.size)
    zero = zero_by_symmetry(simulated, predicted, floor)
    simulated = np.where(zero, 0.0, simulated)
    width = 0.38 if predicted is not None else 0.6
    ax.bar(positions - (width / 2 if predicted is not None else 0), simulated, width,
           label="simulated (steady currents)")
    if predicted is not None:
        predicted = np.where(zero, 0.0, predicted)
        ax.bar(positions + width / 2, predicted, width, label="k-space formulas")
    notes = []
    for a in positions:
        if zero[a]:
            notes.append("0 by symmetry\n(rounding in both)" if predicted is not None
                         else "0 (round-off)")
        elif predicted is not None:
            notes.append("relative error "
                         f"{abs(simulated[a] - predicted[a]) / abs(predicted[a]):.1%}")
        else:
            notes.append("")
    top = max(np.max(np.abs(simulated)), 0.0 if predicted is None
              else np.max(np.abs(predicted)))
    for a, note in zip(positions, notes):  # beyond the longer bar, above or below
        values = [simulated[a]] + ([] if predicted is None else [predicted[a]])
        tip = max(values, key=abs)
        below = tip < 0
        ax.annotate(note, (a, tip), xytext=(0, -4 if below else 4), textcoords="offset points",
                    ha="center", va="top" if below else "bottom", fontsize="small")
    ax.use_sticky_edges = False  # let the margins extend past the bars' zero baseline
    ax.axhline(0.0, color="black", linewidth=0.6)
    ax.set_xticks(positions, labels)
    ax.set_ylabel(f"{symbol} ({unit})" if unit else symbol)
    if top == 0:
        ax.set_ylim(-1, 1)
        ax.set_yticks([0.0], labels=["0"])
    ax.margins(y=0.3)  # room for the notes and the legend beside the bars
    return notes


def plot(path: Path, out: Path) -> tuple[Path, list[Path]]:
    """Write the PNG ``out`` for the response file ``path``.

    Returns ``(out, missing)``: the PNG path and the run files that could not be read (their
    curves are left out; the bar charts need only the response file).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    data = read_response(path)
    fig, ax = plt.subplot_mosaic([["j", "sigma1"], ["j", "sigma2"]], figsize=(14, 8),
                                 constrained_layout=True, width_ratios=[1.6, 1])
    missing, units, config, current_floor = [], None, {}, 0.0
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, (scale, run) in enumerate(zip(data["scales"], data["runs"])):
        try:
            series = read_series(run)
        except (OSError, KeyError):
            missing.append(run)
            continue
        units, config = series["units"], series["config"]
        current_floor = max(current_floor, series["current_floor"])
        for a, style in zip(range(series["current"].shape[1]), ("-", "--")):
            ax["j"].plot(series["t"], series["current"][:, a], style,
                         color=colours[i % len(colours)],
                         label=f"j_{DIRECTIONS[a]}, E x {scale:+g}")
    window = config.get("response", {}).get("average_window", 0.0)
    if units is None:
        ax["j"].text(0.5, 0.5, "no run file readable next to the response file",
                     ha="center", transform=ax["j"].transAxes)
        ax["j"].set_title("current of each run")
    else:
        ax["j"].set_xlabel(f"t ({units['time']})")
        ax["j"].set_ylabel(f"x-averaged current density ({units['current']})")
        ax["j"].legend(ncol=2)
        steady = "last write"
        if window:
            t_end = config["run"]["t_end"]
            ax["j"].axvspan(t_end - window, t_end, color="grey", alpha=0.2)
            steady = f"mean over the shaded last {window:g} {units['time']}"
        ax["j"].set_title(f"current of each run (steady value: {steady})")
    floors = sigma_floors(current_floor, float(data["field_strength"]), data["scales"])
    for order in ("sigma1", "sigma2"):
        bars(ax[order], data[order], data[f"predicted_{order}"], order,
             "" if units is None else units[order], floors[order])
    ax["sigma1"].legend(loc="best", fontsize="small")
    ax["sigma1"].set_title("j_a = sigma1_a |E| + sigma2_a |E|^2 + ...")
    direction = ", ".join(f"{c:.3g}" for c in data["field_direction"])
    field_unit = "" if units is None else f" {units['field']}"
    fig.suptitle(f"{path.name}: |E| = {float(data['field_strength']):g}{field_unit} along "
                 f"({direction}), scales {[float(s) for s in data['scales']]}")
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out, missing


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file", type=Path, help="response file <name>_response.h5")
    parser.add_argument("--out", type=Path, help="PNG path (default: FILE with .png)")
    args = parser.parse_args(argv)
    if not args.file.is_file():
        print(f"plot_response: error: {args.file} is not a file", file=sys.stderr)
        return 2
    try:
        out, missing = plot(args.file, args.out or args.file.with_suffix(".png"))
    except (OSError, KeyError) as err:
        print(f"plot_response: error: {args.file} is not a moyal response file ({err})",
              file=sys.stderr)
        return 2
    for run in missing:
        print(f"plot_response: warning: run file {run} not readable; its current is not "
              "shown", file=sys.stderr)
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
