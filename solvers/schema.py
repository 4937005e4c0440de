"""The configuration schema: every table and key of a run config, described once.

Each key has a type, a default, the accepted range or choices, a unit and a one-line meaning
(:class:`Key`). Tables group keys (:class:`Table`); tagged unions choose a table by a tag
(:class:`Union`): the components of ``[[fields.potential]]`` by their ``kind``, and the
``[model]`` table as a registered model (``name``) or a user Hamiltonian (``hamiltonian``).

Three consumers read the same description:

* :mod:`solvers.config` validates a parsed TOML file against it (types, ranges, unknown keys
  with the nearest valid one suggested) and builds its frozen dataclasses from it;
* :func:`solvers.fields.potential_from_config` validates ``[fields]`` with :data:`FIELDS`
  before building the potential;
* :func:`markdown` writes the reference ``docs/config.md`` (``python -m solvers.schema
  --markdown``, also printed by ``moyal-run --list-keys``).

Checks that need other modules (the model built by :mod:`moyal.models`, tabulated potential
files, the compiled C kernels, memory) run later, in :mod:`solvers.preflight`; relations
between keys of different tables in :mod:`solvers.config`. This module imports only
:mod:`solvers.errors`.

Units: the config names its energy and length units (``[units]``); hbar = e = k_B = 1, so
time is in hbar/energy, angular frequencies in energy/hbar, fields E in energy/(e length),
momenta in 1/length.
"""

from __future__ import annotations

import dataclasses
import math
import re
import sys
from dataclasses import dataclass
from typing import Any, Callable

from solvers.errors import ConfigError, bad_value, suggest, value_text


class _Required:
    def __repr__(self):
        return "required"


#: Default of a key that must be given.
REQUIRED = _Required()

#: Accepted-value wording of each type when a key does not give its own.
_TYPE_EXPECT = {"bool": "true or false", "int": "an integer", "float": "a number",
                "str": "a string", "vector": "a number or a list of 1 or 2 numbers (x, y)",
                "table[float]": "a table name = number", "table[str]": "a table name = text",
                "domain": '"bz" or a box [[kmin, kmax], ...]'}
#: Type names as the reference shows them.
_TYPE_TEXT = {"bool": "boolean", "int": "integer", "float": "number", "str": "string",
              "list[int]": "list of integers", "list[float]": "list of numbers",
              "vector": "number or [x, y]", "table[float]": "table of numbers",
              "table[str]": "table of strings", "domain": '"bz" or [[kmin, kmax], ...]',
              "array": "array of tables"}


@dataclass(frozen=True)
class Key:
    """One config key.

    Parameters
    ----------
    name : str
    type : str
        ``bool``, ``int``, ``float`` (finite; an integer is accepted and converted), ``str``,
        ``list[int]``, ``list[float]`` (TOML arrays, validated into tuples), ``vector`` (a
        number or a list of 1 or 2 numbers, validated into ``(x, y)``), ``table[float]``,
        ``table[str]``, ``domain`` (``"bz"`` or a list of [lo, hi] pairs, checked in detail
        by :mod:`moyal.models`) or ``array`` (an array of tables, each validated by ``item``).
    default
        Value when the key is absent (lists as tuples), or :data:`REQUIRED`.
    doc : str
        One-line meaning.
    unit : str
        Physical unit, empty for dimensionless values and names.
    expect : str
        What is accepted, as the error message words it after "expected"; from the type if
        empty.
    min, max : float, optional
        Inclusive bounds (of each item of a list).
    above : float, optional
        Exclusive lower bound (``above=0``: positive).
    choices : tuple, optional
        The accepted values.
    pattern : str, optional
        Regular expression a string must match in full.
    length : tuple of int, optional
        Accepted lengths of a list.
    item : Table or Union, optional
        Schema of each table of an ``array``.
    default_text : str
        The default as the reference shows it, when ``default`` is not meaningful there
        (a value taken from the model, for instance).
    """

    name: str
    type: str
    default: Any
    doc: str
    unit: str = ""
    expect: str = ""
    min: float | None = None
    max: float | None = None
    above: float | None = None
    choices: tuple | None = None
    pattern: str | None = None
    length: tuple | None = None
    item: Any = None
    default_text: str = ""

    @property
    def expected(self) -> str:
        if self.expect and self.type.startswith("table["):
            return f"a table name = value, each {self.expect}"
        if self.expect:
            return self.expect
        if self.choices is not None:
            return "one of " + ", ".join(map(repr, self.choices))
        return _TYPE_EXPECT.get(self.type, self.type)

    def check(self, key: str, value) -> Any:
        """``value`` type- and range-checked, normalised (lists to tuples, ints to floats).

        Raises
        ------
        ConfigError
            ``<key> = <value>: expected ...``.
        """
        kind = self.type
        if kind.startswith("list["):
            if not isinstance(value, list):
                raise bad_value(key, value, self.expected)
            item = dataclasses.replace(self, type=kind[5:-1], length=None,
                                       expect=self.expected)
            checked = tuple(item.check(f"{key}[{i}]", v) for i, v in enumerate(value))
            if self.length is not None and len(checked) not in self.length:
                raise bad_value(key, value, self.expected)
            return checked
        if kind == "vector":
            if not isinstance(value, list):
                return (self._scalar("float", key, value), 0.0)
            if not 1 <= len(value) <= 2:
                raise bad_value(key, value, self.expected)
            parts = [self._scalar("float", f"{key}[{i}]", v) for i, v in enumerate(value)]
            return tuple(parts + [0.0] * (2 - len(parts)))
        if kind.startswith("table["):
            if not isinstance(value, dict):
                raise bad_value(key, value, self.expected)
            entry = dataclasses.replace(self, type=kind[6:-1], expect=self.expect)
            return {name: entry.check(f"{key}.{name}", v) for name, v in value.items()}
        if kind == "domain":
            if value != "bz" and not isinstance(value, list):
                raise bad_value(key, value, self.expected)
            return value
        if kind == "array":
            if not isinstance(value, list):
                raise bad_value(key, value, self.expected)
            return tuple(self.item.validate(f"{key}[{i}]", v) for i, v in enumerate(value))
        return self._scalar(kind, key, value)

    def _scalar(self, kind: str, key: str, value) -> Any:
        expected = self.expected
        if kind == "float" and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        python = {"bool": bool, "int": int, "float": float, "str": str}[kind]
        if (kind != "bool" and isinstance(value, bool)) or not isinstance(value, python):
            raise bad_value(key, value, expected)
        if kind == "float" and not math.isfinite(value):
            raise bad_value(key, value, expected if "finite" in expected
                            else f"a finite number ({expected})")
        if (self.min is not None and value < self.min) \
                or (self.max is not None and value > self.max) \
                or (self.above is not None and not value > self.above):
            raise bad_value(key, value, expected)
        if self.choices is not None and value not in self.choices:
            raise ConfigError(f"{key} = {value_text(value)}: expected {expected}"
                              f"{suggest(value, map(str, self.choices))}")
        if self.pattern is not None and not re.fullmatch(self.pattern, value):
            raise bad_value(key, value, expected)
        return value


@dataclass(frozen=True)
class Table:
    """Keys of one TOML table.

    ``label`` names the table in messages about missing keys (``a 'step' potential needs
    amplitude, x0, width``); ``relation`` checks relations between its validated values
    (``relation(key, values)``, raising ConfigError).
    """

    name: str
    doc: str
    keys: tuple[Key, ...]
    label: str = ""
    relation: Callable[[str, dict], None] | None = None

    def validate(self, prefix: str, table) -> dict:
        """Every key of ``table`` checked, absent ones set to their defaults.

        Raises
        ------
        ConfigError
            For a value that is not a table, an unknown key (naming the nearest valid one),
            a missing required key or a bad value.
        """
        if not isinstance(table, dict):
            raise bad_value(prefix, table, f"a table [{prefix}]")
        names = [k.name for k in self.keys]
        for name, value in table.items():
            if name not in names:
                raise ConfigError(f"{prefix}.{name} = {value_text(value)}: unknown key"
                                  f"{suggest(name, names)}; expected one of the keys "
                                  f"{', '.join(names)}")
        values = {}
        for key in self.keys:
            if key.name in table:
                values[key.name] = key.check(f"{prefix}.{key.name}", table[key.name])
            elif key.default is REQUIRED:
                required = [k.name for k in self.keys if k.default is REQUIRED]
                raise ConfigError(f"{prefix}.{key.name}: missing; {self.label or self.name} "
                                  f"needs {', '.join(required)}")
            else:
                values[key.name] = key.default
        if self.relation is not None:
            self.relation(prefix, values)
        return values


@dataclass(frozen=True)
class Union:
    """A table that is one of several :class:`Table` variants.

    With ``tag`` (``"kind"``), the tag key's value names the variant and is one of the keys
    of every variant. With ``select`` (a function of the raw table returning a variant name or
    None), the variant follows from which keys are present; ``missing`` is the message when
    it returns None.
    """

    name: str
    doc: str
    variants: dict
    tag: str = ""
    select: Callable[[dict], str | None] | None = None
    missing: str = ""

    def variant(self, prefix: str, table) -> Table:
        """The variant ``table`` (a parsed TOML table) belongs to."""
        if not isinstance(table, dict):
            raise bad_value(prefix, table, f"a table {self.name}")
        if self.select is not None:
            name = self.select(table)
            if name is None:
                raise ConfigError(f"{prefix}: {self.missing}")
            return self.variants[name]
        choices = ", ".join(map(repr, self.variants))
        if self.tag not in table:
            raise ConfigError(f"{prefix}.{self.tag}: missing; expected one of {choices}")
        tag = table[self.tag]
        if not isinstance(tag, str) or tag not in self.variants:
            raise ConfigError(f"{prefix}.{self.tag} = {value_text(tag)}: expected one of "
                              f"{choices}{suggest(tag, self.variants)}")
        return self.variants[tag]

    def validate(self, prefix: str, table) -> dict:
        """The table validated by its variant (the tag included, as given)."""
        return self.variant(prefix, table).validate(prefix, table)


# ----------------------------------------------------------------------------- the tables
#: One file-name component. A run writes <name>.h5 and its checkpoint <name>.chk.h5, so the
#: output of a run named x.chk would be the checkpoint of run x, which the check for existing
#: outputs cannot see. (A name such as x_s+1 or x_response gives the same output file as the
#: sweep x: that is caught like any reused name, as an existing output.)
RUN_NAME = r"(?!.*\.chk$)[A-Za-z0-9_][A-Za-z0-9._+=-]{0,199}"

BOUNDARIES = ("none", "periodic", "outflow", "vacuum")

RUN = Table("run", "Names, output files, checkpoints and stopping", (
    Key("name", "str", "default", "run name: the output file is output_dir/name.h5",
        pattern=RUN_NAME,
        expect="one file-name component: 1 to 200 letters, digits or . _ + - =, starting "
               "with a letter, digit or _, not ending in .chk (the checkpoint of another run)"),
    Key("output_dir", "str", "output", "directory for HDF5 output"),
    Key("t_end", "float", 10.0, "final time", "hbar/energy", "a time >= 0", min=0.0),
    Key("output_every", "int", 50, "write the distribution every this many steps",
        expect="an integer >= 1", min=1),
    Key("progress", "str", "auto", "progress lines (set-up, step n/N, ETA): auto (on a "
        "terminal only), always (also into log files: batch jobs), never",
        choices=("auto", "always", "never")),
    Key("progress_every", "int", 50, "print a progress line every this many steps",
        expect="an integer >= 1", min=1),
    Key("overwrite", "bool", False, "replace an existing output file"),
    Key("output_mode", "str", "auto", "gathered (one file written by rank 0), per_rank (one "
        "file per rank joined by a virtual dataset) or auto",
        choices=("auto", "gathered", "per_rank")),
    Key("checkpoint_every", "int", 0, "write a checkpoint every this many steps (0: only "
        "when stopping early and at the end)", expect="an integer >= 0", min=0),
    Key("restart", "bool", False, "continue from the checkpoint output_dir/name.chk.h5"),
    Key("stop_wall_time", "float", 0.0, "stop cleanly (checkpoint, flush) after this much "
        "wall-clock time; 0: no limit", "s", "a number of seconds >= 0", min=0.0),
))

UNITS = Table("units", "Names of the units of the config's numbers (hbar = e = k_B = 1)", (
    Key("energy", "str", "eV", "name of the energy unit"),
    Key("length", "str", "nm", "name of the length unit; lattice models have lattice "
        "constant 1 in this unit"),
))

MODE = Table("mode", "What is evolved and to which order in hbar", (
    Key("kind", "str", "band", "band: one distribution per band; matrix: Wigner matrix",
        choices=("band", "matrix")),
    Key("order", "int", 0, "order in hbar: 0 Boltzmann, 1 Berry curvature, 2 quantum metric "
        "and Moyal terms", choices=(0, 1, 2)),
    Key("bands", "list[int]", (), "bands evolved in band mode (0 = lowest); empty: all",
        expect="a list of band indices >= 0", min=0),
))

def real_space_axis(name: str, meaning: str, ends: tuple, refined: str) -> tuple:
    """The keys of one real-space axis of [grid]: boundary, cells, interval, refinement."""
    return (
        Key(name, "str", "none", meaning, choices=BOUNDARIES),
        Key(f"n{name}", "int", 128, f"cells in {name}", expect="an integer >= 8", min=8),
        Key(f"{name}_min", "float", 0.0, f"{ends[0]} end of the {name} interval", "length"),
        Key(f"{name}_max", "float", 40.0, f"{ends[1]} end of the {name} interval", "length"),
        Key(f"{name}_refine", "list[float]", (), f"{name} points to refine around", "length",
            "a list of positions"),
        Key(f"{name}_refine_width", "float", 1.0, f"width of the {name} refinement", "length",
            "a positive length", above=0.0),
        Key(f"{name}_refine_ratio", "float", 3.0, f"cell-size ratio far/near the {refined}",
            expect="a number >= 1", min=1.0),
    )


GRID = Table("grid", "Phase-space cells: real-space axes x (and y) and the k grid", (
    *real_space_axis("x", "real-space axis: none (uniform problem) or its boundary",
                     ("left", "right"), "refinement points"),
    *real_space_axis("y", "second real-space axis: none or its boundary (needs grid.x)",
                     ("lower", "upper"), "y refinement points"),
    Key("nk", "list[int]", (64,), "cells per k direction, [nkx] or [nkx, nky]",
        expect="a list of 1 or 2 integers >= 8", min=8, length=(1, 2)),
    Key("k_refine", "list[float]", (), "kx points to refine around", "1/length",
        "a list of momenta"),
    Key("k_refine_energies", "list[float]", (), "refine kx near where a band crosses these "
        "energies (1D k only)", "energy", "a list of energies"),
    Key("k_refine_width", "float", 0.2, "width of the k refinement", "1/length",
        "a positive momentum", above=0.0),
    Key("k_refine_ratio", "float", 3.0, "cell-size ratio far/near the k refinement",
        expect="a number >= 1", min=1.0),
    Key("k_boundary", "str", "outflow", "boundary of a continuum (non-periodic) k domain",
        choices=("outflow", "vacuum")),
))

INITIAL = Table("initial", "The distribution at t = 0", (
    Key("kind", "str", "equilibrium", "equilibrium: Fermi-Dirac in every band; packet: "
        "times a Gaussian in x; band_window: one band times a Gaussian in k",
        choices=("equilibrium", "packet", "band_window")),
    Key("mu", "float", 0.0, "chemical potential", "energy"),
    Key("temperature", "float", 0.1, "temperature (k_B = 1)", "energy",
        "a positive temperature (energy unit)", above=0.0),
    Key("x_center", "float", 20.0, "packet centre", "length"),
    Key("x_width", "float", 3.0, "packet width", "length", "a positive length", above=0.0),
    Key("y_center", "float", 0.0, "packet centre in y (with grid.y and y_width)", "length"),
    Key("y_width", "float", None, "packet width in y; none: uniform in y", "length",
        "a positive length", above=0.0, default_text="none"),
    Key("band", "int", 0, "band of band_window (0 = lowest)", expect="a band index >= 0",
        min=0),
    Key("k_center", "list[float]", (0.0,), "centre of band_window", "1/length",
        "a list of 1 or 2 momenta", length=(1, 2)),
    Key("k_width", "float", 0.5, "Gaussian width of band_window", "1/length",
        "a positive momentum", above=0.0),
))

COLLISIONS = Table("collisions", "Relaxation towards a Fermi-Dirac target", (
    Key("kind", "str", "none", "relaxation -(f - f_eq)/tau towards f_eq = fixed: f0(eps; "
        "mu, T); conserving: f0(eps; mu(x), T), mu(x) keeping the particle number; "
        "field_renormalised: f0(eps + E.Gq.E/2; mu, T), Gq the band-normalised quantum "
        "metric",
        choices=("none", "fixed", "conserving", "field_renormalised")),
    Key("tau", "float", 10.0, "relaxation time", "hbar/energy",
        "a positive time (hbar/energy)", above=0.0),
    Key("tau_inter", "float", 0.0, "matrix mode: interband dephasing time; 0 means tau",
        "hbar/energy", "a time >= 0 (0: same as tau)", min=0.0),
    Key("mu", "float", 0.0, "chemical potential of the relaxation target", "energy"),
    Key("temperature", "float", 0.1, "temperature of the relaxation target", "energy",
        "a positive temperature (energy unit)", above=0.0),
))

NUMERICS = Table("numerics", "Discretisation and time stepping", (
    Key("limiter", "str", "vanleer", "MUSCL slope limiter",
        choices=("minmod", "vanleer", "mc", "none")),
    Key("flux", "str", "upwind", "advective flux: upwind or local Lax-Friedrichs",
        choices=("upwind", "llf")),
    Key("cfl", "float", 0.8, "Courant number of one step, dt * sum_s |a_s| / w_s; the default "
        "SSP-RK(4,3) (SSP coefficient 2) keeps MUSCL (TVD up to 1/2 per Euler stage) stable "
        "up to 1", expect="a number in (0, 1]", above=0.0, max=1.0),
    Key("integrator", "str", "auto", "explicit SSP-RK; imex: ARKIMEX with relaxation (and "
        "the matrix-mode commutator) implicit; auto: imex in matrix mode or when tau is "
        "shorter than the advective step", choices=("auto", "explicit", "imex")),
    Key("dt", "float", 0.0, "time step; 0: from the CFL number", "hbar/energy",
        "a time >= 0", min=0.0),
    Key("backend", "str", "numpy", "band-mode rate: numpy (reference) or c (fused kernel "
        "generated by moyal.codegen, built by make install; band mode only)",
        choices=("numpy", "c")),
    Key("layout", "str", "auto", "phase-space distribution over MPI ranks: k_distributed (one "
        "DMDA over x and k), real_space (a DMDA over x[, y] with the whole k grid per cell) or "
        "auto (real_space with grid.y, else k_distributed)",
        choices=("auto", "k_distributed", "real_space")),
))

RESPONSE = Table("response", "Field sweeps for conductivities", (
    Key("scales", "list[float]", (), "field scales s of a symmetric sweep (runs at s * E), "
        "e.g. [1, -1]; empty: one run", expect="a list of numbers"),
    Key("average_window", "float", 0.0, "average the current over the last this much time; "
        "0: last write only", "hbar/energy", "a time >= 0", min=0.0),
))


def _barrier_relation(prefix: str, values: dict):
    if values["x2"] <= values["x1"]:
        raise ConfigError(f"{prefix}.x2 = {values['x2']!r}: expected a position > "
                          f"x1 = {values['x1']!r}")


def _kind(name: str) -> Key:
    """The tag of a potential component (its presence is checked by the union)."""
    return Key("kind", "str", name, "the component's kind", choices=(name,),
               default_text="required")


_AXIS = Key("axis", "str", "x", "the real-space axis the profile varies along (x in the "
             "formula stands for it); y needs grid.y", choices=("x", "y"))
_AMPLITUDE = Key("amplitude", "float", REQUIRED, "amplitude of the profile", "energy",
                 "a number (energy)")
_OMEGA = Key("omega", "float", 0.0, "angular frequency of a cos(omega t) modulation; 0: "
             "static", "energy/hbar", "an angular frequency >= 0 (energy / hbar)", min=0.0)
_POSITION = "a position (length)"
_WIDTH = "a positive length"

_PROFILES = {
    "cosine": Table("cosine", "V = amplitude cos(q x - omega t + phase), a travelling wave "
                    "(static for omega = 0)", (
        _kind("cosine"), _AXIS, _AMPLITUDE,
        Key("q", "float", REQUIRED, "wavenumber", "1/length", "a wavenumber (1 / length)"),
        Key("omega", "float", 0.0, "angular frequency of the travelling wave", "energy/hbar",
            "an angular frequency (energy / hbar)"),
        Key("phase", "float", 0.0, "phase", "rad", "a phase (rad)"),
    ), label="a 'cosine' potential"),
    "step": Table("step", "V = amplitude cos(omega t) [1 + tanh((x - x0) / width)] / 2", (
        _kind("step"), _AXIS, _AMPLITUDE,
        Key("x0", "float", REQUIRED, "position of the step", "length", _POSITION),
        Key("width", "float", REQUIRED, "width of the step", "length", _WIDTH, above=0.0),
        _OMEGA,
    ), label="a 'step' potential"),
    "barrier": Table("barrier", "V = amplitude cos(omega t) [tanh((x - x1) / width) - "
                     "tanh((x - x2) / width)] / 2", (
        _kind("barrier"), _AXIS, _AMPLITUDE,
        Key("x1", "float", REQUIRED, "left edge", "length", _POSITION),
        Key("x2", "float", REQUIRED, "right edge, > x1", "length", _POSITION),
        Key("width", "float", REQUIRED, "width of the edges", "length", _WIDTH, above=0.0),
        _OMEGA,
    ), label="a 'barrier' potential", relation=_barrier_relation),
    "harmonic": Table("harmonic", "V = -stiffness cos(omega t) (x - x0)^2 / 2: the potential "
                      "energy U = -V is a trap for stiffness > 0", (
        _kind("harmonic"), _AXIS,
        Key("stiffness", "float", REQUIRED, "curvature of the potential", "energy/length^2",
            "a number (energy / length^2)"),
        Key("x0", "float", REQUIRED, "centre", "length", _POSITION),
        _OMEGA,
    ), label="a 'harmonic' potential"),
    "tabulated": Table("tabulated", "V = cos(omega t) s(x), s the cubic spline through the "
                       "nodes (x, V), given inline or in a file; outside the nodes a natural "
                       "spline continues linearly", (
        _kind("tabulated"), _AXIS,
        Key("x", "list[float]", None, "node positions, strictly increasing, at least 4",
            "length", "a list of finite numbers", default_text="none"),
        Key("V", "list[float]", None, "potential at the nodes", "energy",
            "a list of finite numbers", default_text="none"),
        Key("file", "str", None, "a .npy, .csv or whitespace-separated two-column table "
            "(x, V), relative to the working directory", expect="a file path (string)",
            default_text="none"),
        Key("periodic", "bool", False, "periodic spline of period x[-1] - x[0] (needs "
            "V[-1] = V[0])"),
        _OMEGA,
    ), label="a 'tabulated' potential"),
}


def _product_relation(prefix: str, values: dict):
    factors = values["factors"]
    if len(factors) != 2:
        raise ConfigError(f"{prefix}.factors: has {len(factors)} table"
                          f"{'' if len(factors) == 1 else 's'}; expected two, one "
                          "with axis = \"x\" and one with axis = \"y\"")
    axis = factors[1]["axis"]
    if factors[0]["axis"] == axis:
        raise bad_value(f"{prefix}.factors[1].axis", axis,
                        f"{'y' if axis == 'x' else 'x'!r}: a product has one factor along x "
                        "and one along y")


_FACTOR = Union("[[fields.potential.factors]]", "One factor of a product potential",
                tag="kind", variants=_PROFILES)

POTENTIAL = Union("[[fields.potential]]", "One component V_c(x, t) of the potential profile",
                  tag="kind", variants={**_PROFILES,
    "product": Table("product", "V = amplitude f(x, t) g(y, t): the product of two profiles, "
                     "the factors f along x and g along y, their values read as "
                     "dimensionless numbers (give them amplitude 1 for a product of shapes)", (
        _kind("product"), _AMPLITUDE,
        Key("factors", "array", REQUIRED, "the two factors, tables of the kinds above "
            "(cosine, step, barrier, harmonic, tabulated), one with axis = \"x\" and one "
            "with axis = \"y\"",
            expect="an array of two tables [[fields.potential.factors]]", item=_FACTOR),
    ), label="a 'product' potential", relation=_product_relation),
})

FIELDS = Table("fields", "Electric fields: the electrostatic potential V(x, t) = -E(t) . r "
               "+ the sum of the [[fields.potential]] components, with the uniform field E(t) "
               "= ramp(t) [E + E_ac cos(omega t + phase)]; potential energy U = -V (e = 1)", (
    Key("E", "vector", (0.0, 0.0), "uniform DC field (Ex[, Ey])", "energy/(e length)",
        "a number or a list of 1 or 2 numbers (Ex, Ey)"),
    Key("E_ac", "vector", (0.0, 0.0), "amplitude of the uniform AC field (Ex[, Ey])",
        "energy/(e length)", "a number or a list of 1 or 2 numbers (Ex, Ey)"),
    Key("omega", "float", 0.0, "angular frequency of the AC field", "energy/hbar",
        "an angular frequency >= 0 (energy / hbar)", min=0.0),
    Key("phase", "float", 0.0, "phase of the AC field", "rad", "a phase (rad)"),
    Key("ramp_time", "float", 0.0, "ramp(t) = sin^2(pi t / (2 ramp_time)) up to ramp_time, "
        "then 1; 0: no ramp", "hbar/energy", "a time >= 0 (hbar / energy)", min=0.0),
    Key("potential", "array", (), "the profile components, each a table [[fields.potential]]",
        expect="an array of tables [[fields.potential]]", item=POTENTIAL),
))

_PARAMETERS = Key("parameters", "table[float]", {}, "values of the model's parameters "
                  "(name = number)", expect="a finite real number", default_text="{}")
_DOMAIN = Key("domain", "domain", "bz", "k domain: \"bz\" (Brillouin zone) or a box "
              "[[kmin, kmax], ...], one pair per k direction (or one pair for all)",
              "1/length")
_CUTOFF = Key("cutoff", "float", None, "radius of a momentum cutoff |k| < cutoff of a box "
              "domain", "1/length", "a positive momentum", above=0.0, default_text="none")
_DEGENERACY = Key("degeneracy", "str", "auto", "band-mode treatment of degenerate bands: "
                  "auto (traced where needed at order >= 1), error, traced",
                  choices=("auto", "error", "traced"))

MODEL = Union("[model]", "The Hamiltonian H0(k): a registered model or a user expression; "
              "without a [model] table, the chain (name = \"chain\")",
              select=lambda table: ("user" if "hamiltonian" in table
                                    else "registered" if "name" in table else None),
              missing="expected either name = \"<registered model>\" or hamiltonian = \"...\"",
              variants={
    "registered": Table("registered", "A model of moyal.models (name = \"qwz\", ...)", (
        Key("name", "str", REQUIRED, "registered model name (moyal.models)"),
        _PARAMETERS,
        dataclasses.replace(_DOMAIN, default=None, default_text="the model's"),
        _CUTOFF, _DEGENERACY,
    ), label="a registered model"),
    "user": Table("user", "A Hamiltonian matrix written in k and the parameters "
                  "(hamiltonian = \"...\")", (
        Key("hamiltonian", "str", REQUIRED, "the matrix, e.g. \"kx*sx + ky*sy + m*sz\" (Pauli "
            "matrices s0, sx, sy, sz, kron, Matrix, sin, cos, sqrt, exp, ...)"),
        Key("name", "str", "user", "name stored with the output"),
        _PARAMETERS, _DOMAIN, _CUTOFF,
        Key("dimension", "int", None, "number of k directions; from the symbols used if "
            "absent", expect="1 or 2", choices=(1, 2), default_text="from kx, ky"),
        Key("degenerate", "bool", False, "bands known to be degenerate everywhere"),
        Key("units", "table[str]", {"energy": "E0", "length": "L0"}, "unit names of the "
            "model (energy, length)", default_text='{energy = "E0", length = "L0"}'),
        _DEGENERACY,
    ), label="a user Hamiltonian"),
})

#: Every table of a run config, in the order of the reference.
TABLES = {"run": RUN, "units": UNITS, "model": MODEL, "mode": MODE, "grid": GRID,
          "fields": FIELDS, "initial": INITIAL, "collisions": COLLISIONS,
          "numerics": NUMERICS, "response": RESPONSE}


# ---------------------------------------------------------------------------- reference
def _default_text(key: Key) -> str:
    if key.default_text:
        return key.default_text
    if key.default is REQUIRED:
        return "required"
    value = key.default
    if isinstance(value, tuple):
        value = list(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    return str(value)


def _rows(table: Table) -> list[str]:
    rows = ["| key | type | default | unit | accepted | meaning |",
            "|---|---|---|---|---|---|"]
    for key in table.keys:
        cells = [f"`{key.name}`", _TYPE_TEXT.get(key.type, key.type),
                 f"`{_default_text(key)}`", key.unit or "-", key.expected, key.doc]
        rows.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return rows


def markdown() -> str:
    """The configuration reference (``docs/config.md``): every table and key with its type,
    default, unit, accepted values and meaning."""
    lines = ["# Configuration reference", "",
             "Generated from `solvers/schema.py` by `python -m solvers.schema --markdown` "
             "(also printed by `moyal-run --list-keys`); do not edit by hand.", "",
             "A run config is a TOML file of the tables below; every key is optional unless "
             "marked required, and an unknown key is refused with the nearest valid one "
             "named. Override a key on the command line with `table.key=value` (a TOML "
             "value; a bare word is a string). Units: the config names its energy and length "
             "units in `[units]`; hbar = e = k_B = 1, so time is in hbar/energy, angular "
             "frequencies in energy/hbar, fields in energy/(e length), momenta in 1/length.",
             ""]
    for name, table in TABLES.items():
        if isinstance(table, Union):
            lines += [f"## {table.name}", "", table.doc + ".", ""]
            if table.tag:
                lines += [f"Chosen by `{table.tag}`: "
                          + ", ".join(f"`{v}`" for v in table.variants) + ".", ""]
            else:
                lines += ["A registered model when `name` is given without `hamiltonian`, "
                          "a user Hamiltonian when `hamiltonian` is given.", ""]
            for variant in table.variants.values():
                lines += [f"### {table.name} {variant.name}", "", variant.doc + ".", ""]
                lines += _rows(variant) + [""]
            continue
        lines += [f"## [{name}]", "", table.doc + ".", ""] + _rows(table) + [""]
        for key in table.keys:
            if key.item is not None:
                lines += [f"### {key.item.name}", "", key.item.doc + "; chosen by "
                          f"`{key.item.tag}`: "
                          + ", ".join(f"`{v}`" for v in key.item.variants) + ".", ""]
                for variant in key.item.variants.values():
                    lines += [f"#### {key.item.name} kind = \"{variant.name}\"", "",
                              variant.doc + ".", ""] + _rows(variant) + [""]
    return "\n".join(lines).rstrip("\n") + "\n"


def main(argv: list[str] | None = None) -> int:
    """``python -m solvers.schema --markdown``: print the reference."""
    argv = sys.argv[1:] if argv is None else argv
    if argv != ["--markdown"]:
        print("usage: python -m solvers.schema --markdown", file=sys.stderr)
        return 2
    sys.stdout.write(markdown())
    return 0


if __name__ == "__main__":
    sys.exit(main())
