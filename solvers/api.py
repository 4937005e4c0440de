"""Python interface: build a run from a TOML file or a dict, change keys, run it in-process and
get the results back; the k-space conductivity formulas for a model.

::

    from solvers.api import conductivities, moyal_config, run

    cfg = moyal_config("configs/harmonic.toml", {"grid.nx": 48, "grid.nk": [48]})
    result = run(cfg)               # serial, or on every rank under mpirun
    result.status, result.path      # "finished", output/harmonic.h5
    result.summary["t"], result.summary["steps"], result.summary["dt"]

    sweep = run(moyal_config("configs/default.toml", ["grid.nk=[32, 32]"]))
    sweep.response["sigma1"], sweep.response["prediction"]

    table = conductivities({"name": "qwz", "parameters": {"m": -1.0}}, mu=[-3.0, 0.0],
                           grid=[64, 64], quantities=["ahe"])
    table.component("ahe", "xy")    # one value per mu, e^2/hbar

:func:`run` goes through the same code as ``python -m solvers.run`` (:func:`solvers.run.
prepare` and :func:`solvers.run.execute`): the same checks, in the same order, so a bad key or
value raises :class:`ConfigError` with the command line's one-line message before any compute
and before any file is created; an existing output is refused unless ``run.overwrite``; the
output is locked while the run goes. A run stopped by ``run.stop_wall_time`` or SIGINT/SIGTERM
(status "stopped") or ended by NaN/Inf (status "failed") returns normally: check
:attr:`RunResult.status`. Other errors are raised; under mpirun an error raised on some ranks
only leaves the others waiting (the command line ends every rank, :func:`solvers.run.
report_failure`).

Units: those of the config (``[units]``, hbar = e = k_B = 1): times in hbar/energy, currents
in e energy/hbar; :func:`conductivities` in the model's units E0, L0 (tau in hbar/E0).
"""

from __future__ import annotations

import copy
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from solvers import config as cfgmod
from solvers.config import Config, ConfigError

__all__ = ["ConfigError", "Conductivities", "RunResult", "conductivities", "moyal_config",
           "run"]


def moyal_config(source: str | Path | dict, overrides=()) -> Config:
    """A validated run configuration.

    Parameters
    ----------
    source : str, Path or dict
        A TOML file, or its tables as nested dicts (``{"grid": {"nk": [64]}, ...}``).
    overrides : list of str or dict, optional
        Keys to change: ``["grid.nk=[64]", "run.name=test"]`` as on the command line (TOML
        values), or ``{"grid.nk": [64], "run.name": "test"}`` (Python values).

    Returns
    -------
    solvers.config.Config
        Frozen; change keys by calling :func:`moyal_config` again.

    Raises
    ------
    ConfigError
        With the command line's one-line message naming the key, the value and what was
        expected (an unknown key suggests the nearest valid one).
    """
    if isinstance(source, dict):
        return cfgmod.from_dict(cfgmod.apply_overrides(copy.deepcopy(source), overrides))
    return cfgmod.load(source, overrides)


@dataclass(frozen=True)
class RunResult:
    """What :func:`run` returns (on every rank).

    Attributes
    ----------
    config : Config
    summaries : list of dict
        One per simulation (one, or one per field scale of a sweep, up to the first that did
        not finish): ``status`` ("finished", "stopped", "failed"), ``reason``, ``path``,
        ``t`` and ``t_end`` (hbar/energy), ``steps``, ``dt`` (hbar/energy) and ``dt_limit``
        (what limits it), ``integrator``, ``ranks``, ``number_drift`` (relative change of
        the particle number), ``report`` (lines of physics results), ``series_t`` and
        ``series_current`` (the run file's current, e energy/hbar), ``harmonics`` (AC drive).
    response : dict or None
        For a field sweep (``[response] scales``): ``sigma1`` (e^2/hbar length^(2 - dk)) and
        ``sigma2`` (e^3 length^(3 - dk)/(hbar energy)) along the field, ``prediction`` (the
        k-space formulas' (sigma1, sigma2) for the same model, mu, T, tau and order, or
        None when there is none) and ``text`` (the command line's table).
    response_path : Path or None
        ``<output_dir>/<name>_response.h5`` of a sweep.
    """

    config: Config
    summaries: list
    response: dict | None = None
    response_path: Path | None = None

    @property
    def status(self) -> str:
        """``"finished"`` when every simulation finished, else the status of the last one."""
        return self.summaries[-1]["status"]

    @property
    def summary(self) -> dict:
        """The summary of the last simulation (the only one unless a field sweep)."""
        return self.summaries[-1]

    @property
    def paths(self) -> list[Path]:
        """The run files written, in the order of the simulations."""
        return [Path(s["path"]) for s in self.summaries]

    @property
    def path(self) -> Path:
        """The run file of the last simulation (the only one unless a field sweep)."""
        return self.paths[-1]


def run(cfg: Config | str | Path | dict, *, petsc_args=(), stream=sys.stdout) -> RunResult:
    """Run every simulation of a config in this process and write its files.

    The run is on ``MPI.COMM_WORLD``, as the command line's: one rank in a plain Python
    session, every rank under ``mpirun -n N python script.py`` (every rank calls
    :func:`run`; the preflight checks are collective over all of them).

    Parameters
    ----------
    cfg : Config, or what :func:`moyal_config` takes
    petsc_args : sequence of str
        PETSc options, e.g. ``["-ts_type", "rk", "-ts_monitor"]``, in force for this run.
    stream : file or None
        Where progress lines go (None: nowhere). Results are not printed.

    Returns
    -------
    RunResult

    Raises
    ------
    ConfigError
        A config, output or PETSc option the command line refuses with exit code 2, before
        any file is touched.
    """
    from mpi4py import MPI

    from solvers.run import execute, prepare

    if not isinstance(cfg, Config):
        cfg = moyal_config(cfg)
    paths = prepare(cfg)
    summaries, response = execute(cfg, paths, MPI.COMM_WORLD, list(petsc_args), stream)
    return RunResult(cfg, summaries, response,
                     None if response is None else paths["response"])


@dataclass(frozen=True)
class Conductivities:
    """Response tensors over chemical potentials (:func:`conductivities`).

    Attributes
    ----------
    mu : ndarray (n_mu,)
        Chemical potentials, E0.
    tensors : dict
        quantity -> array (n_mu, d, d[, d]); j_a = sigma_ab E_b + sigma_abc E_b E_c. With
        ``tau`` given the tensors include their power of tau; without, they are per power
        of tau (the value at tau = 1 hbar/E0).
    units : dict
        quantity -> unit string (``moyal.response.Quantity.unit``).
    forms : dict
        quantity -> "sea" or "surface": the form integrated.
    tau : float or None
        hbar/E0.
    """

    mu: np.ndarray
    tensors: dict
    units: dict
    forms: dict
    tau: float | None

    def component(self, quantity: str, indices: str) -> np.ndarray:
        """One component over mu, e.g. ``component("ahe", "xy")``, ``("bcd", "xyy")``."""
        return self.tensors[quantity][(slice(None),) + tuple("xyz".index(c) for c in indices)]


def conductivities(model: dict, mu, *, grid, temperature: float = 0.0,
                   tau: float | None = None, quantities=None,
                   forms: dict | None = None) -> Conductivities:
    """The k-space conductivity formulas of a model (``moyal.response``; the calculator of
    ``moyal-conductivity``, docs/geometry.md).

    Parameters
    ----------
    model : dict
        A ``[model]`` table: ``{"name": "qwz", "parameters": {...}}`` or a user
        ``{"hamiltonian": "...", ...}`` (docs/config.md).
    mu : float or sequence of float
        Chemical potentials, E0.
    grid : sequence of int
        k points per direction (one per dimension of the model).
    temperature : float
        k_B T in E0; 0 means step occupation (Fermi surface by linear simplices).
    tau : float, optional
        Relaxation time, hbar/E0.
    quantities : sequence of str, optional
        Among ``drude``, ``ahe``, ``nonlinear_drude``, ``bcd``, ``qm_wpd``, ``qm_lka``,
        ``qm_qk`` (default: all).
    forms : dict, optional
        quantity -> "sea" or "surface" (default: ``moyal.response.default_form``).

    Raises
    ------
    ConfigError
        An invalid model table (the solver's message), an unknown quantity or a grid with
        the wrong number of directions.
    """
    from moyal.geometry import band_geometry, k_grid
    from moyal.response import QUANTITIES, default_form, response_tensors
    from solvers.preflight import model_from_table

    built, degeneracy = model_from_table(model)
    quantities = list(QUANTITIES) if quantities is None else list(quantities)
    unknown = [q for q in quantities if q not in QUANTITIES]
    if unknown:
        raise ConfigError(f"quantities = {quantities!r}: unknown {unknown}; expected names "
                          f"from {', '.join(QUANTITIES)}")
    if len(grid) != built.dimension:
        raise ConfigError(f"grid = {list(grid)!r}: expected {built.dimension} number(s) of k "
                          f"points, one per direction of model {built.name!r}")
    kgrid = k_grid(built, grid)
    geometry = band_geometry(built, kgrid, degeneracy)
    chosen = {q: (forms or {}).get(q, default_form(q, kgrid.periodic, temperature))
              for q in quantities}
    tensors = response_tensors(geometry, kgrid, mu, temperature, quantities, chosen)
    if tau is not None:
        tensors = {q: t * tau ** QUANTITIES[q].tau_power for q, t in tensors.items()}
    return Conductivities(np.atleast_1d(np.asarray(mu, dtype=float)), tensors,
                          {q: QUANTITIES[q].unit(built.dimension) for q in quantities},
                          chosen, tau)
