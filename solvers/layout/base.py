"""The phase-space layout protocol and what every layout shares.

A layout distributes the phase-space cells (real-space axes x[, y] first, then kx[, ky]) over
MPI ranks and hands every operator the same picture: this rank's owned block as a numpy view
``(dof, *axes)`` of a PETSc Vec, and a ghosted block ``(dof, *axes)`` with ``stencil_width``
ghost cells in *every* phase-space axis, inter-rank, periodic and boundary ghosts filled.
How the cells are distributed (which axes the DMDA spans) is the layout's business alone.

Boundaries. A periodic axis (the Brillouin-zone torus, a periodic x or y box) wraps; an open
axis (a continuum k box, an open x or y interval) has ghost cells filled after the exchange by
:meth:`LayoutBase.fill_boundary_ghosts`: ``outflow`` copies the edge cell (zero gradient:
what leaves is not reflected), ``vacuum`` puts zero (nothing enters). Periodic ghosts are
filled before boundary ghosts, axis by axis in array order, so the corner ghosts of two open
axes are the same on every layout.

Array convention: PETSc stores dof fastest and the first DMDA axis next (Fortran order).
"""

from __future__ import annotations

from typing import Protocol

import numpy as np
from petsc4py import PETSc


class PhaseSpaceLayout(Protocol):
    """What operators, problems, the stepper and the output see of a distributed phase space.

    Attributes
    ----------
    axes : tuple of solvers.layout.Axis
        Real-space axes first, then the momenta.
    dof : int
        Unknowns per phase-space cell (bands, or N*N in matrix mode).
    stencil_width : int
        Ghost cells on each side of every axis of the ghosted block.
    da : petsc4py.PETSc.DMDA
        The DMDA whose global Vecs hold the state (the TS is set on it).
    ranges, ghost_ranges : tuple of (int, int)
        Per phase-space axis, global cell indices ``[start, end)`` of the owned and of the
        ghosted block (ghost indices may lie beyond ``[0, n)``).
    """

    def view(self, vec, readonly: bool = False) -> np.ndarray:
        """The owned block of a global Vec as ``(dof, *owned)``, without copying."""

    def ghosted(self, vec) -> np.ndarray:
        """The ghosted block ``(dof, *ghosted)`` of a global Vec, every ghost filled
        (collective; the array is reused by the next call)."""

    def gather(self, vec) -> np.ndarray | None:
        """The whole field ``(dof, *sizes)`` on rank 0 (None elsewhere); collective."""

    def scatter_from_zero(self, array, vec):
        """Inverse of :meth:`gather`; collective."""

    def k_sum(self):
        """:class:`solvers.collisions.KSum`: sums over k of owned blocks, to the x cells."""


class LayoutBase:
    """Axis bookkeeping, cell geometry, integrals and boundary ghosts of every layout.

    Subclasses set ``axes``, ``dof``, ``stencil_width``, ``da``, ``ranges`` and
    ``ghost_ranges`` and list in ``local_axes`` the array axes (dof excluded) whose ghosts
    are not exchanged by the DMDA but filled from the rank's own cells (a periodic wrap).
    """

    local_axes: tuple[int, ...] = ()

    @staticmethod
    def _check_axes(axes, at_most: int):
        axes = tuple(axes)
        if not 1 <= len(axes) <= at_most:
            raise ValueError(f"phase space needs 1 to {at_most} axes, got {len(axes)}")
        kinds = [a.is_momentum for a in axes]
        if kinds != sorted(kinds) or not any(kinds):
            raise ValueError(f"axes {[a.name for a in axes]}: expected the real-space axes "
                             "first, then at least one momentum axis")
        return axes

    @property
    def dim(self) -> int:
        return len(self.axes)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(a.name for a in self.axes)

    @property
    def has_x(self) -> bool:
        """Whether there is a real-space axis (then it is array axis 0)."""
        return not self.axes[0].is_momentum

    @property
    def x_axes(self) -> tuple[int, ...]:
        """Array axes (0-based, dof excluded) of the real-space directions."""
        return tuple(i for i, a in enumerate(self.axes) if not a.is_momentum)

    @property
    def k_axes(self) -> tuple[int, ...]:
        """Array axes (0-based, dof excluded) of the momentum directions."""
        return tuple(i for i, a in enumerate(self.axes) if a.is_momentum)

    @property
    def comm(self):
        return self.da.getComm()

    @property
    def sizes(self) -> tuple[int, ...]:
        return tuple(a.n for a in self.axes)

    @property
    def owned_shape(self) -> tuple[int, ...]:
        return (self.dof,) + tuple(e - s for s, e in self.ranges)

    @property
    def ghosted_shape(self) -> tuple[int, ...]:
        return (self.dof,) + tuple(e - s for s, e in self.ghost_ranges)

    def owned_cells(self, axis: int) -> tuple[np.ndarray, np.ndarray]:
        """Centres and widths of this rank's owned cells along ``axis``."""
        return self.axes[axis].extended(*self.ranges[axis])

    def ghosted_cells(self, axis: int) -> tuple[np.ndarray, np.ndarray]:
        """Centres and widths of this rank's ghosted block along ``axis``."""
        return self.axes[axis].extended(*self.ghost_ranges[axis])

    def cell_measure(self) -> np.ndarray:
        """Phase-space volume / (2 pi)^dk of the owned cells, shape ``(n_0, ...)`` local.

        Summing ``f * cell_measure`` gives a particle number: per unit length (area) of the
        sample with one (two) real-space axes, per unit cell volume without.
        """
        measure = np.ones(())
        for axis in range(self.dim):
            w = self.owned_cells(axis)[1]
            if self.axes[axis].is_momentum:
                w = w / (2 * np.pi)
            measure = np.multiply.outer(measure, w)
        return measure

    def integrate(self, vec) -> np.ndarray:
        """Global phase-space integral of each dof, shape (dof,); collective."""
        f = self.view(vec, readonly=True)
        local = (f * self.cell_measure()[None]).reshape(self.dof, -1).sum(axis=1)
        return self.comm.tompi4py().allreduce(local)

    def k_weights(self) -> np.ndarray:
        """Measures ``prod(k widths) / (2 pi)^dk`` of the owned k cells, shape (*k owned)."""
        weights = np.ones(())
        for axis in self.k_axes:
            weights = np.multiply.outer(weights, self.owned_cells(axis)[1] / (2 * np.pi))
        return weights

    def fill_boundary_ghosts(self, block: np.ndarray):
        """Fill the ghosts the DMDA exchange leaves: local periodic wraps, then boundaries.

        Only ranks touching an open (non-periodic) end have boundary ghosts; the DMDA
        already filled inter-rank ghosts and the periodic ghosts of the axes it spans.
        """
        g = self.stencil_width
        for axis in self.local_axes:
            a = self.axes[axis]
            if a.periodic:
                moved = np.moveaxis(block, axis + 1, 0)
                moved[:g] = moved[a.n:a.n + g]
                moved[a.n + g:] = moved[g:2 * g]
        for axis, a in enumerate(self.axes):
            if a.periodic:
                continue
            (s, e), (gs, ge) = self.ranges[axis], self.ghost_ranges[axis]
            moved = np.moveaxis(block, axis + 1, 0)
            if s == 0 and gs < 0:
                moved[:g] = moved[g] if a.boundary == "outflow" else 0.0
            if e == a.n and ge > a.n:
                moved[-g:] = moved[-g - 1] if a.boundary == "outflow" else 0.0

    # -- whole fields on rank 0 ----------------------------------------------------------
    # A layout stores a cell's unknowns in DMDA order: ``storage_shape`` (Fortran order) of
    # the natural Vec, and ``storage_order``, the permutation taking it to (dof, *axes).

    def gather(self, vec) -> np.ndarray | None:
        """Whole field ``(dof, n_0, ...)`` on rank 0 (None elsewhere); collective.

        For grids that fit on one rank (output "gathered" mode, ``simulate(gather_final=True)``);
        the command line with per-rank output never calls it.
        """
        natural, scatter, seq = self._gather_objects()
        self.da.globalToNatural(vec, natural)
        scatter.scatter(natural, seq, PETSc.InsertMode.INSERT, PETSc.ScatterMode.FORWARD)
        if self.comm.getRank() != 0:
            return None
        stored = seq.getArray(readonly=True).reshape(self.storage_shape, order="F")
        return stored.transpose(self.storage_order).copy()

    def scatter_from_zero(self, array: np.ndarray | None, vec):
        """Inverse of :meth:`gather`: rank 0's ``(dof, n_0, ...)`` array into ``vec``."""
        natural, scatter, seq = self._gather_objects()
        if self.comm.getRank() == 0:
            stored = np.asarray(array).transpose(np.argsort(self.storage_order))
            seq.getArray()[...] = stored.reshape(-1, order="F")
        scatter.scatter(seq, natural, PETSc.InsertMode.INSERT, PETSc.ScatterMode.REVERSE)
        self.da.naturalToGlobal(natural, vec)

    def _gather_objects(self):
        if getattr(self, "_gatherer", None) is None:  # built on first use, then reused
            natural = self.da.createNaturalVec()
            self._gatherer = (natural, *PETSc.Scatter.toZero(natural))
        return self._gatherer
