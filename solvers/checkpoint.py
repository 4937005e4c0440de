"""Restart checkpoints: the whole distribution in natural ordering, written atomically,
checksummed, and never holding a NaN.

File layout (one HDF5 file, written by rank 0)::

    /state              (dof, n_0, ...)  distribution, cell averages, natural (global) order
    /grid/<axis>_edges  cell edges per phase-space axis
    /extra/<name>       small arrays or numbers the run needs to restart (e.g. a warm-start mu)
    attributes: t (hbar/energy), step, dt (hbar/energy), dof, axes (JSON), config (JSON),
                ranks (of the writer), format_version, version (code), sha256

Atomicity: the file is written to ``path.with_suffix(".tmp")`` (same directory), flushed,
fsynced, then ``os.replace``d onto ``path`` and the directory fsynced. A kill at any moment
leaves either the previous checkpoint or the new one under ``path``, never a torn file; a
stale ``.tmp`` from a killed write is simply overwritten by the next one, and one from a
failed write (disk full) is removed.

Integrity: ``sha256`` is the digest of the state's bytes, t, step, dt, every extra and the
config (:func:`digest`); :func:`read_checkpoint` recomputes it and refuses a file whose
contents changed after writing (flipped bits, a damaged copy). A state holding NaN or Inf is
never written (:class:`NonFiniteState`), so a blow-up cannot replace the last good checkpoint.

Restarts may change only the keys of the ``[run]`` table (end time, wall-time limit, output
cadence, ...): :func:`restart_changes` compares the stored config with the new one.

The state is stored whole in natural order, so a checkpoint restarts on any number of ranks.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
from pathlib import Path

import h5py
import numpy as np

from solvers import __version__
from solvers.errors import ConfigError
from solvers.output import ensure_space, grid_mismatch, raise_collectively

FORMAT_VERSION = 2  # 2: sha256 attribute
RESTARTABLE = "run."  # prefix of the config keys a restart may change


class CheckpointError(ConfigError):
    """A checkpoint that is missing, unreadable, damaged, made on another grid or with other
    physics; ``str(err)`` is one line (``solvers.run`` exits with code 2)."""


class NonFiniteState(ValueError):
    """Refusal to checkpoint a state holding NaN or Inf."""


def digest(state: np.ndarray, t: float, step: int, dt: float, extra: dict,
           config_json: str) -> str:
    """SHA-256 (hex) of a checkpoint's contents.

    Covers the state's float64 little-endian bytes, ``t``, ``step``, ``dt``, every extra
    (name, dtype and bytes, in name order) and the config JSON; the attributes that only
    describe the file (version, ranks) are left out.
    """
    sha = hashlib.sha256()
    sha.update(np.ascontiguousarray(state, dtype="<f8").tobytes())
    sha.update(struct.pack("<dqd", float(t), int(step), float(dt)))
    for name in sorted(extra):
        value = np.ascontiguousarray(np.asarray(extra[name]))
        sha.update(f"{name}:{value.dtype.str}:{value.shape}".encode())
        sha.update(value.tobytes())
    sha.update(config_json.encode())
    return sha.hexdigest()


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

    Raises
    ------
    NonFiniteState
        On every rank, if the state or an extra holds NaN or Inf; ``path`` is not touched.
    OSError
        On every rank, if the file system has no room for the file (checked before writing,
        :func:`solvers.output.ensure_space`) or the write fails; ``path`` is not touched.
    """
    path = Path(path)
    comm = grid.comm.tompi4py()
    state = grid.gather(vec)
    extra = extra or {}
    error = None
    if comm.Get_rank() == 0:
        try:
            numbers = [state] + [np.asarray(v) for v in extra.values()
                                 if np.asarray(v).dtype.kind in "fc"]
            if not all(np.all(np.isfinite(x)) for x in numbers):
                raise NonFiniteState(f"checkpoint {path}: the state at step {step} holds NaN "
                                     "or Inf; not written (the previous checkpoint is kept)")
            _write_atomically(path, grid, state, t, step, dt, config_json, extra,
                              comm.Get_size())
        except Exception as exc:  # noqa: BLE001 -- re-raised on every rank below
            error = exc
    raise_collectively(comm, error)


def _write_atomically(path: Path, grid, state, t, step, dt, config_json, extra, ranks):
    tmp = path.with_suffix(".tmp")
    ensure_space(tmp, state.nbytes)
    try:
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
            attrs["sha256"] = digest(state, t, step, dt, extra, config_json)
        _fsync(tmp)
    except BaseException:
        tmp.unlink(missing_ok=True)  # a failed write leaves only the previous checkpoint
        raise
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
        On every rank, if the file is missing, unreadable, of another format version, or
        damaged (its sha256 differs from the stored one), or its grid (dof, axes, cell
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
            stored = str(h5.attrs["sha256"])
    except CheckpointError:
        raise
    except (OSError, KeyError, ValueError, TypeError) as exc:
        raise CheckpointError(f"checkpoint {path}: unreadable or incomplete "
                              f"({type(exc).__name__}: {exc})") from exc
    if digest(state, meta["t"], meta["step"], meta["dt"], meta["extra"],
              meta["config"]) != stored:
        raise CheckpointError(f"checkpoint {path} is damaged: the sha256 of its contents "
                              "differs from the one stored when it was written")
    return state, meta


def restart_changes(path, stored_json: str, new_json: str) -> dict:
    """Config keys a restart changes: ``{"run.key": [old, new]}`` (``run.restart`` left out).

    Parameters
    ----------
    path : Path
        The checkpoint (named in the message).
    stored_json, new_json : str
        The checkpoint's config and the restarting run's, as JSON. A key only one of them
        has counts as changed (its missing value is None in the returned dict).

    Raises
    ------
    CheckpointError
        If a key outside ``[run]`` differs (model, fields, grid, numerics, ...: the physics
        or numerics of the continued run), naming every such key with both values.
    """
    old, new = _flatten(json.loads(stored_json)), _flatten(json.loads(new_json))
    changed = {key: [old.get(key, _ABSENT), new.get(key, _ABSENT)]
               for key in sorted(set(old) | set(new))
               if old.get(key, _ABSENT) != new.get(key, _ABSENT)}
    physics = {k: v for k, v in changed.items() if not k.startswith(RESTARTABLE)}
    if physics:
        shown = [[("(absent)" if v is _ABSENT else json.dumps(v)) for v in pair]
                 for pair in physics.values()]
        listed = ", ".join(f"{key} = {a} -> {b}" for key, (a, b) in zip(physics, shown))
        raise CheckpointError(
            f"run.restart = true: checkpoint {path} was made with other settings: {listed}; "
            f"expected changes to {RESTARTABLE}* keys only (start a new run.name instead)")
    return {k: [None if v is _ABSENT else v for v in pair] for k, pair in changed.items()
            if k != "run.restart"}


_ABSENT = object()  # a key one of two configs does not have


def _flatten(tree: dict, prefix: str = "") -> dict:
    """Nested dicts as ``{"table.key.subkey": value}`` (lists and empty dicts are values)."""
    flat = {}
    for key, value in tree.items():
        if isinstance(value, dict) and value:
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat
