"""Phase-space axes and the k-distributed layout, under their historical module name.

The layouts live in :mod:`solvers.layout`; this module keeps ``from solvers.grid import Axis,
PhaseSpaceGrid`` working for callers written before the layouts had a package.
"""

from solvers.layout import BOUNDARIES, Axis, PhaseSpaceGrid

__all__ = ["BOUNDARIES", "Axis", "PhaseSpaceGrid"]
