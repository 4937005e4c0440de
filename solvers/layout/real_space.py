"""Real-space-distributed layout: a DMDA over (x) or (x, y) whose dof block is the local k grid.

Every DMDA point (a real-space cell) carries ``dof * nkx [* nky]`` unknowns: all bands at all
k cells. The ranks split real space only, so sums over k are local to a rank and a phase
space of four dimensions (x, y, kx, ky) fits a two-dimensional DMDA (Dedalus's distributor
idea: distribute fewer axes than the data has). The ghosted block is presented as
``(dof, *x axes, *k axes)`` like the k-distributed layout's, its k ghosts filled from the
rank's own cells (a wrap on the Brillouin-zone torus, the boundary fill on a continuum box).

Storage: a cell's unknowns are ``(dof, nkx[, nky])`` in Fortran order, so the owned view of
a global Vec is a transposed (strided) view ``(dof, *x, *k)`` of it; the ghosted block is a
separate Fortran-ordered array, copied from the DMDA's local Vec at each exchange.
"""

from __future__ import annotations

import numpy as np
from mpi4py import MPI
from petsc4py import PETSc

from solvers.collisions import KSum
from solvers.layout.base import LayoutBase


class RealSpaceLayout(LayoutBase):
    """DMDA over the real-space axes with the whole k grid of every band as dof block.

    Parameters
    ----------
    axes : sequence of Axis
        ``[x[, y]] + [kx[, ky]]``: one or two real-space axes, then one or two momenta.
    dof : int
        Unknowns per phase-space cell (bands in band mode, N*N in matrix mode).
    stencil_width : int
        Ghost width in every axis (real space and k).
    comm : PETSc.Comm
        Communicator.
    """

    kind = "real_space"

    def __init__(self, axes, dof: int = 1, stencil_width: int = 2, comm=PETSc.COMM_WORLD):
        self.axes = self._check_axes(axes, 4)
        n_real = len(self.x_axes)
        if not 1 <= n_real <= 2:
            raise ValueError(f"axes {self.names}: the real-space layout needs 1 or 2 "
                             "real-space axes")
        self.dof, self.stencil_width = dof, stencil_width
        g = stencil_width
        real, momenta = self.axes[:n_real], self.axes[n_real:]
        self.k_shape = tuple(a.n for a in momenta)
        kinds = {True: PETSc.DM.BoundaryType.PERIODIC, False: PETSc.DM.BoundaryType.GHOSTED}
        self.da = PETSc.DMDA().create(
            dim=n_real, dof=dof * int(np.prod(self.k_shape)), sizes=tuple(a.n for a in real),
            boundary_type=tuple(kinds[a.periodic] for a in real),
            stencil_type=PETSc.DMDA.StencilType.BOX, stencil_width=g, comm=comm)
        self.da.setUp()
        self.ranges = tuple(self.da.getRanges()) + tuple((0, n) for n in self.k_shape)
        self.ghost_ranges = tuple(self.da.getGhostRanges()) + tuple(
            (-g, n + g) for n in self.k_shape)
        self.local_axes = self.k_axes
        n_k = len(self.k_shape)
        # storage (dof, *k, *x) -> phase-space order (dof, *x, *k)
        self.storage_order = (0,) + tuple(range(1 + n_k, 1 + n_k + n_real)) + \
            tuple(range(1, 1 + n_k))
        self.storage_shape = (dof,) + self.k_shape + self.sizes[:n_real]
        self._local = self.da.createLocalVec()
        self._block = np.zeros(self.ghosted_shape, order="F")
        self._inner = (slice(None),) * (1 + n_real) + (slice(g, -g),) * n_k

    def _stored(self, array, ranges):
        """A DMDA array of cells ``ranges`` (real-space axes) as ``(dof, *x, *k)``."""
        shape = (self.dof,) + self.k_shape + tuple(e - s for s, e in ranges)
        return array.reshape(shape, order="F").transpose(self.storage_order)

    def view(self, vec, readonly: bool = False) -> np.ndarray:
        """Numpy view ``(dof, *x owned, *k)`` of a global Vec, no copy (strided)."""
        n_real = len(self.x_axes)
        return self._stored(vec.getArray(readonly=readonly), self.ranges[:n_real])

    def ghosted(self, vec) -> np.ndarray:
        """Ghosted block ``(dof, *x ghosted, *k ghosted)`` of ``vec``, every ghost filled;
        collective. The array is this layout's own and overwritten by the next call."""
        n_real = len(self.x_axes)
        self.da.globalToLocal(vec, self._local)
        self._block[self._inner] = self._stored(self._local.getArray(readonly=True),
                                                self.ghost_ranges[:n_real])
        self.fill_boundary_ghosts(self._block)
        return self._block

    def k_sum(self) -> KSum:
        """:class:`solvers.collisions.KSum` over the k cells, which are all local: the
        sums at the owned real-space cells need no communication (``reduce`` still
        assembles the global profile on every rank; over (x, y) flattened, y fastest)."""
        if len(self.x_axes) == 1:
            return KSum(self.k_weights(), self.comm.tompi4py(), self.ranges[0], self.sizes[0])
        return PlaneKSum(self.k_weights(), self.comm.tompi4py(), self.ranges[:2],
                         self.sizes[:2])


class PlaneKSum(KSum):
    """:class:`solvers.collisions.KSum` of blocks ``(bands, x owned, y owned, *k)`` to the
    cells of a 2D real space, each (x, y) cell on one rank with all its k cells.

    Parameters
    ----------
    k_weights : ndarray, shape (k_cells)
        Measures ``prod(k widths) / (2 pi)^dk`` of the k cells (1/length^dk).
    comm : mpi4py.MPI.Comm
    ranges : ((int, int), (int, int))
        This rank's x and y cells ``[start, stop)``.
    sizes : (int, int)
        Cells of the whole (x, y) grid.
    """

    def __init__(self, k_weights, comm, ranges, sizes):
        self.ranges, self.sizes = tuple(ranges), tuple(sizes)
        self.owned = tuple(slice(*r) for r in self.ranges)
        super().__init__(k_weights, comm)

    def reduce(self, a: np.ndarray) -> np.ndarray:
        """Sums at every (x, y) cell, flattened (y fastest), on every rank (collective)."""
        full = np.zeros(self.sizes)
        full[self.owned] = np.tensordot(a.sum(axis=0), self.weights, axes=self.weights.ndim)
        self.comm.Allreduce(MPI.IN_PLACE, full, op=MPI.SUM)
        return full.reshape(-1)

    def __call__(self, a: np.ndarray) -> np.ndarray:
        """Sums at this rank's (x, y) cells (collective), shape (x owned, y owned)."""
        return self.reduce(a).reshape(self.sizes)[self.owned]
