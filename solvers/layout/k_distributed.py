"""k-distributed layout: one PETSc DMDA over the whole phase space (x, kx[, ky]) or (kx[, ky]).

The DMDA splits every axis, k included, between the ranks and exchanges the ghosts of all of
them, periodic ones included; a DMDA has at most three axes, so this layout serves phase
spaces of at most three dimensions (uniform problems and one real-space axis). A rank's
block of a Vec is viewed as ``(dof, n_0, ..., n_{d-1})`` without copying.
"""

from __future__ import annotations

import numpy as np
from petsc4py import PETSc

from solvers.layout.base import LayoutBase


class PhaseSpaceGrid(LayoutBase):
    """DMDA over the phase-space axes with ``dof`` unknowns per cell.

    Parameters
    ----------
    axes : sequence of Axis
        ``[x] + [kx, ky]`` style: real-space axis first (if any), then momenta; 1 to 3 axes.
    dof : int
        Unknowns per cell (bands in band mode, N*N in matrix mode).
    stencil_width : int
        Ghost width, known from the kernel order before the DMDA exists (2 for MUSCL and
        for the four-cell face stencils of the hbar^2 terms).
    comm : PETSc.Comm
        Communicator; ``PETSc.COMM_SELF`` gives a serial grid inside a parallel program.
    """

    kind = "k_distributed"

    def __init__(self, axes, dof: int = 1, stencil_width: int = 2, comm=PETSc.COMM_WORLD):
        self.axes = self._check_axes(axes, 3)
        self.dof, self.stencil_width = dof, stencil_width
        kinds = {True: PETSc.DM.BoundaryType.PERIODIC, False: PETSc.DM.BoundaryType.GHOSTED}
        self.da = PETSc.DMDA().create(
            dim=self.dim, dof=dof, sizes=tuple(a.n for a in self.axes),
            boundary_type=tuple(kinds[a.periodic] for a in self.axes),
            stencil_type=PETSc.DMDA.StencilType.BOX, stencil_width=stencil_width, comm=comm)
        self.da.setUp()
        self.ranges = tuple(self.da.getRanges())
        self.ghost_ranges = tuple(self.da.getGhostRanges())
        self.storage_shape = (dof,) + self.sizes
        self.storage_order = tuple(range(self.dim + 1))
        self._local = None

    def view(self, vec, ghosted: bool = False, readonly: bool = False) -> np.ndarray:
        """Numpy view ``(dof, n_0, ...)`` of a global (owned) or local (ghosted) Vec, no copy."""
        shape = self.ghosted_shape if ghosted else self.owned_shape
        return vec.getArray(readonly=readonly).reshape(shape, order="F")

    def ghosted(self, vec) -> np.ndarray:
        """Ghosted block of the global Vec ``vec`` with every ghost filled; collective.

        The block is a view of one local Vec of this layout, overwritten by the next call.
        """
        if self._local is None:
            self._local = self.da.createLocalVec()
        self.da.globalToLocal(vec, self._local)
        block = self.view(self._local, ghosted=True)
        self.fill_boundary_ghosts(block)
        return block

    def k_sum(self):
        """:class:`solvers.collisions.KSum` over the owned k cells, on this layout's ranks.

        ``reduce(a)`` of a block of shape (bands, [nx_owned,] *k_owned) is the global
        ``int dk/(2 pi)^dk sum_n a``, shape (nx,) with x (else (1,)), on every rank; the k
        cells of one x may lie on several ranks, whose parts the reduction adds.
        """
        from solvers.collisions import KSum

        x_range, nx = (self.ranges[0], self.sizes[0]) if self.has_x else (None, None)
        return KSum(self.k_weights(), self.comm.tompi4py(), x_range, nx)
