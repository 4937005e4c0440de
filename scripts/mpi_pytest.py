"""Run pytest on every MPI rank; rank 0 reports, the others log to build/test-logs/.

Usage: mpirun -n 2 python -m scripts.mpi_pytest [pytest args]. Each rank writes a JUnit XML
file (build/test-logs/mpi-rank<r>.xml) that scripts/run_tests.sh adds to the closing count.
"""

import os
import sys
from pathlib import Path

import pytest
from mpi4py import MPI


def main() -> int:
    rank = MPI.COMM_WORLD.Get_rank()
    logs = Path("build/test-logs")
    logs.mkdir(parents=True, exist_ok=True)
    if rank != 0:
        log = open(logs / f"mpi-rank{rank}.log", "w")
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
    return pytest.main(sys.argv[1:] + [f"--junitxml={logs}/mpi-rank{rank}.xml",
                                       "-p", "no:cacheprovider"])


if __name__ == "__main__":
    sys.exit(main())
