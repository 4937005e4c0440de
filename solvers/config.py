"""TOML configuration -> validated, frozen dataclasses.

Every key is typed and range-checked before any compute starts; an unknown key is rejected
with the nearest valid key suggested. Errors are :class:`ConfigError` with a one-line message
naming the key, the value and what was expected; ``solvers.run`` turns them into exit code 2.

Units: the config names its energy and length units (``[units]``); internally hbar = e = 1, so
time is in hbar/energy, fields E in energy/(e * length), velocities in energy*length/hbar.
"""

from __future__ import annotations

import dataclasses
import math
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from solvers.errors import ConfigError, suggest


def _check(meta: dict, key: str, value: Any) -> Any:
    """Type- and range-check one value against a field's metadata; return it normalised."""
    kind = meta["type"]
    expect = meta.get("expect", kind.__name__)
    if kind is list:
        item = meta["item"]
        if not isinstance(value, list):
            raise ConfigError(f"{key} = {value!r}: expected {expect}")
        checked = tuple(_check({**meta, "type": item}, f"{key}[{i}]", v)
                        for i, v in enumerate(value))
        length = meta.get("length")
        if length is not None and len(checked) not in length:
            raise ConfigError(f"{key} = {value!r}: expected {expect}")
        return checked
    if kind is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{key} = {value!r}: expected {expect}")
        return {name: _check({"type": float, "expect": "a number"}, f"{key}.{name}", v)
                for name, v in value.items()}
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if (kind is int and isinstance(value, bool)) or not isinstance(value, kind):
        raise ConfigError(f"{key} = {value!r}: expected {expect}")
    if kind is float and not math.isfinite(value):
        raise ConfigError(f"{key} = {value!r}: expected a finite number ({expect})")
    lo, hi = meta.get("min"), meta.get("max")
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise ConfigError(f"{key} = {value!r}: expected {expect}")
    if meta.get("positive") and not value > 0:
        raise ConfigError(f"{key} = {value!r}: expected {expect}")
    choices = meta.get("choices")
    if choices is not None and value not in choices:
        raise ConfigError(f"{key} = {value!r}: expected one of {', '.join(map(repr, choices))}")
    pattern = meta.get("pattern")
    if pattern is not None and not pattern.fullmatch(value):
        raise ConfigError(f"{key} = {value!r}: expected {expect}")
    return value


# One file-name component. A run writes <name>.h5 and its checkpoint <name>.chk.h5, so the
# output of a run named x.chk would be the checkpoint of run x, which the check for existing
# outputs cannot see. (A name such as x_s+1 or x_response gives the same output file as the
# sweep x: that is caught like any reused name, as an existing output.)
RUN_NAME = re.compile(r"(?!.*\.chk$)[A-Za-z0-9_][A-Za-z0-9._+=-]{0,199}")
RUN_NAME_EXPECT = ("one file-name component: 1 to 200 letters, digits or . _ + - =, starting "
                   "with a letter, digit or _, not ending in .chk (the checkpoint of another "
                   "run)")


def _opt(default, kind, doc, **meta):
    """A config field: default, python type, doc string and range metadata."""
    if isinstance(default, (list, dict)):  # validated lists are tuples, so are defaults
        frozen = tuple if isinstance(default, list) else dict
        return field(default_factory=lambda: frozen(default),
                     metadata={"type": kind, "doc": doc, **meta})
    return field(default=default, metadata={"type": kind, "doc": doc, **meta})


@dataclass(frozen=True)
class UnitsConfig:
    energy: str = _opt("eV", str, "name of the energy unit (hbar = e = 1 internally)")
    length: str = _opt("nm", str, "name of the length unit; lattice models have lattice "
                                  "constant 1 in this unit")


@dataclass(frozen=True)
class ModeConfig:
    kind: str = _opt("band", str, "band: one distribution per band; matrix: Wigner matrix",
                     choices=("band", "matrix"))
    order: int = _opt(0, int, "order in hbar: 0 Boltzmann, 1 Berry curvature, 2 quantum "
                              "metric and Moyal terms", choices=(0, 1, 2))
    bands: list = _opt([], list, "bands evolved in band mode (0 = lowest); empty: all",
                       item=int, min=0, expect="a list of band indices >= 0")


@dataclass(frozen=True)
class GridConfig:
    x: str = _opt("none", str, "real-space axis: none (uniform problem) or its boundary",
                  choices=("none", "periodic", "outflow", "vacuum"))
    nx: int = _opt(128, int, "cells in x", min=8, expect="an integer >= 8")
    x_min: float = _opt(0.0, float, "left end of the x interval (length)")
    x_max: float = _opt(40.0, float, "right end of the x interval (length)")
    x_refine: list = _opt([], list, "x points to refine around (length)", item=float,
                          expect="a list of positions")
    x_refine_width: float = _opt(1.0, float, "width of the x refinement (length)",
                                 positive=True, expect="a positive length")
    x_refine_ratio: float = _opt(3.0, float, "cell-size ratio far/near the refinement points",
                                 min=1.0, expect="a number >= 1")
    y: str = _opt("none", str, "second real-space axis: none or its boundary (needs grid.x)",
                  choices=("none", "periodic", "outflow", "vacuum"))
    ny: int = _opt(128, int, "cells in y", min=8, expect="an integer >= 8")
    y_min: float = _opt(0.0, float, "lower end of the y interval (length)")
    y_max: float = _opt(40.0, float, "upper end of the y interval (length)")
    y_refine: list = _opt([], list, "y points to refine around (length)", item=float,
                          expect="a list of positions")
    y_refine_width: float = _opt(1.0, float, "width of the y refinement (length)",
                                 positive=True, expect="a positive length")
    y_refine_ratio: float = _opt(3.0, float, "cell-size ratio far/near the y refinement points",
                                 min=1.0, expect="a number >= 1")
    nk: list = _opt([64], list, "cells per k direction, [nkx] or [nkx, nky]", item=int,
                    min=8, length=(1, 2), expect="a list of 1 or 2 integers >= 8")
    k_refine: list = _opt([], list, "kx points to refine around (1/length)", item=float,
                          expect="a list of momenta")
    k_refine_energies: list = _opt([], list, "refine kx near where a band crosses these "
                                   "energies (1D k only)", item=float,
                                   expect="a list of energies")
    k_refine_width: float = _opt(0.2, float, "width of the k refinement (1/length)",
                                 positive=True, expect="a positive momentum")
    k_refine_ratio: float = _opt(3.0, float, "cell-size ratio far/near the k refinement",
                                 min=1.0, expect="a number >= 1")
    k_boundary: str = _opt("outflow", str, "boundary of a continuum (non-periodic) k domain",
                           choices=("outflow", "vacuum"))


@dataclass(frozen=True)
class InitialConfig:
    kind: str = _opt("equilibrium", str, "equilibrium: Fermi-Dirac in every band; packet: "
                     "times a Gaussian in x; band_window: one band times a Gaussian in k",
                     choices=("equilibrium", "packet", "band_window"))
    mu: float = _opt(0.0, float, "chemical potential (energy)")
    temperature: float = _opt(0.1, float, "temperature (energy, k_B = 1)", positive=True,
                              expect="a positive temperature (energy unit)")
    x_center: float = _opt(20.0, float, "packet centre (length)")
    x_width: float = _opt(3.0, float, "packet width (length)", positive=True,
                          expect="a positive length")
    band: int = _opt(0, int, "band of band_window (0 = lowest)", min=0,
                     expect="a band index >= 0")
    k_center: list = _opt([0.0], list, "centre of band_window (1/length)", item=float,
                          length=(1, 2), expect="a list of 1 or 2 momenta")
    k_width: float = _opt(0.5, float, "Gaussian width of band_window (1/length)",
                          positive=True, expect="a positive momentum")


@dataclass(frozen=True)
class CollisionsConfig:
    kind: str = _opt("none", str, "relaxation model (physics.md section 6)",
                     choices=("none", "fixed", "conserving", "field_renormalised"))
    tau: float = _opt(10.0, float, "relaxation time (hbar/energy)", positive=True,
                      expect="a positive time (hbar/energy)")
    tau_inter: float = _opt(0.0, float, "matrix mode: interband dephasing time (hbar/energy); "
                            "0 means tau", min=0.0, expect="a time >= 0 (0: same as tau)")
    mu: float = _opt(0.0, float, "chemical potential of the relaxation target (energy)")
    temperature: float = _opt(0.1, float, "temperature of the relaxation target (energy)",
                              positive=True, expect="a positive temperature (energy unit)")


@dataclass(frozen=True)
class NumericsConfig:
    limiter: str = _opt("vanleer", str, "MUSCL slope limiter",
                        choices=("minmod", "vanleer", "mc", "none"))
    flux: str = _opt("upwind", str, "advective flux: upwind or local Lax-Friedrichs",
                     choices=("upwind", "llf"))
    cfl: float = _opt(0.8, float,
                      "Courant number of one step, dt * sum_s |a_s| / w_s; the default "
                      "SSP-RK(4,3) (SSP coefficient 2) keeps MUSCL (TVD up to 1/2 per Euler "
                      "stage) stable up to 1", positive=True, max=1.0,
                      expect="a number in (0, 1]")
    integrator: str = _opt("auto", str, "explicit SSP-RK; imex: ARKIMEX with relaxation (and "
                           "the matrix-mode commutator) implicit; auto: imex in matrix mode "
                           "or when tau is shorter than the advective step",
                           choices=("auto", "explicit", "imex"))
    dt: float = _opt(0.0, float, "time step (hbar/energy); 0: from the CFL number", min=0.0,
                     expect="a time >= 0")
    backend: str = _opt("numpy", str, "band-mode rate: numpy (reference) or c (fused kernel "
                        "generated by moyal.codegen, built by make install; band mode only)",
                        choices=("numpy", "c"))
    layout: str = _opt("auto", str, "phase-space distribution over MPI ranks: k_distributed "
                       "(one DMDA over x and k), real_space (a DMDA over x[, y] with the whole "
                       "k grid per cell) or auto (real_space with grid.y, else k_distributed)",
                       choices=("auto", "k_distributed", "real_space"))


@dataclass(frozen=True)
class RunConfig:
    name: str = _opt("default", str, "run name: the output file is <output_dir>/<name>.h5",
                     pattern=RUN_NAME, expect=RUN_NAME_EXPECT)
    output_dir: str = _opt("output", str, "directory for HDF5 output")
    t_end: float = _opt(10.0, float, "final time (hbar / energy)", min=0.0,
                        expect="a time >= 0")
    output_every: int = _opt(50, int, "write the distribution every this many steps", min=1,
                             expect="an integer >= 1")
    progress_every: int = _opt(50, int, "print a progress line every this many steps", min=1,
                               expect="an integer >= 1")
    overwrite: bool = _opt(False, bool, "replace an existing output file")
    output_mode: str = _opt("auto", str, "gathered (one file written by rank 0), per_rank "
                            "(one file per rank joined by a virtual dataset) or auto",
                            choices=("auto", "gathered", "per_rank"))
    checkpoint_every: int = _opt(0, int, "write a checkpoint every this many steps (0: only "
                                 "when stopping early and at the end)", min=0,
                                 expect="an integer >= 0")
    restart: bool = _opt(False, bool, "continue from <output_dir>/<name>.chk.h5")
    stop_wall_time: float = _opt(0.0, float, "stop cleanly (checkpoint, flush) after this "
                                 "many wall-clock seconds; 0: no limit", min=0.0,
                                 expect="a number of seconds >= 0")


@dataclass(frozen=True)
class ResponseConfig:
    scales: list = _opt([], list, "field scales s of a symmetric sweep (runs at s * E), e.g. "
                        "[1, -1]; empty: one run", item=float, expect="a list of numbers")
    average_window: float = _opt(0.0, float, "average the current over the last this much "
                                 "time (hbar/energy); 0: last write only", min=0.0,
                                 expect="a time >= 0")


@dataclass(frozen=True)
class Config:
    """The whole run configuration (one frozen dataclass per TOML table)."""

    run: RunConfig = field(default_factory=RunConfig)
    units: UnitsConfig = field(default_factory=UnitsConfig)
    model: dict = field(default_factory=lambda: {"name": "chain"})
    mode: ModeConfig = field(default_factory=ModeConfig)
    grid: GridConfig = field(default_factory=GridConfig)
    fields: dict = field(default_factory=dict)
    initial: InitialConfig = field(default_factory=InitialConfig)
    collisions: CollisionsConfig = field(default_factory=CollisionsConfig)
    numerics: NumericsConfig = field(default_factory=NumericsConfig)
    response: ResponseConfig = field(default_factory=ResponseConfig)

    def to_dict(self) -> dict:
        """Resolved configuration as nested plain dicts (stored in the HDF5 attributes)."""
        return dataclasses.asdict(self)


def from_dict(raw: dict) -> Config:
    """Validate nested dicts (parsed TOML) into a :class:`Config`."""
    sections = {f.name: f.default_factory for f in dataclasses.fields(Config)}
    built = {}
    for name, table in raw.items():
        if name not in sections:
            raise ConfigError(f"[{name}]: unknown table{suggest(name, sections)}; "
                              f"expected one of {', '.join(sections)}")
        if not isinstance(table, dict):
            raise ConfigError(f"{name} = {table!r}: expected a table [{name}]")
        if name == "fields":  # a list of potential components: validated by solvers.fields
            from solvers.fields import potential_from_config

            potential_from_config(table)
            built[name] = table
            continue
        if name == "model":  # registered or user-defined Hamiltonian: validated by moyal
            model_from_table(table)
            built[name] = table
            continue
        cls = sections[name]
        fields = {f.name: f for f in dataclasses.fields(cls)}
        values = {}
        for key, value in table.items():
            if key not in fields:
                raise ConfigError(f"{name}.{key} = {value!r}: unknown key"
                                  f"{suggest(key, fields)}; expected one of the keys "
                                  f"{', '.join(fields)}")
            values[key] = _check(fields[key].metadata, f"{name}.{key}", value)
        built[name] = cls(**values)
    cfg = Config(**built)
    _check_consistency(cfg)
    return cfg


def model_from_table(table: dict):
    """The :class:`moyal.models.Model` of a ``[model]`` table and its degeneracy treatment.

    Imports sympy: the symbolic model is lambdified once here, at setup; the time loop only
    sees numpy arrays. Returns ``(model, degeneracy)``; raises ConfigError with the model
    layer's message.
    """
    from moyal.models import ModelError, model_from_config

    table = dict(table)
    degeneracy = table.pop("degeneracy", "auto")
    if degeneracy not in ("auto", "error", "traced"):
        raise ConfigError(f"model.degeneracy = {degeneracy!r}: expected one of 'auto', "
                          "'error', 'traced'")
    try:
        model = model_from_config(table)
    except ModelError as err:  # messages naming their own key (model.hamiltonian) pass as is
        message = str(err)
        raise ConfigError(message if message.startswith("model.") else f"model: {message}") \
            from None
    return model, (None if degeneracy == "auto" else degeneracy)


def _check_consistency(cfg: Config):
    """Relations between keys that single-key checks cannot see."""
    grid = cfg.grid
    if grid.x != "none":
        if not grid.x_max > grid.x_min:
            raise ConfigError(f"grid.x_max = {grid.x_max!r}: expected a value above "
                              f"grid.x_min = {grid.x_min!r}")
        for i, point in enumerate(grid.x_refine):
            if not grid.x_min <= point <= grid.x_max:
                raise ConfigError(f"grid.x_refine[{i}] = {point!r}: expected a point in "
                                  f"[grid.x_min, grid.x_max] = [{grid.x_min}, {grid.x_max}]")
    if grid.y != "none":
        if grid.x == "none":
            raise ConfigError(f"grid.y = {grid.y!r}: a y axis needs an x axis; expected "
                              "grid.x to be set too (or grid.y = 'none')")
        if not grid.y_max > grid.y_min:
            raise ConfigError(f"grid.y_max = {grid.y_max!r}: expected a value above "
                              f"grid.y_min = {grid.y_min!r}")
        for i, point in enumerate(grid.y_refine):
            if not grid.y_min <= point <= grid.y_max:
                raise ConfigError(f"grid.y_refine[{i}] = {point!r}: expected a point in "
                                  f"[grid.y_min, grid.y_max] = [{grid.y_min}, {grid.y_max}]")
        # until the real-space-distributed layout (issue 14) builds (x, y) grids
        raise ConfigError(f"grid.y = {grid.y!r}: 2D real space is not implemented yet; "
                          "expected grid.y = 'none'")
    if cfg.mode.kind == "matrix" and cfg.collisions.kind in ("conserving", "field_renormalised"):
        raise ConfigError(f"collisions.kind = {cfg.collisions.kind!r}: expected 'none' or "
                          "'fixed' in matrix mode (F_eq = f0(H0), optional tau_inter)")
    if cfg.mode.kind == "band" and cfg.collisions.tau_inter:
        raise ConfigError(f"collisions.tau_inter = {cfg.collisions.tau_inter!r}: only meaningful "
                          "in matrix mode; expected 0 in band mode")
    if cfg.numerics.backend == "c":
        _check_fused_backend(cfg)
    if cfg.run.restart and cfg.run.overwrite:
        raise ConfigError("run.restart = true with run.overwrite = true: expected one of them "
                          "(restart appends to the existing output)")
    if cfg.response.scales:
        scales = set(cfg.response.scales)
        if 0.0 in scales or any(-s not in scales for s in scales):
            raise ConfigError(f"response.scales = {list(cfg.response.scales)!r}: expected "
                              "nonzero +-s pairs, e.g. [1, -1] or [1, -1, 2, -2]")
        ini, col = cfg.initial, cfg.collisions
        if ini.kind != "equilibrium" or (ini.mu, ini.temperature) != (col.mu, col.temperature):
            raise ConfigError(f"response.scales = {list(cfg.response.scales)!r}: expected the "
                              "initial state to be the relaxation target (initial.kind = "
                              "'equilibrium' with the mu and temperature of [collisions])")
        if col.kind == "none":
            raise ConfigError(f"response.scales = {list(cfg.response.scales)!r}: a steady "
                              "current needs collisions; expected collisions.kind != 'none'")


def _check_fused_backend(cfg: Config):
    """numerics.backend = "c": band mode, and a current compiled kernel for the grid and order."""
    if cfg.mode.kind != "band":
        raise ConfigError(f"numerics.backend = 'c': the fused kernel is for band mode, got "
                          f"mode.kind = {cfg.mode.kind!r}; expected numerics.backend = 'numpy'")
    from solvers.ckernels import band_rate_kernel

    layout = (("x",) if cfg.grid.x != "none" else ()) + ("kx", "ky")[:len(cfg.grid.nk)]
    band_rate_kernel(layout, cfg.mode.order)


def load(path: str | Path, overrides: list[str] = ()) -> Config:
    """Read and validate a TOML config, then apply ``table.key=value`` overrides.

    Raises :class:`ConfigError` (one-line message) for a missing, unreadable or invalid file.
    """
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"config file {str(path)!r} does not exist")
    if not path.is_file():
        raise ConfigError(f"config path {str(path)!r} is not a file")
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise ConfigError(f"config file {str(path)!r} cannot be read: {err.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise ConfigError(f"config file {str(path)!r} is not valid TOML: {err}") from None
    for item in overrides:
        key, sep, text = item.partition("=")
        table, dot, leaf = key.strip().partition(".")
        if not sep or not dot or not leaf:
            raise ConfigError(f"override {item!r}: expected table.key=value, e.g. grid.nx=256")
        try:
            value = tomllib.loads(f"v = {text}")["v"]
        except tomllib.TOMLDecodeError:
            value = text  # a bare word is a string: run.name=test
        raw.setdefault(table, {})
        if not isinstance(raw[table], dict):
            raise ConfigError(f"override {item!r}: {table} is not a table")
        raw[table][leaf] = value
    return from_dict(raw)
