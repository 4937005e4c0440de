"""Order-0 band-mode kinetic equation for one band in a uniform field.

    d_t f + d_x (v(k) f) + d_k (Fk f) = 0,   v = d eps / d k,   Fk = dk/dt = -E

(hbar = e = 1, electron charge -e, physics.md section 1). This is the Boltzmann limit of the
Wigner equation; the symbolic layer's generated kernels extend it with the Berry-curvature and
quantum-metric terms.
"""

from __future__ import annotations

import numpy as np

from solvers.fluxes import STENCIL_WIDTH, advection_divergence
from solvers.grid import PhaseSpaceGrid


def tight_binding_band(k, hopping, lattice_constant):
    """``(eps, v)`` of ``eps = -2 t cos(k a)``; k in 1/length, energies in the energy unit."""
    ka = k * lattice_constant
    return -2 * hopping * np.cos(ka), 2 * hopping * lattice_constant * np.sin(ka)


def fermi_dirac(eps, mu, temperature):
    """Occupation ``1 / (exp((eps - mu)/T) + 1)``, written with tanh to avoid overflow."""
    return 0.5 * (1 - np.tanh(0.5 * (eps - mu) / temperature))


def periodic_gaussian(x, centre, width, period):
    """Gaussian profile summed over its nearest periodic images (smooth on the x torus)."""
    return sum(np.exp(-0.5 * ((x + n * period - centre) / width) ** 2) for n in (-1, 0, 1))


def characteristic_foot(x, k, t, field, hopping, lattice_constant):
    """Phase-space point at time 0 of the trajectory through ``(x, k)`` at time ``t``.

    ``dk/dt = -E`` and ``dx/dt = v(k) = 2 t a sin(k a)`` give ``k0 = k + E t`` and
    ``x0 = x - (2 t / E) [cos(k a) - cos(k0 a)]`` (``x0 = x - v(k) t`` when ``E = 0``).
    """
    k0 = k + field * t
    if field == 0:
        return x - tight_binding_band(k, hopping, lattice_constant)[1] * t, k0
    a = lattice_constant
    return x - (2 * hopping / field) * (np.cos(k * a) - np.cos(k0 * a)), k0


def streaming_distribution(cfg, x, k, t=0.0):
    """Exact solution at time ``t`` for the Gaussian-times-Fermi-Dirac initial state.

    Parameters
    ----------
    cfg : solvers.config.Config
    x, k : ndarray, shapes (nx,) and (nk,)
        Cell centres (length, 1/length).

    Returns
    -------
    ndarray, shape (1, nx, nk)
        ``f0(x0, k0)`` at the characteristic foot; ``t = 0`` is the initial condition.
    """
    m, ini = cfg.model, cfg.initial
    x0, k0 = characteristic_foot(x[:, None], k[None, :], t, cfg.fields.E, m.hopping,
                                 m.lattice_constant)
    x0 = np.mod(x0, cfg.grid.x_length)  # the box is [0, L)
    eps0, _ = tight_binding_band(k0, m.hopping, m.lattice_constant)
    return (periodic_gaussian(x0, ini.x_center, ini.x_width, cfg.grid.x_length)
            * fermi_dirac(eps0, ini.mu, ini.temperature))[None]


class BoltzmannRHS:
    """``d_t f`` as a PETSc TS right-hand side on a :class:`PhaseSpaceGrid`.

    Parameters
    ----------
    grid : PhaseSpaceGrid
    velocity : callable
        ``k -> v(k)``, group velocity at k-cell centres (energy * length).
    force : float
        ``dk/dt`` (1/(length * time)); ``-E`` for a uniform field E.
    limiter : str
        MUSCL limiter name.
    """

    def __init__(self, grid: PhaseSpaceGrid, velocity, force: float, limiter: str):
        self.grid, self.force, self.limiter = grid, float(force), limiter
        self.local = grid.da.createLocalVec()
        g = STENCIL_WIDTH
        self.xc, self.wx, self.kc, self.wk = grid.ghosted_cells()
        # v(k) is constant along x, so it is already its own face value on x faces.
        self.v_faces = velocity(self.kc[g:-g])[None, None, :]
        self.max_speed = (float(np.max(np.abs(velocity(grid.k.centres)))), abs(self.force))

    def stable_dt(self, cfl: float) -> float:
        """Largest dt with ``dt * sum_s |a_s| / w_s <= cfl`` on the finest cells."""
        rate = (self.max_speed[0] / self.grid.x.widths.min()
                + self.max_speed[1] / self.grid.k.widths.min())
        return cfl / rate if rate > 0 else np.inf

    def __call__(self, ts, t, u, out):
        g = STENCIL_WIDTH
        self.grid.da.globalToLocal(u, self.local)
        f = self.grid.view(self.local, ghosted=True, readonly=True)
        rate = self.grid.view(out)
        rate[...] = advection_divergence(f[:, :, g:-g], self.v_faces, self.xc, self.wx,
                                         axis=1, limiter=self.limiter)
        rate += advection_divergence(f[:, g:-g, :], self.force, self.kc, self.wk,
                                     axis=2, limiter=self.limiter)
