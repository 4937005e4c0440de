"""TOML configuration -> validated, frozen dataclasses.

Every key is typed and range-checked against the schema (:mod:`solvers.schema`, which also
writes the reference ``docs/config.md``) before any compute starts; an unknown key is rejected
with the nearest valid key suggested. :func:`from_dict` then checks relations between keys of
different tables. Errors are :class:`ConfigError` (:mod:`solvers.errors`) with a one-line
message naming the key, the value and what was expected; ``solvers.run`` turns them into exit
code 2.

This module imports no solver module: what needs the model, the potential's files, the
compiled kernels or the machine is checked by :mod:`solvers.preflight`.

Units: the config names its energy and length units (``[units]``); internally hbar = e = 1, so
time is in hbar/energy, fields E in energy/(e * length), velocities in energy*length/hbar.
"""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from solvers import schema
from solvers.errors import ConfigError, suggest

_PYTHON_TYPES = {"bool": bool, "int": int, "float": float, "str": str}


def _dataclass(name: str, table: schema.Table) -> type:
    """A frozen dataclass with one field per key of ``table`` (its default, the Key as
    metadata)."""
    cls = dataclasses.make_dataclass(
        name, [(key.name, _PYTHON_TYPES.get(key.type, tuple),
                field(default=key.default, metadata={"key": key})) for key in table.keys],
        frozen=True)
    cls.__module__ = __name__
    cls.__doc__ = f"[{table.name}]: {table.doc} (keys and units: solvers.schema)."
    return cls


RunConfig = _dataclass("RunConfig", schema.RUN)
UnitsConfig = _dataclass("UnitsConfig", schema.UNITS)
ModeConfig = _dataclass("ModeConfig", schema.MODE)
GridConfig = _dataclass("GridConfig", schema.GRID)
InitialConfig = _dataclass("InitialConfig", schema.INITIAL)
CollisionsConfig = _dataclass("CollisionsConfig", schema.COLLISIONS)
NumericsConfig = _dataclass("NumericsConfig", schema.NUMERICS)
ResponseConfig = _dataclass("ResponseConfig", schema.RESPONSE)


@dataclass(frozen=True)
class Config:
    """The whole run configuration (one frozen dataclass per TOML table).

    ``model`` and ``fields`` are the tables as given (validated against their schema): the
    model and the potential are built from them at setup (:func:`solvers.preflight.
    model_from_table`, :func:`solvers.fields.potential_from_config`).
    """

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


_TABLE_CLASSES = {f.name: f.default_factory for f in dataclasses.fields(Config)
                  if f.name not in ("model", "fields")}


def from_dict(raw: dict) -> Config:
    """Validate nested dicts (parsed TOML) into a :class:`Config`.

    Raises
    ------
    ConfigError
        For an unknown table or key, a bad value (:mod:`solvers.schema`) or keys of
        different tables that contradict each other.
    """
    built = {}
    for name, table in raw.items():
        if name not in schema.TABLES:
            raise ConfigError(f"[{name}]: unknown table{suggest(name, schema.TABLES)}; "
                              f"expected one of {', '.join(schema.TABLES)}")
        values = schema.TABLES[name].validate(name, table)
        built[name] = dict(table) if name in ("model", "fields") \
            else _TABLE_CLASSES[name](**values)
    cfg = Config(**built)
    _check_consistency(cfg)
    return cfg


def _check_consistency(cfg: Config):
    """Relations between keys that single-key checks cannot see."""
    grid = cfg.grid
    if grid.y != "none" and grid.x == "none":
        raise ConfigError(f"grid.y = {grid.y!r}: a y axis needs an x axis; expected grid.x to "
                          "be set too (or grid.y = 'none')")
    for axis in ("x", "y"):
        if getattr(grid, axis) == "none":
            continue
        lo, hi = getattr(grid, f"{axis}_min"), getattr(grid, f"{axis}_max")
        if not hi > lo:
            raise ConfigError(f"grid.{axis}_max = {hi!r}: expected a value above "
                              f"grid.{axis}_min = {lo!r}")
        for i, point in enumerate(getattr(grid, f"{axis}_refine")):
            if not lo <= point <= hi:
                raise ConfigError(f"grid.{axis}_refine[{i}] = {point!r}: expected a point in "
                                  f"[grid.{axis}_min, grid.{axis}_max] = [{lo}, {hi}]")
    for i, component in enumerate(cfg.fields.get("potential", [])):
        axis = component.get("axis", "x")
        if getattr(grid, axis) == "none":
            raise ConfigError(f"fields.potential[{i}].axis = {axis!r}: a profile along {axis} "
                              f"needs a real-space {axis} axis; expected grid.{axis} to be set "
                              "(or a uniform field E)")
    if cfg.mode.kind == "matrix" and cfg.collisions.kind in ("conserving", "field_renormalised"):
        raise ConfigError(f"collisions.kind = {cfg.collisions.kind!r}: expected 'none' or "
                          "'fixed' in matrix mode (F_eq = f0(H0), optional tau_inter)")
    if cfg.mode.kind == "band" and cfg.collisions.tau_inter:
        raise ConfigError(f"collisions.tau_inter = {cfg.collisions.tau_inter!r}: only meaningful "
                          "in matrix mode; expected 0 in band mode")
    if cfg.numerics.backend == "c" and cfg.mode.kind != "band":
        raise ConfigError(f"numerics.backend = 'c': the fused kernel is for band mode, got "
                          f"mode.kind = {cfg.mode.kind!r}; expected numerics.backend = 'numpy'")
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
    return from_dict(apply_overrides(raw, overrides))


def apply_overrides(raw: dict, overrides) -> dict:
    """Set keys of the nested dicts ``raw`` (parsed TOML; changed in place and returned).

    ``overrides`` is a list of ``table.key=value`` strings (the value parsed as TOML; a bare
    word is a string: ``run.name=test``) or a dict ``{"table.key": value}`` of Python values.
    Raises :class:`ConfigError` for an item that is not ``table.key``; the values are checked
    later, by :func:`from_dict`.
    """
    if isinstance(overrides, dict):
        items = [(f"{key}={value!r}", key, value) for key, value in overrides.items()]
    else:
        items = [(item, *_split_override(item)) for item in overrides]
    for item, key, value in items:
        table, dot, leaf = key.strip().partition(".")
        if not dot or not leaf:
            raise ConfigError(f"override {item!r}: expected table.key=value, e.g. grid.nx=256")
        raw.setdefault(table, {})
        if not isinstance(raw[table], dict):
            raise ConfigError(f"override {item!r}: {table} is not a table")
        raw[table][leaf] = value
    return raw


def _split_override(item: str) -> tuple[str, object]:
    """``(key, value)`` of a ``table.key=value`` string, the value parsed as TOML."""
    key, sep, text = item.partition("=")
    if not sep:
        raise ConfigError(f"override {item!r}: expected table.key=value, e.g. grid.nx=256")
    try:
        return key, tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return key, text  # a bare word is a string: run.name=test
