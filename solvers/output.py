"""Self-describing HDF5 output (layout after Dedalus).

    /scales/t, /scales/iteration, /scales/write_number     one entry per write
    /tasks/f            (n_writes, dof, nx, nk)  distribution (cell averages)
    /tasks/density      (n_writes, nx)           n(x) = int dk/(2 pi) f
    /tasks/current      (n_writes, nx)           electric current j(x) = -int dk/(2 pi) v f
    /grid/{x, k, x_edges, k_edges}
    attributes: resolved config (JSON), units, code version, git hash, PETSc options, ranks

Fields are gathered to rank 0, which alone opens the file (the "gathered" mode for grids that
fit on one rank). Each write is flushed, so the file is readable after a kill.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import h5py
import numpy as np

from solvers import __version__

TASK_UNITS = {
    "f": "dimensionless occupation",
    "density": "1/length (per unit cell cross-section)",
    "current": "e * energy / hbar (electric current, e = hbar = 1)",
}


def git_hash() -> str:
    """Commit of the source tree, or 'unknown' outside a git checkout."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                             cwd=Path(__file__).parent, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return out.stdout.strip() if out.returncode == 0 else "unknown"


class Writer:
    """Rank-0 HDF5 writer; every method is safe to call on all ranks (others do nothing)."""

    def __init__(self, path: Path, grid, config: dict, units: dict, petsc_options: str,
                 ranks: int, rank: int):
        self.path, self.rank, self.count = Path(path), rank, 0
        self.file = None
        if rank != 0:
            return
        self.file = h5py.File(self.path, "w")
        attrs = self.file.attrs
        attrs["config"] = json.dumps(config, sort_keys=True)
        attrs["units"] = json.dumps(units, sort_keys=True)
        attrs["version"] = __version__
        attrs["git_hash"] = git_hash()
        attrs["petsc_options"] = petsc_options
        attrs["ranks"] = ranks
        gg = self.file.create_group("grid")
        for name, axis in (("x", grid.x), ("k", grid.k)):
            gg[name] = axis.centres
            gg[f"{name}_edges"] = axis.edges
        gg["x"].attrs["units"] = units["length"]
        gg["k"].attrs["units"] = f"1/{units['length']}"
        scales = self.file.create_group("scales")
        scales.create_dataset("t", (0,), maxshape=(None,), dtype="f8")
        scales.create_dataset("iteration", (0,), maxshape=(None,), dtype="i8")
        scales.create_dataset("write_number", (0,), maxshape=(None,), dtype="i8")
        scales["t"].attrs["units"] = f"hbar/{units['energy']}"
        tasks = self.file.create_group("tasks")
        nx, nk = grid.x.n, grid.k.n
        for name, shape in (("f", (grid.dof, nx, nk)), ("density", (nx,)), ("current", (nx,))):
            ds = tasks.create_dataset(name, (0,) + shape, maxshape=(None,) + shape, dtype="f8",
                                      chunks=(1,) + shape)
            ds.attrs["units"] = TASK_UNITS[name]
        self.file.flush()

    def write(self, t: float, iteration: int, fields: dict[str, np.ndarray]):
        """Append one write; ``fields`` maps task name to its gathered array (rank 0)."""
        if self.file is None:
            return
        n = self.count
        for name, value in (("t", t), ("iteration", iteration), ("write_number", n)):
            ds = self.file["scales"][name]
            ds.resize((n + 1,))
            ds[n] = value
        for name, value in fields.items():
            ds = self.file["tasks"][name]
            ds.resize((n + 1,) + ds.shape[1:])
            ds[n] = value
        self.count += 1
        self.file.flush()

    def close(self):
        if self.file is not None:
            self.file.close()
            self.file = None
