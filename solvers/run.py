"""Command line: ``mpirun -n N python -m solvers.run CONFIG.toml [key=value ...] [-petsc_opt ...]``.

Arguments: the config path first; then ``table.key=value`` overrides (TOML values, bare words
are strings); everything from the first argument starting with ``-`` goes to PETSc
(``-ts_monitor``, ``-ts_type arkimex``, ``-log_view`` ...). ``--list-keys`` prints every
config key with its type, default, unit and meaning (the reference docs/config.md).

On a terminal a run prints what it sets up, then every ``run.progress_every`` steps
``step n/N (pct%)`` with t, dt, wall time and ETA (a field sweep: ``[run k of n, E x s]`` and
the sweep's ETA); in a log file or a pipe it prints only the results, unless
``run.progress = "always"`` (scripts/slurm_job.sh sets it, so batch logs show the stepping).

A bad invocation or config prints one line to stderr and exits with code 2 before any compute
and before any file is touched. Exit codes: 0 finished; 2 bad input (config, PETSc options,
output directory, an output locked by another run, a damaged or incompatible checkpoint);
3 stopped early (wall time or SIGTERM/SIGINT) after writing a checkpoint, continue with
``run.restart=true``; 1 failed during the run: NaN/Inf (the last good checkpoint is kept), a
write that failed (disk full), or any other error, with the traceback in
``<output_dir>/<name>.error.log``. Every failure ends every MPI rank, with one message.

With ``[response] scales = [1, -1, ...]`` the run is a field sweep: one simulation per scale
s of the uniform field (files ``<name>_s<s>.h5``), then linear and quadratic conductivities
from symmetric differences of the steady currents, written to ``<name>_response.h5`` and
printed next to the k-space formulas for the same model, mu, T and tau.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import sys
import time
import warnings
from pathlib import Path

import numpy as np

from solvers import config as cfgmod
from solvers import preflight

USAGE = "usage: python -m solvers.run CONFIG.toml [table.key=value ...] [-petsc_option ...]"
EXIT_STOPPED = 3
EXIT_FAILED = 1


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


def output_paths(cfg: cfgmod.Config) -> dict:
    """Every file a run may create: ``{"runs": [(scale, path)], "response": path | None}``."""
    base = Path(cfg.run.output_dir)
    if not cfg.response.scales:
        return {"runs": [(1.0, base / f"{cfg.run.name}.h5")], "response": None}
    runs = [(s, base / f"{cfg.run.name}_s{s:+g}.h5") for s in cfg.response.scales]
    return {"runs": runs, "response": base / f"{cfg.run.name}_response.h5"}


def checkpoint_path(out: Path) -> Path:
    return out.with_name(out.stem + ".chk.h5")


def parse_and_load(argv: list[str]):
    """Split arguments, load and validate the config, check the output paths (no compute)."""
    path, overrides, petsc_args = split_args(argv)
    cfg = cfgmod.load(path, overrides)
    return cfg, prepare(cfg), petsc_args


def prepare(cfg: cfgmod.Config) -> dict:
    """The checks of a loaded config before any compute and before any file is touched
    (:func:`solvers.preflight.check`, then the outputs: a new run replaces none, a restart
    has its checkpoints); returns :func:`output_paths`. Raises ConfigError."""
    preflight.check(cfg)  # model, potential, C kernel; size, memory, steps, collapsed cells
    paths = output_paths(cfg)
    files = [p for _, p in paths["runs"]] + ([paths["response"]] if paths["response"] else [])
    if cfg.run.restart:
        # a sweep stopped part-way has checkpoints for the runs it started; the others start
        # fresh, but an output without a checkpoint cannot be continued (nor overwritten)
        started = [out for _, out in paths["runs"] if checkpoint_path(out).exists()]
        if not started:
            raise cfgmod.ConfigError(
                f"run.restart = true: no checkpoint "
                f"{str(checkpoint_path(paths['runs'][0][1]))!r}; expected the output of an "
                "earlier run with this run.name")
        for _, out in paths["runs"]:
            if out.exists() and out not in started:
                raise cfgmod.ConfigError(
                    f"run.restart = true: {str(out)!r} exists without its checkpoint "
                    f"{str(checkpoint_path(out))!r}; expected both (or neither)")
    else:
        refuse_existing(cfg, files)
    return paths


def refuse_existing(cfg: cfgmod.Config, files: list[Path]):
    """ConfigError if a new run (not a restart) would replace an output without
    ``run.overwrite``."""
    if cfg.run.restart or cfg.run.overwrite:
        return
    for out in files:
        if out.exists():
            raise cfgmod.ConfigError(
                f"run.name = {cfg.run.name!r}: output {str(out)!r} exists; expected a "
                "new name, run.overwrite=true to replace it, or run.restart=true")


class OutputClaim:
    """The output directory and the locks of every output file of a run (taken by rank 0).

    :meth:`take` is collective over ``comm`` (mpi4py): rank 0 creates the directory, takes
    a lock ``<file>.lock`` per output (``solvers.output.acquire_lock``) and then, under the
    locks, repeats the check that a new run replaces no output (another run may have
    finished since the config was loaded). A failure raises ConfigError on every rank, with
    whatever was created removed again. Every rank learns the locks and their owner, so a
    rank that ends the job alone (``MPI_Abort``) can release them.
    """

    def __init__(self, cfg: cfgmod.Config, paths: dict, comm):
        self.cfg, self.comm = cfg, comm
        self.files = [p for _, p in paths["runs"]] + ([paths["response"]]
                                                       if paths["response"] else [])
        self.locked, self.created, self.owner = [], [], None

    def take(self, stream=None):
        """Take the directory and the locks (notes go to ``stream``, default stderr)."""
        from solvers.output import acquire_lock, lock_owner, raise_collectively

        error = None
        if self.comm.Get_rank() == 0:
            directory = Path(self.cfg.run.output_dir)
            try:
                self.created = [p for p in (directory, *directory.parents) if not p.exists()]
                directory.mkdir(parents=True, exist_ok=True)
            except OSError as err:
                self.created = [p for p in self.created if p.exists()]
                error = cfgmod.ConfigError(
                    f"run.output_dir = {self.cfg.run.output_dir!r}: expected a directory "
                    f"that exists or can be created ({err.strerror})")
            for out in self.files if error is None else ():
                try:
                    note = acquire_lock(out)
                except FileExistsError as err:  # OutputBusy: a run with this name is going
                    error = cfgmod.ConfigError(f"run.name = {self.cfg.run.name!r}: {err}")
                    break
                except OSError as err:
                    error = cfgmod.ConfigError(
                        f"run.output_dir = {self.cfg.run.output_dir!r}: expected a writable "
                        f"directory (cannot create {str(err.filename)!r}: {err.strerror})")
                    break
                self.locked.append(out)
                if note:
                    print(f"moyal-run: note: {note}", file=stream or sys.stderr)
            if error is None:
                try:
                    refuse_existing(self.cfg, self.files)
                except cfgmod.ConfigError as err:
                    error = err
            if error is not None:
                self.release(failed=True)
            self.owner = lock_owner()
        raise_collectively(self.comm, error)
        self.locked, self.owner = self.comm.bcast((self.locked, self.owner))
        return self

    def release(self, failed: bool = False):
        """Remove the locks (any rank may); with ``failed`` (nothing was written) also the
        directories :meth:`take` created (rank 0)."""
        from solvers.output import release_lock

        for out in self.locked:
            release_lock(out, self.owner)
        self.locked = []
        for directory in self.created if failed else ():
            try:
                directory.rmdir()  # only if empty
            except OSError:
                break
        self.created = []


class StopRequest:
    """SIGTERM/SIGINT set a flag; the run finishes its step, checkpoints and exits."""

    def __init__(self):
        self.signal = None
        self.previous = {}

    def __enter__(self):
        for sig in (signal.SIGTERM, signal.SIGINT):
            try:
                self.previous[sig] = signal.signal(sig, self._handle)
            except ValueError:  # not the main thread (e.g. inside a test runner thread)
                pass
        return self

    def _handle(self, signum, frame):
        self.signal = signal.Signals(signum).name

    def __exit__(self, *exc):
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)


def make_problem(cfg: cfgmod.Config, comm, scale: float = 1.0):
    """BandProblem or MatrixProblem for the config (setup stage; may raise ConfigError)."""
    from solvers import problem

    kind = problem.MatrixProblem if cfg.mode.kind == "matrix" else problem.BandProblem
    return kind(cfg, comm, scale)


def choose_integrator(cfg: cfgmod.Config, problem, dt_wanted: float) -> str:
    """``explicit`` or ``imex`` (auto: imex in matrix mode, or for a linear relaxation with
    tau shorter than the step the run wants: the user's, else the CFL and accuracy bound)."""
    choice = cfg.numerics.integrator
    if choice != "auto":
        if choice == "imex" and problem.implicit_part() is None:
            raise cfgmod.ConfigError(
                "numerics.integrator = 'imex': nothing to integrate implicitly (matrix mode, "
                "or collisions.kind 'fixed'/'field_renormalised'); expected 'explicit'")
        return choice
    if problem.implicit_part() is None:
        return "explicit"
    if problem.mode == "matrix" or cfg.collisions.tau < dt_wanted:
        return "imex"
    return "explicit"


def user_time_step(cfg: cfgmod.Config, options) -> tuple[str, float] | None:
    """The step the user fixed, ``(key, dt)``: ``numerics.dt`` or the PETSc option
    ``-ts_time_step`` (``-ts_dt``, its deprecated alias) from ``options`` (a PETSc.Options);
    None for neither. ConfigError for a value that is not a positive number, or for both."""
    given = [("numerics.dt", cfg.numerics.dt)] if cfg.numerics.dt else []
    for name in ("ts_time_step", "ts_dt"):
        if options.hasName(name):
            text = options.getString(name, "")
            try:
                value = float(text)
            except ValueError:
                value = float("nan")
            if not 0 < value < float("inf"):
                raise cfgmod.ConfigError(f"-{name} = {text!r}: expected a positive time step "
                                         "(hbar/energy)")
            given.append((f"-{name}", value))
    if len(given) > 1:
        raise cfgmod.ConfigError(
            f"{given[1][0]} = {given[1][1]!r}: the step is also set by {given[0][0]} = "
            f"{given[0][1]!r}; expected one of them")
    return given[0] if given else None


def accuracy_step(problem) -> tuple[float, str]:
    """``(dt, scale name)``: ``ACCURACY_STEP`` times the shortest time scale of the run
    (:meth:`solvers.problem.BandProblem.time_scales`); ``(inf, "")`` for none."""
    from solvers.problem import ACCURACY_STEP

    scales = problem.time_scales()
    if not scales:
        return float("inf"), ""
    name = min(scales, key=scales.get)
    return ACCURACY_STEP * scales[name], name


def check_time_step(cfg: cfgmod.Config, problem, integrator: str,
                    user: tuple[str, float] | None = None) -> tuple[float, str]:
    """The largest step ``dt_max`` and what limits it, before compute.

    Without a user step: the smaller of the stable step (``problem.stable_dt``, Courant
    number ``numerics.cfl``: "CFL", or the explicit local terms, e.g. "tau (stability)")
    and the accuracy bound (:func:`accuracy_step`, named by its time scale, e.g. "1/omega").

    A user step ``user = (key, dt)`` (:func:`user_time_step`) is refused above the stable step
    at Courant number 1 (``problem.stable_dt`` is proportional to ``numerics.cfl``; the limit
    of the SSP-RK/MUSCL scheme), warned about (once per config) above the accuracy bound,
    and then used: the limit is its key.
    """
    from solvers.problem import ACCURACY_STEP

    explicit = integrator == "explicit"
    transport = problem.stable_dt(include_relaxation=False)
    stable = problem.stable_dt(include_relaxation=explicit)
    accurate, scale = accuracy_step(problem)
    if user is not None:
        key, dt = user
        limit = stable / cfg.numerics.cfl
        if dt > limit:
            raise cfgmod.ConfigError(
                f"{key} = {dt!r}: expected a step <= {limit:.6g} hbar/energy, the stable "
                f"step (Courant number 1) of this grid and field with the {integrator} "
                "integrator; use numerics.dt = 0 (step from numerics.cfl and the time "
                "scales) or a smaller step")
        if dt > accurate and problem.warns:
            warnings.warn(
                f"{key} = {dt!r}: above the accuracy bound {accurate:.4g} hbar/energy "
                f"({ACCURACY_STEP:g} x {scale} = {accurate / ACCURACY_STEP:.4g}); the "
                "time-discretisation error grows as (dt / scale)^3 beyond the ~1e-4 "
                "relative measured at the bound (docs/solver.md)", RuntimeWarning,
                stacklevel=2)
        return dt, key
    if accurate < stable:
        return accurate, scale
    # stable = cfl / (transport rate + local rate): transport dominates iff stable >= transport / 2
    return stable, ("CFL" if stable >= 0.5 * transport
                    else f"{problem.explicit_stiffness} (stability)")


def simulate(cfg: cfgmod.Config, out: Path, comm, petsc_args=(), stream=sys.stdout,
             scale: float = 1.0, stop: StopRequest | None = None, gather_final: bool = True,
             sweep: tuple[int, int] = (1, 1)):
    """Run one simulation on ``comm`` and write ``out``.

    ``sweep = (k, n)``: this is run k of the n runs of a field sweep (progress lines name it
    and estimate the sweep's remaining time). Progress (a set-up line, then every
    ``run.progress_every`` steps) goes to ``stream`` as ``run.progress`` says (by default
    only if it is a terminal).

    Returns ``(summary, final)``: a summary dict on every rank (``status`` is "finished",
    "stopped" or "failed"), and with ``gather_final`` the gathered final state
    ``(dof, *sizes)`` on rank 0 (None elsewhere, and None everywhere without it: the
    command line never gathers, so a large state never has to fit on one rank; the run file
    and the checkpoints hold it). One code path for serial and parallel: a serial run is a one-rank
    communicator. The summary's ``series_t`` and ``series_current`` are the run file's
    (:func:`written_series`), so they cover the whole run also after restarts.
    """
    # Imported here: PETSc must be initialised with the command-line options (petsc4py.init
    # in main) before the first import of petsc4py.PETSc.
    from petsc4py import PETSc

    from solvers.checkpoint import read_checkpoint, restart_changes, write_checkpoint
    from solvers.output import Writer, raise_collectively
    from solvers.stepper import Progress, finite, fixed_step, make_ts, progress_stream

    wall_start = time.perf_counter()
    rank, size = comm.getRank(), comm.getSize()
    label = "" if scale == 1.0 and not cfg.response.scales \
        else f"[run {sweep[0]} of {sweep[1]}, E x {scale:+g}] "
    shown = progress_stream(stream, cfg.run.progress)
    if rank == 0 and shown is not None:
        print(label + setup_line(cfg), file=stream, flush=True)
    # setup warnings (resolution, accuracy) are shown only once the input is accepted, so
    # that a refused input stays one line on stderr
    with warnings.catch_warnings(record=True) as setup_warnings:
        warnings.simplefilter("always")
        problem = make_problem(cfg, comm, scale)
        user = user_time_step(cfg, PETSc.Options())
        dt_wanted = user[1] if user else min(problem.stable_dt(include_relaxation=False),
                                             accuracy_step(problem)[0])
        integrator = choose_integrator(cfg, problem, dt_wanted)
        dt_max, dt_limit = check_time_step(cfg, problem, integrator, user)
    for w in setup_warnings:
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    grid = problem.grid
    t_end = cfg.run.t_end
    preflight.check_steps(cfg, dt_max)  # at most MAX_STEPS steps, before any file
    u = grid.da.createGlobalVec()
    chk = checkpoint_path(out)
    restarted = cfg.run.restart and chk.exists()
    if restarted:
        state = read_checkpoint(chk, grid, u)
        t0, step0, dt = state["t"], state["step"], state["dt"]
        dt_limit = "the checkpoint"
        problem.restore(state["extra"])
        nsteps = step0 + max(0, int(round((t_end - t0) / dt))) if dt > 0 else step0
    else:
        problem.initial_state(u)
        t0, step0 = 0.0, 0
        dt, nsteps = fixed_step(t_end, dt_max)
    number0 = problem.particle_number(u)
    config_json = json.dumps(cfg.to_dict(), sort_keys=True)
    # only run.* keys may change on a restart (ConfigError before any file is touched)
    changed = restart_changes(chk, state["config"], config_json) if restarted else None
    written = {"step": step0 if restarted else None}  # a restart keeps the write at step0

    def write(step, t, vec):
        if written["step"] == step:
            return
        writer.write(t, step, phase_space={"f": vec}, globals=problem.task_values(vec, t))
        written["step"] = step

    def checkpoint(step, t, vec):
        if finite(vec):  # a NaN (reported by poststep) never replaces the last good checkpoint
            write_checkpoint(chk, grid, vec, t, step, dt, config_json, problem.extra_state())

    status = {"status": "finished", "reason": ""}
    progress = Progress(t_end, cfg.run.progress_every, rank, shown, label,
                        total=nsteps, runs_after=sweep[1] - sweep[0])

    def monitor(step, t, dt_, vec):
        if step % cfg.run.output_every == 0 or step == nsteps:
            write(step, t, vec)
        if cfg.run.checkpoint_every and step % cfg.run.checkpoint_every == 0 and step > step0:
            checkpoint(step, t, vec)
        progress(step, t, dt_)

    def poststep(ts):
        reason = ""
        if not finite(ts.getSolution()):
            reason = "failed: NaN or Inf in the solution"
        elif cfg.run.stop_wall_time and time.perf_counter() - wall_start > cfg.run.stop_wall_time:
            reason = f"stop_wall_time = {cfg.run.stop_wall_time:g} s reached"
        elif stop is not None and stop.signal:
            reason = f"{stop.signal} received"
        reason = comm.tompi4py().bcast(reason if rank == 0 or reason.startswith("failed")
                                       else "", root=0) or reason
        flags = comm.tompi4py().allgather(reason)
        reason = next((r for r in flags if r.startswith("failed")), next(
            (r for r in flags if r), ""))
        if reason:
            status["status"] = "failed" if reason.startswith("failed") else "stopped"
            status["reason"] = reason
            ts.setConvergedReason(PETSc.TS.ConvergedReason.CONVERGED_USER)

    implicit = problem.implicit_part() if integrator == "imex" else None

    def explicit_rhs(ts, t, vec, rate):
        problem.explicit_rate(t, vec, rate, include_relaxation=implicit is None)

    try:  # the PETSc options are checked before any output is opened
        ts = make_ts(grid, explicit_rhs, t_end, dt, nsteps, [monitor], implicit=implicit,
                     poststep=poststep)
        ts.setTime(t0)
        ts.setStepNumber(step0)
        ts.setSolution(u)
        ts.setUp()
    except (PETSc.Error, ValueError) as err:
        raise cfgmod.ConfigError(f"PETSc options {' '.join(petsc_args)!r}: "
                                 f"{petsc_message(err)}") from None

    error = None
    if rank == 0:
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            error = exc
    raise_collectively(comm.tompi4py(), error)
    writer = Writer(out, grid, problem.tasks(), config_json,
                    {"energy": cfg.units.energy, "length": cfg.units.length},
                    " ".join(petsc_args), mode=cfg.run.output_mode,
                    resume=step0 if restarted else None,
                    constants=None if restarted else problem.constants())
    if restarted:
        writer.record_restart({"t": t0, "step": step0, "changed": changed,
                               "date": time.strftime("%Y-%m-%dT%H:%M:%S%z")})
    with writer:  # closed on every rank, also when a step or a write fails
        if nsteps == step0:
            write(step0, t0, u)
        else:
            ts.solve(u)
        t_final, step_final = ts.getTime(), ts.getStepNumber()
        if status["status"] != "failed":
            write(step_final, t_final, u)
            checkpoint(step_final, t_final, u)

    series = written_series(out, cfg.run.output_every, comm)
    harmonics = drive_harmonics(problem, out, series, rank)
    final = grid.gather(u) if gather_final else None
    number = problem.particle_number(u)
    report = problem.final_report(u, t_final)
    summary = {"path": str(out), "steps": step_final, "nsteps": nsteps, "dt": dt,
               "dt_limit": dt_limit,
               "t": t_final, "t_end": t_end, "ranks": size, "ts_type": ts.getType(),
               "integrator": integrator, "scale": scale, "restarted": restarted,
               "number_drift": abs(number - number0) / max(abs(number0), 1e-300),
               "number_sinks": problem.number_sinks(), "report": report,
               "series_t": series["t"], "series_current": series["current"],
               "harmonics": harmonics, **status}
    return summary, final


def petsc_message(err: Exception) -> str:
    """The most specific line of a PETSc error: petsc4py's text is ``error code N`` and a
    stack of ``[rank] Function() at file:line`` frames, then the messages, the last one
    naming the culprit (``Unknown TS type: nonsense``)."""
    lines = [re.sub(r"^\[\d+\]\s*", "", line).strip() for line in str(err).splitlines()]
    messages = [line for line in lines if line and not line.startswith("error code")
                and not re.match(r"^\w+\(\) at ", line)]
    code = getattr(err, "ierr", None)
    return (messages or [type(err).__name__])[-1] + (f" (PETSc error {code})" if code else "")


def particle_number_text(summary: dict) -> str:
    """The particle-number part of the ``wrote`` line: the relative drift of a conserving
    run, or the relative change and why it is expected (``summary["number_sinks"]``)."""
    if summary["number_sinks"]:
        return (f"particle number changed by {summary['number_drift']:.2g} (relative; "
                f"expected: {'; '.join(summary['number_sinks'])})")
    return f"particle-number drift {summary['number_drift']:.1e}"


def written_series(out: Path, output_every: int, comm) -> dict:
    """The current's time series as the closed run file ``out`` holds it (read by rank 0,
    returned on every rank of ``comm``).

    The writes of the output schedule: steps 0, ``output_every``, 2 ``output_every``, ...
    and the last write. A write that a stopped process made off the schedule stays in the
    file but is left out here, so a run stopped and restarted (any number of times) gives
    the series of the uninterrupted run.

    Returns
    -------
    dict
        ``t`` (n,) in hbar/energy, from the initial state (t = 0, step 0) on; ``current``
        (n, directions, nx), e * energy * length^(1 - dk) / hbar (``/tasks/current``).
    """
    series = None
    if comm.getRank() == 0:
        import h5py

        with h5py.File(out, "r") as h5:
            n = min(h5["scales/t"].shape[0], h5["tasks/current"].shape[0])
            iteration = h5["scales/iteration"][:n]
            keep = (iteration % output_every == 0) | (np.arange(n) == n - 1)
            series = {"t": h5["scales/t"][:n][keep], "current": h5["tasks/current"][:n][keep]}
    return comm.tompi4py().bcast(series, root=0)


def drive_harmonics(problem, out: Path, series: dict, rank: int):
    """Harmonics 0, w, 2w of the current under an AC drive, over the last whole periods.

    ``series`` is the run file's (:func:`written_series`). Written (rank 0) to
    ``/analysis/current_harmonic_{re,im}`` of the run file, shape (3, directions, nx),
    convention j(t) = Re sum_n J_n exp(-i n w t); returns the array or None when there is
    no AC field or fewer than two periods were written.
    """
    from solvers.observables import harmonics

    drive = problem.potential.uniform
    t = series["t"]
    if drive.omega <= 0 or not any(drive.ac) or t.size < 8 \
            or t[-1] - t[0] < 2 * (2 * np.pi / drive.omega):
        return None
    values = harmonics(t, series["current"], drive.omega, orders=(0, 1, 2),
                       periods=int((t[-1] - t[0]) * drive.omega / (2 * np.pi)) // 2)
    if rank == 0:
        import h5py

        with h5py.File(out, "a") as h5:
            group = h5.require_group("analysis")
            for part, data in (("re", values.real), ("im", values.imag)):
                name = f"current_harmonic_{part}"
                if name in group:
                    del group[name]
                group[name] = data
                group[name].attrs["units"] = h5["tasks/current"].attrs["units"]
                group[name].attrs["description"] = (
                    "harmonics n = 0, 1, 2 of the electric current over the last half of the "
                    "whole drive periods, j(t) = Re sum_n J_n exp(-i n omega t); shape "
                    "(n, directions, nx); e * energy / hbar")
    return values


def setup_line(cfg: cfgmod.Config) -> str:
    """The progress line printed while a run sets up, e.g. ``setting up: band geometry on
    262144 k cells (grid.nk = [512, 512])...`` (the model's tables take the set-up time)."""
    what = "H0(k) and its eigenbasis" if cfg.mode.kind == "matrix" else "band geometry"
    nk = [int(n) for n in cfg.grid.nk]
    space = "".join(f" x {getattr(cfg.grid, f'n{a}')} {a} cells" for a in "xy"
                    if getattr(cfg.grid, a) != "none")
    return f"setting up: {what} on {int(np.prod(nk))} k cells (grid.nk = {nk}){space}..."


def run_all(cfg, paths, comm, petsc_args=(), stream=sys.stdout):
    """All simulations of a config (one, or one per field scale) and the response summary."""
    from solvers.response import report_response

    summaries = []
    with StopRequest() as stop:
        for k, (scale, out) in enumerate(paths["runs"], start=1):
            summary, _ = simulate(cfg, out, comm, petsc_args, stream, scale, stop,
                                  gather_final=False, sweep=(k, len(paths["runs"])))
            summaries.append(summary)
            if summary["status"] != "finished":
                break
    response = None
    if paths["response"] is not None and all(s["status"] == "finished" for s in summaries):
        response = report_response(cfg, summaries, paths["response"], comm)
    return summaries, response


def execute(cfg: cfgmod.Config, paths: dict, comm, petsc_args=(), stream=sys.stdout):
    """Run a config checked by :func:`prepare` in this process: take its outputs
    (:class:`OutputClaim`), start PETSc with ``petsc_args`` (:func:`petsc_session`) and run
    every simulation (:func:`run_all`) on ``comm`` (mpi4py); returns ``(summaries,
    response)``. The command line and :func:`solvers.api.run` both run through here.

    The output locks are released on return and on every error. A failure raised on some
    ranks only (not ``solvers.output.is_collective``) releases them on the failing rank,
    since the caller then ends every rank (:func:`report_failure`).
    """
    from solvers.output import is_collective

    claim = OutputClaim(cfg, paths, comm).take()
    try:
        with petsc_session(petsc_args) as PETSc:
            return run_all(cfg, paths, PETSc.Comm(comm), petsc_args, stream)
    except cfgmod.ConfigError:
        claim.release(failed=True)
        raise
    except Exception as err:
        if comm.Get_size() > 1 and not is_collective(err):
            claim.release()
        raise
    finally:
        if comm.Get_rank() == 0:  # rank 0 may still be writing after the others
            claim.release()


@contextlib.contextmanager
def petsc_session(petsc_args=()):
    """petsc4py's PETSc module with the options ``petsc_args`` in force.

    The first run of a process initialises PETSc with them (some, e.g. ``-log_view``, act
    only there); a later run in the same process (the Python API) inserts them into the
    options database and restores the database when it ends.
    """
    import petsc4py

    started = "petsc4py.PETSc" in sys.modules
    program = sys.argv[0] if sys.argv and not sys.argv[0].startswith("-") else "moyal-run"
    petsc4py.init([program] + list(petsc_args))  # not "-c" (python -c) as an option
    from petsc4py import PETSc

    if not (started and petsc_args):
        yield PETSc
        return
    options = PETSc.Options()
    before = options.getAll()
    options.insertString(" ".join(petsc_args))
    try:
        yield PETSc
    finally:
        for name, value in options.getAll().items():
            if name not in before:
                options.delValue(name)
            elif value != before[name]:
                options.setValue(name, before[name])


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] in (["-h"], ["--help"]):
        print(f"{USAGE}\n\n{__doc__}")
        return 0
    if argv[:1] == ["--list-keys"]:
        from solvers.schema import markdown

        sys.stdout.write(markdown())
        return 0
    from mpi4py import MPI

    world = MPI.COMM_WORLD
    rank = world.Get_rank()
    cfg = None
    try:
        cfg, paths, petsc_args = parse_and_load(argv)
        summaries, response = execute(cfg, paths, world, petsc_args)
    except cfgmod.ConfigError as err:
        if rank == 0:
            print(f"moyal-run: error: {err}", file=sys.stderr)
        return 2
    except Exception as err:  # noqa: BLE001 -- one line and a log file instead of a traceback
        return report_failure(err, cfg, world)
    if rank == 0:
        for s in summaries:
            print(f"wrote {s['path']}: t = {s['t']:.6g} hbar/{cfg.units.energy} in {s['steps']} "
                  f"steps of {s['dt']:.4g} (dt limited by {s['dt_limit']}; {s['ts_type']}, "
                  f"{s['integrator']}, {s['ranks']} rank(s)); {particle_number_text(s)}"
                  + (f"; {s['status']}: {s['reason']}" if s["status"] != "finished" else ""))
            for line in s["report"]:
                print(line)
        for s in summaries:
            if s["harmonics"] is not None:
                parts = ", ".join(
                    f"|J_{n}| = {np.abs(s['harmonics'][n]).mean(axis=-1).round(8).tolist()}"
                    for n in range(3))
                print(f"current harmonics (0, w, 2w; x-averaged, per direction): {parts}")
        if response is not None:
            print(response["text"])
    last = summaries[-1]
    if last["status"] == "failed":
        if rank == 0:
            print(f"moyal-run: {last['reason']} at t = {last['t']:.6g}; the last good "
                  "checkpoint is kept", file=sys.stderr)
        return EXIT_FAILED
    if last["status"] == "stopped":
        if rank == 0:
            print(f"moyal-run: {last['reason']}: checkpoint written at t = {last['t']:.6g}; "
                  "continue with run.restart=true", file=sys.stderr)
        return EXIT_STOPPED
    return 0


def report_failure(err: Exception, cfg: cfgmod.Config | None, comm) -> int:
    """Exit code 1 for an unexpected failure: one line on stderr naming it, the traceback in
    ``<output_dir>/<name>.error.log``.

    A failure that every rank raised (``solvers.output.is_collective``) is reported by rank 0.
    One raised on some ranks only is reported by each of them, which then ends every rank
    (``MPI_Abort``): the other ranks may be waiting for it in a collective call.
    """
    from solvers.output import is_collective

    shared = comm.Get_size() == 1 or is_collective(err)
    if shared and comm.Get_rank() != 0:
        return EXIT_FAILED
    where = write_error_log(err, cfg, comm)
    print(f"moyal-run: failed: {describe(err)}; {where}", file=sys.stderr, flush=True)
    if not shared:
        comm.Abort(EXIT_FAILED)
    return EXIT_FAILED


def describe(err: BaseException, limit: int = 400) -> str:
    """``Type: message`` on one line; an error PETSc raised on behalf of a Python callback
    (a monitor, the right-hand side) is described by the callback's exception."""
    petsc = sys.modules.get("petsc4py.PETSc")
    while petsc is not None and isinstance(err, petsc.Error) \
            and (err.__cause__ or err.__context__):
        err = err.__cause__ or err.__context__
    text = " ".join(f"{type(err).__name__}: {err}".split())
    return text if len(text) <= limit else text[:limit - 3] + "..."


def write_error_log(err: BaseException, cfg: cfgmod.Config | None, comm) -> str:
    """Append the traceback of ``err`` to ``<output_dir>/<name>.error.log`` (a temporary file
    before the config is known, or if that one cannot be written); returns the words
    ``traceback in <path>`` for the message."""
    import tempfile
    import traceback

    text = (f"moyal-run failed at {time.strftime('%Y-%m-%dT%H:%M:%S%z')} on rank "
            f"{comm.Get_rank()} of {comm.Get_size()}, argv {sys.argv}:\n"
            + "".join(traceback.format_exception(err)) + "\n")
    targets = [Path(cfg.run.output_dir) / f"{cfg.run.name}.error.log"] if cfg else []
    for target in targets + [None]:
        fresh = target is None or not target.exists()
        try:
            if target is None:
                handle, name = tempfile.mkstemp(prefix="moyal-run-", suffix=".error.log")
                os.close(handle)
                target = Path(name)
            with open(target, "a", encoding="utf-8") as log:
                log.write(text)
            return f"traceback in {target}"
        except OSError as exc:  # e.g. the disk is full: leave no empty log behind
            reason = exc.strerror
            if fresh and target is not None:
                target.unlink(missing_ok=True)
    return f"traceback not saved ({reason})"


if __name__ == "__main__":
    sys.exit(main())
