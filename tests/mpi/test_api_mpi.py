"""solvers.api under `mpirun -n 2`: run() on every rank is the command line's parallel run
(the same file, bit for bit), every rank gets the result, a refusal reaches every rank."""

import tempfile
from pathlib import Path

import h5py
import numpy as np
import pytest
from mpi4py import MPI

from solvers.api import ConfigError, moyal_config, run
from solvers.run import main

pytestmark = pytest.mark.mpi

# the chain with a packet on a periodic x axis that the 2 ranks split
PACKET = """
[grid]
x = "periodic"
nx = 32
nk = [16]
[initial]
kind = "packet"
temperature = 4.0
[fields]
E = 0.3
[run]
t_end = 0.5
"""


def shared_dir() -> Path:
    comm = MPI.COMM_WORLD
    path = Path(comm.bcast(tempfile.mkdtemp(prefix="moyal-api-") if comm.rank == 0 else None))
    if comm.rank == 0:
        (path / "c.toml").write_text(PACKET)
    comm.Barrier()
    return path


def test_run_on_every_rank_writes_the_command_lines_file():
    comm, out = MPI.COMM_WORLD, shared_dir()
    config = str(out / "c.toml")
    result = run(moyal_config(config, {"run.output_dir": str(out), "run.name": "api"}),
                 stream=None)
    assert result.status == "finished" and result.summary["ranks"] == 2
    assert comm.allgather((result.summary["t"], result.summary["steps"])) == \
        [(result.summary["t"], result.summary["steps"])] * 2
    assert main([config, f"run.output_dir={out}", "run.name=cli",
                 "run.progress_every=1000000"]) == 0
    if comm.rank == 0:
        with h5py.File(result.path) as api, h5py.File(out / "cli.h5") as cli:
            for name in ("scales/t", "tasks/f", "tasks/current"):
                np.testing.assert_array_equal(api[name][()], cli[name][()])
    comm.Barrier()


def test_a_refusal_reaches_every_rank():
    comm, out = MPI.COMM_WORLD, shared_dir()
    config = str(out / "c.toml")
    with pytest.raises(ConfigError, match="grid.nx = 3"):
        run(moyal_config(config, {"grid.nx": 3}), stream=None)
    if comm.rank == 0:
        (out / "r.h5").write_bytes(b"keep")
    comm.Barrier()
    with pytest.raises(ConfigError, match="exists"):
        run(moyal_config(config, {"run.output_dir": str(out), "run.name": "r"}), stream=None)
    assert (out / "r.h5").read_bytes() == b"keep"
