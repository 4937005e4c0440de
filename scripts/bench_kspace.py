"""Benchmark of the k-space calculators: two-band tilted QWZ model, 400 x 400 grid,
31 chemical potentials, every response tensor; and the same integrals against WannierBerri.

The comparison runs WannierBerri in a separate virtual environment (``BENCH_VENV``, default
``~/.cache/moyal/bench-venv``, created with ``python -m venv`` and ``pip install wannierberri
numba`` on first use; WannierBerri imports numba without declaring it): WannierBerri is never
a dependency of moyal. Both codes evaluate the Fermi-sea
integrals of the Berry curvature (AHE), the inverse mass (Drude), the Berry-curvature dipole
and the third energy derivative (nonlinear Drude) on the same n x n k points at T = 0; the
results are checked to agree before the timings are compared.

Usage: python -m scripts.bench_kspace --out PATH.json [--grid N] [--n-mu M] [--wannierberri]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from moyal.geometry import band_geometry, k_grid
from moyal.models import get_model
from moyal.response import QUANTITIES, response_tensors

MODEL = {"name": "qwz", "parameters": {"m": -1.2, "g": 0.3}}
BENCH_VENV = Path(os.environ.get("BENCH_VENV", Path.home() / ".cache" / "moyal" / "bench-venv"))
WORKER = Path(__file__).with_name("bench_wannierberri.py")
# moyal quantity (sea form) -> how its components map onto WannierBerri's raw integrals, as
# (moyal index, WannierBerri result, WannierBerri index, factor). WannierBerri's Omega is the
# pseudovector, Omega_z = Omega^{xy}; moyal's ahe = -int Omega^{xy} f, nonlinear_drude =
# -int d_i d_j d_k eps f, bcd_{ijk} = 1/2 int (d_k Omega^{ij} + d_j Omega^{ik}) f, so
# bcd_xyy = int d_y Omega_z f = D[y, z] and 2 bcd_xxy = D[x, z].
COMPARED = {
    "ahe": [((0, 1), "ahc", (2,), -1.0)],
    "drude": [((a, b), "ohmic", (a, b), 1.0) for a in range(2) for b in range(2)],
    "bcd": [((0, 1, 1), "berry_dipole", (1, 2), 1.0), ((0, 0, 1), "berry_dipole", (0, 2), 0.5),
            ((1, 0, 0), "berry_dipole", (0, 2), -1.0)],
    "nonlinear_drude": [((a, b, c), "nldrude", (a, b, c), -1.0)
                        for a in range(2) for b in range(2) for c in range(2)],
}
SEA = {q: "sea" for q in COMPARED}


def bench_model():
    return get_model(MODEL["name"], **MODEL["parameters"])


def run(grid_points: int = 400, n_mu: int = 31, quantities=tuple(QUANTITIES),
        forms=None, mu=None) -> dict:
    """Wall-clock seconds of each stage (geometry, responses) and in total, and the tensors
    (chemical potentials ``mu``, default ``n_mu`` values from -1.5 to 1.5)."""
    model = bench_model()
    mu = np.linspace(-1.5, 1.5, n_mu) if mu is None else np.asarray(mu, dtype=float)
    n_mu = mu.size
    start = time.perf_counter()
    grid = k_grid(model, (grid_points, grid_points))
    geometry = band_geometry(model, grid)
    after_geometry = time.perf_counter()
    tensors = response_tensors(geometry, grid, mu, 0.0, list(quantities), forms)
    end = time.perf_counter()
    return {"benchmark": "kspace_conductivity", "model": "qwz (m=-1.2, g=0.3)",
            "grid": [grid_points, grid_points], "n_mu": n_mu, "temperature": 0.0,
            "quantities": list(quantities),
            "seconds": {"geometry": after_geometry - start, "response": end - after_geometry,
                        "total": end - start},
            "checksum_ahe_xy_mu0": float(tensors["ahe"][n_mu // 2, 0, 1]),
            "tensors": tensors}


def hoppings(model, points: int = 8, tol: float = 1e-12) -> dict:
    """Tight-binding matrices H(R) with H(k) = sum_R exp(i k.R) H(R), by a discrete Fourier
    transform of H(k) on a ``points`` x ``points`` grid (exact for hoppings shorter than
    points/2), keyed "Rx,Ry" with [re, im] pairs; checked against H(k) at random k."""
    j = np.arange(points)
    k = 2 * np.pi * np.array(np.meshgrid(j, j, indexing="ij")) / points
    h = model.derivative_function(())(k.reshape(2, -1)).reshape(points, points,
                                                                model.n_bands, model.n_bands)
    h_r = np.fft.fft2(h, axes=(0, 1)) / points ** 2  # sum_k exp(-i k.R) H(k) / points^2
    out = {}
    for rx in range(points):
        for ry in range(points):
            if np.max(np.abs(h_r[rx, ry])) > tol:
                r = ((rx + points // 2) % points - points // 2, (ry + points // 2) % points
                     - points // 2)
                out[r] = h_r[rx, ry]
    probe = np.random.default_rng(0).uniform(-np.pi, np.pi, (2, 16))
    rebuilt = sum(np.exp(1j * (r[0] * probe[0] + r[1] * probe[1]))[:, None, None] * m
                  for r, m in out.items())
    error = np.max(np.abs(rebuilt - model.derivative_function(())(probe)))
    if error > 1e-10:
        raise ValueError(f"model {model.name!r} is not a short-range tight-binding model on "
                         f"a {points} x {points} grid (H(k) rebuilt to {error:.1e})")
    return {f"{r[0]},{r[1]}": np.stack([m.real, m.imag], axis=-1).tolist()
            for r, m in out.items()}


def comparison_mu(n_mu: int) -> np.ndarray:
    """``n_mu`` cell-centred chemical potentials in (-1.47, 1.53), E0.

    Not the endpoints-included grid of :func:`run`: that one contains mu = +-0.8 and +-1.2,
    the band energies +-|m + 2B| and +-|m| at k points every even grid contains (Gamma, X),
    where the T = 0 step theta(mu - eps) is decided by the last bit of each code's
    eigenvalue; the two codes then differ by one k point's weight (1e-4 relative on
    200 x 200), which says nothing about either. The 0.03 offset keeps every n_mu (also odd
    ones, whose centred grids are symmetric) off those four energies.
    """
    return -1.47 + 3.0 * (np.arange(n_mu) + 0.5) / n_mu


def bench_python(log=sys.stderr) -> tuple[Path | None, str]:
    """The bench environment's python, creating it (venv + pip install wannierberri) if
    needed; ``(None, reason)`` when that fails."""
    python = BENCH_VENV / "bin" / "python"
    check = [str(python), "-c", "import wannierberri, numba"]
    if python.exists() and subprocess.run(check, capture_output=True).returncode == 0:
        return python, "existing"
    print(f"k-space bench: installing wannierberri into {BENCH_VENV}", file=log)
    steps = [[sys.executable, "-m", "venv", str(BENCH_VENV)],
             [str(python), "-m", "pip", "install", "-q", "wannierberri", "numba"]]
    for step in steps:
        done = subprocess.run(step, capture_output=True, text=True)
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
            return None, f"`{' '.join(step)}` failed: {' | '.join(tail)}"
    return python, "installed"


def compare_wannierberri(grid_points: int, n_mu: int, log=sys.stderr) -> dict:
    """moyal and WannierBerri on the same grid, mu list and Fermi-sea integrals.

    Returns the timings (cold: first call in a fresh process, with imports, lambdification
    and JIT compilation; warm: a second call), the ratio of the warm ones, the largest value
    of each quantity, and the largest deviation of every compared component
    relative to that quantity's largest magnitude; ``available`` is False (with ``reason``)
    when WannierBerri cannot be installed or run.
    """
    python, how = bench_python(log)
    if python is None:
        return {"available": False, "reason": how}
    model = bench_model()
    mu = comparison_mu(n_mu)
    cold = run(grid_points, quantities=list(COMPARED), forms=SEA, mu=mu)  # first call
    ours = run(grid_points, quantities=list(COMPARED), forms=SEA, mu=mu)
    spec = {"hoppings": hoppings(model), "grid": grid_points, "mu": mu.tolist()}
    with tempfile.TemporaryDirectory() as scratch:
        source, target = Path(scratch) / "in.json", Path(scratch) / "out.json"
        source.write_text(json.dumps(spec))
        done = subprocess.run([str(python), str(WORKER), str(source), str(target)],
                              capture_output=True, text=True)
        if done.returncode != 0:
            tail = done.stderr.strip().splitlines()[-3:]
            return {"available": False, "reason": f"WannierBerri run failed: {' | '.join(tail)}"}
        theirs = json.loads(target.read_text())
    deviations, magnitudes = {}, {}
    for quantity, pairs in COMPARED.items():
        a = np.array([ours["tensors"][quantity][(slice(None),) + i] for i, *_ in pairs])
        b = np.array([factor * np.asarray(theirs["results"][name])[(slice(None),) + j]
                      for _, name, j, factor in pairs])
        magnitudes[quantity] = float(np.max(np.abs(a)))
        deviations[quantity] = float(np.max(np.abs(a - b)) / max(magnitudes[quantity], 1e-300))
    wb_seconds = theirs["seconds"]["system"] + theirs["seconds"]["run"]
    return {"available": True, "environment": str(BENCH_VENV), "install": how,
            "wannierberri_version": theirs["version"], "grid": [grid_points, grid_points],
            "mu": mu.tolist(), "temperature": 0.0, "quantities": list(COMPARED),
            "moyal_seconds": ours["seconds"]["total"], "wannierberri_seconds": wb_seconds,
            "moyal_seconds_cold": cold["seconds"]["total"],
            "wannierberri_seconds_cold": theirs["seconds"]["system"] + theirs["seconds"][
                "run_cold"],
            "wannierberri_seconds_detail": theirs["seconds"],
            "speedup": wb_seconds / ours["seconds"]["total"],
            "max_magnitude": magnitudes, "max_relative_deviation": deviations,
            # a zero tensor would agree trivially: each compared quantity must be nonzero
            "agree": all(d < 1e-8 for d in deviations.values())
            and all(m > 1e-6 for m in magnitudes.values())}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--grid", type=int, default=400)
    parser.add_argument("--n-mu", type=int, default=31)
    parser.add_argument("--wannierberri", action="store_true",
                        help="also compare with WannierBerri (bench environment)")
    args = parser.parse_args(argv)
    result = run(args.grid, args.n_mu)
    result.pop("tensors")
    if args.wannierberri:
        result["wannierberri"] = compare_wannierberri(args.grid, args.n_mu)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"k-space bench: {result['seconds']['total']:.2f} s -> {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
