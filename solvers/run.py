"""Command line: ``mpirun -n N python -m solvers.run CONFIG.toml [key=value ...] [-petsc_opt ...]``.

Arguments: the config path first; then ``table.key=value`` overrides (TOML values, bare words
are strings); everything from the first argument starting with ``-`` goes to PETSc.
A bad invocation or config prints one line to stderr and exits with code 2 before any compute.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from solvers import config as cfgmod

USAGE = "usage: python -m solvers.run CONFIG.toml [table.key=value ...] [-petsc_option ...]"


def split_args(argv: list[str]) -> tuple[str, list[str], list[str]]:
    """``(config_path, overrides, petsc_args)``; raises ConfigError on a bad invocation."""
    if not argv:
        raise cfgmod.ConfigError(f"missing config path; {USAGE}")
    path, rest = argv[0], argv[1:]
    if path.startswith("-"):
        raise cfgmod.ConfigError(f"first argument {path!r} must be the config path; {USAGE}")
    cut = next((i for i, a in enumerate(rest) if a.startswith("-")), len(rest))
    overrides, petsc_args = rest[:cut], rest[cut:]
    for item in overrides:
        if "=" not in item:
            raise cfgmod.ConfigError(f"argument {item!r}: expected table.key=value; {USAGE}")
    return path, overrides, petsc_args


def parse_and_load(argv: list[str]):
    """Split arguments, load and validate the config, check the output path (no compute)."""
    path, overrides, petsc_args = split_args(argv)
    cfg = cfgmod.load(path, overrides)
    out = Path(cfg.run.output_dir) / f"{cfg.run.name}.h5"
    if out.exists() and not cfg.run.overwrite:
        raise cfgmod.ConfigError(
            f"run.name = {cfg.run.name!r}: output {str(out)!r} exists; "
            "expected a new name, or run.overwrite=true to replace it")
    return cfg, out, petsc_args


def simulate(cfg: cfgmod.Config, out: Path, comm, petsc_args=(), stream=sys.stdout):
    """Run one simulation on ``comm`` and write ``out``.

    Returns ``(summary, final)``: a summary dict on every rank, and the gathered final
    distribution ``(dof, nx, nk)`` on rank 0 (None elsewhere).

    One code path for serial and parallel: a serial run is a one-rank communicator.
    """
    # Imported here, not at module level: PETSc must be initialised with the command-line
    # options (petsc4py.init in main) before the first import of petsc4py.PETSc.
    from petsc4py import PETSc

    from solvers.boltzmann import BoltzmannRHS, streaming_distribution, tight_binding_band
    from solvers.fluxes import STENCIL_WIDTH
    from solvers.grid import Axis, PhaseSpaceGrid
    from solvers.output import Writer
    from solvers.stepper import Progress, fixed_step, make_ts

    rank, size = comm.getRank(), comm.getSize()
    m = cfg.model
    bz = np.pi / m.lattice_constant
    grid = PhaseSpaceGrid(Axis.uniform("x", 0.0, cfg.grid.x_length, cfg.grid.nx),
                          Axis.uniform("k", -bz, bz, cfg.grid.nk),
                          dof=1, stencil_width=STENCIL_WIDTH, comm=comm)
    velocity = lambda k: tight_binding_band(k, m.hopping, m.lattice_constant)[1]  # noqa: E731
    rhs = BoltzmannRHS(grid, velocity, force=-cfg.fields.E, limiter=cfg.numerics.limiter)
    dt, nsteps = fixed_step(cfg.run.t_end, rhs.stable_dt(cfg.numerics.cfl))

    u = grid.da.createGlobalVec()
    xc, _, kc, _ = grid.owned_cells()
    grid.view(u)[...] = streaming_distribution(cfg, xc, kc)
    number0 = grid.integrate(u)[0]

    if rank == 0:
        out.parent.mkdir(parents=True, exist_ok=True)
    writer = Writer(out, grid, cfg.to_dict(), {"energy": cfg.units.energy,
                    "length": cfg.units.length}, " ".join(petsc_args), size, rank)
    v_all = velocity(grid.k.centres)
    dk = grid.k.widths / (2 * np.pi)

    last = {}  # the most recent gathered write; the final one is the run's result

    def write(step, t, dt_, vec):
        f = last["f"] = grid.gather(vec)
        if rank == 0:
            writer.write(t, step, {"f": f, "density": f[0] @ dk, "current": -(f[0] @ (v_all * dk))})

    def scheduled_write(step, t, dt_, vec):
        if step % cfg.run.output_every == 0 or step == nsteps:
            write(step, t, dt_, vec)

    progress = Progress(cfg.run.t_end, cfg.run.progress_every, rank, stream)
    ts = make_ts(grid, rhs, cfg.run.t_end, dt, nsteps,
                 [scheduled_write, lambda s, t, d, v: progress(s, t, d)])
    if nsteps == 0:
        write(0, 0.0, dt, u)
    else:
        ts.solve(u)
    writer.close()

    final = last["f"]  # the schedule always writes the last step
    drift = abs(grid.integrate(u)[0] - number0) / abs(number0)
    summary = None
    if rank == 0:
        exact = streaming_distribution(cfg, grid.x.centres, grid.k.centres, cfg.run.t_end)
        cell = np.outer(grid.x.widths, grid.k.widths)[None]
        summary = {"path": str(out), "steps": nsteps, "dt": dt, "t_end": cfg.run.t_end,
                   "ranks": size, "ts_type": ts.getType(), "number_drift": drift,
                   "l1_error": float(np.sum(np.abs(final - exact) * cell)
                                     / np.sum(exact * cell))}
    return comm.tompi4py().bcast(summary, root=0), final


def read_back(path: Path, expected: np.ndarray) -> float:
    """Re-open the written file and return max |f_file - f_memory| for the last write."""
    import h5py

    with h5py.File(path, "r") as h5:
        stored = h5["tasks/f"][-1]
        if stored.shape != expected.shape or h5["grid/x"].shape[0] != expected.shape[1]:
            raise RuntimeError(f"{path}: stored shapes {stored.shape} do not match the run")
        return float(np.max(np.abs(stored - expected)))


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] in (["-h"], ["--help"]):
        print(f"{USAGE}\n\n{__doc__}")
        return 0
    from mpi4py import MPI

    rank = MPI.COMM_WORLD.Get_rank()
    try:
        cfg, out, petsc_args = parse_and_load(argv)
    except cfgmod.ConfigError as err:
        if rank == 0:
            print(f"moyal-run: error: {err}", file=sys.stderr)
        return 2
    import petsc4py

    petsc4py.init([sys.argv[0]] + petsc_args)
    from petsc4py import PETSc

    summary, final = simulate(cfg, out, PETSc.COMM_WORLD, petsc_args)
    if rank == 0:
        diff = read_back(out, final)
        print(f"wrote {out}")
        print(f"result: t = {summary['t_end']:.6g} hbar/{cfg.units.energy} in "
              f"{summary['steps']} steps ({summary['ts_type']}, {summary['ranks']} ranks); "
              f"particle-number drift {summary['number_drift']:.1e}; "
              f"L1 error vs exact solution {summary['l1_error']:.2e}; "
              f"HDF5 read-back max diff {diff:.1e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
