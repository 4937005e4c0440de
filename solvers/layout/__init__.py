"""Phase-space layouts behind one protocol (:class:`PhaseSpaceLayout`).

* :class:`PhaseSpaceGrid` (``k_distributed``): one DMDA over the whole phase space, at most
  three axes; every axis split between the ranks.
* :class:`RealSpaceLayout` (``real_space``): a DMDA over x or (x, y) whose dof block is the
  whole k grid; k sums are local, and (x, y, kx, ky) fits.

:func:`make_layout` chooses: ``auto`` takes the real-space layout when there are two
real-space axes (the only layout that holds them), the k-distributed one otherwise. Both give
the same result to rounding.
"""

from __future__ import annotations

from petsc4py import PETSc

from solvers.layout.axis import BOUNDARIES, Axis
from solvers.layout.base import PhaseSpaceLayout
from solvers.layout.k_distributed import PhaseSpaceGrid
from solvers.layout.real_space import RealSpaceLayout

__all__ = ["BOUNDARIES", "Axis", "PhaseSpaceLayout", "PhaseSpaceGrid", "RealSpaceLayout",
           "LAYOUTS", "make_layout"]

LAYOUTS = ("auto", "k_distributed", "real_space")


def make_layout(axes, dof: int, stencil_width: int, comm=PETSc.COMM_WORLD,
                kind: str = "auto"):
    """The layout ``kind`` (one of :data:`LAYOUTS`) over ``axes``.

    Raises
    ------
    ValueError
        For a layout that cannot hold these axes: ``k_distributed`` with more than three
        axes, ``real_space`` without a real-space axis.
    """
    n_real = sum(not a.is_momentum for a in axes)
    if kind == "auto":
        kind = "real_space" if n_real >= 2 else "k_distributed"
    if kind == "k_distributed":
        if len(axes) > 3:
            raise ValueError(f"{len(axes)} phase-space axes: the k-distributed layout (one "
                             "DMDA over all of them) holds at most 3; use the real_space one")
        return PhaseSpaceGrid(axes, dof, stencil_width, comm)
    if kind == "real_space":
        if n_real == 0:
            raise ValueError("the real_space layout needs a real-space axis (grid.x)")
        return RealSpaceLayout(axes, dof, stencil_width, comm)
    raise ValueError(f"layout {kind!r} not in {LAYOUTS}")
