"""TOML configuration -> validated, frozen dataclasses.

Every key is typed and range-checked before any compute starts; an unknown key is rejected
with the nearest valid key suggested. Errors are :class:`ConfigError` with a one-line message
naming the key, the value and what was expected; ``solvers.run`` turns them into exit code 2.

Units: the config names its energy and length units (``[units]``); internally hbar = e = 1, so
time is in hbar/energy, fields E in energy/(e * length), velocities in energy*length/hbar.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class ConfigError(ValueError):
    """A bad configuration value; ``str(err)`` is a one-line message for the user."""


def _check(meta: dict, key: str, value: Any) -> Any:
    """Type- and range-check one value against a field's metadata; return it normalised."""
    kind = meta["type"]
    expect = meta.get("expect", kind.__name__)
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if (kind is int and isinstance(value, bool)) or not isinstance(value, kind):
        raise ConfigError(f"{key} = {value!r}: expected {expect}")
    if kind is float and not math.isfinite(value):
        raise ConfigError(f"{key} = {value!r}: expected a finite number ({expect})")
    lo, hi = meta.get("min"), meta.get("max")
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise ConfigError(f"{key} = {value!r}: expected {expect}")
    choices = meta.get("choices")
    if choices is not None and value not in choices:
        raise ConfigError(f"{key} = {value!r}: expected one of {', '.join(map(repr, choices))}")
    return value


def _opt(default, kind, doc, **meta):
    """A config field: default, python type, doc string and range metadata."""
    return field(default=default, metadata={"type": kind, "doc": doc, **meta})


@dataclass(frozen=True)
class UnitsConfig:
    energy: str = _opt("eV", str, "name of the energy unit (hbar = e = 1 internally)")
    length: str = _opt("nm", str, "name of the length unit")


@dataclass(frozen=True)
class GridConfig:
    nx: int = _opt(128, int, "cells in x", min=8, expect="an integer >= 8")
    nk: int = _opt(128, int, "cells in k over the Brillouin zone [-pi/a, pi/a)",
                   min=8, expect="an integer >= 8")
    x_length: float = _opt(40.0, float, "periodic box length in x (length unit)",
                           min=1e-12, expect="a positive length")


@dataclass(frozen=True)
class ModelConfig:
    hopping: float = _opt(1.0, float, "nearest-neighbour hopping t of eps = -2 t cos(k a)",
                          min=1e-12, expect="a positive energy")
    lattice_constant: float = _opt(1.0, float, "lattice constant a (length unit)",
                                   min=1e-12, expect="a positive length")


@dataclass(frozen=True)
class FieldsConfig:
    E: float = _opt(0.25, float, "uniform electric field (energy / (e * length)); dk/dt = -E",
                    expect="a number (field strength)")


@dataclass(frozen=True)
class InitialConfig:
    x_center: float = _opt(20.0, float, "centre of the Gaussian density profile (length)")
    x_width: float = _opt(3.0, float, "Gaussian width in x (length)", min=1e-12,
                          expect="a positive length")
    mu: float = _opt(0.0, float, "chemical potential of the initial Fermi-Dirac occupation")
    temperature: float = _opt(0.5, float, "temperature of the initial occupation (energy)",
                              min=1e-6, expect="a positive temperature (energy unit)")


@dataclass(frozen=True)
class NumericsConfig:
    limiter: str = _opt("vanleer", str, "MUSCL slope limiter",
                        choices=("minmod", "vanleer", "mc", "none"))
    cfl: float = _opt(0.8, float,
                      "Courant number of one step, dt * sum_s |a_s| / w_s; the default "
                      "SSP-RK(4,3) (SSP coefficient 2) keeps MUSCL (TVD up to 1/2 per Euler "
                      "stage) stable up to 1", min=1e-6, max=1.0, expect="a number in (0, 1]")


@dataclass(frozen=True)
class RunConfig:
    name: str = _opt("default", str, "run name: the output file is <output_dir>/<name>.h5")
    output_dir: str = _opt("output", str, "directory for HDF5 output")
    t_end: float = _opt(10.0, float, "final time (hbar / energy)", min=0.0,
                        expect="a time >= 0")
    output_every: int = _opt(50, int, "write the distribution every this many steps", min=1,
                             expect="an integer >= 1")
    progress_every: int = _opt(50, int, "print a progress line every this many steps", min=1,
                               expect="an integer >= 1")
    overwrite: bool = _opt(False, bool, "replace an existing output file")


@dataclass(frozen=True)
class Config:
    """The whole run configuration (one frozen dataclass per TOML table)."""

    run: RunConfig = field(default_factory=RunConfig)
    units: UnitsConfig = field(default_factory=UnitsConfig)
    grid: GridConfig = field(default_factory=GridConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    fields: FieldsConfig = field(default_factory=FieldsConfig)
    initial: InitialConfig = field(default_factory=InitialConfig)
    numerics: NumericsConfig = field(default_factory=NumericsConfig)

    def to_dict(self) -> dict:
        """Resolved configuration as nested plain dicts (stored in the HDF5 attributes)."""
        return dataclasses.asdict(self)


def _suggest(name: str, valid) -> str:
    near = difflib.get_close_matches(name, list(valid), n=1)
    return f" (did you mean '{near[0]}'?)" if near else ""


def from_dict(raw: dict) -> Config:
    """Validate nested dicts (parsed TOML) into a :class:`Config`."""
    sections = {f.name: f.default_factory for f in dataclasses.fields(Config)}
    built = {}
    for name, table in raw.items():
        if name not in sections:
            raise ConfigError(f"[{name}]: unknown table{_suggest(name, sections)}; "
                              f"expected one of {', '.join(sections)}")
        if not isinstance(table, dict):
            raise ConfigError(f"{name} = {table!r}: expected a table [{name}]")
        cls = sections[name]
        fields = {f.name: f for f in dataclasses.fields(cls)}
        values = {}
        for key, value in table.items():
            if key not in fields:
                raise ConfigError(f"{name}.{key}: unknown key{_suggest(key, fields)}; "
                                  f"valid keys are {', '.join(fields)}")
            values[key] = _check(fields[key].metadata, f"{name}.{key}", value)
        built[name] = cls(**values)
    return Config(**built)


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
