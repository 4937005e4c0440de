"""Checks before a run allocates anything: what cannot run is refused as ConfigError.

:func:`check` runs on the config validated by :mod:`solvers.config`, before PETSc is
initialised and before any file is created (``solvers.run.parse_and_load``). It runs
:func:`check_setup`, the checks that need other modules:

* the model: built from ``[model]`` by :mod:`moyal.models` (:func:`model_from_table`; a
  registered name, the parameters it takes, a user Hamiltonian through the safe parser);
* the potential: ``[fields]`` built by :func:`solvers.fields.potential_from_config`
  (tabulated files read, their nodes checked);
* the C backend: with ``numerics.backend = "c"``, a compiled kernel for the axes and order,
  built from the current source (:func:`solvers.ckernels.band_rate_kernel`);

then :func:`check_resources`, on the machine:

* size: phase-space cells x unknowns per cell against the PETSc index type (a global vector
  of 2**31 or more entries needs PETSc built with 64-bit indices);
* memory: an estimate from the measured peak bytes per unknown (docs/performance.md) against
  the memory available on the node (``MemAvailable`` of /proc/meminfo);
* steps: with a given ``numerics.dt``, ``run.t_end / dt`` against :data:`MAX_STEPS`;
* cells: the x and k cell edges, as the setup will build them, must not collapse below the
  floating-point resolution of their coordinates (refinement ratio and width).

:func:`check_steps` runs once the stable step is known (``solvers.run.simulate``, after the
problem setup, before the output is created) and refuses more than :data:`MAX_STEPS` steps.
"""

from __future__ import annotations

import math
import os
import re
import sys
from pathlib import Path

import numpy as np

from solvers import config as cfgmod

#: Most time steps a run may take (1e9 steps of even 1 us each are 17 minutes of pure
#: overhead; realistic runs take 1e2-1e6).
MAX_STEPS = 10 ** 9
#: Peak bytes per unknown (cell x dof), problem setup, PETSc vectors and rate temporaries
#: included: above the largest values measured by ``make bench`` (band mode 188-223 on (x, k)
#: grids, matrix mode 341-381; docs/performance.md).
BYTES_PER_UNKNOWN = {"band": 230, "matrix": 400}
#: Band mode also keeps the band geometry per k cell and band: 52 reals, twice (all bands and
#: the selected ones), 2 x 52 x 8 bytes.
BYTES_PER_K_BAND = 2 * 52 * 8
#: Smallest cell width relative to the largest |coordinate| of its axis: below it the cell
#: centres and widths carry fewer than ~4 significant digits (1e4 x machine epsilon).
MIN_RELATIVE_WIDTH = 1e4 * np.finfo(float).eps


def petsc_index_limit() -> int:
    """Entries a PETSc vector may have: 2**63 - 1 with 64-bit indices, else 2**31 - 1.

    Read from ``petscconf.h`` without initialising PETSc (command-line options are given to
    ``petsc4py.init`` later); 2**31 - 1 when the header cannot be found.
    """
    try:
        import petsc4py

        conf = petsc4py.get_config()
        directory = Path(conf["PETSC_DIR"])
        headers = [directory / conf.get("PETSC_ARCH", "") / "include" / "petscconf.h",
                   directory / "include" / "petscconf.h"]
        text = next(h.read_text() for h in headers if h.is_file())
    except (ImportError, KeyError, OSError, StopIteration):
        return 2 ** 31 - 1
    wide = re.search(r"^#define\s+PETSC_USE_64BIT_INDICES\s+1", text, re.MULTILINE)
    return 2 ** 63 - 1 if wide else 2 ** 31 - 1


def available_memory() -> int | None:
    """Bytes of memory available on this node (``MemAvailable``), None if unknown."""
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def _memory_ratio(need: float, available: int) -> float:
    """Largest (this node's share of ``need``) / (its available memory) over the nodes.

    Collective over MPI.COMM_WORLD when mpi4py is already imported (``solvers.run.main``),
    so every rank takes the same decision; a plain process (a sweep planning its runs) is
    one rank and does not initialise MPI.
    """
    mpi = sys.modules.get("mpi4py.MPI")
    if mpi is None:
        return need / available
    world = mpi.COMM_WORLD
    node = world.Split_type(mpi.COMM_TYPE_SHARED)
    share = node.Get_size() / world.Get_size()
    node.Free()
    return world.allreduce(need * share / available, op=mpi.MAX)


def real_space_axes(cfg: cfgmod.Config) -> tuple[str, ...]:
    """The real-space axes the config sets: (), ("x",) or ("x", "y")."""
    return tuple(axis for axis in ("x", "y") if getattr(cfg.grid, axis) != "none")


def grid_keys(cfg: cfgmod.Config) -> str:
    """``grid.nx = ..., [grid.ny = ...,] grid.nk = [...]`` as set, for messages."""
    keys = [f"grid.n{axis} = {getattr(cfg.grid, f'n{axis}')!r}" for axis in real_space_axes(cfg)]
    return ", ".join(keys + [f"grid.nk = {list(cfg.grid.nk)!r}"])


def model_from_table(table: dict):
    """The :class:`moyal.models.Model` of a ``[model]`` table and its degeneracy treatment.

    ``table`` is validated against :data:`solvers.schema.MODEL` (``Config.model``). Imports
    sympy: the symbolic model is lambdified once here, at setup; the time loop only sees numpy
    arrays. Returns ``(model, degeneracy)``, degeneracy None for ``"auto"``.

    Raises
    ------
    ConfigError
        With the model layer's message (an unknown name lists the registered models).
    """
    from moyal.models import ModelError, model_from_config

    table = dict(table)
    degeneracy = table.pop("degeneracy", "auto")
    try:
        model = model_from_config(table)
    except ModelError as err:  # messages naming their own key (model.hamiltonian) pass as is
        message = str(err)
        raise cfgmod.ConfigError(message if message.startswith("model.")
                                 else f"model: {message}") from None
    return model, (None if degeneracy == "auto" else degeneracy)


def check_setup(cfg: cfgmod.Config):
    """Build what the config names from other modules: model, potential, C kernel.

    Returns the model (:func:`model_from_table`), so that it is built once.

    Raises
    ------
    ConfigError
        The first refusal of the model layer, the potential or the kernel loader.
    """
    from solvers.fields import potential_from_config

    model, _ = model_from_table(cfg.model)
    potential_from_config(cfg.fields)
    if cfg.numerics.backend == "c":
        from solvers.ckernels import band_rate_kernel

        axes = real_space_axes(cfg) + ("kx", "ky")[:len(cfg.grid.nk)]
        band_rate_kernel(axes, cfg.mode.order)
    return model


def check(cfg: cfgmod.Config) -> None:
    """Every check before a run allocates anything: :func:`check_setup`, then
    :func:`check_resources` (see the module doc); ConfigError for the first refusal."""
    check_resources(cfg, check_setup(cfg))


def check_resources(cfg: cfgmod.Config, model=None) -> None:
    """Refuse a config whose size, memory, step count or cells cannot work (see module doc).

    Called on every rank with the same config; the memory verdict is taken over all ranks.
    ``model``: the config's model if already built (else built here).

    Raises
    ------
    ConfigError
        One line naming the keys, their values and the number that is too large.
    """
    if model is None:
        model, _ = model_from_table(cfg.model)
    cells = math.prod(cfg.grid.nk) * math.prod(getattr(cfg.grid, f"n{axis}")
                                               for axis in real_space_axes(cfg))
    if cfg.mode.kind == "matrix":
        dof = model.n_bands ** 2
    else:
        dof = len(cfg.mode.bands) or model.n_bands
    unknowns = cells * dof
    limit = petsc_index_limit()
    if unknowns > limit:
        raise cfgmod.ConfigError(
            f"{grid_keys(cfg)}: {cells} cells x {dof} unknowns = {unknowns:.3g}, above the "
            f"{limit} entries a PETSc vector of this build can index; expected fewer cells")
    need = unknowns * BYTES_PER_UNKNOWN[cfg.mode.kind]
    if cfg.mode.kind == "band":
        need += math.prod(cfg.grid.nk) * model.n_bands * BYTES_PER_K_BAND
    available = available_memory()
    if available is not None:
        ratio = _memory_ratio(need, available)
        if ratio > 1:
            raise cfgmod.ConfigError(
                f"{grid_keys(cfg)}: about {need / 1e9:.3g} GB for {cells} cells x {dof} "
                f"unknowns, {ratio:.3g} times the memory available (MemAvailable "
                f"{available / 1e9:.3g} GB on this node); expected fewer cells (or more "
                "nodes)")
    if cfg.numerics.dt > 0:
        steps = cfg.run.t_end / cfg.numerics.dt
        if steps > MAX_STEPS:
            raise cfgmod.ConfigError(
                f"numerics.dt = {cfg.numerics.dt!r}: run.t_end / numerics.dt = {steps:.3g} "
                f"steps (run.t_end = {cfg.run.t_end!r}), above the limit {MAX_STEPS:.0e}; "
                "expected a larger dt or a shorter run")
    _check_cells(cfg, model)


def _check_cells(cfg: cfgmod.Config, model) -> None:
    """Cell edges of every axis as the setup builds them: finite, not collapsed."""
    from solvers.meshing import crossing_points, stretched_edges

    grid = cfg.grid
    axes = []  # (keys and values for the message, lo, hi, n, focus, width, ratio, periodic)
    for axis in real_space_axes(cfg):
        n, lo, hi, focus, width, ratio = (getattr(grid, name) for name in (
            f"n{axis}", f"{axis}_min", f"{axis}_max", f"{axis}_refine", f"{axis}_refine_width",
            f"{axis}_refine_ratio"))
        axes.append((f"grid.n{axis} = {n!r} on [grid.{axis}_min, grid.{axis}_max] = [{lo!r}, "
                     f"{hi!r}], grid.{axis}_refine_width = {width!r}, grid.{axis}_refine_ratio "
                     f"= {ratio!r}", lo, hi, n, list(focus), width, ratio,
                     getattr(grid, axis) == "periodic"))
    if len(grid.nk) == model.dimension:  # else the setup refuses grid.nk itself
        for direction, (n, (lo, hi)) in enumerate(zip(grid.nk, model.domain.bounds)):
            focus = list(grid.k_refine) if direction == 0 else []
            bands = list(cfg.mode.bands) or list(range(model.n_bands))
            if direction == 0 and grid.k_refine_energies and model.dimension == 1 \
                    and max(bands) < model.n_bands:
                line = np.linspace(lo, hi, 4097)[:-1]  # the sampling of the setup
                energy = np.linalg.eigvalsh(model.derivative_function(())(line[None]))
                focus += list(crossing_points(line, energy[:, bands].T,
                                              grid.k_refine_energies, lo=lo, hi=hi))
            axes.append((f"grid.nk[{direction}] = {n!r} on [{lo:.6g}, {hi:.6g}], "
                         f"grid.k_refine_width = {grid.k_refine_width!r}, grid.k_refine_ratio "
                         f"= {grid.k_refine_ratio!r}", lo, hi, n,
                         [p for p in focus if lo <= p <= hi], grid.k_refine_width,
                         grid.k_refine_ratio, model.domain.periodic))
    for keys, lo, hi, n, focus, width, ratio, periodic in axes:
        try:
            with np.errstate(all="ignore"):
                edges = np.linspace(lo, hi, n + 1) if not focus else stretched_edges(
                    lo, hi, n, focus=sorted(focus), width=width, ratio=ratio, periodic=periodic)
                widths = np.diff(edges)
        except ValueError:
            widths = np.array([np.nan])
        scale = max(abs(lo), abs(hi))
        if not np.all(np.isfinite(widths)):
            raise cfgmod.ConfigError(f"{keys}: the cell widths overflow; expected a smaller "
                                     "interval")
        if not np.min(widths) > MIN_RELATIVE_WIDTH * scale:
            raise cfgmod.ConfigError(
                f"{keys}: the smallest cell is {np.min(widths):.3g} wide, below the "
                f"floating-point resolution {MIN_RELATIVE_WIDTH * scale:.3g} of coordinates "
                f"up to {scale:.3g}; expected a smaller refinement ratio, a wider refinement "
                "or fewer cells")


def check_steps(cfg: cfgmod.Config, dt_max: float) -> None:
    """Refuse a run of more than :data:`MAX_STEPS` steps of ``dt_max``.

    Parameters
    ----------
    cfg : Config
    dt_max : float
        The time step chosen for this problem (hbar/energy): from the CFL condition of the
        grid and fields, the relaxation time or the user; 0 or NaN count as infinitely many
        steps.

    Raises
    ------
    ConfigError
        Naming run.t_end, numerics.cfl and the fields that set the step.
    """
    steps = cfg.run.t_end / dt_max if dt_max > 0 else math.inf
    if not steps <= MAX_STEPS:
        fields = "".join(f", fields.{key} = {cfg.fields[key]!r}"
                         for key in ("E", "E_ac", "omega") if key in cfg.fields)
        raise cfgmod.ConfigError(
            f"run.t_end = {cfg.run.t_end!r}: {steps:.3g} steps of dt = {dt_max:.3g} "
            f"(numerics.cfl = {cfg.numerics.cfl!r}, {grid_keys(cfg)}{fields}), "
            f"above the limit {MAX_STEPS:.0e}; expected a shorter run, a larger numerics.cfl, "
            "a coarser grid or weaker fields")
