"""Restart checkpoints: one block per rank and an index naming the blocks; written atomically,
checksummed, never holding a NaN, and read back on any number of ranks. No rank ever holds
more than its own block (plus bounded read buffers): the state is never gathered.

Files (``path`` is the index, ``NAME.chk.h5`` for a run; its blocks lie beside it)::

    NAME.chk.h5                             index, written by rank 0
    NAME.chk.ranks/g<NNNNNN>/rank_<r>.h5    block of rank r, checkpoint generation NNNNNN

Index::

    /grid/<axis>_edges   cell edges per phase-space axis
    /extra/<name>        small arrays or numbers the restart needs that are equal on every
                         rank (e.g. a warm-start mu without x axis)
    /state               virtual dataset (dof, n_0, ...) mapping the blocks, for inspection
                         (h5py, h5dump); :func:`read_checkpoint` reads and checks the blocks
    attributes: t (hbar/energy), step, dt (hbar/energy), dof, axes (JSON), config (JSON),
                ranks (of the writer), generation (directory of the blocks, relative to the
                index's), blocks (JSON list, one per rank: file, ranges = [start, end) global
                cell indices per axis, sha256), rank_extras (JSON list of the extras stored
                in the blocks), format_version, version (code), sha256

Block ``rank_<r>.h5``: ``/state`` (dof, owned cells per axis) in C order, ``/extra/<name>``
the extras that differ between ranks (e.g. mu(x) over the rank's x cells), attributes
``rank`` and ``ranges``.

Atomicity. Every rank writes its block into a new generation directory and fsyncs it; then
rank 0 writes the index to ``path.with_suffix(".tmp")``, fsyncs it, ``os.replace``s it onto
``path``, fsyncs the directory and only then removes the older generations. A kill at any
moment leaves under ``path`` an index naming a complete, fsynced generation: the previous
checkpoint or the new one. A generation left by a killed or failed write is removed by the
next successful one.

Integrity. Each block's sha256 (its state bytes and extras, :func:`block_digest`) is stored in
the index, and the index's own sha256 covers t, step, dt, dof, axes, the generation, the block
table, the shared extras and the config (:func:`index_digest`). :func:`read_checkpoint`
recomputes both and refuses a checkpoint whose contents changed after writing (flipped bits,
a damaged copy). A state holding NaN or Inf is never written (:class:`NonFiniteState`), so a
blow-up cannot replace the last good checkpoint.

Any rank count. Each reading rank reads from every stored block the hyperslab overlapping its
owned cells; block b is verified by rank ``b % size``, from the data it read if it read the
whole block, else streamed in slabs of at most :data:`READ_SLAB_BYTES`. Extras stored per rank
are restored only on the same decomposition (else they are left out, with a warning: they are
warm starts, the restart stays correct to the solver's tolerance).

Restarts may change only the keys of the ``[run]`` table (end time, wall-time limit, output
cadence, ...): :func:`restart_changes` compares the stored config with the new one.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import struct
import warnings
from pathlib import Path

import h5py
import numpy as np

from solvers import __version__
from solvers.config import ConfigError
from solvers.output import ensure_space, grid_mismatch, raise_collectively, rank_file_name

FORMAT_VERSION = 3  # 2: one file with the whole state and sha256; 3: per-rank blocks + index
RESTARTABLE = "run."  # prefix of the config keys a restart may change
READ_SLAB_BYTES = 2**24  # buffer bound when a block is checked by a rank not holding it all
GENERATION = re.compile(r"g(\d{6,})")


class CheckpointError(ConfigError):
    """A checkpoint that is missing, unreadable, damaged, made on another grid or with other
    physics; ``str(err)`` is one line (``solvers.run`` exits with code 2)."""


class NonFiniteState(ValueError):
    """Refusal to checkpoint a state holding NaN or Inf."""


def blocks_dir(path) -> Path:
    """Directory of a checkpoint's generations: ``NAME.chk.ranks`` beside ``NAME.chk.h5``."""
    path = Path(path)
    base = path.name[:-3] if path.name.endswith(".h5") else path.name
    return path.with_name(base + ".ranks")


def block_paths(path) -> list[Path]:
    """The block files the index ``path`` names, rank by rank (read on the calling process)."""
    path = Path(path)
    with h5py.File(path, "r") as h5:
        generation = path.parent / str(h5.attrs["generation"])
        return [generation / entry["file"] for entry in json.loads(h5.attrs["blocks"])]


def _hash_extras(sha, extra: dict):
    for name in sorted(extra):
        value = np.ascontiguousarray(np.asarray(extra[name]))
        sha.update(f"{name}:{value.dtype.str}:{value.shape}".encode())
        sha.update(value.tobytes())


def block_digest(slabs, extra: dict) -> str:
    """SHA-256 (hex) of a block: the float64 little-endian bytes of ``slabs`` (consecutive
    pieces of the block in C order, concatenated) and its extras (name, dtype, shape, bytes,
    in name order)."""
    sha = hashlib.sha256()
    for slab in slabs:
        sha.update(np.ascontiguousarray(slab, dtype="<f8"))
    _hash_extras(sha, extra)
    return sha.hexdigest()


def index_digest(t: float, step: int, dt: float, dof: int, axes, generation: str,
                 blocks: list, extra: dict, config_json: str) -> str:
    """SHA-256 (hex) of an index's contents; the attributes that only describe the file
    (version, ranks) and the grid edges (checked against the run's grid) are left out."""
    sha = hashlib.sha256()
    sha.update(struct.pack("<dqdq", float(t), int(step), float(dt), int(dof)))
    sha.update(json.dumps([list(axes), generation, blocks], sort_keys=True).encode())
    _hash_extras(sha, extra)
    sha.update(config_json.encode())
    return sha.hexdigest()


def write_checkpoint(path, grid, vec, t: float, step: int, dt: float, config_json: str,
                     extra: dict | None = None):
    """Write the state in ``vec`` to ``path`` and its blocks atomically; collective over
    ``grid.comm``, each rank writing its own block.

    Parameters
    ----------
    path : Path
        Index file; replaced (atomically) if it exists.
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
        ``name -> small ndarray or number`` of this rank, returned as stored by
        :func:`read_checkpoint`. Extras equal on every rank are stored once in the index;
        the others in each rank's block.

    Raises
    ------
    NonFiniteState
        On every rank, if the state or an extra holds NaN or Inf on any rank; nothing is
        written.
    OSError
        On every rank, if the file system has no room for a block or the index (checked
        before writing, :func:`solvers.output.ensure_space`) or a write fails; ``path`` and
        the checkpoint it names are not touched.
    """
    path = Path(path)
    comm = grid.comm.tompi4py()
    rank = comm.Get_rank()
    extra = {name: np.asarray(value) for name, value in (extra or {}).items()}
    block = grid.view(vec, readonly=True)
    finite = all(np.all(np.isfinite(x)) for x in [block, *extra.values()] if x.dtype.kind in "fc")
    if not all(comm.allgather(finite)):  # raised on every rank, marked so one reports it
        raise_collectively(comm, NonFiniteState(
            f"checkpoint {path}: the state at step {step} holds NaN or Inf; not written (the "
            "previous checkpoint is kept)"))
    digests = comm.allgather({name: block_digest([], {name: v}) for name, v in extra.items()})
    shared = {name: v for name, v in extra.items() if all(d.get(name) == digests[0].get(name)
                                                          for d in digests)}
    generation, error = None, None
    if rank == 0:
        try:
            generation = _new_generation(path)
        except Exception as exc:  # noqa: BLE001 -- re-raised on every rank below
            error = exc
    raise_collectively(comm, error)
    generation = comm.bcast(generation)
    folder = path.parent / generation
    entry, error = None, None
    try:
        ranges = [[int(s), int(e)] for s, e in grid.ranges]
        local = {name: v for name, v in extra.items() if name not in shared}
        entry = _write_block(folder / rank_file_name(rank), block, ranges, local, rank)
    except Exception as exc:  # noqa: BLE001
        error = exc
    entries = comm.gather(entry)
    try:
        raise_collectively(comm, error)
    except Exception:
        if rank == 0:
            shutil.rmtree(folder, ignore_errors=True)
        raise
    error = None
    if rank == 0:
        try:
            index = {"t": float(t), "step": int(step), "dt": float(dt), "dof": grid.dof,
                     "axes": list(grid.names), "generation": generation, "blocks": entries,
                     "rank_extras": sorted(set(extra) - set(shared))}
            _write_index(path, grid, index, shared, config_json)
        except Exception as exc:  # noqa: BLE001
            error = exc
    raise_collectively(comm, error)


def _new_generation(path: Path) -> str:
    """Create the next generation directory (numbered past every one present); its path
    relative to the index's directory."""
    folder = blocks_dir(path)
    folder.mkdir(exist_ok=True)
    numbers = [int(m.group(1)) for m in map(GENERATION.fullmatch, os.listdir(folder)) if m]
    name = f"g{max(numbers, default=0) + 1:06d}"
    (folder / name).mkdir()
    return f"{folder.name}/{name}"


def _write_block(file: Path, block: np.ndarray, ranges: list, extra: dict, rank: int) -> dict:
    """Write one rank's block and fsync it; its entry of the index's block table."""
    ensure_space(file, block.nbytes + sum(v.nbytes for v in extra.values()))
    sha = hashlib.sha256()
    with h5py.File(file, "w") as h5:
        state = h5.create_dataset("state", block.shape, dtype="<f8")
        for i in range(block.shape[0]):  # one dof at a time: a C-order copy of 1/dof block
            row = np.ascontiguousarray(block[i], dtype="<f8")
            sha.update(row)
            state[i] = row
        group = h5.create_group("extra")
        for name, value in extra.items():
            group[name] = value
        _hash_extras(sha, extra)
        h5.attrs["rank"], h5.attrs["ranges"] = rank, np.array(ranges, dtype="i8")
    _fsync(file)
    return {"file": file.name, "ranges": ranges, "sha256": sha.hexdigest()}


def _write_index(path: Path, grid, index: dict, shared: dict, config_json: str):
    """Rank 0: the index over the fsynced blocks, renamed onto ``path``; then the older
    generations go."""
    folder = path.parent / index["generation"]
    tmp = path.with_suffix(".tmp")
    try:
        _fsync(folder)  # the block files' directory entries
        _fsync(folder.parent)
        ensure_space(tmp, sum(v.nbytes for v in shared.values()))
        with h5py.File(tmp, "w") as h5:
            for axis in grid.axes:
                h5[f"grid/{axis.name}_edges"] = axis.edges
            extras = h5.create_group("extra")
            for name, value in shared.items():
                extras[name] = value
            layout = h5py.VirtualLayout((grid.dof,) + grid.sizes, dtype="<f8")
            for entry in index["blocks"]:
                counts = tuple(e - s for s, e in entry["ranges"])
                source = h5py.VirtualSource(f"{index['generation']}/{entry['file']}", "state",
                                            shape=(grid.dof,) + counts)
                layout[(slice(None),) + tuple(slice(s, e) for s, e in entry["ranges"])] = source
            h5.create_virtual_dataset("state", layout, fillvalue=np.nan)
            attrs = h5.attrs
            for key in ("t", "step", "dt", "dof", "generation"):
                attrs[key] = index[key]
            for key in ("axes", "blocks", "rank_extras"):
                attrs[key] = json.dumps(index[key])
            attrs["config"] = config_json
            attrs["ranks"] = len(index["blocks"])
            attrs["format_version"] = FORMAT_VERSION
            attrs["version"] = __version__
            attrs["sha256"] = index_digest(**_digested(index), extra=shared,
                                           config_json=config_json)
        _fsync(tmp)
    except BaseException:
        tmp.unlink(missing_ok=True)  # a failed write leaves only the previous checkpoint
        shutil.rmtree(folder, ignore_errors=True)
        raise
    os.replace(tmp, path)
    _fsync(path.parent)  # make the rename itself durable
    for old in blocks_dir(path).iterdir():
        if old.name != folder.name and GENERATION.fullmatch(old.name):
            shutil.rmtree(old, ignore_errors=True)


def _digested(index: dict) -> dict:
    return {key: index[key] for key in ("t", "step", "dt", "dof", "axes", "generation",
                                        "blocks")}


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
        given to :func:`write_checkpoint`), ``ranks`` (of the writer), ``extra`` (dict of
        ndarray / numpy scalars: the shared extras, and this rank's own if the
        decomposition is the writer's), on every rank.

    Raises
    ------
    CheckpointError
        On every rank, if the index or a block is missing, unreadable, of another format
        version (the single-file format of earlier versions included), or damaged (a
        sha256 differs from the stored one), or the grid (dof, axes, cell counts, edges to
        :data:`solvers.output.EDGE_RTOL`) differs from ``grid``.
    """
    path = Path(path)
    comm = grid.comm.tompi4py()
    index, error = None, None
    if comm.Get_rank() == 0:
        try:
            index = _read_index(path, grid)
        except Exception as exc:  # noqa: BLE001
            error = exc
    raise_collectively(comm, error)
    index = comm.bcast(index)
    meta, error = index["meta"], None
    mine = [[int(s), int(e)] for s, e in grid.ranges]
    blocks = index["blocks"]
    same = len(blocks) == comm.Get_size() and blocks[comm.Get_rank()]["ranges"] == mine
    restore_local = all(comm.allgather(same))
    try:
        local = _read_blocks(path, index, grid, vec, mine, comm, restore_local)
    except Exception as exc:  # noqa: BLE001
        error = exc
    raise_collectively(comm, error)
    if index["rank_extras"] and not restore_local and comm.Get_rank() == 0:
        warnings.warn(f"checkpoint {path}: the extras {', '.join(index['rank_extras'])} "
                      f"differ between the {len(blocks)} writing ranks and this run splits the "
                      "grid otherwise; continuing without them (warm starts: the restart is "
                      "not bitwise)", RuntimeWarning, stacklevel=2)
    return {**meta, "extra": {**meta["extra"], **local}}


def _read_index(path: Path, grid) -> dict:
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path}: no such file")
    try:
        with h5py.File(path, "r") as h5:
            attrs = h5.attrs
            version = int(attrs["format_version"])
            if version < FORMAT_VERSION:
                raise CheckpointError(
                    f"checkpoint {path} is in the single-file format (format_version "
                    f"{version}) of an earlier version; this code reads per-rank checkpoints "
                    f"(format_version {FORMAT_VERSION}): start a new run (a new run.name or "
                    "run.overwrite=true) or continue with the version that wrote it")
            if version != FORMAT_VERSION:
                raise CheckpointError(f"checkpoint {path}: format version {version}, "
                                      f"this code reads {FORMAT_VERSION}")
            names = json.loads(attrs["axes"])
            differs = grid_mismatch(grid, names, [h5[f"grid/{n}_edges"][...] for n in names])
            dof = int(attrs["dof"])
            if differs is None and dof != grid.dof:
                differs = f"dof {dof} stored, grid has {grid.dof}"
            if differs:
                raise CheckpointError(f"checkpoint {path} is for another grid: {differs}")
            index = {"t": float(attrs["t"]), "step": int(attrs["step"]),
                     "dt": float(attrs["dt"]), "dof": dof, "axes": names,
                     "generation": str(attrs["generation"]),
                     "blocks": json.loads(attrs["blocks"])}
            meta = {"t": index["t"], "step": index["step"], "dt": index["dt"],
                    "config": str(attrs["config"]), "ranks": len(index["blocks"]),
                    "extra": {name: ds[()] for name, ds in h5["extra"].items()}}
            rank_extras = json.loads(attrs["rank_extras"])
            stored = str(attrs["sha256"])
    except CheckpointError:
        raise
    except (OSError, KeyError, ValueError, TypeError) as exc:
        raise CheckpointError(f"checkpoint {path}: unreadable or incomplete "
                              f"({type(exc).__name__}: {exc})") from exc
    if index_digest(**index, extra=meta["extra"], config_json=meta["config"]) != stored:
        raise CheckpointError(f"checkpoint {path} is damaged: the sha256 of its index "
                              "differs from the one stored when it was written")
    cells = sum(int(np.prod([e - s for s, e in entry["ranges"]])) for entry in index["blocks"])
    if cells != int(np.prod(grid.sizes)):
        raise CheckpointError(f"checkpoint {path}: its blocks hold {cells} cells, the grid "
                              f"{int(np.prod(grid.sizes))}")
    return {"meta": meta, "generation": index["generation"], "blocks": index["blocks"],
            "rank_extras": rank_extras}


def _read_blocks(path: Path, index: dict, grid, vec, mine: list, comm,
                 restore_local: bool) -> dict:
    """Fill this rank's owned cells from the overlapping blocks, check the blocks this rank
    verifies (``b % size == rank``); this rank's extras if ``restore_local``."""
    rank, size = comm.Get_rank(), comm.Get_size()
    field = grid.view(vec)
    folder = path.parent / index["generation"]
    filled, local = 0, {}
    for b, entry in enumerate(index["blocks"]):
        theirs = entry["ranges"]
        overlap = [[max(s, S), min(e, E)] for (s, e), (S, E) in zip(mine, theirs)]
        overlaps = all(lo < hi for lo, hi in overlap)
        verify = b % size == rank
        if not (overlaps or verify or (restore_local and b == rank)):
            continue
        file = folder / entry["file"]
        try:
            with h5py.File(file, "r") as h5:
                state = h5["state"]
                if state.shape != (grid.dof,) + tuple(e - s for s, e in theirs):
                    raise ValueError(f"state of shape {state.shape}, the index says {theirs}")
                data = None
                if overlaps:
                    data = state[(slice(None),) + tuple(slice(lo - S, hi - S) for (lo, hi), (S, _)
                                                        in zip(overlap, theirs))]
                    field[(slice(None),) + tuple(slice(lo - s, hi - s) for (lo, hi), (s, _)
                                                 in zip(overlap, mine))] = data
                    filled += data.size
                extra = {name: ds[()] for name, ds in h5["extra"].items()}
                if verify:
                    slabs = [data] if overlap == theirs else _slabs(state)
                    if block_digest(slabs, extra) != entry["sha256"]:
                        raise CheckpointError(
                            f"checkpoint {path} is damaged: the sha256 of block {file.name} "
                            f"({index['generation']}) differs from the one stored when it was "
                            "written")
                if restore_local and b == rank:
                    local = extra
        except CheckpointError:
            raise
        except (OSError, KeyError, ValueError, TypeError) as exc:
            raise CheckpointError(f"checkpoint {path}: block {index['generation']}/{file.name} "
                                  f"unreadable or incomplete ({type(exc).__name__}: "
                                  f"{' '.join(str(exc).split())})") from exc
    if filled != field.size:
        raise CheckpointError(f"checkpoint {path}: its blocks fill {filled} of the "
                              f"{field.size} values of rank {rank}")
    return local


def _slabs(state):
    """The dataset ``state`` (dof, n_0, ...) in consecutive C-order slabs of at most
    :data:`READ_SLAB_BYTES` (or one (n_1, ...) plane if that is larger)."""
    plane = int(np.prod(state.shape[2:])) * state.dtype.itemsize
    rows = max(1, READ_SLAB_BYTES // max(plane, 1))
    for i in range(state.shape[0]):
        for j in range(0, state.shape[1], rows):
            yield state[i, j:j + rows]


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
