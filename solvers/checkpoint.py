"""Restart checkpoints: the whole distribution in natural ordering, written atomically.

File layout (one HDF5 file, written by rank 0)::

    /state              (dof, n_0, ...)  distribution, cell averages, natural (global) order
    /grid/<axis>_edges  cell edges per phase-space axis
    /extra/<name>       small arrays or numbers the run needs to restart (e.g. a warm-start mu)
    attributes: t (hbar/energy), step, dt (hbar/energy), dof, axes (JSON), config (JSON),
                ranks (of the writer), format_version, version (code)

Atomicity: the file is written to ``path.with_suffix(".tmp")`` (same directory), flushed,
fsynced, then ``os.replace``d onto ``path`` and the directory fsynced. A kill at any moment
leaves either the previous checkpoint or the new one under ``path``, never a torn file; a
stale ``.tmp`` from a killed write is simply overwritten by the next one.

The state is stored whole in natural order, so a checkpoint restarts on any number of ranks.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import h5py
import numpy as np

from solvers import __version__
from solvers.output import grid_mismatch, raise_collectively

FORMAT_VERSION = 1


class CheckpointError(ValueError):
    """A checkpoint that is missing, unreadable, or made on another grid."""


def write_checkpoint(path, grid, vec, t: float, step: int, dt: float, config_json: str,
                     extra: dict | None = None):
    """Write the state in ``vec`` to ``path`` atomically; collective over ``grid.comm``.

    Parameters
    ----------
    path : Path
        Checkpoint file; replaced (atomically) if it exists.
    grid : PhaseSpaceGrid
    vec : PETSc.Vec
        Global Vec on ``grid``.
    t, dt : float
        Time and time step, hbar/energy.
    step : int
        Step number of ``t``.
    config_json : str
        Resolved configuration as JSON.
    extra : dict, optional
        ``name -> small ndarray or number``, returned as stored by :func:`read_checkpoint`.
    """
    path = Path(path)
    comm = grid.comm.tompi4py()
    state = grid.gather(vec)
    error = None
    if comm.Get_rank() == 0:
        try:
            _write_atomically(path, grid, state, t, step, dt, config_json, extra or {},
                              comm.Get_size())
        except Exception as exc:  # noqa: BLE001 -- re-raised on every rank below
            error = exc
    raise_collectively(comm, error)


def _write_atomically(path: Path, grid, state, t, step, dt, config_json, extra, ranks):
    tmp = path.with_suffix(".tmp")
    with h5py.File(tmp, "w") as h5:
        h5["state"] = state
        for axis in grid.axes:
            h5[f"grid/{axis.name}_edges"] = axis.edges
        extras = h5.create_group("extra")
        for name, value in extra.items():
            extras[name] = np.asarray(value)
        attrs = h5.attrs
        attrs["t"], attrs["step"], attrs["dt"] = float(t), int(step), float(dt)
        attrs["dof"] = grid.dof
        attrs["axes"] = json.dumps(grid.names)
        attrs["config"] = config_json
        attrs["ranks"] = ranks
        attrs["format_version"] = FORMAT_VERSION
        attrs["version"] = __version__
    _fsync(tmp)
    os.replace(tmp, path)
    _fsync(path.parent)  # make the rename itself durable


def _fsync(path: Path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def read_checkpoint(path, grid, vec) -> dict:
    """Load a checkpoint into ``vec``; collective over ``grid.comm`` (any rank count).

    Returns
    -------
    dict
        ``t``, ``dt`` (float, hbar/energy), ``step`` (int), ``config`` (the JSON string
        given to :func:`write_checkpoint`), ``extra`` (dict of ndarray / numpy scalars), on
        every rank.

    Raises
    ------
    CheckpointError
        On every rank, if the file is missing or unreadable, or its grid (dof, axes, cell
        counts, edges to :data:`solvers.output.EDGE_RTOL`) differs from ``grid``.
    """
    path = Path(path)
    comm = grid.comm.tompi4py()
    state, meta, error = None, None, None
    if comm.Get_rank() == 0:
        try:
            state, meta = _read_validated(path, grid)
        except Exception as exc:  # noqa: BLE001
            error = exc
    raise_collectively(comm, error)
    grid.scatter_from_zero(state, vec)
    return comm.bcast(meta)


def _read_validated(path: Path, grid):
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path}: no such file")
    try:
        with h5py.File(path, "r") as h5:
            version = int(h5.attrs["format_version"])
            if version != FORMAT_VERSION:
                raise CheckpointError(f"checkpoint {path}: format version {version}, "
                                      f"this code reads {FORMAT_VERSION}")
            names = json.loads(h5.attrs["axes"])
            differs = grid_mismatch(grid, names, [h5[f"grid/{n}_edges"][...] for n in names])
            dof = int(h5.attrs["dof"])
            if differs is None and dof != grid.dof:
                differs = f"dof {dof} stored, grid has {grid.dof}"
            if differs:
                raise CheckpointError(f"checkpoint {path} is for another grid: {differs}")
            state = h5["state"][...]
            if state.shape != (grid.dof,) + grid.sizes:
                raise CheckpointError(f"checkpoint {path}: state has shape {state.shape}, "
                                      f"expected {(grid.dof,) + grid.sizes}")
            meta = {"t": float(h5.attrs["t"]), "step": int(h5.attrs["step"]),
                    "dt": float(h5.attrs["dt"]), "config": str(h5.attrs["config"]),
                    "extra": {name: ds[()] for name, ds in h5["extra"].items()}}
    except CheckpointError:
        raise
    except (OSError, KeyError, ValueError, TypeError) as exc:
        raise CheckpointError(f"checkpoint {path}: unreadable or incomplete "
                              f"({type(exc).__name__}: {exc})") from exc
    return state, meta
