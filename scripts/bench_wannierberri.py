"""WannierBerri side of the k-space benchmark; runs in the separate bench environment only.

Imports numpy and wannierberri, never moyal (WannierBerri is not a dependency of moyal): the
moyal side (:mod:`scripts.bench_kspace`) passes the tight-binding model as hopping matrices
H(R) in a JSON file and reads the results back.

Usage: BENCH_VENV/bin/python scripts/bench_wannierberri.py IN.json OUT.json

IN.json: ``{"hoppings": {"Rx,Ry": [[re, im], ...] (N x N, row-major pairs)}, "grid": n,
"mu": [...]}``. The lattice is square with a = 1 (the length unit) and a third, non-periodic
direction of length 1, so WannierBerri's [dk] = d^3k/(2 pi)^3 integrals equal the 2D
d^2k/(2 pi)^2 ones numerically. Every calculator uses ``constant_factor = 1`` (raw integrals,
no SI conversion), T = 0 and no tetrahedra, on the plain n x n x 1 grid without symmetry
reduction, so the k points and the occupation step function are the same as moyal's.

OUT.json: ``{"version", "seconds": {"system", "run_cold", "run"}, "results": {name: list}}``
(run_cold: the first call, with numba compilation; run: a second call) with ``ahc`` (n_mu, 3) = int Omega_c f, ``ohmic`` (n_mu, 3, 3) = int d_b v_a f, ``berry_dipole``
(n_mu, 3, 3) = int d_b Omega_d f (index [b, d]) and ``nldrude`` (n_mu, 3, 3, 3)
= int d_b d_c v_a f.
"""
from __future__ import annotations

import json
import os
import sys
import tempfile
import time

import numpy as np


def build_system(hoppings: dict):
    """A WannierBerri System_R from H(R) (H(k) = sum_R exp(i k.R) H(R)), orbitals at R = 0."""
    from wannierberri.fourier.rvectors import Rvectors
    from wannierberri.system.system_R import System_R

    matrices = {tuple(int(r) for r in key.split(",")): np.array(value, dtype=float)
                for key, value in hoppings.items()}
    size = next(iter(matrices.values())).shape[0]
    system = System_R(force_internal_terms_only=True, name="moyal_bench", silent=True)
    system.num_wann = size
    system.spinor = False
    system.real_lattice = np.eye(3)
    centres = np.zeros((size, 3))
    system.set_wannier_centers(wannier_centers_red=centres)
    system.periodic = np.array([True, True, False])
    vectors = np.array([list(r) + [0] for r in matrices], dtype=int)
    system.rvec = Rvectors(lattice=system.real_lattice, iRvec=vectors,
                           shifts_left_red=centres, dim=2)
    ham = np.zeros((system.rvec.nRvec, size, size), dtype=complex)
    for r, value in matrices.items():
        ham[system.rvec.iR(np.array(list(r) + [0]))] = value[..., 0] + 1j * value[..., 1]
    system.set_R_mat("Ham", ham)
    system.do_at_end_of_init()
    return system


def run(spec: dict) -> dict:
    import wannierberri as wberri
    from wannierberri.calculators import static

    start = time.perf_counter()
    system = build_system(spec["hoppings"])
    built = time.perf_counter()
    mu = np.array(spec["mu"], dtype=float)
    n = int(spec["grid"])
    grid = wberri.Grid(system, NK=(n, n, 1), NKFFT=(n, n, 1), use_symmetry=False)
    options = {"Efermi": mu, "tetra": False, "constant_factor": 1.0, "use_factor": False}
    calculators = {"ahc": static.AHC(**options), "ohmic": static.Ohmic_FermiSea(**options),
                   "berry_dipole": static.BerryDipole_FermiSea(**options),
                   "nldrude": static.NLDrude_FermiSea(**options)}
    cwd = os.getcwd()
    with tempfile.TemporaryDirectory() as scratch:  # WannierBerri writes result files to cwd
        os.chdir(scratch)
        try:
            seconds = []
            for _ in range(2):  # cold (imports, numba compilation), then warm
                t0 = time.perf_counter()
                result = wberri.run(system, grid=grid, calculators=calculators,
                                    parallel=False, use_irred_kpt=False, symmetrize=False,
                                    print_progress_step_time=1e9)
                seconds.append(time.perf_counter() - t0)
        finally:
            os.chdir(cwd)
    return {"version": wberri.__version__,
            "seconds": {"system": built - start, "run_cold": seconds[0], "run": seconds[1]},
            "results": {name: np.real(result.results[name].data).tolist()
                        for name in calculators}}


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 2:
        print(__doc__.split("\n\n")[2], file=sys.stderr)
        return 2
    with open(argv[0], encoding="utf-8") as handle:
        spec = json.load(handle)
    out = run(spec)
    with open(argv[1], "w", encoding="utf-8") as handle:
        json.dump(out, handle)
    return 0


if __name__ == "__main__":
    sys.exit(main())
