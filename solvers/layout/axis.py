"""A 1D axis of finite-volume cells: edges, centres, widths, boundary, ghost geometry.

Cell geometry is kept per axis as 1D arrays (edges, centres, widths): nonuniform cells cost
nothing extra and every rank indexes its ghost region directly. Units: length for x and y,
1/length for the momenta.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

BOUNDARIES = ("periodic", "outflow", "vacuum")


@dataclass(frozen=True)
class Axis:
    """A 1D axis of finite-volume cells.

    Parameters
    ----------
    name : str
        ``"x"``, ``"y"``, ``"kx"`` or ``"ky"`` (``"k"`` for a 1D crystal).
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
