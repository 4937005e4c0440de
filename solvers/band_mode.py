"""Band mode: one distribution per band, a continuity equation in phase space.

    d_t f_n + sum_a d_a J^a_n = R[f]_n,    a in (x, y, kx, ky)

with the flux J assembled from the generated kernels of ``moyal/_generated/band_mode_{1,2}d``
(order 0 Boltzmann, order 1 Berry curvature, order 2 quantum metric and Moyal hbar^2 terms;
docs/symbolic.md). Each kernel function is one contribution

    J^a += d^outer ( c * d^inner f ),

and its IR record (the module's ``KERNELS``, :mod:`moyal.ir`) says a, outer and inner; its
arguments are typed: band tables (energy derivatives, Omega, g, Gq and their k-derivatives,
this project's sign conventions; depending on k and band) and the potential derivatives
V_d... (depending on x, t). This module maps those records onto arrays, so a new generated
term needs no new solver code; no kernel name is read.

Discretisation on the grid (x[, y], kx[, ky]) or (kx[, ky]), any layout (the operator sees
a ghosted block with ghosts in every axis, :mod:`solvers.layout`):

* "plain" terms (c f) along a grid axis are advection: MUSCL + upwind/LLF, with c evaluated
  exactly at the faces (V at x or y faces; k-only band tables are stored per k, never per
  (x, k));
* inner/outer derivative terms are dispersive or mixed: conservative central face forms
  (four-cell face weights on nonuniform cells; a derivative across the face direction is
  taken at the cells first, centred), second order;
* directions without a grid axis (y without grid.y, x in uniform problems) carry no
  divergence because nothing depends on them, but their fluxes are the currents j_y (j_x).

Two backends compute the rate: ``numpy`` (this module with :mod:`solvers.fluxes`, the
reference) and ``c``, a fused kernel generated from the same terms (``moyal/_generated/
band_mode.c``, loaded by :mod:`solvers.ckernels`) for orders 0 to 2 on at most three axes;
the position fluxes and the CFL step always use numpy.

Units: hbar = e = 1; k in 1/length, energies in the energy unit, t in hbar/energy.
"""

from __future__ import annotations

import numpy as np
from mpi4py import MPI

from solvers import fluxes
from solvers.coefficients import Enclosure

class BandModeOperator:
    """Right-hand side of band mode on the ghosted block of one rank.

    Parameters
    ----------
    grid : solvers.grid.PhaseSpaceGrid
        Axes ``[x] + [kx[, ky]]``; ``dof`` = number of evolved bands.
    coefficients : solvers.coefficients.BandCoefficients
        The live kernels up to the order kept and their band tables on the ghosted k cells
        of this rank, k grid shape (nkx_g[, nky_g]), for the evolved bands.
    potential : solvers.fields.Potential
        V(x, t) and the uniform field.
    limiter, scheme : str
        MUSCL limiter and advective flux (``upwind`` or ``llf``).
    backend : str
        ``"numpy"`` or ``"c"`` (the fused kernel; :class:`solvers.config.ConfigError` if it is
        not built, stale, or has no kernel for this order).
    """

    def __init__(self, grid, coefficients, potential, limiter: str, scheme: str,
                 backend: str = "numpy"):
        self.grid, self.potential, self.limiter, self.scheme = grid, potential, limiter, scheme
        self.g = g = grid.stencil_width
        self.kdim = len(grid.k_axes)
        self.has_x = grid.has_x
        self.coefficients = coefficients
        self.kernels, self.functions = coefficients.kernels, coefficients.functions
        self.tables = coefficients.tables
        self.energy = coefficients.energy
        self.axis_of = {a.name: i for i, a in enumerate(grid.axes)}
        self.cells = [grid.ghosted_cells(i) for i in range(grid.dim)]
        self.owned = tuple(slice(g, -g) for _ in range(grid.dim))
        self.face_weights = {}
        self.centred = {}
        for i, (c, w) in enumerate(self.cells):
            for n in range(4):
                self.face_weights[i, n] = fluxes.face_weights(c, w, n)
            self.centred[i] = fluxes.centred_weights(c)
        # real-space samples per real-space axis: ghosted centres and owned faces (length)
        self.x_centres, self.x_faces = {}, {}
        for i in grid.x_axes:
            c, w = self.cells[i]
            self.x_centres[i] = c
            self.x_faces[i] = np.append(c[g:-g] - 0.5 * w[g:-g], c[-g - 1] + 0.5 * w[-g - 1])
        self._check_supported()
        self.v_names = sorted({a.name for kern in self.kernels for a in kern.arguments
                               if not a.is_band_table and a.name in coefficients.uses[kern.name]})
        self.fused = None
        if backend == "c":
            self.fused = self._bind_fused(coefficients.order)
        elif backend != "numpy":
            raise ValueError(f"backend = {backend!r}: expected 'numpy' or 'c'")

    def _bind_fused(self, order):
        from solvers import ckernels

        kernel = ckernels.band_rate_kernel(self.grid.names, order)
        # the compiled loop reads every table of its terms; those of pruned terms are zero
        missing = [name for name in kernel.tables if name not in self.tables]
        tables = dict(self.tables)
        if missing:
            zero = np.zeros_like(self.energy)
            tables.update({name: zero for name in missing})
        return kernel.bind(self.cells, self.g, tables, self.face_weights,
                           [self.centred[i] for i in range(self.grid.dim)], self.limiter,
                           self.scheme)

    # ----------------------------------------------------------------------------- setup
    def _grid_axis(self, direction: str):
        return self.axis_of.get(direction)

    def _check_supported(self):
        """Refuse kernels the discretisation cannot place exactly, before any compute."""
        for kern in self.kernels:
            axis = self._grid_axis(kern.direction)
            if kern.kind == "plain" and axis is not None \
                    and self.grid.axes[axis].is_momentum \
                    and any(a.is_band_table for a in kern.arguments):
                raise NotImplementedError(f"{kern.name}: a k-flux depending on band quantities")

    # ----------------------------------------------------------------------------- coefficients
    def _points(self, faces=None, ghosted=()):
        """Sample positions along each real-space axis (a tuple, empty without real space):
        the owned faces along array axis ``faces``, the ghosted centres along the axes in
        ``ghosted``, the owned centres along the others."""
        g = self.g
        return tuple(self.x_faces[i] if i == faces else
                     self.x_centres[i] if i in ghosted else self.x_centres[i][g:-g]
                     for i in self.grid.x_axes)

    @staticmethod
    def _positions(points) -> dict:
        """``x`` (and ``y``) arguments of the :class:`solvers.fields.Potential` methods: the
        positions of one axis, or of two broadcasting to their (x, y) mesh."""
        if len(points) == 1:
            return {"x": points[0]}
        return {"x": points[0][:, None], "y": points[1][None, :]}

    def _shape_x(self, values, points):
        """Potential derivative (or scalar) on ``points`` -> broadcastable
        ``(1, *mesh, 1, ...)``."""
        values = np.asarray(values, dtype=float)
        if values.ndim == 0:
            return values
        mesh = tuple(p.size for p in points)
        return np.broadcast_to(values, mesh).reshape((1,) + mesh + (1,) * self.kdim)

    def _potential(self, points, t):
        """Potential derivatives on ``points`` (:meth:`_points`; empty: uniform problem) as
        broadcastables."""
        if not points:
            values = self.potential.derivatives(np.zeros(1), t, self.v_names)
            return {k: np.asarray(v, dtype=float).reshape(-1)[0] for k, v in values.items()}
        values = self.potential.derivatives(t=t, names=self.v_names, **self._positions(points))
        return {k: self._shape_x(v, points) for k, v in values.items()}

    def _tables(self, k_region):
        """Band tables on a k region, shaped ``(bands, [1, [1,]] *k)`` (one 1 per real-space
        axis)."""
        out = {}
        spread = (1,) * len(self.grid.x_axes)
        for name, table in self.tables.items():
            block = table[(slice(None),) + k_region]
            out[name] = block.reshape(block.shape[:1] + spread + block.shape[1:])
        return out

    def _coefficient(self, kern, tables, potential):
        return self.coefficients.evaluate(kern, tables, potential)

    # ----------------------------------------------------------------------------- rhs
    def k_region(self, ghosted_axes=()):
        """Slices of the ghosted k tables: owned, except for the k axes listed ghosted."""
        g = self.g
        return tuple(slice(None) if axis in ghosted_axes else slice(g, -g)
                     for axis in self.grid.k_axes)

    def rate(self, f, t, out):
        """``out[...] = -sum_a d_a J^a`` on the owned cells from the ghosted block ``f``."""
        if self.fused is not None:
            self._fused_rate(f, t, out)
            return
        g, grid = self.g, self.grid
        out[...] = 0.0
        owned_k = self._tables(self.k_region())
        centres_potential = self._potential(self._points(), t)
        for axis, spec in enumerate(grid.axes):
            central = None
            # advection: velocities of the plain terms, exactly at the faces of this axis
            if spec.is_momentum:
                tables, potential = owned_k, centres_potential
            else:
                tables, potential = owned_k, self._potential(self._points(faces=axis), t)
            velocity = 0.0
            for kern in self.kernels:
                if kern.direction != spec.name:
                    continue
                if kern.kind == "plain":
                    velocity = velocity + self._coefficient(kern, tables, potential)
                else:
                    term = self._central_flux(kern, axis, f, t, tables, potential)
                    if term is not None:
                        central = term if central is None else central + term
            strip = self._strip(f, axis)
            velocity = np.broadcast_to(velocity, np.broadcast_shapes(
                np.shape(velocity), self._face_shape(axis)))
            for block in self._blocks(axis):
                out[block] += fluxes.advection_divergence(
                    strip[block], np.moveaxis(velocity[block], axis + 1, 0),
                    *self.cells[axis], axis + 1, self.limiter, self.scheme)
            if central is not None:
                out += fluxes.flux_divergence(central, self.cells[axis][1][g:-g], axis + 1)

    def _fused_rate(self, f, t, out):
        """The rate from the compiled kernel; the potential is sampled here, as in numpy."""
        names = self.fused.kernel.potentials
        if self.has_x:
            x_sets = (self._points(faces=0)[0], self._points()[0], self._points(ghosted=(0,))[0])
        else:
            x_sets = (np.zeros(1),) * 3
        samples = []
        for x in x_sets:
            values = self.potential.derivatives(x, t, names)
            samples.append([np.ascontiguousarray(np.broadcast_to(values[n], x.shape),
                                                 dtype=float) for n in names])
        self.fused(f, out, *samples)

    #: elements of one slab of the advection (its temporaries stay in cache, and their
    #: memory does not grow with the grid)
    BLOCK_ELEMENTS = 1 << 15

    def _blocks(self, axis):
        """Index tuples that split the owned block (bands first) into slabs along the longest
        array axis other than grid ``axis``; the advection along ``axis`` is computed slab by
        slab, with the same operations on each element as on the whole block."""
        shape = tuple(self.grid.owned_shape)
        split = max((i for i in range(len(shape)) if i != axis + 1), key=lambda i: shape[i])
        rest = int(np.prod(shape)) // shape[split]
        step = max(1, self.BLOCK_ELEMENTS // rest)
        whole = [slice(None)] * len(shape)
        for start in range(0, shape[split], step):
            whole[split] = slice(start, start + step)
            yield tuple(whole)

    def _face_shape(self, axis):
        shape = list(self.grid.owned_shape)
        shape[axis + 1] += 1
        return tuple(shape)

    def _strip(self, f, axis):
        """Ghosted along ``axis`` only, owned along the others."""
        g = self.g
        index = [slice(None)] + [slice(g, -g)] * self.grid.dim
        index[axis + 1] = slice(None)
        return f[tuple(index)]

    def _central_flux(self, kern, axis, f, t, tables, potential):
        """Face flux of an inner/outer term along grid ``axis``; None when it vanishes."""
        present = set(self.axis_of)
        if not set(kern.derivative) <= present:
            return None  # d/dy of a y-independent f (or d/dx without an x axis) is zero
        if kern.inner:
            coefficient = self._coefficient(kern, tables, potential)
            if not np.any(coefficient):
                return None
            return coefficient * self._inner_at_faces(f, axis, kern.inner)
        # outer: J^a += d_b (c f), one derivative direction b
        b = self.axis_of[kern.outer[0]]
        if b == axis:
            real = axis in self.grid.x_axes
            pot = self._potential(self._points(ghosted=(axis,)), t) if real else potential
            tabs = tables if real else self._tables(self.k_region((axis,)))
            coefficient = self._coefficient(kern, tabs, pot)
            if not np.any(coefficient):
                return None
            product = coefficient * self._strip(f, axis)
            return fluxes.face_values(product, self.face_weights[axis, 1], axis + 1)
        # transverse: centred derivative along b at the cells, then interpolate to a-faces
        ghost_axes = {axis, b}
        pot = self._potential(self._points(ghosted=ghost_axes), t)
        k_ghosted = tuple(i for i in self.grid.k_axes if i in ghost_axes)
        tabs = self._tables(self.k_region(k_ghosted))
        coefficient = self._coefficient(kern, tabs, pot)
        if not np.any(coefficient):
            return None
        g = self.g
        index = [slice(None)] + [slice(None) if i in ghost_axes else slice(g, -g)
                                 for i in range(self.grid.dim)]
        product = coefficient * f[tuple(index)]
        derivative = fluxes.centred_derivative(product, self.centred[b], b + 1)
        return fluxes.face_values(derivative, self.face_weights[axis, 0], axis + 1)

    # ----------------------------------------------------------------------------- observables
    def position_fluxes(self, f, t) -> dict[str, np.ndarray]:
        """Phase-space flux J^r at the owned cell centres for each real-space direction r.

        Directions without a grid axis use the plain and transverse-outer terms; the x
        direction on an x grid adds the central terms evaluated at cell centres (face values
        averaged). Shape (bands, *owned).
        """
        owned = (slice(None),) + self.owned
        tables = self._tables(self.k_region())
        potential = self._potential(self._points(), t)
        result = {}
        for r in ("x", "y")[: self.kdim]:
            total = np.zeros(self.grid.owned_shape)
            for kern in self.kernels:
                if kern.direction != r:
                    continue
                if kern.kind == "plain":
                    total += self._coefficient(kern, tables, potential) * f[owned]
                    continue
                if not set(kern.derivative) <= set(self.axis_of):
                    continue
                total += self._centre_term(kern, f, t, tables, potential)
            result[r] = total
        return result

    def _inner_at_faces(self, f, axis, inner):
        """``d^inner f`` at the owned faces of grid ``axis`` from the ghosted block ``f``.

        Derivatives along ``axis`` itself are taken by the four-cell face weights; each other
        direction b of ``inner`` (at most two derivatives along it) first, at the cells, on
        the block ghosted along ``axis`` and b: a first derivative by the centred three-cell
        weights, a second one as the difference of face derivatives over the cell width (the
        conservative form). Second order on smooth nonuniform cells in every case.
        """
        g = self.g
        others = {d: inner.count(d) for d in inner if d != self.grid.axes[axis].name}
        if len(others) > 1 or any(n > 2 for n in others.values()):
            raise NotImplementedError(f"inner derivative {''.join(inner)} at faces of "
                                      f"{self.grid.axes[axis].name}")
        ghosted = {axis} | {self.axis_of[d] for d in others}
        block = f[(slice(None),) + tuple(slice(None) if i in ghosted else slice(g, -g)
                                         for i in range(self.grid.dim))]
        for d, n in others.items():
            b = self.axis_of[d]
            if n == 1:
                block = fluxes.centred_derivative(block, self.centred[b], b + 1)
            else:
                faces = fluxes.face_values(block, self.face_weights[b, 1], b + 1)
                block = -fluxes.flux_divergence(faces, self.cells[b][1][g:-g], b + 1)
        along = len(inner) - sum(others.values())
        return fluxes.face_values(block, self.face_weights[axis, along], axis + 1)

    def _centre_term(self, kern, f, t, tables, potential):
        """An inner/outer term of a position flux at the owned cell centres."""
        if kern.inner:
            axis = self.axis_of[kern.direction]
            faces = self._inner_at_faces(f, axis, kern.inner)
            moved = np.moveaxis(faces, axis + 1, 0)
            centre = np.moveaxis(0.5 * (moved[1:] + moved[:-1]), 0, axis + 1)
            return self._coefficient(kern, tables, potential) * centre
        b = self.axis_of[kern.outer[0]]
        pot = self._potential(self._points(ghosted=(b,)), t)
        tabs = self._tables(self.k_region((b,) if b in self.grid.k_axes else ()))
        product = self._coefficient(kern, tabs, pot) * self._strip(f, b)
        return fluxes.centred_derivative(product, self.centred[b], b + 1)

    def stable_dt(self, cfl: float) -> float:
        """Largest dt with dt * (sum of advective and dispersive rates) <= cfl, all ranks.

        A plain term adds max|c| / w_min along its axis; a derivative term of total order n
        along an axis adds 4 max|c| / w_min^(n+1), a bound on the central stencil's symbol.
        max|c| is over every field the run can see: each coefficient is evaluated on the
        enclosures of the potential derivatives over all times
        (:meth:`solvers.fields.Potential.derivative_ranges`) in midpoint-radius arithmetic
        (:class:`Enclosure`), so a time-dependent field is bounded at its peak, not sampled.
        """
        tables = self._tables(self.k_region())
        rate = 0.0
        for axis, spec in enumerate(self.grid.axes):
            ranges = self._potential_ranges(self._points(faces=axis))
            wmin = float(np.min(self.cells[axis][1]))
            for kern in self.kernels:
                if kern.direction != spec.name:
                    continue
                c = float(np.max(Enclosure.of(self._coefficient(kern, tables, ranges)).bound))
                n = len(kern.derivative)
                rate += c / wmin if n == 0 else 4 * c / wmin ** (n + 1)
        rate = self.grid.comm.tompi4py().allreduce(rate, op=MPI.MAX)
        return cfl / rate if rate > 0 else np.inf

    def _potential_ranges(self, points):
        """:class:`Enclosure` of each potential derivative over all times on ``points``
        (:meth:`_points`; empty: uniform problem), shaped as :meth:`_potential`."""
        if not points:
            ranges = self.potential.derivative_ranges(np.zeros(1), self.v_names)
            return {k: Enclosure(np.asarray(m, dtype=float).reshape(-1)[0],
                                 np.asarray(r, dtype=float).reshape(-1)[0])
                    for k, (m, r) in ranges.items()}
        ranges = self.potential.derivative_ranges(names=self.v_names,
                                                  **self._positions(points))
        return {k: Enclosure(self._shape_x(m, points), self._shape_x(r, points))
                for k, (m, r) in ranges.items()}
