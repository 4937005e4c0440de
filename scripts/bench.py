"""Performance benchmark (`make bench`): solver kernels against the memory roofline, time steps,
memory, strong scaling, a profile, and the k-space calculators against WannierBerri.

Everything is measured in one run and written to ``<out>/bench.json`` and ``<out>/bench.md``
(docs/performance.md explains the method and the byte model):

* ``triad``: STREAM-like triad a = b + s c on one core (compiled C if a C compiler exists,
  and a cache-blocked numpy version), bytes counted as STREAM does (3 x 8 per element);
* ``kernels``: BandProblem/MatrixProblem.explicit_rate (the TS right-hand side, ghost
  exchange included) on one rank, median over repeats, in cell-dof updates per second, with
  the minimal bytes per update and the achieved fraction of the triad bandwidth; the full time
  step (the solver's own TS from ``solvers.stepper.make_ts``); the peak-memory growth per
  cell-dof (VmHWM, fresh process per case);
* ``scaling``: the same worker under ``mpirun -n 1`` and ``-n 2`` on a >= 4M-cell grid;
* ``profile``: cProfile of the rate evaluation and PETSc ``-log_view`` of a ``solvers.run``;
* ``kspace``: :mod:`scripts.bench_kspace` (moyal alone, and against WannierBerri).

Every numerics backend the config accepts (``numerics.backend``) is measured.

Usage: python -m scripts.bench --out DIR [--quick] [--no-wannierberri]
       python -m scripts.bench worker CASE.json RESULT.json   (internal, one case)
"""
from __future__ import annotations

import argparse
import copy
import ctypes
import gc
import json
import math
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]

def mpirun() -> str:
    """The mpirun beside the running interpreter (the venv's, from the mpich wheel), else the
    one on PATH: the benchmark must not assume an in-tree ``.venv``."""
    beside = Path(sys.executable).parent / "mpirun"
    found = str(beside) if beside.exists() else shutil.which("mpirun")
    if found is None:
        raise RuntimeError(f"no mpirun beside {sys.executable} or on PATH")
    return found

BACKENDS = ("numpy", "c")
TARGETS = {"roofline_fraction_band_order_le_1": 0.30, "speedup_2_ranks": 1.8,
           "bytes_per_cell_dof": 200.0, "kspace_speedup_vs_wannierberri": 5.0}
QWZ = {"name": "qwz", "parameters": {"m": -1.2, "g": 0.3}}
X_AXIS = {"x": "periodic", "x_min": 0.0, "x_max": 20.0}
COSINE = {"E": [0.01, 0.005],
          "potential": [{"kind": "cosine", "amplitude": 0.05, "q": 2 * math.pi / 20.0}]}


# ---------------------------------------------------------------------------------- cases
def case_config(mode: str, order: int, grid: str, sizes: tuple, backend: str | None,
                layout: str = "auto") -> dict:
    """Raw config (TOML-like dict) of one benchmark case.

    ``grid`` is ``"k2"`` ((kx, ky), QWZ), ``"xk2"`` ((x, kx, ky), QWZ with a cosine
    potential), ``"xyk2"`` ((x, y, kx, ky), QWZ with cosine potentials along x and y) or
    ``"xk1"`` ((x, kx), Rice-Mele chain with the cosine potential); ``layout`` is
    ``numerics.layout``.
    """
    raw = {"mode": {"kind": mode, "order": order},
           "initial": {"kind": "equilibrium", "mu": 0.5, "temperature": 0.2},
           "numerics": {"integrator": "auto", "layout": layout}}
    if grid == "k2":
        raw["model"] = copy.deepcopy(QWZ)
        raw["fields"] = {"E": [0.01, 0.005]}
        raw["grid"] = {"nk": list(sizes)}
    else:
        raw["model"] = copy.deepcopy(QWZ) if grid != "xk1" else {"name": "rice_mele"}
        raw["fields"] = copy.deepcopy(COSINE)
        if grid == "xk1":
            raw["fields"]["E"] = [0.01]
        raw["grid"] = {**X_AXIS, "nx": sizes[0], "nk": list(sizes[1 + (grid == "xyk2"):])}
        raw["initial"].update(kind="packet", x_center=10.0, x_width=3.0)
        if grid == "xyk2":
            raw["fields"]["potential"].append({**raw["fields"]["potential"][0], "axis": "y"})
            raw["grid"].update(y="periodic", y_min=0.0, y_max=20.0, ny=sizes[1])
            raw["initial"].update(y_center=10.0, y_width=3.0)
    if backend is not None:
        raw["numerics"]["backend"] = backend
    return raw


def available_backends() -> dict:
    """backend -> config override (None: the config has no backend key, numpy is implied)
    or the reason it is not available."""
    from solvers import config as cfgmod
    from solvers import preflight

    found = {}
    for name in BACKENDS:
        try:
            preflight.check_setup(cfgmod.from_dict({"numerics": {"backend": name}}))
            found[name] = {"override": name}
        except cfgmod.ConfigError as err:
            found[name] = {"override": None, "reason": str(err)} if name == "numpy" \
                else {"unavailable": str(err)}
    return found


def kernel_cases(quick: bool) -> list[dict]:
    """Kernel/step/memory cases: band orders 0-2 on (kx, ky), on (x, kx, ky) in both layouts
    and on (x, y, kx, ky), and matrix mode (quick: tiny grids, to exercise the machinery)."""
    if quick:
        return [{"mode": "band", "order": 1, "grid": "xk2", "sizes": [8, 32, 32],
                 "layout": "auto"},
                {"mode": "band", "order": 2, "grid": "xyk2", "sizes": [4, 4, 16, 16],
                 "layout": "auto"},
                {"mode": "matrix", "order": 0, "grid": "k2", "sizes": [32, 32],
                 "layout": "auto"}]
    k2, xk2, xyk2, xk1 = (512, 512), (16, 256, 256), (16, 16, 64, 64), (512, 1024)
    cases = []
    for order in (0, 1, 2):
        cases.append(("band", order, "k2", k2, "auto"))
        cases.append(("band", order, "xk2", xk2, "k_distributed"))
        cases.append(("band", order, "xk2", xk2, "real_space"))
        cases.append(("band", order, "xyk2", xyk2, "auto"))
    cases.append(("matrix", 0, "k2", k2, "auto"))
    cases.append(("matrix", 0, "xk1", xk1, "auto"))
    return [{"mode": m, "order": o, "grid": g, "sizes": list(s), "layout": lay}
            for m, o, g, s, lay in cases]


def scaling_case(quick: bool) -> dict:
    """Band mode order 1 on (x, kx, ky) = 64 x 256 x 256 (4.19M cells)."""
    return {"mode": "band", "order": 1, "grid": "xk2", "layout": "auto",
            "sizes": [8, 32, 32] if quick else [64, 256, 256]}


# ---------------------------------------------------------------------------------- worker
def vm_hwm_bytes() -> int:
    """Peak resident set size of this process so far (VmHWM), bytes."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def profile_top(profiler, count: int = 15) -> list[dict]:
    """The ``count`` functions with the largest own time from a cProfile.Profile."""
    import pstats

    stats = pstats.Stats(profiler)
    total = sum(v[2] for v in stats.stats.values())
    rows = sorted(stats.stats.items(), key=lambda item: -item[1][2])[:count]
    return [{"function": f"{Path(file).name}:{line}({name})", "calls": int(v[1]),
             "seconds": v[2], "fraction": v[2] / total}
            for (file, line, name), v in rows]


def tiny_grid(raw: dict) -> dict:
    """``raw`` with at most 8 cells along every axis of [grid] (the refinement keys kept)."""
    raw = copy.deepcopy(raw)
    grid = raw.setdefault("grid", {})
    for key in ("nx", "ny"):
        if key in grid:
            grid[key] = min(grid[key], 8)
    if "nk" in grid:
        grid["nk"] = [min(n, 8) for n in grid["nk"]]
    return raw


def worker(case: dict) -> dict | None:
    """Measure one case on COMM_WORLD; returns the result on rank 0 (None elsewhere).

    ``case``: ``config`` (raw dict), ``repeats`` (rate evaluations), ``steps`` (time steps),
    ``profile`` (cProfile the rate evaluations).
    """
    import warnings

    import petsc4py
    from mpi4py import MPI

    petsc4py.init(sys.argv[:1])
    from petsc4py import PETSc

    from solvers import config as cfgmod
    from solvers.run import choose_integrator, make_problem
    from solvers.stepper import make_ts

    warnings.simplefilter("ignore", RuntimeWarning)  # gap-resolution notes on coarse grids
    comm = PETSc.COMM_WORLD
    mpi = comm.tompi4py()
    cfg = cfgmod.from_dict(case["config"])
    # The same setup on a tiny grid first: imports, the model's lambdified functions, the
    # generated modules and PETSc's first objects are paid before the baseline, so the
    # growth below is what scales with the grid (per cell-dof), not a fixed cost.
    make_problem(cfgmod.from_dict(tiny_grid(case["config"])), comm)
    gc.collect()
    baseline = vm_hwm_bytes()
    t0 = time.perf_counter()
    problem = make_problem(cfg, comm)
    grid = problem.grid
    u = grid.da.createGlobalVec()
    rate = grid.da.createGlobalVec()
    problem.initial_state(u)
    setup_seconds = time.perf_counter() - t0
    after_setup = vm_hwm_bytes()

    def timed(call):
        mpi.Barrier()
        start = time.perf_counter()
        call()
        mpi.Barrier()
        return mpi.allreduce(time.perf_counter() - start, op=MPI.MAX)

    def evaluate():
        problem.explicit_rate(0.0, u, rate, include_relaxation=False)

    timed(evaluate)  # warm-up: first-touch of temporaries, caches of the operator
    rate_times = [timed(evaluate) for _ in range(case["repeats"])]
    top = None
    if case.get("profile"):
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
        for _ in range(max(1, case["repeats"])):
            evaluate()
        profiler.disable()
        top = profile_top(profiler)
    after_rate = vm_hwm_bytes()

    start = time.perf_counter()
    dt = problem.stable_dt(include_relaxation=False)  # no relaxation in the cases
    stable_seconds = time.perf_counter() - start
    integrator = choose_integrator(cfg, problem, dt)
    steps = case["steps"]
    stamps = []

    def stamp(step, t, dt_, vec):
        mpi.Barrier()
        stamps.append(time.perf_counter())

    implicit = problem.implicit_part() if integrator == "imex" else None
    ts = make_ts(grid, lambda ts_, t, vec, out: problem.explicit_rate(
        t, vec, out, include_relaxation=implicit is None), steps * dt, dt, steps, [stamp],
        implicit=implicit)
    ts.solve(u)
    step_times = np.diff(stamps)
    after_steps = vm_hwm_bytes()

    growth = mpi.allreduce(after_steps - baseline)
    cells = int(np.prod(grid.sizes))
    dof = grid.dof
    if comm.getRank() != 0:
        return None
    median_rate = float(np.median(rate_times))
    return {"ranks": comm.getSize(), "cells": cells, "dof": dof, "sizes": list(grid.sizes),
            "axes": list(grid.names), "setup_seconds": setup_seconds,
            "stable_dt_seconds": stable_seconds,
            "rate_seconds": rate_times, "rate_seconds_median": median_rate,
            "cell_dof_per_second": cells * dof / median_rate,
            "ts_type": ts.getType(), "integrator": integrator, "steps": steps, "dt": dt,
            "step_seconds": step_times.tolist(),
            "step_seconds_median": float(np.median(step_times)) if steps else None,
            "rhs_per_step": rhs_per_step(ts.getType(), integrator),
            "memory_bytes": {"baseline_rank0": baseline, "setup_rank0": after_setup - baseline,
                             "rate_rank0": after_rate - baseline,
                             "steps_all_ranks": growth},
            "bytes_per_cell_dof": growth / (cells * dof),
            "minimal_bytes_per_update": minimal_bytes(problem),
            "profile": top}


def rhs_per_step(ts_type: str, integrator: str) -> int | None:
    """Right-hand-side evaluations per step of the default integrators (stepper.py)."""
    return {"ssp": 4, "arkimex": 4}.get(ts_type) if integrator in ("explicit", "imex") else None


def minimal_bytes(problem) -> dict:
    """Minimal memory traffic per cell-dof update of the rate evaluation (the byte model).

    Read f and write the rate: 16 bytes. Band mode adds the k-only band tables the live
    kernels along a grid axis read (:class:`solvers.coefficients.BandCoefficients`: the
    tables each kernel depends on once vanishing potential derivatives are taken out),
    8 bytes per table per k cell per band, amortised over the real-space cells that share
    them; matrix mode adds the per-k tables of its x advection amortised over x and the N*N
    unknowns (see below). Everything else (potential per x, cell widths) is O(1/n) of an
    axis and left out.
    """
    grid = problem.grid
    nx = int(np.prod([grid.sizes[i] for i in grid.x_axes])) if grid.has_x else 1
    axis_names = set(grid.names)
    if problem.mode == "band":
        coefficients = problem.coefficients
        used = {name for kern in coefficients.kernels if kern.direction in axis_names
                for name in coefficients.uses[kern.name] if name in coefficients.tables}
        table_bytes = 8.0 * len(used) / nx
        return {"f_and_rate": 16.0, "tables": table_bytes, "total": 16.0 + table_bytes,
                "tables_read": sorted(used)}
    # matrix mode: the k advection under a uniform field needs no table; the x advection
    # rotates F into the eigenbasis of d_k H0 (complex N x N per k) and uses the N x N
    # speeds (real), i.e. 24 N^2 bytes per k, shared by nx cells of N^2 unknowns each
    table_bytes = 24.0 / nx if grid.has_x else 0.0
    return {"f_and_rate": 16.0, "tables": table_bytes, "total": 16.0 + table_bytes,
            "tables_read": ["velocity eigenbasis and speeds"] if grid.has_x else []}


# ---------------------------------------------------------------------------------- triad
TRIAD_C = r"""
#include <stddef.h>
void triad(double *a, const double *b, const double *c, double s, size_t n)
{ for (size_t i = 0; i < n; ++i) a[i] = b[i] + s * c[i]; }
"""


def compiled_triad(scratch: Path):
    """ctypes triad compiled -O2 by the compiler that builds the fused kernels (the venv's
    mpicc), else the system cc; None without either."""
    venv_mpicc = Path(sys.executable).parent / "mpicc"
    compiler = (str(venv_mpicc) if venv_mpicc.exists() else None) \
        or shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        return None
    source, library = scratch / "triad.c", scratch / "libtriad.so"
    source.write_text(TRIAD_C)
    done = subprocess.run([compiler, "-O2", "-shared", "-fPIC", "-o", str(library), str(source)],
                          capture_output=True)
    if done.returncode != 0:
        return None
    function = ctypes.CDLL(str(library)).triad
    pointer = ctypes.POINTER(ctypes.c_double)
    function.argtypes = [pointer, pointer, pointer, ctypes.c_double, ctypes.c_size_t]

    def call(a, b, c, s):
        function(a.ctypes.data_as(pointer), b.ctypes.data_as(pointer),
                 c.ctypes.data_as(pointer), s, a.size)
    return call, compiler


def numpy_triad(a, b, c, s, block: int = 1 << 15):
    """a = b + s c in cache-sized blocks: the product stays in cache, so memory sees the
    STREAM traffic (read b, c; write a) and no full-size temporary."""
    tmp = np.empty(block)
    for start in range(0, a.size, block):
        stop = min(start + block, a.size)
        t = tmp[: stop - start]
        np.multiply(c[start:stop], s, out=t)
        np.add(b[start:stop], t, out=a[start:stop])


def measure_triad(n: int, repeats: int, scratch: Path) -> dict:
    """Best-of-repeats triad bandwidth (bytes/s, STREAM counting 24 bytes per element)."""
    b = np.random.default_rng(1).random(n)
    c = np.random.default_rng(2).random(n)
    a = np.zeros(n)
    s = 3.0
    variants = {"numpy_blocked": numpy_triad}
    compiled = compiled_triad(scratch)
    if compiled is not None:
        variants["c"] = compiled[0]
    result = {"elements": n, "array_bytes": 8 * n, "bytes_per_element": 24,
              "compiler": compiled[1] if compiled else None}
    for name, call in variants.items():
        call(a, b, c, s)  # first touch of a
        if not np.allclose(a[:1000], b[:1000] + s * c[:1000]):
            raise RuntimeError(f"triad {name}: wrong result")
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            call(a, b, c, s)
            times.append(time.perf_counter() - start)
        result[name] = {"seconds_best": min(times), "seconds_median": float(np.median(times)),
                        "bytes_per_second": 24 * n / min(times)}
    result["reference"] = max((k for k in variants), key=lambda k: result[k]["bytes_per_second"])
    result["bytes_per_second"] = result[result["reference"]]["bytes_per_second"]
    return result


def parallel_triad(n: int, repeats: int) -> dict | None:
    """The blocked numpy triad on every rank of COMM_WORLD at once (own arrays per rank),
    best of ``repeats`` of the slowest rank: the aggregate bandwidth of the node when run
    under ``mpirun -n 2``. Returns the result on rank 0."""
    from mpi4py import MPI

    comm = MPI.COMM_WORLD
    b, c, a = np.random.default_rng(1).random(n), np.random.default_rng(2).random(n), \
        np.zeros(n)
    numpy_triad(a, b, c, 3.0)
    times = []
    for _ in range(repeats):
        comm.Barrier()
        start = time.perf_counter()
        numpy_triad(a, b, c, 3.0)
        times.append(comm.allreduce(time.perf_counter() - start, op=MPI.MAX))
    if comm.Get_rank() != 0:
        return None
    return {"ranks": comm.Get_size(),
            "bytes_per_second": comm.Get_size() * 24 * n / min(times)}


# ---------------------------------------------------------------------------------- driver
def run_worker(case: dict, ranks: int | None, scratch: Path, log, kind="worker") -> dict:
    """One case in a fresh process (under mpirun when ``ranks`` is given); ``kind`` is
    ``worker`` (a solver case) or ``triad`` (``{"n", "repeats"}``)."""
    scratch.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(suffix=".json", dir=scratch)
    os.close(handle)
    source, target = Path(name), Path(name).with_suffix(".out.json")
    source.write_text(json.dumps(case))
    command = [sys.executable, "-m", "scripts.bench", kind, str(source), str(target)]
    if ranks is not None:
        command = [mpirun(), "-n", str(ranks)] + command
    start = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        tail = " | ".join(done.stderr.strip().splitlines()[-4:])
        print(f"  failed ({wall:.0f} s): {tail}", file=log, flush=True)
        return {"error": tail}
    result = json.loads(target.read_text())
    result["process_seconds"] = wall
    return result


def log_view(case: dict, steps: int, scratch: Path, log) -> dict:
    """``solvers.run`` on the case for ``steps`` steps of the worker's ``dt`` with
    ``-log_view`` (PETSc's profile of the whole run, output writes included)."""
    config = scratch / "profile.toml"
    config.write_text(to_toml(case["config"]))
    command = [sys.executable, "-m", "solvers.run", str(config), f"run.output_dir={scratch}",
               "run.name=profile", "run.overwrite=true", f"run.t_end={steps * case['dt']!r}",
               f"numerics.dt={case['dt']!r}", f"run.output_every={steps}",
               f"run.progress_every={steps}", "-log_view"]
    start = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        print(f"  log_view run failed: {done.stderr[-500:]}", file=log, flush=True)
    return {"command": "python -m solvers.run profile.toml " + " ".join(command[5:]),
            "returncode": done.returncode, "seconds": wall, "steps": steps,
            "events": parse_log_view(done.stdout), "log": done.stdout}


def parse_log_view(text: str) -> list[dict]:
    """Event rows (name, count, max time, % of total) of PETSc's -log_view table."""
    rows = []
    in_table = False
    for line in text.splitlines():
        if line.startswith("--- Event Stage 0"):
            in_table = True
            continue
        if in_table and line.startswith("---"):
            break
        parts = line.split()
        if in_table and len(parts) > 10 and re.match(r"^\d+$", parts[1]):
            rows.append({"event": parts[0], "count": int(parts[1]), "seconds": float(parts[3]),
                         "percent_time": float(parts[10])})
    return rows


def to_toml(raw: dict) -> str:
    """A config dict as TOML (tables of scalars, lists and inline tables)."""
    def value(v):
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, str):
            return json.dumps(v)
        if isinstance(v, dict):
            return "{" + ", ".join(f"{k} = {value(x)}" for k, x in v.items()) + "}"
        if isinstance(v, (list, tuple)):
            return "[" + ", ".join(value(x) for x in v) + "]"
        return repr(v)
    return "\n".join(f"[{table}]\n" + "\n".join(f"{k} = {value(v)}" for k, v in items.items())
                     + "\n" for table, items in raw.items())


def checked_case(spec: dict, override: str | None, **options) -> dict:
    """A worker case for ``spec``, or ``{"unavailable": reason}`` when the config refuses
    the combination (e.g. the c backend in matrix mode)."""
    from solvers import config as cfgmod
    from solvers import preflight

    raw = case_config(spec["mode"], spec["order"], spec["grid"], spec["sizes"], override,
                      spec.get("layout", "auto"))
    try:
        preflight.check_setup(cfgmod.from_dict(raw))
    except cfgmod.ConfigError as err:
        return {"unavailable": str(err)}
    return {"config": raw, **options}


def measure(case: dict, ranks: int | None, scratch: Path, log) -> dict:
    """run_worker, or the case's ``unavailable`` reason."""
    return case if "unavailable" in case else run_worker(case, ranks, scratch, log)


def label(case: dict) -> str:
    mode = f"band order {case['order']}" if case["mode"] == "band" else "matrix"
    axes = {"k2": "(kx,ky)", "xk2": "(x,kx,ky)", "xyk2": "(x,y,kx,ky)",
            "xk1": "(x,kx)"}[case["grid"]]
    layout = f" [{case['layout']}]" if case.get("layout", "auto") != "auto" else ""
    return f"{mode} {axes} {'x'.join(map(str, case['sizes']))}{layout}"


def bench(out: Path, quick: bool, wannierberri: bool, log=sys.stderr) -> dict:
    from scripts import bench_kspace

    scratch = Path(tempfile.mkdtemp(prefix="moyal-bench-"))
    started = time.perf_counter()
    result = {"host": {"machine": platform.machine(), "processor": platform.processor(),
                       "cpus": os.cpu_count(), "python": platform.python_version(),
                       "numpy": np.__version__, "load_average_start": os.getloadavg()},
              "quick": quick, "targets": TARGETS}
    try:
        print("bench: triad", file=log, flush=True)
        result["triad"] = measure_triad(1 << 20 if quick else 1 << 24, 3 if quick else 10,
                                        scratch)
        triad_bw = result["triad"]["bytes_per_second"]
        # the node's bandwidth with both cores streaming: bounds the two-rank speed-up of
        # memory-bound code (the same blocked numpy triad on 1 and on 2 ranks)
        nodes = {ranks: run_worker({"n": 1 << (20 if quick else 24), "repeats": 3 if quick
                                    else 10}, ranks, scratch, log, kind="triad")
                 for ranks in (1, 2)}
        result["triad"]["mpi"] = nodes
        if all("error" not in v for v in nodes.values()):
            result["triad"]["two_rank_bandwidth_ratio"] = \
                nodes[2]["bytes_per_second"] / nodes[1]["bytes_per_second"]
        backends = available_backends()
        result["backends"] = backends
        runnable = {k: v["override"] for k, v in backends.items() if "unavailable" not in v}
        repeats, steps = (2, 2) if quick else (5, 4)
        kernels = []
        for spec in kernel_cases(quick):
            for backend, override in runnable.items():
                case = checked_case(spec, override, repeats=repeats, steps=steps)
                print(f"bench: {label(spec)} [{backend}]", file=log, flush=True)
                measured = measure(case, None, scratch, log)
                entry = {**spec, "label": label(spec), "backend": backend, **measured}
                if "error" not in measured and "unavailable" not in measured:
                    achieved = measured["cell_dof_per_second"] * \
                        measured["minimal_bytes_per_update"]["total"]
                    entry["achieved_bytes_per_second"] = achieved
                    entry["roofline_fraction"] = achieved / triad_bw
                    # the traffic the evaluation would have to move to take its time at the
                    # triad bandwidth: numpy temporaries show up here
                    entry["triad_equivalent_bytes_per_update"] = \
                        triad_bw / measured["cell_dof_per_second"]
                kernels.append(entry)
        result["kernels"] = kernels
        result["not_measured"] = ["matrix mode on (x, kx, ky): the solver's matrix mode with "
                                  "an x axis has kernels for 1D k only (MatrixProblem refuses "
                                  "it), so its 3D case is absent; (x, kx) is measured"]

        spec = scaling_case(quick)
        scaling = {"case": {**spec, "label": label(spec)}, "runs": {}}
        for backend, override in runnable.items():
            case = checked_case(spec, override, repeats=2 if quick else 3,
                                steps=2 if quick else 3)
            runs = {}
            for ranks in (1, 2):
                print(f"bench: scaling {label(spec)} [{backend}] -n {ranks}", file=log,
                      flush=True)
                runs[ranks] = measure(case, ranks, scratch, log)
            entry = {"n1": runs[1], "n2": runs[2]}
            if all("error" not in r and "unavailable" not in r for r in runs.values()):
                entry["speedup_step"] = runs[1]["step_seconds_median"] / \
                    runs[2]["step_seconds_median"]
                entry["speedup_rate"] = runs[1]["rate_seconds_median"] / \
                    runs[2]["rate_seconds_median"]
            scaling["runs"][backend] = entry
        result["scaling"] = scaling

        spec = {"mode": "band", "order": 1, "grid": "xk2",
                "sizes": [8, 32, 32] if quick else [8, 256, 256]}
        result["profile"] = {}
        for backend, override in runnable.items():
            print(f"bench: profile {label(spec)} [{backend}]", file=log, flush=True)
            case = checked_case(spec, override, repeats=2 if quick else 3, steps=1,
                                profile=True)
            profiled = measure(case, None, scratch, log)
            profile = {"case": label(spec), **{key: profiled.get(key) for key in (
                "rate_seconds_median", "setup_seconds", "stable_dt_seconds", "error",
                "unavailable")}, "cprofile": profiled.get("profile")}
            if "error" not in profiled and "unavailable" not in profiled:
                profile["log_view"] = log_view({**case, "dt": profiled["dt"]},
                                               2 if quick else 4, scratch, log)
            result["profile"][backend] = profile

        print("bench: k-space", file=log, flush=True)
        grid_points, n_mu = (40, 5) if quick else (400, 31)
        kspace = bench_kspace.run(grid_points, n_mu)
        kspace.pop("tensors")
        result["kspace"] = kspace
        # WannierBerri takes minutes on 400 x 400 on this machine: compare on 200 x 200
        compare_points = 40 if quick else 200
        result["kspace_vs_wannierberri"] = (
            bench_kspace.compare_wannierberri(compare_points, n_mu, log) if wannierberri
            else {"available": False, "reason": "skipped (--no-wannierberri)"})
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    result["host"]["load_average_end"] = os.getloadavg()
    result["seconds"] = time.perf_counter() - started
    result["summary"] = summarise(result)
    out.mkdir(parents=True, exist_ok=True)
    for backend, profile in result.get("profile", {}).items():
        log_text = profile.get("log_view", {}).pop("log", None)
        if log_text is not None:
            (out / f"bench_log_view_{backend}.txt").write_text(log_text)
    (out / "bench.json").write_text(json.dumps(result, indent=2, default=float) + "\n")
    (out / "bench.md").write_text(markdown(result))
    return result


# ---------------------------------------------------------------------------------- report
def summarise(result: dict) -> dict:
    """The four targets, per backend: value, target, met."""
    targets = {}
    kernels = [k for k in result.get("kernels", []) if "error" not in k
               and "unavailable" not in k]
    for backend in sorted({k["backend"] for k in kernels}):
        mine = [k for k in kernels if k["backend"] == backend]
        low = [k for k in mine if k["mode"] == "band" and k["order"] <= 1]
        worst = min(low, key=lambda k: k["roofline_fraction"]) if low else None
        # the memory target concerns band mode (matrix mode's figure is in the table)
        heavy = max((k for k in mine if k["mode"] == "band"),
                    key=lambda k: k["bytes_per_cell_dof"], default=None)
        rows = {
            "roofline_fraction_band_order_le_1": (
                worst and worst["roofline_fraction"], worst and worst["label"]),
            "bytes_per_cell_dof": (heavy and heavy["bytes_per_cell_dof"],
                                   heavy and heavy["label"]),
        }
        scaling = result.get("scaling", {}).get("runs", {}).get(backend, {})
        rows["speedup_2_ranks"] = (scaling.get("speedup_step"), result.get(
            "scaling", {}).get("case", {}).get("label"))
        for name, (value, where) in rows.items():
            target = TARGETS[name]
            met = None if value is None else (value <= target if name == "bytes_per_cell_dof"
                                              else value >= target)
            targets[f"{name} [{backend}]"] = {"value": value, "target": target, "met": met,
                                              "worst_case": where}
    wb = result.get("kspace_vs_wannierberri", {})
    value = wb.get("speedup") if wb.get("available") and wb.get("agree") else None
    targets["kspace_speedup_vs_wannierberri"] = {
        "value": value, "target": TARGETS["kspace_speedup_vs_wannierberri"],
        "met": None if value is None else value >= TARGETS["kspace_speedup_vs_wannierberri"],
        "worst_case": wb.get("reason") or (None if wb.get("agree") else "results disagree")}
    return targets


def _fmt(value, digits=3):
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    return str(value)


def profile_markdown(backend: str, profile: dict) -> list[str]:
    """The profile section of one backend."""
    lines = ["", f"## Profile: {profile['case']} [{backend}]", ""]
    if profile.get("error") or profile.get("unavailable"):
        return lines + [f"Not run: {profile.get('error') or profile.get('unavailable')}"]
    lines += [f"Setup (problem and initial state) {_fmt(profile.get('setup_seconds'))} s; "
              f"one `problem.stable_dt` (CFL step, the field bounded at its peak) "
              f"{_fmt(profile.get('stable_dt_seconds'))} s; one rate evaluation "
              f"{_fmt(profile.get('rate_seconds_median'))} s.", "",
              "cProfile of the rate evaluation (own time):", "",
              "| function | calls | s | share |", "|---|---|---|---|"]
    for row in profile.get("cprofile") or []:
        lines.append(f"| `{row['function']}` | {row['calls']} | {row['seconds']:.3g} | "
                     f"{100 * row['fraction']:.1f}% |")
    view = profile.get("log_view")
    if view:
        lines += ["", f"PETSc -log_view of `{view['command']}` ({view['steps']} steps, "
                  f"{view['seconds']:.1f} s wall; full log in bench_log_view_{backend}.txt):",
                  "", "| event | count | max s | % of run | % of TSStep |",
                  "|---|---|---|---|---|"]
        step = next((r["seconds"] for r in view["events"] if r["event"] == "TSStep"), None)
        for row in sorted(view["events"], key=lambda r: -r["seconds"])[:12]:
            share = f"{100 * row['seconds'] / step:.1f}" if step else "n/a"
            lines.append(f"| {row['event']} | {row['count']} | {row['seconds']:.3g} | "
                         f"{_fmt(row['percent_time'])} | {share} |")
    return lines


def markdown(result: dict) -> str:
    """bench.md: the tables of one run."""
    lines = ["# moyal benchmark", ""]
    host = result["host"]
    lines += [f"Host: {host['cpus']} CPU(s) {host['processor'] or host['machine']}, Python "
              f"{host['python']}, numpy {host['numpy']}; load average at start "
              f"{host['load_average_start'][0]:.2f}, at end {host['load_average_end'][0]:.2f}; "
              f"total {result['seconds']:.0f} s{' (quick)' if result['quick'] else ''}.", ""]
    lines += ["## Targets", "", "| target | value | required | met | case |",
              "|---|---|---|---|---|"]
    for name, t in result["summary"].items():
        met = {True: "yes", False: "**no**", None: "n/a"}[t["met"]]
        op = "<=" if name.startswith("bytes") else ">="
        lines.append(f"| {name} | {_fmt(t['value'])} | {op} {t['target']} | {met} | "
                     f"{t['worst_case'] or ''} |")
    triad = result["triad"]
    lines += ["", "## Triad (one core)", "",
              f"a = b + s c, {triad['elements']} doubles per array "
              f"({triad['array_bytes'] / 2**20:.0f} MiB), 24 bytes per element counted.", "",
              "| variant | GB/s |", "|---|---|"]
    for name in ("c", "numpy_blocked"):
        if name in triad:
            lines.append(f"| {name}{' (reference)' if name == triad['reference'] else ''} | "
                         f"{triad[name]['bytes_per_second'] / 1e9:.2f} |")
    for ranks, node in triad.get("mpi", {}).items():
        if "error" not in node:
            lines.append(f"| numpy_blocked, mpirun -n {ranks} (aggregate) | "
                         f"{node['bytes_per_second'] / 1e9:.2f} |")
    if "two_rank_bandwidth_ratio" in triad:
        lines += ["", f"Two ranks stream {triad['two_rank_bandwidth_ratio']:.2f}x the bandwidth "
                  "of one: the bound on the two-rank speed-up of memory-bound code."]
    lines += ["", "## Backends", ""]
    for name, info in result["backends"].items():
        state = f"not available: {info['unavailable']}" if "unavailable" in info else \
            ("measured" + ("" if info["override"] else f" (implied: {info.get('reason')})"))
        lines.append(f"* `{name}`: {state}")
    lines += ["", "## Rate evaluation, time step and memory (one rank)", "",
              "Mdof/s: cell-dof updates per second of one rate evaluation; bytes/update: the "
              "minimal byte model; roofline: achieved (Mdof/s x bytes/update) / triad; "
              "triad-equiv.: bytes per update the evaluation would move at the triad "
              "bandwidth in its time; bytes/cell-dof: peak RSS growth (setup, rate, time "
              "steps) / (cells x dof).", "",
              "| case | backend | cells x dof | rate (s, median) | Mdof/s | bytes/update | "
              "roofline | triad-equiv. B/update | step (s) | RHS/step | setup (s) | "
              "bytes/cell-dof |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for k in result["kernels"]:
        if "error" in k or "unavailable" in k:
            why = f"failed: {k['error']}" if "error" in k else \
                f"not available: {k['unavailable']}"
            lines.append(f"| {k['label']} | {k['backend']} | {why[:120]} |" + " |" * 9)
            continue
        lines.append(
            f"| {k['label']} | {k['backend']} | {k['cells']} x {k['dof']} | "
            f"{k['rate_seconds_median']:.3g} | {k['cell_dof_per_second'] / 1e6:.3g} | "
            f"{k['minimal_bytes_per_update']['total']:.3g} | {k['roofline_fraction']:.3f} | "
            f"{k['triad_equivalent_bytes_per_update']:.0f} | "
            f"{_fmt(k['step_seconds_median'])} ({k['ts_type']}) | {_fmt(k['rhs_per_step'])} | "
            f"{k['setup_seconds']:.2g} | {k['bytes_per_cell_dof']:.0f} |")
    for note in result.get("not_measured", []):
        lines += ["", f"Not measured: {note}."]
    scaling = result["scaling"]
    lines += ["", f"## Strong scaling: {scaling['case']['label']}", "",
              "| backend | ranks | step (s, median) | rate (s, median) | bytes/cell-dof | "
              "speed-up (step) | speed-up (rate) |", "|---|---|---|---|---|---|---|"]
    for backend, entry in scaling["runs"].items():
        for ranks in ("n1", "n2"):
            r = entry[ranks]
            if "error" in r or "unavailable" in r:
                why = r.get("error") or r.get("unavailable")
                lines.append(f"| {backend} | {ranks[1]} | {why[:120]} | | | | |")
                continue
            speed = (f"{_fmt(entry.get('speedup_step'))} | {_fmt(entry.get('speedup_rate'))}"
                     if ranks == "n2" else " | ")
            lines.append(f"| {backend} | {ranks[1]} | {r['step_seconds_median']:.3g} | "
                         f"{r['rate_seconds_median']:.3g} | {r['bytes_per_cell_dof']:.0f} | "
                         f"{speed} |")
    for backend, profile in result.get("profile", {}).items():
        lines += profile_markdown(backend, profile)
    ks = result["kspace"]
    lines += ["", "## k-space calculators", "",
              f"moyal alone: {ks['model']}, {ks['grid'][0]} x {ks['grid'][1]} k points, "
              f"{ks['n_mu']} chemical potentials, all {len(ks['quantities'])} quantities: "
              f"geometry {ks['seconds']['geometry']:.2f} s, responses "
              f"{ks['seconds']['response']:.2f} s, total {ks['seconds']['total']:.2f} s.", ""]
    wb = result["kspace_vs_wannierberri"]
    if not wb.get("available"):
        lines.append(f"WannierBerri comparison not run: {wb.get('reason')}.")
    else:
        lines += [f"Against WannierBerri {wb['wannierberri_version']} (separate environment "
                  f"{wb['environment']}), same grid, mu list and Fermi-sea integrals "
                  f"({', '.join(wb['quantities'])}), T = 0, warm (second) runs:", "",
                  "| code | seconds (warm: second call) | seconds (first call) |", "|---|---|---|",
                  f"| moyal | {wb['moyal_seconds']:.3g} | {wb['moyal_seconds_cold']:.3g} |",
                  f"| WannierBerri | {wb['wannierberri_seconds']:.3g} | "
                  f"{wb['wannierberri_seconds_cold']:.3g} |", "",
                  f"Speed-up {wb['speedup']:.2f}x. Largest deviation relative to each "
                  "quantity's largest value: " + ", ".join(
                      f"{q} {d:.1e}" for q, d in wb["max_relative_deviation"].items())
                  + f" (agree: {'yes' if wb['agree'] else 'NO'})."]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] in (["worker"], ["triad"]):
        case = json.loads(Path(argv[1]).read_text())
        try:
            measured = worker(case) if argv[0] == "worker" else \
                parallel_triad(case["n"], case["repeats"])
        except Exception:  # noqa: BLE001 - reported, then every rank is stopped
            import traceback

            from mpi4py import MPI

            traceback.print_exc()
            sys.stderr.flush()
            MPI.COMM_WORLD.Abort(1)  # the other ranks would wait in a collective forever
        if measured is not None:
            Path(argv[2]).write_text(json.dumps(measured, default=float))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="output directory")
    parser.add_argument("--quick", action="store_true", help="tiny grids (smoke test)")
    parser.add_argument("--no-wannierberri", action="store_true",
                        help="skip the WannierBerri comparison (and its install)")
    args = parser.parse_args(argv)
    result = bench(args.out, args.quick, not args.no_wannierberri)
    print(markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
