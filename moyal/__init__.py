"""moyal: symbolic Moyal/Wigner kinetic theory of Bloch electrons (no PETSc, no MPI here)."""

__version__ = "0.1.0"
