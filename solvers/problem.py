"""Setup stage: a validated config -> grid, kernels, fields, collisions, initial state.

Everything here runs once per simulation, before the time loop: the model is lambdified
(sympy), band geometry or H0 derivatives are evaluated on this rank's k cells (per k, never
per (x, k)), and the operator objects are built. The time loop (``solvers.run``) then sees only
numpy arrays and PETSc Vecs.
"""

from __future__ import annotations

import copy
import math
import warnings

import numpy as np
from mpi4py import MPI

from solvers import config as cfgmod
from solvers import preflight
from solvers.fluxes import STENCIL_WIDTH
from solvers.layout import Axis, PhaseSpaceLayout, make_layout
from solvers.matrix_mode import hamiltonian_on_cells

K_NAMES = ("kx", "ky")
# Largest k-cell width / geometry scale (see gap_resolution) accepted without a warning: a
# linear band touching between two cell centres gives at least 2, so every touching point is
# reported, while a gap whose curvature peak spans ~2/3 of a cell is still accepted.
GAP_RESOLUTION_LIMIT = 1.5
# Largest energy range of one k cell at the Fermi surface, in units of T (see
# fermi_resolution), accepted without a warning; docs/solver.md has the measured errors.
FERMI_RESOLUTION_LIMIT = 0.5
# Accuracy bound of the time step: dt <= ACCURACY_STEP * the shortest time scale of the run
# (_Problem.time_scales); docs/solver.md has the measured time-discretisation errors.
ACCURACY_STEP = 0.2


def scaled_fields(table: dict, scale: float) -> dict:
    """The ``[fields]`` table with the uniform field (DC and AC) multiplied by ``scale``."""
    table = copy.deepcopy(dict(table))
    for key in ("E", "E_ac"):
        if key in table:
            value = table[key]
            table[key] = [scale * e for e in value] if isinstance(value, list) \
                else scale * value
    return table


def build_axes(cfg: cfgmod.Config, model, band_energy=None) -> list[Axis]:
    """Phase-space axes: [x[, y]] (if any) then one per k direction, refined as configured.

    ``band_energy(k) -> (bands, n)`` samples the bands on a 1D k line, for refinement near
    ``grid.k_refine_energies``.
    """
    from solvers.meshing import crossing_points, stretched_edges

    grid = cfg.grid
    axes = []
    for name in ("x", "y"):
        boundary = getattr(grid, name)
        if boundary == "none":
            continue
        lo, hi, n = getattr(grid, f"{name}_min"), getattr(grid, f"{name}_max"), \
            getattr(grid, f"n{name}")
        if getattr(grid, f"{name}_refine"):
            edges = stretched_edges(lo, hi, n, focus=getattr(grid, f"{name}_refine"),
                                    width=getattr(grid, f"{name}_refine_width"),
                                    ratio=getattr(grid, f"{name}_refine_ratio"),
                                    periodic=boundary == "periodic")
        else:
            edges = np.linspace(lo, hi, n + 1)
        axes.append(Axis(name, edges, boundary))
    if grid.y != "none" and model.dimension != 2:
        raise cfgmod.ConfigError(f"grid.y = {grid.y!r}: a y axis needs a model with 2 k "
                                 f"directions, model {model.name!r} has {model.dimension}")
    if len(grid.nk) != model.dimension:
        raise cfgmod.ConfigError(
            f"grid.nk = {list(grid.nk)!r}: model {model.name!r} has {model.dimension} k "
            f"direction(s); expected a list of {model.dimension} integer(s)")
    boundary = "periodic" if model.domain.periodic else grid.k_boundary
    for direction, (n, (lo, hi)) in enumerate(zip(grid.nk, model.domain.bounds)):
        focus = list(grid.k_refine) if direction == 0 else []
        if direction == 0 and grid.k_refine_energies:
            if model.dimension != 1:
                raise cfgmod.ConfigError("grid.k_refine_energies: only for 1D k; expected "
                                         "grid.k_refine points for a 2D k domain")
            line = np.linspace(lo, hi, 4097)[:-1]
            focus += list(crossing_points(line, band_energy(line), grid.k_refine_energies,
                                          lo=lo, hi=hi))
        for i, point in enumerate(focus):
            if not lo <= point <= hi:
                raise cfgmod.ConfigError(f"grid.k_refine[{i}] = {point!r}: expected a "
                                         f"momentum in [{lo}, {hi}]")
        if focus:
            edges = stretched_edges(lo, hi, n, focus=sorted(focus), width=grid.k_refine_width,
                                    ratio=grid.k_refine_ratio, periodic=boundary == "periodic")
        else:
            edges = np.linspace(lo, hi, n + 1)
        axes.append(Axis(K_NAMES[direction], edges, boundary))
    return axes


def k_mesh(grid: PhaseSpaceLayout, ghosted: bool = True) -> np.ndarray:
    """This rank's k-cell centres as a mesh, shape (dk, nkx[, nky])."""
    cells = grid.ghosted_cells if ghosted else grid.owned_cells
    centres = [cells(axis)[0] for axis in grid.k_axes]
    return np.array(np.meshgrid(*centres, indexing="ij"))


def gap_resolution(energy, centres, widths):
    """How badly the k cells resolve the narrowest band gap.

    The band geometry near a (near-)crossing varies on the k scale l = gap_min / |grad gap|
    (for a Dirac gap 2 sqrt(v^2 k^2 + m^2): l = m / v, the width of the Berry-curvature peak).

    Parameters
    ----------
    energy : ndarray, shape (*k, N)
        Band energies at the k-cell centres (energy), ascending along the last axis.
    centres, widths : lists of 1D arrays
        Cell centres and widths of each k axis (1/length).

    Returns
    -------
    tuple or None
        ``(ratio, gap, band, k)``: the largest cell width / l over adjacent band pairs, the
        minimum gap (energy) of that pair, its lower band index and the k point (list);
        None for one band.
    """
    worst = None
    for band in range(energy.shape[-1] - 1):
        gap = energy[..., band + 1] - energy[..., band]
        slopes = np.gradient(gap, *centres) if gap.ndim > 1 else [np.gradient(gap, centres[0])]
        slope = np.sqrt(sum(s ** 2 for s in slopes)).max()
        at = np.unravel_index(np.argmin(gap), gap.shape)
        scale = gap[at] / slope if slope > 0 else np.inf
        ratio = max(float(np.max(w)) for w in widths) / scale if scale > 0 else np.inf
        if worst is None or ratio > worst[0]:
            worst = (ratio, float(gap[at]), band,
                     [round(float(c[i]), 6) for c, i in zip(centres, at)])
    return worst


def fermi_resolution(energy, centres, widths, mu: float, temperature: float):
    """How coarsely the k cells sample the thermal shell of -f0' at the Fermi surface.

    -f0'(eps) = f0 (1 - f0) / T falls off over |eps - mu| ~ T, a shell of k width
    T / |grad eps|; a cell spans the energy range sum_a |d_a eps| w_a. The ratio of that
    range to T, over the cells whose range comes within 2 T of mu, says how many T one cell
    jumps (the midpoint rule of a sech^2 peak of k width T/|v| sampled every w has relative
    error ~ 4 x / sinh(x), x = 2 pi^2 T / (|v| w), from its first alias).

    Parameters
    ----------
    energy : ndarray, shape (*k, N)
        Band energies at the k-cell centres (energy).
    centres, widths : lists of 1D arrays
        Cell centres and widths of each k axis (1/length).
    mu, temperature : float
        Chemical potential and temperature (energy), temperature > 0.

    Returns
    -------
    tuple or None
        ``(ratio, band, k)``: the largest energy range of a Fermi-surface cell / T, its band
        and k point (list); None when no cell is near mu.
    """
    worst = None
    for band in range(energy.shape[-1]):
        eps = energy[..., band]
        slopes = np.gradient(eps, *centres) if eps.ndim > 1 else [np.gradient(eps, centres[0])]
        spread = sum(np.abs(slope) * np.reshape(w, [-1 if a == i else 1
                                                    for a in range(eps.ndim)])
                     for i, (slope, w) in enumerate(zip(slopes, widths)))
        near = np.abs(eps - mu) <= 0.5 * spread + 2 * temperature
        if not np.any(near):
            continue
        ratio = np.where(near, spread, 0.0) / temperature
        at = np.unravel_index(np.argmax(ratio), ratio.shape)
        if worst is None or ratio[at] > worst[0]:
            worst = (float(ratio[at]), band, [round(float(c[i]), 6) for c, i in zip(centres, at)])
    return worst


class _Problem:
    """What band and matrix mode share: fields, ghost filling, x profiles, output tasks."""

    def _common_setup(self, cfg, comm, scale, dof, axes):
        from solvers.fields import potential_from_config

        try:
            self.grid = make_layout(axes, dof, STENCIL_WIDTH, comm, cfg.numerics.layout)
        except ValueError as err:
            raise cfgmod.ConfigError(f"numerics.layout = {cfg.numerics.layout!r}: {err}") \
                from None
        # setup warnings once per config: on rank 0 of the first run of a field sweep
        self.warns = comm.getRank() == 0 and scale == (cfg.response.scales or [1.0])[0]
        self.potential = potential_from_config(scaled_fields(cfg.fields, scale))
        self.reduction = self.grid.k_sum()

    def time_scales(self) -> dict[str, float]:
        """The run's physical time scales (hbar / energy) that the step must resolve.

        ``tau`` (and ``tau_inter``) of the relaxation; ``1/omega`` of an AC uniform field and
        of each time-dependent potential component; ``ramp_time/pi`` (the sin^2 switch-on is
        half a period of angular frequency pi / ramp_time); the ``average_window`` of a field
        sweep (so that it spans at least 1 / ACCURACY_STEP steps). The accuracy bound of the
        step is :data:`ACCURACY_STEP` times the shortest (``solvers.run.accuracy_step``).
        """
        cfg, potential = self.cfg, self.potential
        uniform = potential.uniform
        scales = {}
        if self.relaxation is not None:
            scales["tau"] = cfg.collisions.tau
            if self.mode == "matrix" and cfg.collisions.tau_inter > 0:
                scales["tau_inter"] = cfg.collisions.tau_inter
        if uniform.omega > 0 and any(uniform.ac):
            scales["1/omega"] = 1.0 / uniform.omega
        for i, component in enumerate(potential.components):
            if not component.is_static:
                scales[f"1/omega of fields.potential[{i}]"] = 1.0 / abs(component.omega)
        if uniform.ramp_time > 0 and any(uniform.bound()):
            scales["ramp_time/pi"] = uniform.ramp_time / np.pi
        if cfg.response.scales and cfg.response.average_window > 0:
            scales["average_window"] = cfg.response.average_window
        return scales

    def _warn_unresolved_fermi_surface(self, energy, bands):
        """Warn (rank 0) when the k cells are too coarse for the thermal shell of -f0'.

        Checked for each (mu, T) the run uses: the initial equilibrium (unless band_window)
        and the relaxation target. ``energy``: energies of the evolved bands at the ghosted
        k-cell centres, shape (*k, N); ``bands``: their indices in the model.
        """
        cfg = self.cfg
        pairs = {}  # (mu, T) -> the tables that use it
        if cfg.initial.kind != "band_window":
            pairs.setdefault((cfg.initial.mu, cfg.initial.temperature), []).append("initial")
        if cfg.collisions.kind != "none":
            pairs.setdefault((cfg.collisions.mu, cfg.collisions.temperature),
                             []).append("collisions")
        k_cells = [self.grid.ghosted_cells(axis) for axis in self.grid.k_axes]
        comm = self.grid.comm.tompi4py()
        for (mu, temperature), tables in pairs.items():
            found = fermi_resolution(energy, [c for c, _ in k_cells], [w for _, w in k_cells],
                                     mu, temperature)
            worst = max(comm.allgather(found), key=lambda f: -1.0 if f is None else f[0])
            if worst is None or worst[0] <= FERMI_RESOLUTION_LIMIT or not self.warns:
                continue
            ratio, band, k = worst
            band = bands[band]
            finer = [int(np.ceil(n * ratio / FERMI_RESOLUTION_LIMIT)) for n in cfg.grid.nk]
            warnings.warn(
                f"{' and '.join(t + '.temperature' for t in tables)} = {temperature!r}: the "
                f"Fermi surface at mu = {mu!r} is "
                f"under-resolved by grid.nk = {list(cfg.grid.nk)}: the band energy changes "
                f"by {ratio:.3g} T across one k cell (band {band}, k = {k}), more than "
                f"{FERMI_RESOLUTION_LIMIT:g} T: the thermal shell of -f0' spans fewer than "
                f"{1 / FERMI_RESOLUTION_LIMIT:g} cells, and conductivities carry grid errors "
                f"(measured: sigma2 off by 3-6% x {ratio:.3g}^2, docs/solver.md); use "
                f"grid.nk = {finer} (or refine k there), or a higher temperature",
                RuntimeWarning, stacklevel=2)

    def field(self, t):
        """Uniform field E(t) along the k directions, shape (dk,) (energy / (e length))."""
        return self.potential.uniform.E(t)[: len(self.grid.k_axes)]

    def ghosted(self, u):
        """Ghosted block of the global Vec ``u`` with every ghost filled (collective)."""
        return self.grid.ghosted(u)

    def x_profile(self):
        """The initial packet's Gaussian in x (times one in y with ``initial.y_width``, else
        uniform in y) on the owned cells, shaped (1, nx, [ny,] 1[, 1]).

        Raises ConfigError without an x axis."""
        ini = self.cfg.initial
        if not self.grid.has_x:
            raise cfgmod.ConfigError("initial.kind = 'packet': expected grid.x to be set "
                                     "(a packet needs a real-space axis)")
        gaussians = {"x": (ini.x_center, ini.x_width), "y": (ini.y_center, ini.y_width)}
        profile = np.ones(())
        for i in self.grid.x_axes:
            axis, (centre, width) = self.grid.axes[i], gaussians[self.grid.axes[i].name]
            x = self.grid.owned_cells(i)[0]
            images = (-1, 0, 1) if axis.periodic else (0,)
            factor = np.ones(x.size) if width is None else sum(
                np.exp(-0.5 * ((x + n * axis.period - centre) / width) ** 2) for n in images)
            profile = np.multiply.outer(profile, factor)
        return profile.reshape((1,) + profile.shape + (1,) * len(self.grid.k_axes))

    def over_x(self, a):
        """A k-resolved block ``(dof, *k)`` -> ``(dof, 1 per real-space axis, *k)``,
        broadcastable against the owned block."""
        return a.reshape(a.shape[:1] + (1,) * len(self.grid.x_axes) + a.shape[1:])

    @property
    def x_shape(self) -> tuple[int, ...]:
        """Shape of the x-resolved observables: the real-space cells, (1,) without."""
        return tuple(self.grid.sizes[i] for i in self.grid.x_axes) or (1,)

    def k_window(self):
        """The band_window Gaussian in k on the owned k cells, shape (*k)."""
        ini = self.cfg.initial
        k = k_mesh(self.grid, ghosted=False)
        centre = np.asarray(ini.k_center)
        if centre.size != k.shape[0]:
            raise cfgmod.ConfigError(f"initial.k_center = {list(ini.k_center)!r}: expected "
                                     f"{k.shape[0]} component(s)")
        return np.exp(-0.5 * sum((k[i] - centre[i]) ** 2 for i in range(k.shape[0]))
                      / ini.k_width ** 2)

    def tasks(self) -> dict:
        """Output tasks: name -> (kind, shape, units)."""
        nx = self.x_shape
        ndir = len(self.grid.k_axes)
        length = self.cfg.units.length
        area = f"1/{length}^{ndir}"  # int d^dk k/(2 pi)^dk: per length^dk of the crystal
        return {
            "f": ("phase_space", (self.grid.dof,) + self.grid.sizes, self.f_units),
            "density": ("global", nx, f"particles {area}, int dk/(2 pi)^dk sum_n f_n"),
            "band_energy": ("global", nx, f"{self.cfg.units.energy} {area}, "
                            "sum_n int eps_n f_n"),
            "current": ("global", (ndir, *nx), "electric current density j_r (r = x[, y]), "
                        f"e {self.cfg.units.energy} {length}^{1 - ndir} / hbar "
                        "(e = hbar = 1; electron charge -e)"),
            "field": ("global", (ndir,), "uniform electric field E(t) along the k "
                      f"directions, {self.cfg.units.energy}/(e {length})"),
            **self.extra_tasks(nx),
        }

    def extra_tasks(self, nx) -> dict:
        return {}

    def task_values(self, u, t) -> dict[str, np.ndarray]:
        """Values of the global tasks at time ``t``: the observables and the uniform field
        E(t) (collective)."""
        return {**self.observables(u, t), "field": self.field(t)}

    def constants(self) -> dict:
        """Arrays of the model on the grid for the run file's ``/model`` group, so that
        post-processing need not rebuild the model (``solvers.output.Writer``, ``constants``).

        ``energy`` (bands, *k): the band energies at the k-cell centres (band mode: the
        evolved bands; matrix mode: the eigenvalues of H0(k), ascending), energy units;
        ``f_eq`` (dof, *k): the Fermi-Dirac equilibrium at (mu, T) of the relaxation, or of
        the initial state without collisions (absent for ``initial.kind = 'band_window'``
        without collisions); ``potential`` (x[, y]): the profile part of V at t = 0 on the
        x cells (with an x axis; the uniform field is the task ``field``), energy units.
        Blocks cover this rank's owned cells.
        """
        grid, cfg = self.grid, self.cfg
        k_dims = tuple(grid.axes[i].name for i in grid.k_axes)
        energy, bands = self.band_table()
        out = {"energy": (energy, ("band",) + k_dims, cfg.units.energy,
                          {"bands": np.asarray(bands, dtype="i8")})}
        for table in ("collisions", "initial"):
            section = getattr(cfg, table)
            if section.kind not in ("none", "band_window"):
                out["f_eq"] = (self.equilibrium(section.mu, section.temperature),
                               (self.dof_name,) + k_dims,
                               self.f_units,
                               {"mu": section.mu, "temperature": section.temperature,
                                "source": table})
                break
        if grid.has_x:
            x, *y = (grid.owned_cells(i)[0] for i in grid.x_axes)
            at = {"x": x[:, None], "y": y[0][None, :]} if y else {"x": x}
            shape = tuple(v.size for v in (x, *y))
            profile = self.potential.derivatives(at["x"], 0.0, ("V",), y=at.get("y"))["V"]
            out["potential"] = (np.broadcast_to(np.asarray(profile, dtype=float), shape),
                                tuple(grid.axes[i].name for i in grid.x_axes),
                                cfg.units.energy, {})
        return out

    def extra_state(self) -> dict:
        """Small state beyond f that a bitwise restart needs (the conserving mu warm start)."""
        mu = getattr(self.relaxation, "chemical_potential", None)
        return {} if mu is None else {"chemical_potential": np.asarray(mu)}

    def restore(self, extra: dict):
        if "chemical_potential" in extra:
            self.relaxation.chemical_potential = np.asarray(extra["chemical_potential"])

    def particle_number(self, u) -> float:
        """Particle number int dx int dk/(2 pi)^dk n with n = sum_n f_n (band mode) or tr F
        (matrix mode; the interband coherences do not enter); per unit length^dk of the
        crystal without an x axis. Collective."""
        return float(self.grid.integrate(u)[: self.occupations].sum())

    def number_sinks(self) -> list[str]:
        """Why this run need not conserve the particle number (empty: it does, up to the
        time integration and round-off)."""
        sinks = []
        kind = self.cfg.collisions.kind
        if kind in ("fixed", "field_renormalised"):
            sinks.append(f"collisions.kind = {kind!r} relaxes to a fixed mu and does not "
                         "conserve it")
        for i in self.grid.x_axes:
            name = self.grid.axes[i].name
            if not self.grid.axes[i].periodic:
                sinks.append(f"grid.{name} = {getattr(self.cfg.grid, name)!r}: particles "
                             f"reaching the {name} ends leave")
        if not self.model.domain.periodic:
            sinks.append(f"grid.k_boundary = {self.cfg.grid.k_boundary!r}: particles reaching "
                         "the ends of the continuum k domain leave")
        return sinks

    def final_report(self, u, t) -> list[str]:
        """Lines summarising the final state (collective; printed by rank 0): the fraction
        of the particles in each band (of H0(k) in matrix mode), when there are several."""
        populations = self.band_populations(u)
        if populations.size < 2:
            return []
        fractions = ", ".join(f"{p:.6g}" for p in populations / populations.sum())
        return [f"band populations at t = {t:.6g} (fractions of the particle number, bands "
                f"ascending): [{fractions}]"]


class BandProblem(_Problem):
    """Band mode on one communicator: grid, operator, relaxation and observables.

    Parameters
    ----------
    cfg : solvers.config.Config
    comm : PETSc.Comm
    scale : float
        Multiplies the uniform field (field sweeps for conductivity extraction).
    """

    mode = "band"
    f_units = "occupation per band (cell averages)"
    dof_name = "band"
    explicit_stiffness = "tau"  # what limits an explicit step besides the CFL number

    def __init__(self, cfg: cfgmod.Config, comm, scale: float = 1.0):
        from moyal.geometry import GeometryError, geometry_tables
        from solvers.band_mode import BandModeOperator
        from solvers.coefficients import band_coefficients, vanishing_derivatives
        from solvers.fields import DERIVATIVE_NAMES

        self.cfg = cfg
        model, degeneracy = preflight.model_from_table(cfg.model)
        self.model = model
        bands = list(cfg.mode.bands) or list(range(model.n_bands))
        if max(bands) >= model.n_bands or len(set(bands)) != len(bands):
            raise cfgmod.ConfigError(
                f"mode.bands = {bands!r}: expected distinct band indices below "
                f"{model.n_bands} (model {model.name!r})")
        self.bands = bands
        if degeneracy is None and cfg.mode.order == 0:
            degeneracy = "traced"  # order 0 needs energies only: crossings are harmless

        def geometric(evaluate):
            try:
                return evaluate()
            except GeometryError as err:
                raise cfgmod.ConfigError(
                    f"mode.order = {cfg.mode.order}: {err}; expected separated bands for "
                    "band mode with geometry: use mode.kind = \"matrix\", move the grid off "
                    "the crossing, or model.degeneracy = \"traced\" for degenerate multiplets"
                ) from None

        def all_energies(g):
            return np.moveaxis(g.energy, -1, 0)

        def line_energy(k):
            return geometric(lambda: geometry_tables(
                model, k[None], {"energy": all_energies}, degeneracy)["energy"][bands])

        self._common_setup(cfg, comm, scale, len(bands), build_axes(cfg, model, line_energy))
        # what else the setup reads from the geometry, on the same chunks as the tables
        extra = {"all_energies": all_energies}
        if cfg.collisions.kind == "field_renormalised":
            extra["band_normalised_metric"] = lambda g: np.moveaxis(
                g.band_normalised_metric[..., bands], -2, -1)
        vanishing = vanishing_derivatives(self.potential, self.grid, DERIVATIVE_NAMES, comm)
        self.coefficients = geometric(lambda: band_coefficients(
            model, k_mesh(self.grid), bands, cfg.mode.order, vanishing, degeneracy, extra,
            grid_axes=self.grid.names))
        full_energy = self.coefficients.extra.pop("all_energies")
        if cfg.mode.order > 0 and degeneracy != "traced":
            self._warn_unresolved_gap(np.moveaxis(full_energy, 0, -1))
        del full_energy
        self._warn_unresolved_fermi_surface(np.moveaxis(self.coefficients.energy, 0, -1),
                                            bands)
        self.operator = BandModeOperator(self.grid, self.coefficients, self.potential,
                                         cfg.numerics.limiter, cfg.numerics.flux,
                                         cfg.numerics.backend)
        self.energy = self.operator.energy[(slice(None),) + self.operator.k_region()]
        self.relaxation = self._relaxation()

    # ----------------------------------------------------------------------------- pieces
    def _warn_unresolved_gap(self, energy):
        """Warn (rank 0) when a band gap's geometry peak is narrower than a k cell."""
        k_cells = [self.grid.ghosted_cells(axis) for axis in self.grid.k_axes]
        found = gap_resolution(energy, [c for c, _ in k_cells], [w for _, w in k_cells])
        worst = max(self.grid.comm.tompi4py().allgather(found),
                    key=lambda f: -1.0 if f is None else f[0])
        if worst is not None and worst[0] > GAP_RESOLUTION_LIMIT and self.warns:
            ratio, gap, band, k = worst
            warnings.warn(
                f"mode.order = {self.cfg.mode.order}: bands {band} and {band + 1} are nearly "
                f"degenerate (gap {gap:.3g} at k = {k}); the Berry curvature and metric vary "
                f"on a k scale {ratio:.3g} times smaller than the k cells, so the order-1/2 "
                "terms (~1/gap^2) are unresolved: use mode.kind = \"matrix\", a finer grid "
                "(grid.nk, grid.k_refine at the gap) or model.degeneracy = \"traced\"",
                RuntimeWarning, stacklevel=2)

    def _relaxation(self):
        from solvers.collisions import relaxation_from_config

        c = self.cfg.collisions
        if c.kind == "none":
            return None
        gq = self.coefficients.extra.get("band_normalised_metric")
        if gq is not None:  # (dk, dk, bands, *k) -> the layout of the relaxation, band last
            gq = np.moveaxis(gq[(slice(None),) * 3 + self.operator.k_region()], 2, -1)
        return relaxation_from_config(
            c.kind, c.tau, mu=c.mu, temperature=c.temperature, energy=self.energy,
            k_weights=self.reduction, band_normalised_metric=gq,
            x_axes=len(self.grid.x_axes))

    def explicit_rate(self, t, u, out, include_relaxation: bool):
        """``out = -div J (+ R[f])`` for the TS right-hand side."""
        rate = self.grid.view(out)
        self.operator.rate(self.ghosted(u), t, rate)
        if include_relaxation and self.relaxation is not None:
            rate += self.relaxation(self.grid.view(u, readonly=True), self.field(t))

    def initial_state(self, u):
        """Fill ``u`` with the configured initial distribution."""
        ini = self.cfg.initial
        f = self.grid.view(u)
        if ini.kind == "band_window":
            if ini.band not in self.bands:
                raise cfgmod.ConfigError(f"initial.band = {ini.band}: expected one of the "
                                         f"evolved bands {self.bands}")
            f[...] = 0.0
            window = self.k_window()
            f[self.bands.index(ini.band)] = self.over_x(window[None])[0]
            return
        f[...] = self.over_x(self.equilibrium(ini.mu, ini.temperature))
        if ini.kind == "packet":
            f *= self.x_profile()

    def equilibrium(self, mu: float, temperature: float) -> np.ndarray:
        """f0(eps_n(k)) on the owned k cells, shape (bands, *k)."""
        from solvers.collisions import fermi_dirac

        return fermi_dirac(self.energy, mu, temperature)

    def band_table(self):
        """``(energies (bands, *k owned), band indices)`` of the evolved bands."""
        return self.energy, self.bands

    @property
    def occupations(self) -> int:
        """Unknowns per cell that are occupations (all: one per evolved band)."""
        return self.grid.dof

    def band_populations(self, u) -> np.ndarray:
        """Particles in each evolved band, int dx int dk/(2 pi)^dk f_n, shape (bands,);
        collective."""
        return self.grid.integrate(u)

    def observables(self, u, t) -> dict[str, np.ndarray]:
        """Density, band energy and electric current (global arrays, all ranks).

        ``density`` n(x) = sum_n int dk/(2 pi)^dk f_n; ``band_energy`` = sum_n int eps_n f_n;
        ``current`` j_r(x) = -sum_n int J^r_n (electron charge -e) for r = x[, y], shape
        (directions, nx[, ny]) (nx = 1 for uniform problems); n and eps f shaped (nx[, ny]).
        """
        f = self.grid.view(u, readonly=True)
        fluxes = self.operator.position_fluxes(self.ghosted(u), t)

        def reduce(a):
            return self.reduction.reduce(a).reshape(self.x_shape)

        return {"density": reduce(f), "band_energy": reduce(self.over_x(self.energy) * f),
                "current": np.array([-reduce(fluxes[r]) for r in fluxes])}

    def stable_dt(self, include_relaxation: bool) -> float:
        """CFL step for every field the run can see (bounded at its peak, not sampled), and
        with an explicit relaxation also dt <= cfl * tau (rates added)."""
        dt = self.operator.stable_dt(self.cfg.numerics.cfl)
        if include_relaxation and self.relaxation is not None:
            dt = 1.0 / (1.0 / dt + 1.0 / (self.cfg.numerics.cfl * self.cfg.collisions.tau))
        return dt

    def implicit_part(self):
        """The linear relaxation as the implicit part of ARKIMEX (None if there is none:
        no collisions, or the nonlinear conserving target, which stays explicit)."""
        if self.relaxation is None or self.cfg.collisions.kind == "conserving":
            return None
        return LocalImplicit(self.grid, lambda t, f: self.relaxation(f, self.field(t)),
                             lambda shift, t, rhs: self.relaxation.solve_shifted(shift, rhs),
                             lambda shift, t, x: (shift + self.relaxation.rate) * x)


class LocalImplicit:
    """A local (per cell) stiff term L(t, u) for ARKIMEX, on numpy views of PETSc Vecs.

    ``rate(t, f)`` -> L; ``solve(shift, t, rhs)`` -> X with shift X - dL/du X = rhs;
    ``apply(shift, t, x)`` -> shift x - dL/du x.
    """

    def __init__(self, grid, rate, solve, apply):
        self.grid, self._rate, self._solve, self._apply = grid, rate, solve, apply

    def residual(self, t, u, udot, out):
        view = self.grid.view
        view(out)[...] = view(udot, readonly=True) - self._rate(t, view(u, readonly=True))

    def solve(self, shift, t, rhs, out):
        self.grid.view(out)[...] = self._solve(shift, t, self.grid.view(rhs, readonly=True))

    def apply(self, shift, t, x, y):
        self.grid.view(y)[...] = self._apply(shift, t, self.grid.view(x, readonly=True))


class MatrixProblem(_Problem):
    """Matrix mode: the N x N Wigner matrix per cell (N*N real unknowns, packed).

    The interband commutator -(i/hbar)[H0, F] and the relaxation are the local part; with
    ARKIMEX (the default here) they are implicit and solved exactly per cell in the band basis
    of H0(k), so the step is set by transport, not by the gap frequency.
    """

    mode = "matrix"
    dof_name = "component"
    explicit_stiffness = "gap frequency and tau"
    f_units = "packed Hermitian Wigner matrix: N diagonal entries, then Re, Im of F_ij (i < j)"

    def __init__(self, cfg: cfgmod.Config, comm, scale: float = 1.0):
        from solvers.collisions import MatrixRelaxation
        from solvers.matrix_mode import MatrixModeOperator, pack

        self.cfg = cfg
        model, _ = preflight.model_from_table(cfg.model)
        if cfg.mode.bands:
            raise cfgmod.ConfigError(f"mode.bands = {list(cfg.mode.bands)!r}: matrix mode "
                                     "evolves the whole N x N matrix; expected []")
        if cfg.grid.y != "none":
            raise cfgmod.ConfigError(
                f"grid.y = {cfg.grid.y!r}: matrix mode supports the phase spaces (kx[, ky]) "
                "and (x, kx) only; expected grid.y = 'none' (band mode evolves (x, y, kx, ky))")
        if cfg.grid.x != "none" and model.dimension != 1:
            raise cfgmod.ConfigError(
                f"grid.x = {cfg.grid.x!r}: matrix mode with a real-space axis has generated "
                "kernels for 1D k only; expected a 1D model or grid.x = 'none'")
        self.model = model
        n = model.n_bands
        self._common_setup(cfg, comm, scale, n * n, build_axes(cfg, model))
        grid = self.grid
        cells = [grid.ghosted_cells(i) for i in range(grid.dim)]
        k_centres = [cells[i][0] for i in grid.k_axes]
        h_ghosted = hamiltonian_on_cells(model, k_centres, 3 if grid.has_x else 1)
        self._warn_unresolved_fermi_surface(np.linalg.eigvalsh(h_ghosted[()]), range(n))
        self.operator = MatrixModeOperator(
            h_ghosted,
            [c for c, _ in cells], [w for _, w in cells], grid.has_x,
            hbar_order=cfg.mode.order, limiter=cfg.numerics.limiter)
        self.pack = pack
        h0 = hamiltonian_on_cells(model, [grid.owned_cells(i)[0] for i in grid.k_axes], 0)[()]
        self.h0 = h0
        c = cfg.collisions
        self.relaxation = None
        self.local_relaxation = None
        if c.kind == "fixed":
            self.relaxation = MatrixRelaxation(h0, c.tau, c.mu, c.temperature,
                                               c.tau_inter or None)
            gamma = self.relaxation.dephasing_rates
            self.local_relaxation = (self.relaxation.rate if gamma is None else gamma,
                                     pack(self.relaxation.target()))
        self.x_centres = cells[0][0][STENCIL_WIDTH:-STENCIL_WIDTH] if grid.has_x else None

    def _potential(self, t):
        x = self.x_centres if self.grid.has_x else np.zeros(1)
        values = self.potential.derivatives(x, t, self.operator.potential_names)
        if self.grid.has_x:
            return values
        return {k: float(np.asarray(v).reshape(-1)[0]) for k, v in values.items()}

    def explicit_rate(self, t, u, out, include_relaxation: bool):
        """Transport terms, plus the local part when integrating fully explicitly."""
        rate = self.grid.view(out)
        rate[...] = self.operator.explicit_rate(self.ghosted(u), self._potential(t))
        if include_relaxation:
            rate += self.operator.local_rate(self.grid.view(u, readonly=True),
                                             self.local_relaxation)

    def implicit_part(self):
        op, relax = self.operator, self.local_relaxation
        linear = None if relax is None else (relax[0], None)
        return LocalImplicit(self.grid, lambda t, f: op.local_rate(f, relax),
                             lambda shift, t, rhs: op.solve_local(shift, rhs, linear),
                             lambda shift, t, x: shift * x - op.local_rate(x, linear))

    def initial_state(self, u):
        ini = self.cfg.initial
        f = self.grid.view(u)
        if ini.kind == "band_window":
            if ini.band >= self.model.n_bands:
                raise cfgmod.ConfigError(f"initial.band = {ini.band}: expected a band below "
                                         f"{self.model.n_bands}")
            _, vectors = np.linalg.eigh(self.h0)
            v = vectors[..., :, ini.band]
            projector = v[..., :, None] * v[..., None, :].conj()
            state = self.pack(self.k_window()[..., None, None] * projector)
        else:
            state = self.equilibrium(ini.mu, ini.temperature)
        f[...] = state[:, None] if self.grid.has_x else state
        if ini.kind == "packet":
            f *= self.x_profile()

    def equilibrium(self, mu: float, temperature: float) -> np.ndarray:
        """The packed f0(H0(k)) on the owned k cells, shape (N*N, *k)."""
        from solvers.collisions import MatrixRelaxation

        return self.pack(MatrixRelaxation(self.h0, 1.0, mu, temperature).target())

    def band_table(self):
        """``(eigenvalues of H0(k) (N, *k owned), ascending; band indices)``."""
        return np.moveaxis(np.linalg.eigvalsh(self.h0), -1, 0), list(range(self.model.n_bands))

    @property
    def occupations(self) -> int:
        """Unknowns per cell that are occupations: the N diagonal entries of F (tr F)."""
        return self.model.n_bands

    def band_populations(self, u) -> np.ndarray:
        """Particles in each band of H0(k), int dx int dk/(2 pi)^dk <n|F|n>, shape (N,),
        bands ascending; collective."""
        f = self.grid.view(u, readonly=True)
        local = self.operator.band_populations(f) * self.grid.cell_measure()[None]
        return self.grid.comm.tompi4py().allreduce(local.reshape(local.shape[0], -1).sum(1))

    def final_report(self, u, t) -> list[str]:
        """The band populations and, for the ``landau_zener`` model started in one band
        (``initial.kind = 'band_window'``), the interband transfer probability next to the
        Landau-Zener formula exp(-pi m^2 / (v E)) (hbar = e = 1)."""
        lines = super().final_report(u, t)
        if self.model.name != "landau_zener" or self.cfg.initial.kind != "band_window":
            return lines
        populations = self.band_populations(u)
        transfer = 1.0 - populations[self.cfg.initial.band] / populations.sum()
        drive = self.potential.uniform
        if drive.ramp_time == 0 and not any(drive.ac) and drive.dc[0] != 0:
            p = self.model.parameters
            formula = math.exp(-math.pi * p["m"] ** 2 / abs(p["v"] * drive.dc[0]))
            reference = f"Landau-Zener exp(-pi m^2/(v E)) = {formula:.4f}"
        else:
            reference = ("the Landau-Zener formula exp(-pi m^2/(v E)) needs a constant "
                         "field: fields.E without ramp or AC part")
        lines.append(f"interband transfer P = {transfer:.4f} ({reference})")
        return lines

    def extra_tasks(self, nx) -> dict:
        return {"band_population": ("global", (self.model.n_bands, *nx),
                                    "occupation of each band of H0(k), int dk/(2 pi)^dk "
                                    "<n|F|n>, per unit length or cell")}

    def observables(self, u, t) -> dict[str, np.ndarray]:
        """Density tr F, band energy tr(H0 F), current -tr J (the flux of the kinetic
        equation at the kept order, :meth:`MatrixModeOperator.current`), and the band
        populations, integrated over k (global arrays, all ranks)."""
        op, reduce = self.operator, self.reduction.reduce
        f = self.grid.view(u, readonly=True)
        block = self.ghosted(u)
        populations = op.band_populations(f)
        energies = np.moveaxis(op.band_energies, -1, 0)
        eps = energies[:, None] if self.grid.has_x else energies
        return {"density": reduce(op.density(f)[None]),
                "band_energy": reduce(eps * populations),
                "current": np.array([-reduce(op.current(block, a)[None])
                                     for a in range(len(self.grid.k_axes))]),
                "band_population": np.array([reduce(p[None]) for p in populations])}

    def stable_dt(self, include_relaxation: bool) -> float:
        """Transport CFL (the field bounded at its peak); with everything explicit also the
        gap frequency and 1/tau (rates added)."""
        cfl, grid = self.cfg.numerics.cfl, self.grid
        rate = 0.0
        if grid.has_x:
            wx = float(np.min(grid.axes[0].widths))
            rate += self.operator.max_x_speed / wx
            for order in (2, 3)[: self.cfg.mode.order]:
                derivative = hamiltonian_on_cells(self.model, [grid.axes[1].centres], order)
                size = max(np.max(np.abs(d)) for d in derivative.values())
                rate += 4 * size * self.model.n_bands / wx ** order
        x = grid.axes[0].centres if grid.has_x else np.zeros(1)
        force = self.potential.force_bound(x)
        for axis, component in zip(grid.k_axes, force):
            rate += component / float(np.min(grid.axes[axis].widths))
        if include_relaxation:
            gap = np.ptp(self.operator.band_energies, axis=-1)
            rate += self.grid.comm.tompi4py().allreduce(float(np.max(gap)), op=MPI.MAX)
            if self.relaxation is not None:
                rate += 1.0 / self.cfg.collisions.tau
        return cfl / rate if rate > 0 else np.inf
