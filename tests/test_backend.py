"""The fused C band-mode kernel (numerics.backend = "c") against the numpy reference.

The numpy path (solvers.band_mode + solvers.fluxes) is an independent implementation of the
same finite-volume operator: the C rate must agree with it to rounding for every grid
layout, order, limiter, flux and boundary the kernel supports, on smooth random states on
nonuniform grids in a cosine potential; so must a whole simulation. A missing or stale
compiled library, and unsupported modes or orders, are refused at configuration time.
"""

import ctypes
import hashlib
import shutil
import subprocess
import warnings
from pathlib import Path

import numpy as np
import pytest
from petsc4py import PETSc

from moyal import abi
from solvers import ckernels, config
from solvers.band_mode import BandModeOperator
from solvers.problem import BandProblem
from solvers.run import simulate

LIMITERS = ("minmod", "vanleer", "mc", "none")
FLUXES = ("upwind", "llf")
RATE_TOLERANCE = 1e-13
FIELDS = {"E": [0.3, -0.2], "potential": [{"kind": "cosine", "amplitude": 0.4,
                                          "q": 2 * np.pi / 10}]}

# (model, k cells, k boundary of a continuum model, x axis): every grid layout, periodic and
# open k, every x boundary; x and kx refined (nonuniform cells)
CASES = [("rice_mele", [24], "outflow", "none"), ("parabolic", [24], "outflow", "none"),
         ("parabolic", [24], "vacuum", "none"), ("qwz", [12, 16], "outflow", "none"),
         ("tilted_dirac", [12, 16], "vacuum", "none"), ("rice_mele", [12], "outflow", "periodic"),
         ("parabolic", [12], "outflow", "outflow"), ("rice_mele", [12], "outflow", "vacuum"),
         ("qwz", [10, 12], "outflow", "periodic"), ("qwz", [10, 12], "outflow", "outflow"),
         ("tilted_dirac", [10, 12], "vacuum", "vacuum")]


def problem(model, nk, k_boundary, x, order):
    fields = FIELDS if x != "none" else {"E": FIELDS["E"][:len(nk)]}
    cfg = config.from_dict({
        "model": {"name": model}, "mode": {"order": order}, "fields": fields,
        "grid": {"nk": nk, "k_boundary": k_boundary, "k_refine": [0.3], "x": x, "nx": 12,
                 "x_min": 0.0, "x_max": 10.0, "x_refine": [4.0]}})
    with warnings.catch_warnings():  # coarse grids leave the Dirac gap unresolved: fine here
        warnings.filterwarnings("ignore", r"mode\.order = \d: bands", RuntimeWarning)
        return BandProblem(cfg, PETSc.COMM_SELF)


def smooth_random_state(p, seed):
    """Ghosted block of 1 + random cosines of each coordinate (periodic over each axis)."""
    rng = np.random.default_rng(seed)
    u = p.grid.da.createGlobalVec()
    f = p.grid.view(u)
    mesh = np.meshgrid(*[p.grid.owned_cells(a)[0] for a in range(p.grid.dim)], indexing="ij")
    for band in range(f.shape[0]):
        f[band] = 1.0
        for axis, coordinate in zip(p.grid.axes, mesh):
            phase = 2 * np.pi * (coordinate - axis.edges[0]) / axis.period
            f[band] += rng.uniform(0.2, 0.6) * np.cos(rng.integers(1, 3) * phase
                                                      + rng.uniform(0, 2 * np.pi))
    return p.ghosted(u).copy()


@pytest.mark.parametrize("order", [0, 1, 2])
@pytest.mark.parametrize("model, nk, k_boundary, x", CASES)
def test_fused_rate_equals_numpy_rate(model, nk, k_boundary, x, order):
    p = problem(model, nk, k_boundary, x, order)
    f = smooth_random_state(p, seed=len(CASES) * order + CASES.index((model, nk, k_boundary, x)))
    for limiter in LIMITERS:
        for flux in FLUXES:
            rates = {}
            for backend in ("numpy", "c"):
                operator = BandModeOperator(p.grid, p.coefficients, p.potential, limiter, flux,
                                            backend)
                assert (operator.fused is not None) == (backend == "c")
                rates[backend] = np.full(p.grid.owned_shape, np.nan)
                operator.rate(f, 0.37, rates[backend])
            scale = np.max(np.abs(rates["numpy"]))
            assert scale > 0
            error = np.max(np.abs(rates["c"] - rates["numpy"])) / scale
            assert error <= RATE_TOLERANCE, (limiter, flux, error)


@pytest.mark.parametrize("case", [CASES[1], CASES[8]], ids=["kx", "x-kx-ky"])
def test_fused_rate_is_bitwise_the_numpy_rate_at_order_2(case):
    """Both backends run the terms of the same IR records in the same operation order, with
    no contraction (-ffp-contract=off): the rates are equal bit for bit, not only to
    rounding."""
    p = problem(*case, 2)
    f = smooth_random_state(p, seed=3)
    rates = {}
    for backend in ("numpy", "c"):
        operator = BandModeOperator(p.grid, p.coefficients, p.potential, "mc", "llf", backend)
        rates[backend] = np.full(p.grid.owned_shape, np.nan)
        operator.rate(f, 0.37, rates[backend])
    assert np.array_equal(rates["c"], rates["numpy"])


def test_fused_rate_sees_the_berry_curvature_and_order_2_terms():
    """On (x, kx, ky) in a cosine potential order 1 adds -Omega V_dy to the x velocity and
    order 2 the metric and dispersive terms: the rates of orders 0, 1, 2 differ, so the
    agreement above covers nonzero terms of every order."""
    p = problem("qwz", [10, 12], "outflow", "periodic", 2)
    f = smooth_random_state(p, seed=0)
    rates = []
    for order in (0, 1, 2):
        operator = BandModeOperator(p.grid, p.coefficients.restricted(order), p.potential,
                                    "vanleer", "upwind", "c")
        rates.append(np.zeros(p.grid.owned_shape))
        operator.rate(f, 0.0, rates[-1])
    for lower, higher in zip(rates, rates[1:]):
        assert np.max(np.abs(higher - lower)) > 1e-3 * np.max(np.abs(lower))


def run(tmp_path, backend, order):
    cfg = config.from_dict({
        "model": {"name": "qwz", "parameters": {"m": -1.5, "g": 0.3}}, "mode": {"order": order},
        "fields": {"E": [0.05, 0.02], "potential": [{"kind": "cosine", "amplitude": 0.05,
                                                     "q": 2 * np.pi / 20}]},
        "grid": {"x": "outflow", "nx": 16, "x_max": 20.0, "x_refine": [8.0], "nk": [16, 16]},
        "initial": {"kind": "packet", "x_center": 10.0, "x_width": 3.0, "mu": 0.2},
        "collisions": {"kind": "conserving", "tau": 1.0, "mu": 0.2},
        "numerics": {"backend": backend, "flux": "llf", "limiter": "mc"},
        "run": {"t_end": 5.0, "output_dir": str(tmp_path), "name": backend,
                "output_every": 100000, "progress_every": 100000}})
    summary, final = simulate(cfg, Path(tmp_path) / f"{backend}.h5", PETSc.COMM_SELF,
                              stream=None)
    assert summary["status"] == "finished" and summary["steps"] > 10
    return final


@pytest.mark.parametrize("order", [1, 2])
def test_whole_simulation_agrees_between_backends(tmp_path, order):
    reference, fused = run(tmp_path, "numpy", order), run(tmp_path, "c", order)
    assert np.max(np.abs(fused - reference)) <= 1e-12 * np.max(np.abs(reference))


# ------------------------------------------------------------------------------ refusals
def test_installed_library_is_built_from_the_committed_source():
    """Fails when `make install` has not (re)built the library after the C source changed."""
    handle = ckernels.load_library()
    assert ckernels._string(handle, "moyal_source_sha256") == \
        hashlib.sha256(ckernels.SOURCE.read_bytes()).hexdigest()
    cfg = config.from_dict({"numerics": {"backend": "c"}})
    assert cfg.numerics.backend == "c"


def test_missing_library_is_a_config_error(tmp_path):
    with pytest.raises(config.ConfigError, match=r"numerics\.backend = 'c'.*missing.*make install"):
        ckernels.band_rate_kernel(("kx",), 0, library=tmp_path / "libmoyal_band.so")


def test_stale_library_is_a_config_error(tmp_path):
    edited = tmp_path / "band_mode.c"
    edited.write_text(ckernels.SOURCE.read_text().replace("fmin", "fmax", 1))
    with pytest.raises(config.ConfigError, match=r"numerics\.backend = 'c'.*stale"):
        ckernels.band_rate_kernel(("kx",), 0, source=edited)


def fake_library(tmp_path, flags=None, size_offset=0):
    """A library exporting only what the loader checks (sub-second build): the committed
    source's sha256, ``flags`` (default: what scripts/install.sh passes) and the struct size
    of moyal.abi plus ``size_offset`` bytes."""
    flags = f"-O3 -march=native {abi.COMPILE_FLAGS}" if flags is None else flags
    size = ctypes.sizeof(abi.ctypes_structure()) + size_offset
    sha = hashlib.sha256(ckernels.SOURCE.read_bytes()).hexdigest()
    source = tmp_path / "fake.c"
    source.write_text(f'#include <stdint.h>\nconst char moyal_source_sha256[] = "{sha}";\n'
                      f'const char moyal_compile_flags[] = "{flags}";\n'
                      f"const int64_t moyal_band_args_size = {size};\n")
    library = tmp_path / "libfake.so"
    compiler = shutil.which("cc") or shutil.which("gcc")
    assert compiler, "no C compiler on PATH (the install builds the kernels with one)"
    subprocess.run([compiler, "-shared", "-fPIC", "-o", str(library), str(source)], check=True)
    return library


def test_library_flags_and_struct_size_are_checked(tmp_path):
    assert ckernels.load_library(fake_library(tmp_path)) is not None
    cases = [({"flags": f"-O3 -ffast-math {abi.COMPILE_FLAGS}"}, r"value-changing -ffast-math"),
             ({"flags": "-O3 -std=c99 -fPIC -shared"}, r"not ending in '-std=c99 -ffp-contract"),
             ({"size_offset": 8}, rf"has a {ctypes.sizeof(abi.ctypes_structure()) + 8}-byte "
                                  rf"moyal_band_args, moyal\.abi describes")]
    for number, (options, message) in enumerate(cases):
        directory = tmp_path / str(number)
        directory.mkdir()
        with pytest.raises(config.ConfigError, match=r"numerics\.backend = 'c': .*" + message):
            ckernels.load_library(fake_library(directory, **options))


def test_installed_library_records_the_install_flags():
    flags = ckernels._string(ckernels.load_library(), "moyal_compile_flags")
    assert flags.endswith(" " + abi.COMPILE_FLAGS) and ckernels.flags_problem(flags) is None


def test_matrix_mode_is_refused_before_compute():
    with pytest.raises(config.ConfigError,
                       match=r"numerics\.backend = 'c'.*mode\.kind = 'matrix'.*expected"):
        config.from_dict({"mode": {"kind": "matrix"}, "numerics": {"backend": "c"}})


def test_an_order_without_a_compiled_kernel_is_refused():
    with pytest.raises(config.ConfigError, match=r"numerics\.backend = 'c': no fused kernel "
                                                 r"for mode\.order = 3.*expected mode\.order "
                                                 r"in \[0, 1, 2\]"):
        ckernels.band_rate_kernel(("x", "kx"), 3)


def test_unknown_backend_is_refused():
    with pytest.raises(config.ConfigError, match=r"numerics\.backend = 'fortran': expected one "
                                                 r"of 'numpy', 'c'"):
        config.from_dict({"numerics": {"backend": "fortran"}})


def test_exported_names_follow_the_abi_layouts():
    handle = ckernels.load_library()
    for layout in abi.LAYOUTS:
        for order in abi.ORDERS:
            assert callable(getattr(handle, abi.function_name(layout, order)))
    kernel = ckernels.band_rate_kernel(("x", "kx", "ky"), 1)
    assert kernel.tables == ("Omega_xy", "epsilon_dkx") and kernel.potentials == ("V_dx", "V_dy")
    assert kernel.limiters == abi.LIMITERS and kernel.schemes == abi.SCHEMES


def test_a_grid_without_a_compiled_kernel_is_refused_naming_the_grids():
    """The 4D grid has no fused kernel: the message names the grid and the ones that have one
    (not the order, which is fine)."""
    with pytest.raises(config.ConfigError, match=r"no fused kernel on a \(x, y, kx, ky\) grid; "
                                                 r"expected one of the grids \(kx\).*numpy"):
        ckernels.band_rate_kernel(("x", "y", "kx", "ky"), 1)
