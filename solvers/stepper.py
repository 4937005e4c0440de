"""PETSc TS time loop: explicit SSP Runge-Kutta or ARKIMEX, fixed step, monitors, stops.

The step is chosen before (``solvers.run.check_time_step``): the smaller of the stable step
and the accuracy bound, or the user's ``numerics.dt`` / ``-ts_time_step`` once checked;
:func:`make_ts` applies it after ``setFromOptions``.

The TS takes no options prefix, so ``-ts_type``, ``-ts_monitor``, ``-log_view`` and friends
work from the command line. Defaults the user did not set are inserted into the options
database only while ``setFromOptions`` runs, so a second TS in the same process (a field
sweep) starts from the same defaults:

* explicit: SSP RK(4,3) (third order, measured 3.1; SSP coefficient 2) with a fixed step
  dividing t_end;
* imex: ARKIMEX (PETSc's default ARKIMEX 3, L-stable, third order; measured 2.5-3) with
  the stiff local part implicit and solved exactly per cell by a shell preconditioner
  (``snes_type ksponly``, ``ksp_type preonly``), fixed step (``ts_adapt_type none``).
"""

from __future__ import annotations

import math
import sys
import time

import numpy as np
from petsc4py import PETSc

EXPLICIT_DEFAULTS = {"ts_type": "ssp", "ts_ssp_type": "rks3", "ts_ssp_num_stages": "4"}
IMEX_DEFAULTS = {"ts_type": "arkimex", "ts_adapt_type": "none", "snes_type": "ksponly",
                 "ksp_type": "preonly"}


def fixed_step(t_end: float, dt_max: float) -> tuple[float, int]:
    """Step ``dt <= dt_max`` and count ``n`` with ``n * dt == t_end`` (n >= 1)."""
    if t_end == 0:
        return 0.0, 0
    if not dt_max > 0:
        raise ValueError(f"time step bound {dt_max!r}: expected a positive number")
    n = max(1, math.ceil(t_end / dt_max * (1 - 1e-12)))
    return t_end / n, n


def progress_stream(stream, mode: str = "auto"):
    """Where progress lines go: ``stream`` or None (silent).

    ``mode`` is ``run.progress``: ``auto`` prints to interactive terminals only (in captured
    output or a pipe they are noise), ``always`` also to files (a batch job's log, where
    the lines show that the job is stepping), ``never`` nowhere.
    """
    if stream is None or mode == "never":
        return None
    if mode == "always":
        return stream
    isatty = getattr(stream, "isatty", None)
    return stream if isatty is not None and isatty() else None


class Progress:
    """Rank-0 progress line: step n/N with percentage, t, dt, wall time and the estimated
    time to completion, of this run and, in a sweep, of the runs after it (each taken to
    last as long as this one).

    ``stream=None`` silences it (tests, sweeps that print their own summaries).
    """

    def __init__(self, t_end: float, every: int, rank: int, stream=sys.stdout, label="",
                 total: int | None = None, runs_after: int = 0):
        self.t_end, self.every, self.rank, self.stream = t_end, every, rank, stream
        self.label, self.total, self.runs_after = label, total, runs_after
        self.start = time.perf_counter()
        self.t_start = None

    def __call__(self, step: int, t: float, dt: float):
        if self.t_start is None:
            self.t_start = t
        if self.stream is None or self.rank != 0 or step % self.every or t == self.t_start:
            return
        print(self.line(step, t, dt, time.perf_counter() - self.start), file=self.stream,
              flush=True)

    def line(self, step: int, t: float, dt: float, wall: float) -> str:
        """The progress line at ``step`` (time ``t``) after ``wall`` seconds."""
        eta = wall * (self.t_end - t) / (t - self.t_start)
        done = f"/{self.total} ({100 * step / self.total:5.1f}%)" if self.total else ""
        sweep = f", sweep {eta + self.runs_after * (wall + eta):.1f} s" \
            if self.runs_after else ""
        return (f"{self.label}step {step:7d}{done}  t = {t:.6g}  dt = {dt:.3g}  wall "
                f"{wall:7.1f} s  ETA {eta:.1f} s{sweep}")


class _ShiftedDiagonal:
    """Shell Mat and PC for the implicit stage: J = shift I - dL/du, solved exactly.

    ``implicit.solve(shift, t, rhs, out)`` returns the exact solution per cell (the implicit
    part is local: relaxation and the matrix-mode commutator), so one KSP "preonly"
    application of this PC is the whole linear solve.
    """

    def __init__(self, implicit):
        self.implicit, self.shift, self.t = implicit, 1.0, 0.0

    # Mat context
    def mult(self, mat, x, y):
        self.implicit.apply(self.shift, self.t, x, y)

    # PC context
    def apply(self, pc, x, y):
        self.implicit.solve(self.shift, self.t, x, y)


def make_ts(grid, explicit_rhs, t_end: float, dt: float, nsteps: int, monitors,
            implicit=None, poststep=None) -> PETSc.TS:
    """TS over ``grid.da``.

    Parameters
    ----------
    explicit_rhs : callable
        ``(ts, t, u, out)``: the explicit part of d_t u.
    monitors : list of callables
        Each gets ``(step, t, dt, u)`` after every step (and at the start).
    implicit : object, optional
        Stiff local part L(t, u) for ARKIMEX: ``residual(t, u, udot, out)`` writes
        ``udot - L(t, u)``, ``apply(shift, t, x, y)`` writes ``shift x - dL/du x``, and
        ``solve(shift, t, rhs, out)`` solves that exactly.
    poststep : callable, optional
        ``poststep(ts)`` after each step; it may stop the run with
        ``ts.setConvergedReason(PETSc.TS.ConvergedReason.CONVERGED_USER)``.
    """
    ts = PETSc.TS().create(comm=grid.comm)
    ts.setDM(grid.da)
    ts.setProblemType(PETSc.TS.ProblemType.NONLINEAR)
    ts.setRHSFunction(explicit_rhs, grid.da.createGlobalVec())
    defaults = EXPLICIT_DEFAULTS
    if implicit is not None:
        defaults = IMEX_DEFAULTS
        shell = _ShiftedDiagonal(implicit)

        def ifunction(ts_, t, u, udot, out):
            implicit.residual(t, u, udot, out)

        def ijacobian(ts_, t, u, udot, shift, jac, pre):
            shell.shift, shell.t = shift, t

        n_local = grid.da.createGlobalVec().getLocalSize()
        sizes = (n_local, PETSc.DECIDE)
        jac = PETSc.Mat().createPython((sizes, sizes), context=shell, comm=grid.comm)
        jac.setUp()
        ts.setIFunction(ifunction, grid.da.createGlobalVec())
        ts.setIJacobian(ijacobian, jac, jac)
        snes = ts.getSNES()
        pc = snes.getKSP().getPC()
        pc.setType(PETSc.PC.Type.PYTHON)
        pc.setPythonContext(shell)
    ts.setTime(0.0)
    ts.setTimeStep(dt)
    ts.setMaxTime(t_end)
    ts.setMaxSteps(nsteps)
    ts.setExactFinalTime(PETSc.TS.ExactFinalTime.MATCHSTEP)

    def monitor(ts_, step, t, u):
        for m in monitors:
            m(step, t, ts_.getTimeStep(), u)

    ts.setMonitor(monitor)
    if poststep is not None:
        ts.setPostStep(poststep)
    opts = PETSc.Options()
    inserted = [key for key in defaults if not opts.hasName(key)]
    for key in inserted:
        opts.setValue(key, defaults[key])
    try:
        ts.setFromOptions()
    finally:
        for key in inserted:
            opts.delValue(key)
    # the checked step (solvers.run.check_time_step folds -ts_time_step into dt), not the
    # option's raw value, which setFromOptions just applied
    ts.setTimeStep(dt)
    if implicit is not None and ts.getType() != "arkimex":
        raise ValueError(f"-ts_type {ts.getType()}: numerics.integrator = 'imex' needs "
                         "-ts_type arkimex (or numerics.integrator = 'explicit')")
    return ts


def finite(vec) -> bool:
    """True when no entry of ``vec`` is NaN or Inf (collective)."""
    return bool(np.isfinite(vec.norm(PETSc.NormType.NORM_INFINITY)))
