"""Benchmark of the k-space calculators: two-band tilted QWZ model, 400 x 400 grid,
31 chemical potentials, every response tensor.

Usage: python -m scripts.bench_kspace --out PATH.json [--grid N] [--n-mu M]
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from moyal.geometry import band_geometry, k_grid
from moyal.models import get_model
from moyal.response import QUANTITIES, response_tensors


def run(grid_points: int = 400, n_mu: int = 31) -> dict:
    """Wall-clock seconds of each stage (geometry, responses) and in total."""
    model = get_model("qwz", m=-1.2, g=0.3)
    mu = np.linspace(-1.5, 1.5, n_mu)
    start = time.perf_counter()
    grid = k_grid(model, (grid_points, grid_points))
    geometry = band_geometry(model, grid)
    after_geometry = time.perf_counter()
    tensors = response_tensors(geometry, grid, mu, 0.0, list(QUANTITIES))
    end = time.perf_counter()
    return {"benchmark": "kspace_conductivity", "model": "qwz (m=-1.2, g=0.3)",
            "grid": [grid_points, grid_points], "n_mu": n_mu, "temperature": 0.0,
            "quantities": list(QUANTITIES),
            "seconds": {"geometry": after_geometry - start, "response": end - after_geometry,
                        "total": end - start},
            "checksum_ahe_xy_mu0": float(tensors["ahe"][n_mu // 2, 0, 1])}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--grid", type=int, default=400)
    parser.add_argument("--n-mu", type=int, default=31)
    args = parser.parse_args(argv)
    result = run(args.grid, args.n_mu)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"k-space bench: {result['seconds']['total']:.2f} s -> {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
