"""Regression cases: simulations against independent predictions (issue: verification).

Each case module in :data:`MODULES` defines ``CASES``, a list of :class:`Case`. A case's
``run(ctx)`` performs its simulations on ``ctx.comm`` (collective: every rank calls it and
gets the same checks back) and returns a list of :class:`Check` rows, each comparing one
simulated number with an independent prediction (an analytic result, a k-space formula, an
exact quantum evolution, a separate implementation) at a stated tolerance.

``ctx.full`` is False in ``make test`` (``tests/regression``: coarse grids, seconds to a
minute per case) and True in ``make verify`` (finest grids, convergence studies, plots in
``ctx.plot_dir``). A case with ``fast=False`` runs only in ``make verify``.
"""

from __future__ import annotations

import importlib
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

MODULES = ("qwz_response", "adiabatic", "exact_reference", "finite_q", "quantum_metric")


@dataclass(frozen=True)
class Check:
    """One row of output/verification.md.

    ``relative``: the error is |measured - prediction| / |prediction| (else absolute).
    ``kind``: "agree" (pass if error <= tolerance), "differ" (pass if error > tolerance:
    used where the physics says a model must *not* reproduce a result, e.g. band mode on a
    Landau-Zener transition) or "at_least" (pass if measured >= prediction - tolerance, e.g.
    an observed convergence order against the scheme's order).
    """

    case: str
    quantity: str
    prediction: float
    measured: float
    tolerance: float
    relative: bool = True
    kind: str = "agree"
    note: str = ""

    @property
    def error(self) -> float:
        gap = abs(self.measured - self.prediction)
        if not self.relative:
            return gap
        return gap / abs(self.prediction) if self.prediction != 0 else math.inf

    @property
    def passed(self) -> bool:
        if not math.isfinite(self.measured):
            return False
        if self.kind == "at_least":
            return self.measured >= self.prediction - self.tolerance
        ok = self.error <= self.tolerance
        return ok if self.kind == "agree" else not ok


@dataclass
class Context:
    """Where and how a case runs.

    workdir : scratch directory for the case's HDF5 files
    plot_dir : where ``make verify`` wants PNGs (None: make no plots)
    full : finest grids and convergence studies (``make verify``) or the fast subset
    comm : petsc4py communicator the simulations run on
    log : callable taking a line of progress text (printed by rank 0 only)
    """

    workdir: Path
    comm: object
    full: bool = False
    plot_dir: Path | None = None
    log: Callable[[str], None] = field(default=lambda line: None)
    plots: list = field(default_factory=list)

    @property
    def rank(self) -> int:
        return self.comm.getRank()


@dataclass(frozen=True)
class Case:
    name: str
    title: str
    run: Callable[[Context], list]
    fast: bool = True


def registry() -> list[Case]:
    """All cases of all modules, in module order."""
    cases = []
    for name in MODULES:
        cases.extend(importlib.import_module(f"scripts.verification.{name}").CASES)
    return cases


QUIET = {"output_every": 100000, "progress_every": 100000, "overwrite": True}


def simulate_tables(ctx: Context, name: str, scale: float = 1.0, **tables):
    """Run one simulation from config tables (``config.from_dict`` layout) in ctx.workdir.

    Returns ``(summary, final, path)`` as :func:`solvers.run.simulate` (``final`` on rank 0
    only). Output and progress are quiet unless the tables say otherwise.
    """
    from solvers import config
    from solvers.run import simulate

    tables = dict(tables)
    tables["run"] = {**QUIET, "output_dir": str(ctx.workdir), "name": name,
                     **tables.get("run", {})}
    cfg = config.from_dict(tables)
    out = Path(ctx.workdir) / f"{name}.h5"
    summary, final = simulate(cfg, out, ctx.comm, stream=None, scale=scale)
    if summary["status"] != "finished":
        raise RuntimeError(f"simulation {name!r} {summary['status']}: {summary['reason']}")
    return summary, final, out


def field_sweep(ctx: Context, name: str, scales, strength: float, window: float, **tables):
    """(sigma1, sigma2) from one run per field scale: steady currents (minus the t = 0
    current, averaged over ``window``) combined by Richardson symmetric differences.

    ``tables`` configure the run at scale 1 with fields.E of magnitude ``strength``; shapes
    as :func:`solvers.observables.symmetric_differences` returns them.
    """
    import numpy as np

    from solvers.observables import symmetric_differences
    from solvers.response import steady_current

    currents = [steady_current(simulate_tables(ctx, f"{name}_s{scale:+g}", scale=scale,
                                               **tables)[0], window) for scale in scales]
    return symmetric_differences(np.array(scales, dtype=float), np.array(currents), strength)


def save_figure(ctx: Context, figure, filename: str) -> None:
    """Write a matplotlib figure to ctx.plot_dir (rank 0) and record it for the report."""
    import matplotlib.pyplot as plt

    if ctx.plot_dir is not None and ctx.rank == 0:
        path = Path(ctx.plot_dir) / filename
        figure.savefig(path, dpi=120, bbox_inches="tight")
        ctx.plots.append(path)
    plt.close(figure)
