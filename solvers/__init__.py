"""moyal's PETSc finite-volume solver (runtime: numpy, petsc4py, mpi4py, h5py; no sympy)."""

from moyal import __version__

__all__ = ["__version__"]
