"""Plot a model's bands along a high-symmetry path with the Berry curvature and quantum metric.

Usage: python -m scripts.plot_model MODEL|CONFIG.toml [-p name=value ...] [--points N] [--out PNG]

MODEL is a registered model name (``qwz``, ``haldane``, ...; ``-p`` overrides its parameters)
or a TOML file whose ``[model]`` table defines the model (a run config; its ``[units]`` table
names the units, else the model's own). The path: for a 2D Brillouin zone
Gamma (0, 0) - X (pi, 0) - M (pi, pi) - Gamma; for a 2D continuum box X' - Gamma - X - M - Gamma
with X, M on the box edge (inside the momentum cutoff, if any), so that a tilt along kx shows;
in 1D the whole zone (or box). Panels, top to bottom: band energies eps_n (energy unit), the
Berry curvature Omega_n^{xy} (length^2; 2D only: a 1D band has none) and the trace of the
quantum metric tr g_n = g_n^{xx} [+ g_n^{yy}] (length^2), from
:func:`moyal.geometry.band_geometry` (conventions in docs/geometry.md). The path coordinate
is the arc length in k (1/length). Writes ``<model>_bands.png`` unless --out is given and
prints ``wrote <path>``.
"""

from __future__ import annotations

import argparse
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

GAMMA = "\N{GREEK CAPITAL LETTER GAMMA}"


@dataclass(frozen=True)
class KPath:
    """Piecewise-linear path through k space.

    Attributes
    ----------
    k : ndarray, shape (d, n)
        Points of the path (1/length).
    distance : ndarray, shape (n,)
        Arc length from the first point (1/length).
    ticks : list of float
        Arc length at each corner.
    labels : list of str
        Name of each corner.
    """

    k: np.ndarray
    distance: np.ndarray
    ticks: list
    labels: list


def corners(model) -> tuple[list, list]:
    """Corner points ``(points, labels)`` of the high-symmetry path of ``model`` (1/length)."""
    domain = model.domain
    if model.dimension == 1:
        (lo, hi), = domain.bounds
        return [np.array([lo]), np.array([hi])], \
            (["-X", "X"] if domain.periodic else [f"{lo:g}", f"{hi:g}"])
    if domain.periodic:
        return [np.array(p) for p in ((0.0, 0.0), (np.pi, 0.0), (np.pi, np.pi), (0.0, 0.0))], \
            [GAMMA, "X", "M", GAMMA]
    (xlo, xhi), (ylo, yhi) = domain.bounds
    centre = np.array([0.0 if xlo < 0 < xhi else 0.5 * (xlo + xhi),
                       0.0 if ylo < 0 < yhi else 0.5 * (ylo + yhi)])
    edge = [np.array([xlo, centre[1]]), np.array([xhi, centre[1]]), np.array([xhi, yhi])]
    if domain.cutoff is not None:  # pull the corners inside the disc |k| < cutoff
        radius = (1 - 1e-9) * domain.cutoff
        edge = [centre + (p - centre) * min(1.0, radius / np.linalg.norm(p - centre))
                for p in edge]
    name = GAMMA if not centre.any() else "C"
    return [edge[0], centre, edge[1], edge[2], centre], ["X'", name, "X", "M", name]


def high_symmetry_path(model, points: int = 400) -> KPath:
    """The path of :func:`corners` sampled with about ``points`` points, spaced evenly in arc
    length (every corner is a sample)."""
    vertices, labels = corners(model)
    lengths = [float(np.linalg.norm(b - a)) for a, b in zip(vertices, vertices[1:])]
    total = sum(lengths)
    k, distance, ticks = [vertices[0][:, None]], [np.zeros(1)], [0.0]
    for a, b, length in zip(vertices, vertices[1:], lengths):
        n = max(2, int(round(points * length / total)))
        s = np.linspace(0.0, 1.0, n + 1)[1:]
        k.append(a[:, None] + (b - a)[:, None] * s)
        distance.append(ticks[-1] + length * s)
        ticks.append(ticks[-1] + length)
    return KPath(np.concatenate(k, axis=1), np.concatenate(distance), ticks, labels)


def model_and_units(source: str, parameters: dict) -> tuple:
    """``(model, degeneracy, units)`` from a registered name or a TOML file's ``[model]``.

    ``units`` is ``{"energy": ..., "length": ...}``: the file's ``[units]`` table if it has
    one, else the model's own names. Raises ValueError with a one-line message.
    """
    from solvers.errors import ConfigError
    from solvers.preflight import model_from_table

    path = Path(source)
    if source.endswith(".toml") or path.is_file():
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
            raise ValueError(f"{source}: not a readable TOML file ({err})") from None
        if "model" not in raw:
            raise ValueError(f"{source}: no [model] table")
        table = dict(raw["model"])
    else:
        raw, table = {}, {"name": source}
    if parameters:
        table["parameters"] = {**table.get("parameters", {}), **parameters}
    try:
        model, degeneracy = model_from_table(table)
    except ConfigError as err:
        raise ValueError(str(err)) from None
    units = {**model.units, **raw.get("units", {})}
    return model, degeneracy, units


def path_geometry(model, path: KPath, degeneracy=None) -> dict:
    """Energies, Berry curvature and metric trace of every band on the path.

    Returns
    -------
    dict
        ``energy`` (n, N) in energy; ``curvature`` (n, N) Omega^{xy} in length^2, None in 1D;
        ``metric_trace`` (n, N) in length^2 (n path points, N bands).
    """
    from moyal.geometry import band_geometry

    geometry = band_geometry(model, path.k, degeneracy=degeneracy)
    metric = np.trace(geometry.quantum_metric, axis1=0, axis2=1)
    curvature = geometry.berry_curvature[0, 1] if model.dimension == 2 else None
    return {"energy": geometry.energy, "curvature": curvature, "metric_trace": metric}


def roundoff_floor(metric_trace: np.ndarray) -> float:
    """Largest |Omega^{xy}| (length^2) that is rounding: 10 eps max tr g.

    The quantum geometric tensor is positive semi-definite, so |Omega^{xy}| <= 2 sqrt(g^xx g^yy)
    <= tr g: both are sums of products of the same interband connections, and their rounding
    error is eps times that size. A curvature that vanishes by symmetry (PT: toy003,
    flatband002) evaluates to ~1e-16 tr g.
    """
    return 10 * np.finfo(float).eps * float(np.max(metric_trace, initial=0.0))


def draw(model, units: dict, points: int = 400, degeneracy=None):
    """The matplotlib Figure: bands, Berry curvature (2D) and metric trace along the path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = high_symmetry_path(model, points)
    data = path_geometry(model, path, degeneracy)
    energy, length = units["energy"], units["length"]
    panels = [("energy", rf"band energy $\varepsilon_n$ ({energy})"),
              ("curvature", rf"Berry curvature $\Omega_n^{{xy}}$ ({length}^2)"),
              ("metric_trace", rf"quantum metric tr $g_n$ ({length}^2)")]
    panels = [p for p in panels if data[p[0]] is not None]
    fig, axes = plt.subplots(len(panels), 1, sharex=True, figsize=(10, 3.2 * len(panels) + 1),
                             constrained_layout=True,
                             height_ratios=[1.6] + [1] * (len(panels) - 1))
    floor = roundoff_floor(data["metric_trace"])
    for ax, (key, label) in zip(axes, panels):
        values = data[key]
        if key == "curvature" and np.max(np.abs(values)) <= floor:
            values = np.zeros_like(values)
            ax.text(0.5, 0.8, f"0 (round-off): |Omega| <= {floor:.1e} {length}^2 = "
                    "10 eps max tr g on the whole path", ha="center", transform=ax.transAxes)
        for n in range(model.n_bands):  # dashes keep coinciding curves (tr g of two bands) visible
            ax.plot(path.distance, values[:, n], label=f"band {n}",
                    linestyle=("-", "--", "-.", ":")[n % 4])
        ax.set_ylabel(label)
        for tick in path.ticks[1:-1]:
            ax.axvline(tick, color="grey", linewidth=0.6)
        if key != "energy":
            ax.axhline(0.0, color="black", linewidth=0.5)
        ax.grid(alpha=0.3)
    axes[0].legend(loc="best", fontsize="small", ncol=min(model.n_bands, 4))
    axes[-1].set_xticks(path.ticks, path.labels)
    axes[-1].set_xlim(path.distance[0], path.distance[-1])
    axes[-1].set_xlabel(f"k along the path (arc length, 1/{length})")
    values = ", ".join(f"{k} = {v:g}" for k, v in model.parameters.items())
    note = "" if model.dimension == 2 else "; a 1D band has no Berry curvature"
    fig.suptitle(f"model {model.name} ({values}){note}")
    return fig


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="registered model name or TOML file with a [model] table")
    parser.add_argument("-p", "--parameter", action="append", default=[], metavar="NAME=VALUE",
                        help="override a model parameter (repeatable)")
    parser.add_argument("--points", type=int, default=400, help="points along the path")
    parser.add_argument("--out", type=Path, help="PNG path (default: <model>_bands.png)")
    args = parser.parse_args(argv)
    from moyal.geometry import GeometryError

    try:
        parameters = {}
        for item in args.parameter:
            name, sep, value = item.partition("=")
            try:
                parameters[name.strip()] = float(value)
            except ValueError:
                raise ValueError(f"-p {item}: expected NAME=number") from None
            if not sep:
                raise ValueError(f"-p {item}: expected NAME=number")
        if args.points < 10:
            raise ValueError(f"--points {args.points}: expected at least 10")
        model, degeneracy, units = model_and_units(args.model, parameters)
        figure = draw(model, units, args.points, degeneracy)
    except (ValueError, GeometryError) as err:
        print(f"plot_model: error: {err}", file=sys.stderr)
        return 2
    out = args.out or Path(f"{model.name}_bands.png")
    figure.savefig(out, dpi=100)
    import matplotlib.pyplot as plt

    plt.close(figure)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
