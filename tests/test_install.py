"""The venv's MPI stack: petsc4py and mpi4py load one libmpi, the one behind the venv's mpirun."""

import re
import sys
from pathlib import Path


def test_one_mpi_library_from_the_venv():
    from mpi4py import MPI  # noqa: F401
    from petsc4py import PETSc

    PETSc.COMM_WORLD.getSize()
    maps = Path("/proc/self/maps").read_text()
    libs = sorted(set(re.findall(r"(/\S*/libmpi[^/\s]*\.so[.\d]*)", maps)))
    assert len(libs) == 1 and libs[0].startswith(sys.prefix), libs
    assert (Path(sys.prefix) / "bin" / "mpirun").exists()

