"""Test-suite rules: an MPI test that cannot run as intended fails, it is never skipped."""

import pytest


def pytest_runtest_setup(item):
    if item.get_closest_marker("mpi") is None:
        return
    from mpi4py import MPI

    size = MPI.COMM_WORLD.Get_size()
    if size != 2:
        pytest.fail(f"MPI test collected on {size} rank(s); run it under `mpirun -n 2` "
                    "(make test-mpi), or deselect it with -m 'not mpi'", pytrace=False)
