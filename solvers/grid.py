"""Phase-space grid: one PETSc DMDA over (x, kx[, ky]) or (kx[, ky]) with per-axis cell geometry.

Phase space has dx in {0, 1} real-space axes and dk in {1, 2} momentum axes, so the DMDA has
dimension dx + dk <= 3. Cell geometry is kept per axis as 1D arrays (edges, centres, widths):
nonuniform cells cost nothing extra and every rank indexes its ghost region directly.

Boundaries. k on the Brillouin-zone torus and a periodic x box use the DMDA's periodic
boundary; a continuum k domain or an open x interval use ghost cells that the solver fills
after ``globalToLocal`` (:meth:`PhaseSpaceGrid.fill_boundary_ghosts`): ``outflow`` copies the
edge cell (zero gradient: what leaves is not reflected), ``vacuum`` puts zero (nothing enters).

Array convention: a rank's block of a Vec is viewed as ``(dof, n_0, ..., n_{d-1})`` without
copying (PETSc stores the first axis fastest and dof fastest of all: Fortran order).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from petsc4py import PETSc

BOUNDARIES = ("periodic", "outflow", "vacuum")


@dataclass(frozen=True)
class Axis:
    """A 1D axis of finite-volume cells.

    Parameters
    ----------
    name : str
        ``"x"``, ``"kx"`` or ``"ky"`` (``"k"`` for a 1D crystal).
    edges : ndarray, shape (n + 1,)
        Strictly increasing cell edges.
    boundary : str
        One of :data:`BOUNDARIES`; for ``periodic`` the period is ``edges[-1] - edges[0]``.
    """

    name: str
    edges: np.ndarray
    boundary: str = "periodic"

    def __post_init__(self):
        edges = np.asarray(self.edges, dtype=float)
        if edges.ndim != 1 or edges.size < 3 or np.any(np.diff(edges) <= 0):
            raise ValueError(f"axis {self.name}: edges must be strictly increasing, >= 2 cells")
        if self.boundary not in BOUNDARIES:
            raise ValueError(f"axis {self.name}: boundary {self.boundary!r} not in {BOUNDARIES}")
        object.__setattr__(self, "edges", edges)

    @property
    def n(self) -> int:
        return self.edges.size - 1

    @property
    def periodic(self) -> bool:
        return self.boundary == "periodic"

    @property
    def is_momentum(self) -> bool:
        return self.name.startswith("k")

    @property
    def period(self) -> float:
        return float(self.edges[-1] - self.edges[0])

    @property
    def centres(self) -> np.ndarray:
        return 0.5 * (self.edges[1:] + self.edges[:-1])

    @property
    def widths(self) -> np.ndarray:
        return np.diff(self.edges)

    def extended(self, lo: int, hi: int) -> tuple[np.ndarray, np.ndarray]:
        """Centres and widths of cells ``lo .. hi-1``, which may lie beyond the ends.

        Periodic axes take indices modulo n and shift ghost centres by whole periods, so
        differences of centres are true distances across the seam. Open axes mirror the
        widths of the edge cells into the ghosts (a smooth continuation of the spacing).
        """
        idx = np.arange(lo, hi)
        if self.periodic:
            wrap, local = np.divmod(idx, self.n)
            return self.centres[local] + wrap * self.period, self.widths[local]
        mirrored = np.where(idx < 0, -1 - idx, np.where(idx >= self.n, 2 * self.n - 1 - idx, idx))
        widths = self.widths[np.clip(mirrored, 0, self.n - 1)]
        centres = np.empty(idx.size)
        inside = (idx >= 0) & (idx < self.n)
        centres[inside] = self.centres[idx[inside]]
        below = np.flatnonzero(idx < 0)[::-1]  # nearest to the edge first
        edge = self.edges[0]
        for j in below:
            centres[j] = edge - 0.5 * widths[j]
            edge -= widths[j]
        above = np.flatnonzero(idx >= self.n)
        edge = self.edges[-1]
        for j in above:
            centres[j] = edge + 0.5 * widths[j]
            edge += widths[j]
        return centres, widths

    @classmethod
    def uniform(cls, name: str, lo: float, hi: float, n: int, boundary: str = "periodic"):
        return cls(name, np.linspace(lo, hi, n + 1), boundary)


class PhaseSpaceGrid:
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

    def __init__(self, axes, dof: int = 1, stencil_width: int = 2, comm=PETSc.COMM_WORLD):
        self.axes = tuple(axes)
        if not 1 <= len(self.axes) <= 3:
            raise ValueError(f"phase space needs 1 to 3 axes, got {len(self.axes)}")
        self.dof, self.stencil_width = dof, stencil_width
        kinds = {True: PETSc.DM.BoundaryType.PERIODIC, False: PETSc.DM.BoundaryType.GHOSTED}
        self.da = PETSc.DMDA().create(
            dim=self.dim, dof=dof, sizes=tuple(a.n for a in self.axes),
            boundary_type=tuple(kinds[a.periodic] for a in self.axes),
            stencil_type=PETSc.DMDA.StencilType.BOX, stencil_width=stencil_width, comm=comm)
        self.da.setUp()
        self.ranges = tuple(self.da.getRanges())
        self.ghost_ranges = tuple(self.da.getGhostRanges())
        self._gatherer = None

    @property
    def dim(self) -> int:
        return len(self.axes)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(a.name for a in self.axes)

    @property
    def has_x(self) -> bool:
        return not self.axes[0].is_momentum

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

    def view(self, vec, ghosted: bool = False, readonly: bool = False) -> np.ndarray:
        """Numpy view ``(dof, n_0, ...)`` of a global (owned) or local (ghosted) Vec, no copy."""
        shape = self.ghosted_shape if ghosted else self.owned_shape
        return vec.getArray(readonly=readonly).reshape(shape, order="F")

    def owned_cells(self, axis: int) -> tuple[np.ndarray, np.ndarray]:
        """Centres and widths of this rank's owned cells along ``axis``."""
        return self.axes[axis].extended(*self.ranges[axis])

    def ghosted_cells(self, axis: int) -> tuple[np.ndarray, np.ndarray]:
        """Centres and widths of this rank's ghosted block along ``axis``."""
        return self.axes[axis].extended(*self.ghost_ranges[axis])

    def cell_measure(self) -> np.ndarray:
        """Phase-space volume / (2 pi)^dk of the owned cells, shape ``(n_0, ...)`` local.

        Summing ``f * cell_measure`` gives a particle number: per unit length of the sample
        when x is present (int dx int dk/(2 pi)^dk f), per unit cell volume otherwise.
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

    def fill_boundary_ghosts(self, block: np.ndarray):
        """Write the physical boundary condition into the ghost cells of a ghosted block.

        Only ranks touching an open (non-periodic) end have such ghosts; the DMDA already
        filled periodic and inter-rank ghosts in ``globalToLocal``.
        """
        g = self.stencil_width
        for axis, a in enumerate(self.axes):
            if a.periodic:
                continue
            (s, e), (gs, ge) = self.ranges[axis], self.ghost_ranges[axis]
            moved = np.moveaxis(block, axis + 1, 0)
            if s == 0 and gs < 0:
                moved[:g] = moved[g] if a.boundary == "outflow" else 0.0
            if e == a.n and ge > a.n:
                moved[-g:] = moved[-g - 1] if a.boundary == "outflow" else 0.0

    def gather(self, vec) -> np.ndarray | None:
        """Whole field ``(dof, n_0, ...)`` on rank 0 (None elsewhere); collective.

        For grids that fit on one rank (output "gathered" mode, checkpoints).
        """
        natural, scatter, seq = self._gather_objects()
        self.da.globalToNatural(vec, natural)
        scatter.scatter(natural, seq, PETSc.InsertMode.INSERT, PETSc.ScatterMode.FORWARD)
        if self.comm.getRank() != 0:
            return None
        return seq.getArray(readonly=True).reshape((self.dof,) + self.sizes, order="F").copy()

    def scatter_from_zero(self, array: np.ndarray | None, vec):
        """Inverse of :meth:`gather`: rank 0's ``(dof, n_0, ...)`` array into ``vec``."""
        natural, scatter, seq = self._gather_objects()
        if self.comm.getRank() == 0:
            seq.getArray()[...] = np.asarray(array).reshape(-1, order="F")
        scatter.scatter(seq, natural, PETSc.InsertMode.INSERT, PETSc.ScatterMode.REVERSE)
        self.da.naturalToGlobal(natural, vec)

    def _gather_objects(self):
        if self._gatherer is None:  # built on first use, reused by every later call
            natural = self.da.createNaturalVec()
            self._gatherer = (natural, *PETSc.Scatter.toZero(natural))
        return self._gatherer
