"""Self-describing HDF5 output (layout after Dedalus), gathered or one file per rank.

Layout of the main file ``<stem>.h5``::

    /scales/t, /scales/iteration, /scales/write_number    one entry per write
    /tasks/<name>      (n_writes, dof, n_0, ...)  phase-space task (cell averages)
                       (n_writes, *shape)         global task (e.g. density(x), current)
    /grid/<axis>, /grid/<axis>_edges              cell centres and edges per phase-space axis
    /model/<name>      constant arrays of the model on the grid (band energies, ...), with
                       attributes ``units`` and ``dims`` (JSON list of dimension names)
    root attributes: config (JSON), units (JSON), version, git_hash, petsc_options, ranks,
                     mode ("gathered" | "per_rank"), axes (JSON list of axis names)

Every dataset carries a ``units`` attribute: t in hbar/energy, x in the length unit, k axes in
1/length, tasks as the caller states.

Modes. ``gathered``: phase-space tasks are gathered to rank 0, which alone writes the main
file. ``per_rank``: each rank appends its owned block to ``<stem>.ranks/rank_<r>.h5`` (with
its own /scales copy and the block's index ``ranges``), and the main file's phase-space tasks
are HDF5 virtual datasets mapping every block into the global shape; only rank 0 opens the
main file, so serial h5py suffices. ``auto``: gathered up to :data:`GATHER_LIMIT` doubles per
task, per_rank above.

Virtual datasets. The mappings have an unlimited first axis, so the virtual dataset grows with
the rank files by itself: nothing in the main file changes when a block is appended, and the
extent is recomputed whenever a reader opens it. The source files are named relative to the
main file's directory, so the output directory can be moved. A write that a crash left
incomplete reads as NaN (the fill value); /scales counts only completed writes, because rank 0
appends to /scales after every rank has flushed its block. HDF5 locks files that a process
has open for writing: to read while the run is going, open with ``locking=False`` (h5py) or
set ``HDF5_USE_FILE_LOCKING=FALSE``.

Restarts. ``resume=iteration`` reopens the files, drops the writes after that iteration and
appends from there. A restart on a different domain decomposition cannot append to the old
rank files, so the per_rank output is a list of *segments* (root attribute ``segments``,
JSON): runs of writes with one decomposition each, stored in ``<stem>.ranks/`` (the first) or
``<stem>.ranks/from_write_<n>/``; the virtual datasets map all of them.

Every write is flushed, so the files are readable after a kill.

Failed writes. Before every write each file's directory is checked for room
(:func:`ensure_space`: free blocks and the process' file-size limit against the write's size
plus :data:`SPACE_MARGIN`), so a full disk stops the run before a write that cannot complete,
leaving every earlier write readable. A write that fails anyway (space taken by another
process in between, a quota, an I/O error) rolls /scales back to the completed writes and is
re-raised as :class:`OutputWriteError` naming the file. HDF5 cannot close a file whose flush
failed, and its cleanup then crashes the interpreter at exit (segmentation fault); such a file
is left open and the process leaves with exit code 1 without that cleanup
(:func:`_leave_open`).

Exclusive outputs. :func:`acquire_lock` creates ``<file>.lock`` with ``O_EXCL`` holding the
pid and host of the run, so a second run with the same name fails instead of writing the same
files; a lock left by a process of this host that no longer runs is taken over.
"""

from __future__ import annotations

import atexit
import errno
import json
import os
import pickle
import resource
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np

from solvers import __version__

MODES = ("gathered", "per_rank", "auto")
GATHER_LIMIT = 2**22  # doubles per phase-space task (32 MiB) that "auto" still gathers
KINDS = ("phase_space", "global")
EDGE_RTOL = 1e-14  # stored and current cell edges agree to this fraction of the axis scale
SCALES = (("t", "f8"), ("iteration", "i8"), ("write_number", "i8"))
SPACE_MARGIN = 2**20  # bytes kept free beyond a write's data: HDF5 metadata, the error log
COLLECTIVE = "moyal_collective"  # attribute marking an exception raised on every rank


def git_hash() -> str:
    """Commit of the source tree, or 'unknown' outside a git checkout."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                             cwd=Path(__file__).parent, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return out.stdout.strip() if out.returncode == 0 else "unknown"


def resolve_mode(mode: str, n_values: int) -> str:
    """``"gathered"`` or ``"per_rank"`` for a requested mode and ``dof * prod(sizes)``."""
    if mode not in MODES:
        raise ValueError(f"output mode {mode!r} not in {MODES}")
    if mode == "auto":
        return "gathered" if n_values <= GATHER_LIMIT else "per_rank"
    return mode


def axis_units(axis, units: dict) -> str:
    """Unit of an axis' coordinate: the length unit for x, its inverse for momenta."""
    return f"1/{units['length']}" if axis.is_momentum else units["length"]


def grid_mismatch(grid, names, edges) -> str | None:
    """How stored axes differ from ``grid``'s, or None if they agree.

    Parameters
    ----------
    grid : PhaseSpaceGrid
    names : sequence of str
        Stored axis names, in phase-space order.
    edges : sequence of ndarray
        Stored cell edges per axis.

    Edges agree when they differ by at most :data:`EDGE_RTOL` times the largest |edge|.
    """
    if tuple(names) != grid.names:
        return f"axes {tuple(names)} stored, grid has {grid.names}"
    for axis, stored in zip(grid.axes, edges):
        stored = np.asarray(stored, dtype=float)
        if stored.shape != axis.edges.shape:
            return f"axis {axis.name}: {stored.size - 1} cells stored, grid has {axis.n}"
        gap = np.max(np.abs(stored - axis.edges))
        if gap > EDGE_RTOL * np.max(np.abs(axis.edges)):
            return f"axis {axis.name}: cell edges differ by up to {gap:.3g}"
    return None


def raise_collectively(comm, error: BaseException | None):
    """Raise on every rank of ``comm`` (mpi4py) if any rank failed; collective.

    A rank that failed re-raises its own exception; the others raise the first rank's one,
    so no rank is left waiting in a later collective call. The exception raised is marked
    (:func:`is_collective`): every rank has it, so one rank may report it for all.
    """
    errors = comm.allgather(error if error is None else _portable(error))
    first = error if error is not None else next((e for e in errors if e is not None), None)
    if first is not None:
        try:
            setattr(first, COLLECTIVE, True)
        except AttributeError:  # an exception type without instance attributes
            pass
        raise first


def is_collective(error: BaseException) -> bool:
    """True if ``error``, or an exception it was raised from, came from
    :func:`raise_collectively` (so every rank of the communicator raised it)."""
    seen = set()
    while error is not None and id(error) not in seen:
        if getattr(error, COLLECTIVE, False):
            return True
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return False


def _portable(error: BaseException) -> BaseException:
    """``error`` if it survives pickling (to travel between ranks), else a RuntimeError."""
    try:
        pickle.loads(pickle.dumps(error))
    except Exception:  # noqa: BLE001 -- any failure means: send a plain copy instead
        return RuntimeError(f"{type(error).__name__}: {error}")
    return error


def ensure_space(path, nbytes: int):
    """Raise OSError unless ``nbytes`` more bytes (plus :data:`SPACE_MARGIN`) fit in ``path``.

    Two limits are checked: the free space of the file system holding ``path`` (blocks
    available to this user; skipped for a file system that reports no size at all) and the
    process' file-size limit (``ulimit -f``) against the current size of ``path``.

    Raises
    ------
    OSError
        errno ENOSPC or EFBIG, naming ``path``, the room left and the room needed (bytes).
    """
    path = Path(path)
    need = int(nbytes) + SPACE_MARGIN
    stats = os.statvfs(path.parent)
    free = stats.f_bavail * stats.f_frsize
    if stats.f_blocks and free < need:
        raise OSError(errno.ENOSPC, f"{os.strerror(errno.ENOSPC)} ({free} bytes free, the "
                      f"next write needs {need})", str(path))
    limit = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
    size = path.stat().st_size if path.exists() else 0
    if limit != resource.RLIM_INFINITY and size + need > limit:
        raise OSError(errno.EFBIG, f"{os.strerror(errno.EFBIG)} (file-size limit {limit} "
                      f"bytes, the file has {size}, the next write needs {need})", str(path))


class OutputWriteError(OSError):
    """A write of the output that failed; the message names the file and the write."""


def _reason(error: BaseException) -> str:
    """One-line description of ``error`` (HDF5 messages span several lines)."""
    text = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
    return " ".join(f"{type(error).__name__}: {text}".split())


_UNCLOSED = []  # HDF5 files whose close failed; kept referenced, see _leave_open


def _leave_open(h5):
    """Keep a file HDF5 could not close, and leave the process without HDF5's cleanup.

    After a failed flush HDF5 can neither close the file nor free its identifiers: freeing
    them (garbage collection, interpreter exit) crashes the process. The file is kept
    referenced and, at exit, the process flushes its streams, finalises MPI and leaves with
    exit code 1 (a write failed) before the interpreter's teardown.
    """
    if not _UNCLOSED:
        atexit.register(_exit_past_hdf5_cleanup)
    _UNCLOSED.append(h5)


def _exit_past_hdf5_cleanup():
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    from mpi4py import MPI

    if MPI.Is_initialized() and not MPI.Is_finalized():
        MPI.Finalize()
    os._exit(1)


def lock_path(path) -> Path:
    """The lock file of an output file: ``<file>.lock``."""
    path = Path(path)
    return path.with_name(path.name + ".lock")


class OutputBusy(FileExistsError):
    """The output is locked by another run; ``str(err)`` is one line."""


def acquire_lock(path) -> str:
    """Create ``<path>.lock`` exclusively (``O_EXCL``), holding this process' pid and host.

    A stale lock (its process, on this host, no longer runs) is taken over: renamed aside
    (atomic, so of two runs taking it over at once only one moves it), checked to be still
    the stale one, removed, and created anew; a fresh lock found aside instead (another run
    took the stale one over first) is put back.

    Returns
    -------
    str
        ``""``, or a note that a stale lock was taken over.

    Raises
    ------
    OutputBusy
        If the lock exists and its process runs, is on another host (which cannot be
        checked), or cannot be identified.
    OSError
        If the lock cannot be created (directory missing or not writable).
    """
    lock = lock_path(path)
    host = socket.gethostname()
    note = ""
    while True:  # again only after a stale lock was moved away (by this run or another)
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            holder = _lock_holder(lock)
            if not note and holder and holder["host"] == host and not _alive(holder["pid"]):
                if _remove_stale(lock, holder):
                    note = (f"took over the lock {lock} of process {holder['pid']} on {host}, "
                            "which no longer runs")
                    continue
                holder = _lock_holder(lock)  # the run that took it over first
            who = (f"process {holder['pid']} on {holder['host']}" if holder
                   else "an unidentified process")
            raise OutputBusy(f"{path} is being written by {who} (lock {lock}); expected one "
                             "run per run.name at a time (remove the lock if that run is "
                             "gone)") from None
        with os.fdopen(fd, "w") as stream:
            json.dump({**lock_owner(), "since": time.strftime("%Y-%m-%dT%H:%M:%S%z")}, stream)
        return note


def _remove_stale(lock: Path, holder: dict) -> bool:
    """Remove ``lock`` if it still holds ``holder``; False if another run holds it now."""
    aside = lock.with_name(f"{lock.name}.{os.getpid()}")
    try:
        os.rename(lock, aside)
    except FileNotFoundError:  # another run moved it first: the O_EXCL create decides
        return True
    if _lock_holder(aside) == holder:
        aside.unlink()
        return True
    try:  # another run's fresh lock: put it back (link fails rather than replace a newer one)
        os.link(aside, lock)
    finally:
        aside.unlink()
    return False


def lock_owner() -> dict:
    """``{"pid", "host"}`` of this process, as written into its locks."""
    return {"pid": os.getpid(), "host": socket.gethostname()}


def release_lock(path, owner: dict | None = None):
    """Remove ``<path>.lock`` if ``owner`` (default: this process, :func:`lock_owner`)
    holds it; another rank of the same run may release rank 0's locks."""
    lock = lock_path(path)
    holder, owner = _lock_holder(lock), owner or lock_owner()
    if holder and (holder["pid"], holder["host"]) == (owner["pid"], owner["host"]):
        lock.unlink(missing_ok=True)


def _lock_holder(lock: Path) -> dict | None:
    """``{"pid", "host", ...}`` of a lock file, or None if it is missing or unreadable."""
    try:
        holder = json.loads(lock.read_text())
        return holder if isinstance(holder.get("pid"), int) and "host" in holder else None
    except (OSError, ValueError, AttributeError):
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # a process of another user
        return True
    return True


def segment_dir(first_write: int) -> str:
    """Sub-directory of ``<stem>.ranks`` holding a segment's rank files."""
    return "" if first_write == 0 else f"from_write_{first_write:06d}"


def rank_file_name(rank: int) -> str:
    return f"rank_{rank:05d}.h5"


def plan_segments(segments: list[dict], n_keep: int, blocks: list) -> tuple[list, list, bool]:
    """Segments after a restart that keeps the first ``n_keep`` writes.

    Parameters
    ----------
    segments : list of dict
        ``{"dir", "first_write", "count", "blocks"}``; ``count`` is None for the last (open)
        segment; ``blocks[r]`` is rank r's ``[[start, end], ...]`` per axis.
    n_keep : int
        Writes kept.
    blocks : list
        The restarted run's blocks, same form.

    Returns
    -------
    kept : list of dict
        Segments after the restart; the last one is open (count None).
    dropped : list of dict
        Segments holding only dropped writes.
    continuing : bool
        True if the restart appends to the last kept segment (same decomposition), False if
        it opens a new segment at write ``n_keep``.
    """
    kept = [dict(s) for s in segments if s["first_write"] < n_keep]
    dropped = [s for s in segments if s["first_write"] >= n_keep]
    continuing = bool(kept) and kept[-1]["blocks"] == blocks
    if continuing:
        kept[-1]["count"] = None
        return kept, dropped, True
    if kept:
        kept[-1]["count"] = n_keep - kept[-1]["first_write"]
    kept.append({"dir": segment_dir(n_keep), "first_write": n_keep, "count": None,
                 "blocks": blocks})
    return kept, dropped, False


def _create_series(h5, shapes: dict, units: dict, task_units: dict):
    """Empty resizable /scales and /tasks datasets; ``shapes`` maps task name to shape."""
    scales = h5.create_group("scales")
    for name, dtype in SCALES:
        scales.create_dataset(name, (0,), maxshape=(None,), dtype=dtype)
    scales["t"].attrs["units"] = f"hbar/{units['energy']}"
    for name in ("iteration", "write_number"):
        scales[name].attrs["units"] = "1"  # counts
    tasks = h5.require_group("tasks")
    for name, shape in shapes.items():
        ds = tasks.create_dataset(name, (0,) + shape, maxshape=(None,) + shape, dtype="f8",
                                  chunks=(1,) + shape)
        ds.attrs["units"] = task_units[name]


def _append(h5, write_number: int, t: float, iteration: int, arrays: dict):
    """Append one write (scales and ``arrays``) to a file laid out by :func:`_create_series`.

    If the write fails, /scales is shrunk back to the completed writes (best effort: a task
    may keep one incomplete entry beyond them) before the exception propagates.
    """
    done = h5["scales"]["t"].shape[0]
    try:
        for name, value in (("t", t), ("iteration", iteration),
                            ("write_number", write_number)):
            ds = h5["scales"][name]
            ds.resize((ds.shape[0] + 1,))
            ds[-1] = value
        for name, value in arrays.items():
            ds = h5["tasks"][name]
            ds.resize((ds.shape[0] + 1,) + ds.shape[1:])
            ds[-1] = value
        h5.flush()
    except BaseException:
        try:
            for name, _ in SCALES:
                h5["scales"][name].resize((done,))
            h5.flush()
        except Exception:  # noqa: BLE001,S110 -- the original failure is the one to report
            pass
        raise


def _truncate(h5, n: int):
    """Keep the first ``n`` writes of every scale and stored (non-virtual) task."""
    for name, _ in SCALES:
        h5["scales"][name].resize((n,))
    for ds in h5["tasks"].values():
        if not ds.is_virtual:
            ds.resize((n,) + ds.shape[1:])


def _virtual_task(h5, name: str, shape: tuple, segments: list, ranks_dir: str, units: str):
    """(Re)create ``/tasks/<name>`` as a virtual dataset over the segments' rank files.

    ``shape`` is ``(dof, n_0, ...)``. Closed segments map a fixed number of writes; the open
    (last) one maps an unlimited run of writes starting at its ``first_write``.
    """
    unlimited = h5py.h5s.UNLIMITED
    extent = (segments[-1]["first_write"],) + shape  # must contain every fixed mapping
    dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
    dcpl.set_layout(h5py.h5d.VIRTUAL)
    dcpl.set_fill_value(np.array([np.nan]))
    for seg in segments:
        for rank, block in enumerate(seg["blocks"]):
            counts = tuple(e - s for s, e in block)
            starts = (seg["first_write"], 0) + tuple(s for s, _ in block)
            block_shape = (shape[0],) + counts
            source = h5py.h5s.create_simple((seg["count"] or 0,) + block_shape,
                                            (unlimited,) + block_shape)
            target = h5py.h5s.create_simple(extent, (unlimited,) + shape)
            if seg["count"] is None:
                ones = (1,) * (len(shape) + 1)
                run = ((unlimited,) + ones[1:], ones, (1,) + block_shape)  # count, stride, block
                source.select_hyperslab((0,) * len(ones), *run)
                target.select_hyperslab(starts, *run)
            else:
                source.select_hyperslab((0,) * (len(shape) + 1), (seg["count"],) + block_shape)
                target.select_hyperslab(starts, (seg["count"],) + block_shape)
            path = "/".join(p for p in (ranks_dir, seg["dir"], rank_file_name(rank)) if p)
            dcpl.set_virtual(target, path.encode(), f"/tasks/{name}".encode(), source)
    if name in h5["tasks"]:
        del h5["tasks"][name]
    space = h5py.h5s.create_simple(extent, (unlimited,) + shape)
    h5py.h5d.create(h5["tasks"].id, name.encode(), h5py.h5t.IEEE_F64LE, space, dcpl=dcpl)
    h5["tasks"][name].attrs["units"] = units


class Writer:
    """HDF5 output of a run on ``grid``; every method is collective over ``grid.comm``.

    Parameters
    ----------
    path : Path
        Main file. The caller decides whether an existing one may be replaced: without
        ``resume`` it is created anew (``"w"``), and a ``<stem>.ranks`` directory of an
        older run under the same name is removed.
    grid : PhaseSpaceGrid
    tasks : dict
        ``name -> (kind, shape, units)``. ``kind`` is ``"phase_space"`` (a Vec on ``grid``,
        shape ``(dof, *grid.sizes)``) or ``"global"`` (a small array, the same on every rank
        or meaningful on rank 0 only, e.g. shape ``(nx,)``).
    config : dict or str
        Resolved configuration (stored as JSON).
    units : dict
        ``{"energy": ..., "length": ...}`` unit names.
    petsc_options : str
        PETSc command-line options of the run.
    mode : str
        ``"gathered"``, ``"per_rank"`` or ``"auto"`` (see the module docstring). On resume,
        ``"auto"`` takes the stored mode and an explicit different mode is an error.
    resume : int, optional
        Reopen existing output, keep the writes with iteration <= ``resume`` (the caller
        continues with later iterations) and continue the write numbering.
    constants : dict, optional
        ``name -> (block, dims, units, attrs)``: arrays written once to ``/model/<name>`` of
        a new main file (not on resume). ``dims`` names the array's dimensions; the trailing
        ones that are phase-space axes hold this rank's owned cells of those axes, the
        leading ones (e.g. ``"band"``) are whole. The blocks are assembled on rank 0.
    """

    def __init__(self, path, grid, tasks: dict, config, units: dict, petsc_options: str,
                 mode: str = "gathered", resume: int | None = None,
                 constants: dict | None = None):
        self.path, self.grid = Path(path), grid
        self.comm = grid.comm.tompi4py()
        self.rank = self.comm.Get_rank()
        self.ranks_dir = self.path.parent / f"{self.path.stem}.ranks"
        field_shape = (grid.dof,) + grid.sizes
        self.tasks = {name: (kind, tuple(shape), task_units)
                      for name, (kind, shape, task_units) in tasks.items()}
        for name, (kind, shape, _) in self.tasks.items():
            if kind not in KINDS:
                raise ValueError(f"task {name!r}: kind {kind!r} not in {KINDS}")
            if kind == "phase_space" and shape != field_shape:
                raise ValueError(f"task {name!r}: shape {shape} is not (dof, *sizes) = "
                                 f"{field_shape}")
        self.phase_space = [n for n, (kind, _, _) in self.tasks.items() if kind == "phase_space"]
        self.write_bytes = 8 * sum(int(np.prod(shape)) for _, shape, _ in self.tasks.values())
        self.main = self.rank_file = self.rank_path = None
        self.closed = False
        resumes_auto = resume is not None and mode == "auto"  # the stored mode decides
        requested = "auto" if resumes_auto else resolve_mode(mode, int(np.prod(field_shape)))
        blocks = self.comm.allgather([[int(s), int(e)] for s, e in grid.ranges])
        whole = self._assemble(constants or {}) if resume is None else {}
        plan, error = None, None
        if self.rank == 0:
            try:
                if resume is None:
                    plan = self._create_main(requested, blocks, config, units, petsc_options,
                                             whole)
                else:
                    plan = self._resume_main(requested, blocks, resume)
            except Exception as exc:  # noqa: BLE001 -- re-raised on every rank below
                error = exc
        self._collective_check(error)
        plan = self.comm.bcast(plan)
        self.mode, self.count = plan["mode"], plan["count"]
        if self.mode == "per_rank":
            try:
                self._open_rank_file(plan, units)
            except Exception as exc:  # noqa: BLE001
                error = exc
            self._collective_check(error)

    def _assemble(self, constants: dict) -> dict:
        """``name -> (whole array, dims, units, attrs)`` on rank 0 ({} elsewhere); collective.

        Each block is sent by the ranks whose owned range starts at cell 0 along every axis
        the array does not span: their blocks tile the spanned axes exactly once.
        """
        names = self.grid.names
        spans = {name: [names.index(d) for d in dims if d in names]
                 for name, (_, dims, _, _) in constants.items()}
        mine = {name: ([self.grid.ranges[a] for a in spans[name]], np.asarray(block, float))
                for name, (block, _, _, _) in constants.items()
                if all(self.grid.ranges[a][0] == 0 for a in range(len(names))
                       if a not in spans[name])}
        pieces = self.comm.gather(mine, root=0)
        if self.rank != 0:
            return {}
        whole = {}
        for name, (block, dims, units, attrs) in constants.items():
            lead = np.shape(block)[:np.ndim(block) - len(spans[name])]
            array = np.empty(lead + tuple(self.grid.sizes[a] for a in spans[name]))
            for piece in pieces:
                if name in piece:
                    ranges, values = piece[name]
                    array[(...,) + tuple(slice(s, e) for s, e in ranges)] = values
            whole[name] = (array, dims, units, attrs)
        return whole

    # -- rank 0: the main file -------------------------------------------------------------

    def _create_main(self, mode, blocks, config, units, petsc_options, constants) -> dict:
        self.main = h5 = h5py.File(self.path, "w")
        attrs = h5.attrs
        attrs["config"] = config if isinstance(config, str) else json.dumps(config,
                                                                           sort_keys=True)
        attrs["units"] = json.dumps(units, sort_keys=True)
        attrs["version"] = __version__
        attrs["git_hash"] = git_hash()
        attrs["petsc_options"] = petsc_options
        attrs["ranks"] = self.comm.Get_size()
        attrs["mode"] = mode
        attrs["axes"] = json.dumps(self.grid.names)
        grid_group = h5.create_group("grid")
        for axis in self.grid.axes:
            for key, values in ((axis.name, axis.centres), (f"{axis.name}_edges", axis.edges)):
                grid_group[key] = values
                grid_group[key].attrs["units"] = axis_units(axis, units)
        if constants:
            model = h5.create_group("model")
            for name, (array, dims, array_units, array_attrs) in constants.items():
                model[name] = array
                model[name].attrs.update({**array_attrs, "units": array_units,
                                          "dims": json.dumps(list(dims))})
        stored = {n: shape for n, (kind, shape, _) in self.tasks.items()
                  if mode == "gathered" or kind == "global"}
        _create_series(h5, stored, units, {n: u for n, (_, _, u) in self.tasks.items()})
        # rank files of an older run under this name belong to the main file just replaced
        shutil.rmtree(self.ranks_dir, ignore_errors=True)
        if mode == "per_rank":
            self.ranks_dir.mkdir()
            segments = [{"dir": "", "first_write": 0, "count": None, "blocks": blocks}]
            self._set_segments(segments)
        h5.flush()
        return {"mode": mode, "count": 0, "segment": segment_dir(0), "first_write": 0,
                "continuing": False}

    def _resume_main(self, requested, blocks, resume: int) -> dict:
        if not self.path.is_file():
            raise FileNotFoundError(f"cannot resume output {self.path}: no such file")
        self.main = h5 = h5py.File(self.path, "a")
        names = json.loads(h5.attrs["axes"])
        differs = grid_mismatch(self.grid, names, [h5["grid"][f"{n}_edges"][...] for n in names])
        if differs:
            raise ValueError(f"cannot resume output {self.path}: grid differs ({differs})")
        mode = str(h5.attrs["mode"])
        if requested not in ("auto", mode):
            raise ValueError(f"cannot resume output {self.path} in mode {requested!r}: "
                             f"it was written in mode {mode!r}")
        stored = {n: ds.shape[1:] for n, ds in h5["tasks"].items()}
        wanted = {n: shape for n, (_, shape, _) in self.tasks.items()}
        if stored != wanted:
            raise ValueError(f"cannot resume output {self.path}: tasks {stored} stored, "
                             f"run has {wanted}")
        n_keep = int(np.searchsorted(h5["scales/iteration"][...], resume, side="right"))
        _truncate(h5, n_keep)
        h5.attrs["ranks"] = self.comm.Get_size()
        plan = {"mode": mode, "count": n_keep}
        if mode == "per_rank":
            kept, dropped, continuing = plan_segments(json.loads(h5.attrs["segments"]),
                                                      n_keep, blocks)
            for seg in dropped:
                if seg["dir"]:
                    shutil.rmtree(self.ranks_dir / seg["dir"], ignore_errors=True)
            if not continuing:
                if len(kept) > 1:  # the closed segment keeps only the writes still mapped
                    closed = kept[-2]
                    for rank in range(len(closed["blocks"])):
                        name = self.ranks_dir / closed["dir"] / rank_file_name(rank)
                        with h5py.File(name, "a") as old:
                            _truncate(old, closed["count"])
                fresh = self.ranks_dir / kept[-1]["dir"]
                shutil.rmtree(fresh, ignore_errors=True)
                fresh.mkdir(parents=True)
            self._set_segments(kept)
            plan.update(segment=kept[-1]["dir"], first_write=kept[-1]["first_write"],
                        continuing=continuing)
        h5.flush()
        return plan

    def _set_segments(self, segments: list):
        self.main.attrs["segments"] = json.dumps(segments)
        for name in self.phase_space:
            _, shape, task_units = self.tasks[name]
            _virtual_task(self.main, name, shape, segments, self.ranks_dir.name, task_units)

    # -- every rank: its own block ---------------------------------------------------------

    def _open_rank_file(self, plan: dict, units: dict):
        self.rank_path = path = self.ranks_dir / plan["segment"] / rank_file_name(self.rank)
        if plan["continuing"]:
            self.rank_file = h5 = h5py.File(path, "a")
            n = plan["count"] - plan["first_write"]
            if h5["scales/t"].shape[0] < n:
                raise ValueError(f"cannot resume output: {path} holds "
                                 f"{h5['scales/t'].shape[0]} writes, expected {n}")
            _truncate(h5, n)
        else:
            self.rank_file = h5 = h5py.File(path, "w")
            h5.attrs["rank"] = self.rank
            h5.attrs["ranks"] = self.comm.Get_size()
            h5.attrs["axes"] = json.dumps(self.grid.names)
            # (dim, 2): [start, end) of the block per axis, in global cell indices
            h5.attrs["ranges"] = np.array(self.grid.ranges, dtype="i8").reshape(-1, 2)
            h5.attrs["first_write"] = plan["first_write"]
            owned = self.grid.owned_shape
            _create_series(h5, {n: owned for n in self.phase_space}, units,
                           {n: self.tasks[n][2] for n in self.phase_space})
        h5.flush()

    # -- public ----------------------------------------------------------------------------

    def write(self, t: float, iteration: int, phase_space: dict | None = None,
              globals: dict | None = None):  # noqa: A002 -- the task kind's name
        """Append one write; collective.

        Parameters
        ----------
        t : float
            Time, hbar/energy.
        iteration : int
            Time step number.
        phase_space : dict
            ``name -> Vec`` for every phase-space task.
        globals : dict
            ``name -> ndarray`` for every global task (rank 0's values are written).
        """
        phase_space, globals = phase_space or {}, globals or {}
        wanted = {n for n, (kind, _, _) in self.tasks.items() if kind == "global"}
        if set(phase_space) != set(self.phase_space) or set(globals) != wanted:
            raise ValueError(f"write needs phase_space {sorted(self.phase_space)} and globals "
                             f"{sorted(wanted)}, got {sorted(phase_space)}, {sorted(globals)}")
        arrays = {n: np.asarray(globals[n], dtype=float) for n in sorted(wanted)} \
            if self.rank == 0 else {}
        error = None
        if self.mode == "gathered":
            for name in self.phase_space:  # one order on every rank: gather is collective
                arrays[name] = self.grid.gather(phase_space[name])
        else:
            error = self._append_checked(
                self.rank_file, self.rank_path, t, iteration,
                {n: self.grid.view(phase_space[n], readonly=True) for n in self.phase_space})
            self._collective_check(error)  # every block is on disk before /scales counts it
        if self.rank == 0:
            error = self._append_checked(self.main, self.path, t, iteration, arrays)
        self._collective_check(error)
        self.count += 1

    def _append_checked(self, h5, path, t, iteration, arrays) -> OutputWriteError | None:
        """Check for room and append one write to ``h5``; the failure, if any, for
        :meth:`_collective_check`."""
        try:
            ensure_space(path, self.write_bytes)
            _append(h5, self.count, t, iteration, arrays)
        except Exception as exc:  # noqa: BLE001 -- reported on every rank
            error = OutputWriteError(getattr(exc, "errno", None) or errno.EIO,
                                     f"cannot write {path} (write {self.count}, t = {t:.6g}): "
                                     f"{_reason(exc)}")
            error.__cause__ = exc
            return error
        return None

    def record_restart(self, record: dict):
        """Append ``record`` to the JSON list in the main file's ``restarts`` attribute;
        collective."""
        error = None
        if self.rank == 0:
            try:
                records = json.loads(self.main.attrs.get("restarts", "[]"))
                self.main.attrs["restarts"] = json.dumps(records + [record], sort_keys=True)
                self.main.flush()
            except Exception as exc:  # noqa: BLE001
                error = exc
        self._collective_check(error)

    def close(self, synchronise: bool = True):
        """Close this rank's files (idempotent).

        With ``synchronise`` (collective) no rank returns before every rank has closed its
        files, so a reader started right after (rank 0 post-processing, a resume on another
        rank count) never meets a file another rank still holds open (HDF5 file locks).
        """
        if self.closed:
            return
        for h5 in (self.main, self.rank_file):
            if h5 is not None:
                try:
                    h5.close()
                except Exception:  # noqa: BLE001 -- a failed flush was reported already
                    _leave_open(h5)
        self.main = self.rank_file = None
        self.closed = True  # on every rank, whether or not it held a file (gathered mode)
        if synchronise:
            self.comm.Barrier()

    def _collective_check(self, error):
        try:
            raise_collectively(self.comm, error)
        except BaseException:
            self.close(synchronise=False)
            raise

    def __enter__(self):
        return self

    def __exit__(self, kind, value, traceback):
        # after an exception on this rank alone a barrier could wait forever
        self.close(synchronise=kind is None)
