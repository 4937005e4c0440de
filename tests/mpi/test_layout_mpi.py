"""Run under `mpirun -n 2`: the real-space layout splits x between the ranks, exchanges x
ghosts carrying the whole k grid, and gives the k-distributed layout's run (on two ranks and
on one) to 1e-12."""

import numpy as np
import pytest
from mpi4py import MPI
from petsc4py import PETSc

from solvers import config
from solvers.layout import PhaseSpaceGrid, RealSpaceLayout
from solvers.run import simulate
from tests.mpi.test_parallel import shared_tmpdir
from tests.test_layout import CASES, QUIET, axes_for
from tests.tolerance import UNIT_ROUNDOFF, tolerance

pytestmark = pytest.mark.mpi


@pytest.mark.parametrize("x_boundary,k_boundary", [("periodic", "periodic"),
                                                   ("outflow", "outflow")])
def test_ghosted_blocks_split_in_x_equal_the_serial_blocks(x_boundary, k_boundary):
    axes = axes_for(x_boundary, k_boundary, (6, 5))
    layout = RealSpaceLayout(axes, dof=2, stencil_width=2)
    serial = PhaseSpaceGrid(axes, dof=2, stencil_width=2, comm=PETSc.COMM_SELF)
    assert layout.ranges[0] != (0, axes[0].n)  # x is split
    full = np.random.default_rng(1).standard_normal((2,) + layout.sizes)
    u, u_ser = layout.da.createGlobalVec(), serial.da.createGlobalVec()
    layout.scatter_from_zero(full if MPI.COMM_WORLD.Get_rank() == 0 else None, u)
    serial.scatter_from_zero(full, u_ser)
    reference = serial.ghosted(u_ser)
    (xs, xe), g = layout.ghost_ranges[0], 2
    # the serial ghosted block spans x cells -2 .. n+1; this rank's ghosted block xs .. xe-1
    mine = reference[:, xs + g:xe + g]
    assert np.array_equal(layout.ghosted(u), mine)
    density = layout.k_sum().reduce(layout.view(u, readonly=True))
    # the same terms summed in another order: within n u sum |w f| each way (random signs
    # cancel, so a relative tolerance on the sum itself would not be a bound)
    owned = serial.view(u_ser, readonly=True)
    magnitude = serial.k_sum().reduce(np.abs(owned))
    terms = owned.size // owned.shape[1]
    assert np.all(np.abs(density - serial.k_sum().reduce(owned))
                  <= tolerance(2 * terms * UNIT_ROUNDOFF * magnitude))


@pytest.mark.parametrize("name", sorted(CASES))
def test_real_space_layout_on_two_ranks_matches_k_distributed(name):
    tmp = shared_tmpdir()
    tables = CASES[name]
    finals = {}
    for layout, comm in (("real_space", PETSc.COMM_WORLD), ("k_distributed", PETSc.COMM_WORLD),
                         ("k_distributed_serial", PETSc.COMM_SELF)):
        kind = layout.removesuffix("_serial")
        rank_tag = f"{MPI.COMM_WORLD.Get_rank()}" if comm is PETSc.COMM_SELF else ""
        cfg = config.from_dict({**tables, "numerics": {"layout": kind},
                                "run": {**QUIET, **tables["run"], "name": layout + rank_tag,
                                        "output_mode": "per_rank"}})
        _, finals[layout] = simulate(cfg, tmp / f"{layout}{rank_tag}.h5", comm, stream=None)
    if MPI.COMM_WORLD.Get_rank() == 0:
        ref = finals["k_distributed_serial"]
        for layout in ("real_space", "k_distributed"):
            assert np.max(np.abs(finals[layout] - ref)) <= 1e-12 * np.max(np.abs(ref)), layout
    MPI.COMM_WORLD.Barrier()
