"""Phase-space grid: one PETSc DMDA over (x, k) with per-axis cell geometry.

The DMDA is periodic in both directions (k lives on the Brillouin-zone torus; x is periodic
here, physical x boundaries will be written into the ghosts after ``globalToLocal``). Cell
geometry is kept per axis as 1D arrays (edges, centres, widths), so nonuniform cells cost
nothing extra and every rank can index its ghost region directly.

Array convention: a rank's block of a Vec is viewed as ``(dof, nx_local, nk_local)`` without
copying (PETSc stores x fastest, dof interleaved fastest of all, i.e. Fortran order).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from petsc4py import PETSc


@dataclass(frozen=True)
class Axis:
    """A periodic 1D axis of finite-volume cells.

    Parameters
    ----------
    name : str
        ``"x"`` or ``"k"``.
    edges : ndarray, shape (n + 1,)
        Strictly increasing cell edges; the period is ``edges[-1] - edges[0]``.
    """

    name: str
    edges: np.ndarray

    def __post_init__(self):
        edges = np.asarray(self.edges, dtype=float)
        if edges.ndim != 1 or edges.size < 3 or np.any(np.diff(edges) <= 0):
            raise ValueError(f"axis {self.name}: edges must be strictly increasing, >= 2 cells")
        object.__setattr__(self, "edges", edges)

    @property
    def n(self) -> int:
        return self.edges.size - 1

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
        """Centres and widths of cells ``lo .. hi-1``, indices taken periodically.

        Ghost cells beyond the seam get centres shifted by whole periods, so differences of
        centres are the true distances across the seam.
        """
        idx = np.arange(lo, hi)
        wrap, local = np.divmod(idx, self.n)
        return self.centres[local] + wrap * self.period, self.widths[local]

    @classmethod
    def uniform(cls, name: str, lo: float, hi: float, n: int) -> "Axis":
        return cls(name, np.linspace(lo, hi, n + 1))


class PhaseSpaceGrid:
    """DMDA over (x, k) with ``dof`` unknowns per cell.

    Parameters
    ----------
    x, k : Axis
        Cell geometry of the two phase-space directions.
    dof : int
        Unknowns per cell (bands in band mode).
    stencil_width : int
        Ghost width; 2 for MUSCL reconstruction (the slope of the neighbour needs its neighbour).
    comm : PETSc.Comm
        Communicator; ``PETSc.COMM_SELF`` gives a serial grid inside a parallel program.
    """

    def __init__(self, x: Axis, k: Axis, dof: int = 1, stencil_width: int = 2,
                 comm=PETSc.COMM_WORLD):
        self.x, self.k, self.dof, self.stencil_width = x, k, dof, stencil_width
        periodic = PETSc.DM.BoundaryType.PERIODIC
        self.da = PETSc.DMDA().create(
            dim=2, dof=dof, sizes=(x.n, k.n), boundary_type=(periodic, periodic),
            stencil_type=PETSc.DMDA.StencilType.BOX, stencil_width=stencil_width, comm=comm)
        self.da.setUp()
        (self.xs, self.xe), (self.ks, self.ke) = self.da.getRanges()
        (self.gxs, self.gxe), (self.gks, self.gke) = self.da.getGhostRanges()
        self._gatherer = None

    @property
    def comm(self):
        return self.da.getComm()

    @property
    def owned_shape(self) -> tuple[int, int, int]:
        return (self.dof, self.xe - self.xs, self.ke - self.ks)

    @property
    def ghosted_shape(self) -> tuple[int, int, int]:
        return (self.dof, self.gxe - self.gxs, self.gke - self.gks)

    def view(self, vec, ghosted: bool = False, readonly: bool = False) -> np.ndarray:
        """Numpy view ``(dof, nx, nk)`` of a global (owned) or local (ghosted) Vec, no copy."""
        shape = self.ghosted_shape if ghosted else self.owned_shape
        return vec.getArray(readonly=readonly).reshape(shape, order="F")

    def owned_cells(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Centres and widths ``(xc, wx, kc, wk)`` of this rank's owned cells."""
        xc, wx = self.x.extended(self.xs, self.xe)
        kc, wk = self.k.extended(self.ks, self.ke)
        return xc, wx, kc, wk

    def ghosted_cells(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Centres and widths ``(xc, wx, kc, wk)`` of this rank's ghosted block."""
        xc, wx = self.x.extended(self.gxs, self.gxe)
        kc, wk = self.k.extended(self.gks, self.gke)
        return xc, wx, kc, wk

    def integrate(self, vec) -> np.ndarray:
        """Global phase-space integral ``sum f * wx * wk / (2 pi)`` per dof, shape (dof,).

        The 1/(2 pi) makes it the particle number per unit cell for a 1D crystal
        (int dx int dk/(2 pi) f).
        """
        _, wx, _, wk = self.owned_cells()
        local = np.einsum("dxk,x,k->d", self.view(vec, readonly=True), wx, wk) / (2 * np.pi)
        return self.comm.tompi4py().allreduce(local)

    def gather(self, vec) -> np.ndarray | None:
        """Whole field ``(dof, nx, nk)`` on rank 0 (None elsewhere); collective.

        For grids that fit on one rank (the output writer's "gathered" mode).
        """
        if self._gatherer is None:  # built on first use, reused by every later write
            natural = self.da.createNaturalVec()
            self._gatherer = (natural, *PETSc.Scatter.toZero(natural))
        natural, scatter, seq = self._gatherer
        self.da.globalToNatural(vec, natural)
        scatter.scatter(natural, seq, PETSc.InsertMode.INSERT, PETSc.ScatterMode.FORWARD)
        if self.comm.getRank() != 0:
            return None
        return seq.getArray(readonly=True).reshape((self.dof, self.x.n, self.k.n),
                                                   order="F").copy()
