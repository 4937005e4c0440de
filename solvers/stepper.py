"""PETSc TS time loop: CFL-controlled explicit SSP Runge-Kutta, monitors, output schedule.

The TS takes no options prefix, so ``-ts_type``, ``-ts_ssp_type``, ``-ts_monitor`` and
``-log_view`` work from the command line. When the user sets none, the defaults are SSP
RK(4,3) (third order, SSP coefficient 2) with a fixed step that divides ``t_end`` exactly.
"""

from __future__ import annotations

import math
import sys
import time

from petsc4py import PETSc

#: options inserted into the PETSc database unless the user gave them
DEFAULT_OPTIONS = {"ts_type": "ssp", "ts_ssp_type": "rks3", "ts_ssp_num_stages": "4"}


def fixed_step(t_end: float, dt_max: float) -> tuple[float, int]:
    """Step ``dt <= dt_max`` and count ``n`` with ``n * dt == t_end`` (n >= 1)."""
    if t_end == 0:
        return 0.0, 0
    n = max(1, math.ceil(t_end / dt_max * (1 - 1e-12)))
    return t_end / n, n


class Progress:
    """Rank-0 progress line: t, dt, step, wall time, estimated time to completion.

    ``stream=None`` silences it (tests, sweeps that print their own summaries).
    """

    def __init__(self, t_end: float, every: int, rank: int, stream=sys.stdout):
        self.t_end, self.every, self.rank, self.stream = t_end, every, rank, stream
        self.start = time.perf_counter()

    def __call__(self, step: int, t: float, dt: float):
        if self.stream is None or self.rank != 0 or step % self.every or step == 0:
            return
        wall = time.perf_counter() - self.start
        eta = wall * (self.t_end - t) / t if t > 0 else float("nan")
        print(f"step {step:7d}  t = {t:.6g}  dt = {dt:.3g}  wall {wall:7.1f} s  "
              f"ETA {eta:7.1f} s", file=self.stream, flush=True)


def make_ts(grid, rhs, t_end: float, dt: float, nsteps: int, monitors) -> PETSc.TS:
    """TS over ``grid.da`` with ``rhs(ts, t, u, out)``; ``monitors`` get (step, t, dt, u)."""
    opts = PETSc.Options()
    for key, value in DEFAULT_OPTIONS.items():
        if not opts.hasName(key):
            opts.setValue(key, value)
    ts = PETSc.TS().create(comm=grid.comm)
    ts.setDM(grid.da)
    ts.setProblemType(PETSc.TS.ProblemType.NONLINEAR)
    ts.setRHSFunction(rhs, grid.da.createGlobalVec())
    ts.setTime(0.0)
    ts.setTimeStep(dt)
    ts.setMaxTime(t_end)
    ts.setMaxSteps(nsteps)
    ts.setExactFinalTime(PETSc.TS.ExactFinalTime.MATCHSTEP)

    def monitor(ts_, step, t, u):
        for m in monitors:
            m(step, t, ts_.getTimeStep(), u)

    ts.setMonitor(monitor)
    ts.setFromOptions()
    return ts
