"""Band-geometry conductivities of a Bloch Hamiltonian over a list of chemical potentials.

Usage::

    python -m scripts.conductivity CONFIG.toml [--json] [--si] [--out PATH]
        [--energy-unit-eV VALUE] [--length-unit-m VALUE]

The config has a ``[model]`` table (``name = "qwz"`` plus ``parameters``, or a user
``hamiltonian``; see :func:`moyal.models.model_from_config`) and a ``[response]`` table::

    [response]
    mu = [-1.5, -1.4, 0.0]   # chemical potentials (E0)
    temperature = 0.0        # k_B T in E0; 0 = step occupation
    grid = [400, 400]        # k points per direction
    tau = 1.0                # optional, in hbar/E0; tensors are per power of tau when omitted
    quantities = ["drude", "ahe", "nonlinear_drude", "bcd", "qm_wpd", "qm_lka", "qm_qk"]
    forms = { bcd = "surface" }   # optional: "sea" or "surface" per quantity

Writes an HDF5 file (``output/conductivity_<model>.h5`` unless ``--out``) and a PNG plot
next to it; the "wrote" line and the forms used go to stderr.  Stdout holds a table, one row
per (mu, tensor, component) with its value and unit, in the model's units (``[model] units``
names, e.g. eV and nm; E0 and L0 when unnamed) or, with ``--si``, in SI.  The unit of a rank-r
tensor (j_a = sigma_ab E_b + sigma_abc E_b E_c in d dimensions) is
[current density] / [field]^(r-1) = e^r E0^(2-r) L0^(r-d) / hbar: e^2/hbar L0^(2-d) for
``drude`` and ``ahe``, e^3 L0^(3-d) / (hbar E0) for the quadratic tensors.  Components at or
below the rounding floor of their k-sum (see :func:`rounding_floors`) print as
"0 (by symmetry)".  With ``--json`` stdout holds exactly one JSON object instead (see
:func:`as_json`).  A bad config or an impossible ``--si`` prints a one-line error naming key,
value and expectation and exits with status 2 before any compute or file is written.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tomllib
from pathlib import Path

import numpy as np

from moyal import __version__
from moyal.geometry import GeometryError, band_geometry, k_grid
from moyal.models import ModelError, model_from_config
from moyal.response import (DEFAULT_FORM_RULE, QUANTITIES, component_labels, default_form,
                            integrand, occupation_weights, response_tensors)

RESPONSE_KEYS = {"mu", "temperature", "grid", "tau", "quantities", "forms"}

# Exact values of the SI defining constants: BIPM, "The International System of Units (SI)",
# 9th edition (2019), Table 1; CODATA 2018 (Tiesinga et al., Rev. Mod. Phys. 93, 025010
# (2021)) uses them unchanged.
ELEMENTARY_CHARGE = 1.602176634e-19  # C
PLANCK = 6.62607015e-34  # J s
HBAR = PLANCK / (2 * math.pi)  # J s
#: Energy unit names of ``[model] units.energy`` that ``--si`` converts, in J.
ENERGY_UNITS = {"eV": ELEMENTARY_CHARGE, "meV": 1e-3 * ELEMENTARY_CHARGE, "J": 1.0}
#: Length unit names of ``[model] units.length`` that ``--si`` converts, in m.
LENGTH_UNITS = {"m": 1.0, "cm": 1e-2, "mm": 1e-3, "um": 1e-6, "nm": 1e-9, "Angstrom": 1e-10}
ZERO_BY_SYMMETRY = "0 (by symmetry)"


class ConfigError(ValueError):
    """Invalid configuration value (message names key, value and expectation)."""


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) \
        and np.isfinite(value)


def parse_response(table, dimension: int) -> dict:
    """Validate the ``[response]`` table; returns a dict of checked values."""
    if not isinstance(table, dict):
        raise ConfigError("[response]: expected a table")
    extra = sorted(set(table) - RESPONSE_KEYS)
    if extra:
        raise ConfigError(f"[response] unknown key(s) {', '.join(extra)}: expected "
                          f"{', '.join(sorted(RESPONSE_KEYS))}")
    mu = table.get("mu")
    if _is_number(mu):
        mu = [mu]
    if not (isinstance(mu, list) and mu and all(_is_number(m) for m in mu)):
        raise ConfigError(f"[response] mu = {mu!r}: expected a non-empty list of numbers")
    temperature = table.get("temperature", 0.0)
    if not (_is_number(temperature) and temperature >= 0):
        raise ConfigError(f"[response] temperature = {temperature!r}: expected a number >= 0")
    grid = table.get("grid")
    if not (isinstance(grid, list) and len(grid) == dimension
            and all(isinstance(n, int) and not isinstance(n, bool) and n >= 4 for n in grid)):
        raise ConfigError(f"[response] grid = {grid!r}: expected {dimension} integer(s) >= 4 "
                          "(k points per direction)")
    tau = table.get("tau")
    if tau is not None and not (_is_number(tau) and tau > 0):
        raise ConfigError(f"[response] tau = {tau!r}: expected a positive number (hbar/E0)")
    quantities = table.get("quantities", list(QUANTITIES))
    if not (isinstance(quantities, list) and quantities
            and all(isinstance(q, str) for q in quantities)):
        raise ConfigError(f"[response] quantities = {quantities!r}: expected a list of "
                          f"names from {', '.join(QUANTITIES)}")
    unknown = [q for q in quantities if q not in QUANTITIES]
    if unknown:
        raise ConfigError(f"[response] quantities = {quantities!r}: unknown {unknown}; "
                          f"expected names from {', '.join(QUANTITIES)}")
    forms = table.get("forms", {})
    if not isinstance(forms, dict):
        raise ConfigError(f"[response] forms = {forms!r}: expected a table quantity = form")
    for q, form in forms.items():
        if q not in quantities:
            raise ConfigError(f"[response] forms.{q} = {form!r}: expected a key from "
                              f"quantities {quantities}")
        if form not in QUANTITIES[q].forms:
            raise ConfigError(f"[response] forms.{q} = {form!r}: expected one of "
                              f"{list(QUANTITIES[q].forms)}")
    return {"mu": [float(m) for m in mu], "temperature": float(temperature),
            "grid": grid, "tau": None if tau is None else float(tau),
            "quantities": list(dict.fromkeys(quantities)), "forms": dict(forms)}


def load_config(path: Path):
    """Read and validate a config; returns (model, response dict, raw TOML text)."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"config {str(path)!r}: cannot read ({exc.strerror})") from None
    try:
        config = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config {str(path)!r}: invalid TOML ({exc})") from None
    extra = sorted(set(config) - {"model", "response"})
    if extra:
        raise ConfigError(f"config: unknown table(s) {', '.join(extra)}: expected [model] "
                          "and [response]")
    for name in ("model", "response"):
        if name not in config:
            raise ConfigError(f"config: missing [{name}] table")
    try:
        model = model_from_config(config["model"])
    except ModelError as exc:
        raise ConfigError(f"[model] {exc}") from None
    units = model.units
    if not (isinstance(units, dict) and set(units) <= {"energy", "length"}
            and all(isinstance(v, str) and v for v in units.values())):
        raise ConfigError(f"[model] units = {units!r}: expected a table "
                          '{ energy = "<name>", length = "<name>" }, e.g. eV and nm')
    return model, parse_response(config["response"], model.dimension), text


def unit_powers(rank: int, dimension: int) -> dict:
    """Powers of e, hbar, energy E and length L in the unit of a rank-``rank`` tensor.

    sigma maps rank - 1 fields to a current density: [j] = e E / (hbar L^(d-1)) (charge per
    time per cross-section) and [field] = E / (e L), so [sigma] = [j] / [field]^(rank-1) =
    e^rank E^(2-rank) L^(rank-d) / hbar (tau measured in hbar/E).
    """
    return {"e": rank, "hbar": -1, "E": 2 - rank, "L": rank - dimension}


def format_unit(powers: dict, names: dict) -> str:
    """``{"e": 3, "hbar": -1, "E": -1, "L": 1}`` -> ``"e^3 nm/(hbar eV)"`` for names
    ``{"E": "eV", "L": "nm"}`` (symbols without a name, e.g. e and hbar, print as given)."""
    def factor(symbol, power):
        name = names.get(symbol, symbol)
        return name if power == 1 else f"{name}^{power}"
    upper = [factor(s, p) for s, p in powers.items() if p > 0]
    lower = [factor(s, -p) for s, p in powers.items() if p < 0]
    text = " ".join(upper) or "1"
    if lower:
        text += "/" + (lower[0] if len(lower) == 1 else f"({' '.join(lower)})")
    return text


def si_unit(rank: int, dimension: int) -> str:
    """SI unit of a rank-``rank`` tensor: S m^(2-d) (linear), A m^(rank-d) / V^(rank-1)."""
    current = {"S": 1} if rank == 2 else {"A": 1, "V": 1 - rank}
    return format_unit({**current, "m": rank - dimension}, {})


def si_factor(rank: int, dimension: int, energy_J: float, length_m: float) -> float:
    """Value of the model-unit e^r E0^(2-r) L0^(r-d) / hbar in :func:`si_unit`."""
    powers = unit_powers(rank, dimension)
    return (ELEMENTARY_CHARGE ** powers["e"] * HBAR ** powers["hbar"]
            * energy_J ** powers["E"] * length_m ** powers["L"])


def unit_names(model) -> dict:
    """Energy and length unit names of a model (``E0``, ``L0`` when unnamed)."""
    return {"E": model.units.get("energy", "E0"), "L": model.units.get("length", "L0")}


def si_scales(model, energy_unit_eV=None, length_unit_m=None, required=False):
    """(E0 in J, L0 in m) from ``[model] units`` or the command-line overrides.

    Returns ``None`` when a unit is not convertible and ``required`` is false; raises
    :class:`ConfigError` naming the key when ``required`` (``--si``).
    """
    names = unit_names(model)
    scales = []
    for symbol, key, table, override, factor, flag in (
            ("E", "energy", ENERGY_UNITS, energy_unit_eV, ELEMENTARY_CHARGE,
             "--energy-unit-eV"),
            ("L", "length", LENGTH_UNITS, length_unit_m, 1.0, "--length-unit-m")):
        if override is not None:
            scales.append(override * factor)
        elif names[symbol] in table:
            scales.append(table[names[symbol]])
        elif required:
            raise ConfigError(f"[model] units.{key} = {names[symbol]!r}: expected one of "
                              f"{', '.join(table)} for --si (or give {flag} VALUE)")
        else:
            return None
    return tuple(scales)


def term_scale(geometry, quantity: str, form: str) -> np.ndarray:
    """Size of a tensor's integrand at each (k, n), shape (*grid, N): max over components
    of |I|, and for the Berry-curvature tensors at least the size of the rounding error of
    the curvature itself.

    Omega_n^{ab} = -2 Im sum_m A^a_nm A^b_mn is a sum of N terms whose moduli add up to at
    most sqrt(g^aa g^bb) <= tr g_n (Cauchy-Schwarz), so its rounding error is about
    N eps tr g_n even where Omega_n vanishes pointwise (e.g. a degenerate PT-symmetric
    multiplet); the derivative d_c Omega is bounded the same way by N max|d_c g|.
    """
    shape = geometry.energy.shape
    size = np.abs(integrand(geometry, quantity, form)).reshape(-1, *shape).max(axis=0)
    if quantity not in ("ahe", "bcd"):
        return size
    n_bands = shape[-1]
    trace = np.trace(geometry.quantum_metric)
    if quantity == "ahe":
        curvature = trace
    elif form == "sea":
        curvature = np.abs(geometry.quantum_metric_derivative).reshape(-1, *shape).max(axis=0)
    else:
        curvature = np.abs(geometry.velocity).max(axis=0) * trace
    return np.maximum(size, n_bands * curvature)


def rounding_floors(geometry, grid, mu, temperature: float, forms: dict) -> dict:
    """Rounding floor of each tensor's k-sum, per chemical potential.

    A tensor component is the sum of the n non-zero terms I(k, n) w(k, n) (integrand times
    weight, see :func:`moyal.response.response_tensors`).  Its floor is n eps max|term|,
    with the largest |term| (:func:`term_scale`) over all components of the tensor: at
    least eps sum|term|, the rounding error of a blocked (BLAS) summation, though below the
    worst-case bound (n - 1) eps sum|term|.  A component at or below the floor is zero to
    working precision: a symmetry (or the tensor's own index symmetry) cancels it.  An
    O(dk^2) discretisation error that breaks a symmetry is far above the floor and stays a
    number.

    Returns
    -------
    dict
        quantity -> array (n_mu,), in the tensor's units (per power of tau).
    """
    largest = {q: term_scale(geometry, q, form) for q, form in forms.items()}
    floors = {q: np.zeros(len(mu)) for q in forms}
    for index, weights in enumerate(occupation_weights(geometry, grid, mu, temperature,
                                                       set(forms.values()))):
        for q, form in forms.items():
            terms = largest[q] * np.abs(weights[form])
            floors[q][index] = np.count_nonzero(terms) * np.finfo(float).eps * terms.max()
    return floors


def compute(model, response: dict):
    """Tensors per quantity, shape (n_mu, d, d[, d]), and their rounding floors, shape
    (n_mu,) (:func:`rounding_floors`); tau applied to both when given."""
    grid = k_grid(model, response["grid"])
    geometry = band_geometry(model, grid)
    tensors = response_tensors(geometry, grid, response["mu"], response["temperature"],
                               response["quantities"], response["forms"])
    forms = {q: form for q, (form, _) in chosen_forms(model, response).items()}
    floors = rounding_floors(geometry, grid, response["mu"], response["temperature"], forms)
    if response["tau"] is not None:
        scale = {q: response["tau"] ** QUANTITIES[q].tau_power for q in tensors}
        tensors = {q: t * scale[q] for q, t in tensors.items()}
        floors = {q: f * scale[q] for q, f in floors.items()}
    return tensors, floors


def zero_by_symmetry(values: np.ndarray, floor: np.ndarray) -> np.ndarray:
    """True where a component of ``values`` (n_mu, d, d[, d]) is at or below its tensor's
    rounding floor ``floor`` (n_mu,) while the k-sum has non-zero terms (floor > 0)."""
    floor = floor.reshape((-1,) + (1,) * (values.ndim - 1))
    return (floor > 0) & (np.abs(values) <= floor)


def rows(model, response: dict, tensors: dict, floors: dict, scales=None) -> list:
    """One dict per (mu, tensor, component): value (model units), unit, SI unit and factor
    (``None`` when ``scales`` is), and ``zero`` = ``"symmetry"`` for a component at or below
    its tensor's rounding floor while the k-sum has non-zero terms, else ``None``."""
    names = unit_names(model)
    d = model.dimension
    out = []
    for i, mu in enumerate(response["mu"]):
        for q, values in tensors.items():
            rank = QUANTITIES[q].rank
            factor = None if scales is None else si_factor(rank, d, *scales)
            zero = zero_by_symmetry(values, floors[q])
            for label, index in component_labels(rank, d):
                value = float(values[(i,) + index])
                out.append({"mu": mu, "tensor": q, "component": label, "value": value,
                            "unit": format_unit(unit_powers(rank, d), names),
                            "si_unit": si_unit(rank, d), "si_factor": factor,
                            "zero": "symmetry" if zero[(i,) + index] else None})
    return out


def format_table(model, response: dict, table: list, si: bool, scales=None) -> str:
    """The stdout table: '#' header lines, then columns separated by two or more spaces.

    Values print with 10 significant digits; a component at or below its tensor's rounding
    floor as "0 (by symmetry)", an exactly zero sum without a non-zero term (no states at
    mu, or an integrand that vanishes identically) as "0".  ``si`` converts with ``scales``
    (E0 in J, L0 in m, from :func:`si_scales`).
    """
    names = unit_names(model)
    powers = {q: QUANTITIES[q].tau_power for q in response["quantities"]}
    parameters = ", ".join(f"{k} = {v:g}" for k, v in model.parameters.items())
    tau_unit = f"hbar/{names['E']}"
    if response["tau"] is None:
        tau = (f"tau not set: each tensor at tau = 1 {tau_unit}"
               + (f" = {HBAR / scales[0]:.6e} s" if si else "")
               + "; multiply by tau^p, p = "
               + ", ".join(f"{q} {p}" for q, p in powers.items()))
    else:
        tau = f"tau = {response['tau']:g} {tau_unit}" \
            + (f" = {response['tau'] * HBAR / scales[0]:.6e} s" if si else "")
    lines = [f"# {model.name} ({parameters}), grid {' x '.join(map(str, response['grid']))}, "
             f"T = {response['temperature']:g} {names['E']}",
             f"# {tau}",
             "# j_a = sigma_ab E_b + sigma_abc E_b E_c; " + (
                 f"SI with e = {ELEMENTARY_CHARGE} C, h = {PLANCK} J s (exact, SI 2019), "
                 f"{names['E']} = {scales[0]:.10g} J, {names['L']} = {scales[1]:.10g} m"
                 if si else "model units, hbar = e = k_B = 1")]
    header = (f"mu [{names['E']}]", "tensor", "component", "value", "unit")
    body = []
    for row in table:
        value = row["value"] * row["si_factor"] if si else row["value"]
        body.append((f"{row['mu']:g}", row["tensor"], row["component"],
                     ZERO_BY_SYMMETRY if row["zero"] else "0" if value == 0
                     else f"{value:.9e}",
                     row["si_unit"] if si else row["unit"]))
    widths = [max(len(r[c]) for r in [header] + body) for c in range(len(header))]
    lines += ["  ".join(f"{cell:<{w}}" for cell, w in zip(r, widths)).rstrip()
              for r in [header] + body]
    return "\n".join(lines) + "\n"


def metadata(model, response: dict, scales=None) -> dict:
    """Model, grid, temperature, tau, forms, units, moyal version and git commit."""
    from solvers.output import git_hash

    names = unit_names(model)
    return {"model": model.name, "description": model.description,
            "parameters": dict(model.parameters),
            "domain": {"kind": model.domain.kind, "bounds": [list(b) for b in
                                                             model.domain.bounds],
                       "cutoff": model.domain.cutoff},
            "units": {"energy": names["E"], "length": names["L"],
                      "tau": f"hbar/{names['E']}", "convention": "hbar = e = k_B = 1",
                      "energy_J": None if scales is None else scales[0],
                      "length_m": None if scales is None else scales[1],
                      "si_constants": {"e_C": ELEMENTARY_CHARGE, "h_J_s": PLANCK,
                                       "source": "SI brochure, 9th ed. (2019), exact"}},
            "grid": list(response["grid"]), "temperature": response["temperature"],
            "tau": response["tau"],
            "tau_powers": {q: QUANTITIES[q].tau_power for q in response["quantities"]},
            "tau_note": "tau not set: each tensor at tau = 1 hbar/E0 (per power of tau)"
            if response["tau"] is None else "tau applied",
            "forms": {q: {"form": form, "choice": how}
                      for q, (form, how) in chosen_forms(model, response).items()},
            "zero_rule": "zero = 'symmetry' when |value| <= n eps max|term| of the k-sum",
            "convention": "j_a = sigma_ab E_b + sigma_abc E_b E_c",
            "moyal_version": __version__, "git_commit": git_hash()}


def as_json(model, response: dict, tensors: dict, table: list, scales=None) -> dict:
    """The ``--json`` object: ``metadata``, ``mu`` and ``{quantity: {indices: [one value
    per mu]}}`` in model units, and ``rows``, one per (mu, tensor, component) with value,
    unit, SI unit, SI factor (``null`` when the units are not convertible), SI value and
    ``zero`` (``"symmetry"`` or ``null``)."""
    out = {"metadata": metadata(model, response, scales), "mu": list(response["mu"])}
    for q, values in tensors.items():
        out[q] = {label: [float(v) for v in values[(slice(None),) + index]]
                  for label, index in component_labels(QUANTITIES[q].rank, model.dimension)}
    out["rows"] = [{**row, "si_value": None if row["si_factor"] is None
                    else row["value"] * row["si_factor"]} for row in table]
    return out


def chosen_forms(model, response: dict) -> dict:
    """quantity -> (form, how it was chosen): ``[response] forms`` or the default rule."""
    return {q: (response["forms"][q], "set in [response] forms") if q in response["forms"]
            else (default_form(q, model.domain.periodic, response["temperature"]),
                  DEFAULT_FORM_RULE)
            for q in response["quantities"]}


def write_hdf5(path: Path, model, response: dict, tensors: dict, config_text: str,
               scales=None):
    """The HDF5 file: one dataset per tensor with ``units`` (model units, as in the table),
    ``si_unit`` and ``si_factor`` (NaN when ``scales``, E0 in J and L0 in m, is None)."""
    import h5py

    forms = chosen_forms(model, response)
    names = unit_names(model)
    tmp = path.with_suffix(path.suffix + ".tmp")
    with h5py.File(tmp, "w") as f:
        f.attrs["model"] = model.name
        f.attrs["hamiltonian"] = str(model.hamiltonian.tolist())
        f.attrs["parameters"] = json.dumps(dict(model.parameters))
        f.attrs["energy_unit"] = model.units.get("energy", "E0")
        f.attrs["length_unit"] = model.units.get("length", "L0")
        f.attrs["temperature"] = response["temperature"]
        f.attrs["grid"] = response["grid"]
        f.attrs["tau"] = "per power of tau (value at tau = 1 hbar/E0)" \
            if response["tau"] is None else response["tau"]
        f.attrs["units_note"] = ("hbar = e = k_B = 1; E0, L0 = energy_unit, length_unit; "
                                 "tau in hbar/E0; j_a = sigma_ab E_b + sigma_abc E_b E_c")
        f.attrs["config"] = config_text
        mu = f.create_dataset("mu", data=np.asarray(response["mu"]))
        mu.attrs["units"] = names["E"]
        for q, values in tensors.items():
            quantity = QUANTITIES[q]
            dataset = f.create_dataset(q, data=values)
            dataset.attrs["units"] = format_unit(unit_powers(quantity.rank, model.dimension),
                                                 names)
            dataset.attrs["si_unit"] = si_unit(quantity.rank, model.dimension)
            dataset.attrs["si_factor"] = np.nan if scales is None \
                else si_factor(quantity.rank, model.dimension, *scales)
            dataset.attrs["tau_power"] = quantity.tau_power
            dataset.attrs["form"], dataset.attrs["form_choice"] = forms[q]
            dataset.attrs["description"] = quantity.description
            dataset.attrs["axes"] = "mu, then tensor indices (x, y)"
    os.replace(tmp, path)


def write_plot(path: Path, model, response: dict, tensors: dict, floors: dict):
    """One panel per tensor, in the model's units; components that are zero at every mu
    (by symmetry, :func:`zero_by_symmetry`, or exactly) are not drawn but named."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(tensors)
    columns = min(n, 3)
    rows = -(-n // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(4.2 * columns, 3.2 * rows), squeeze=False)
    for ax, (q, values) in zip(axes.flat, tensors.items()):
        symmetric = zero_by_symmetry(values, floors[q])
        zero = symmetric | (values == 0)
        hidden, why = [], "0"
        for label, index in component_labels(QUANTITIES[q].rank, model.dimension):
            series = (slice(None),) + index
            if np.all(zero[series]):
                hidden.append(label)
                why = ZERO_BY_SYMMETRY if np.any(symmetric[series]) else why
            else:
                ax.plot(response["mu"], values[series], marker=".", label=label)
        if not ax.lines:
            ax.set_yticks([])
            ax.set_xlim(min(response["mu"]) - 0.5, max(response["mu"]) + 0.5)
        if hidden:
            ax.text(0.5, 0.5 if not ax.lines else 0.02,
                    f"{why}: " + ("all components" if not ax.lines else ", ".join(hidden)),
                    transform=ax.transAxes, ha="center",
                    va="center" if not ax.lines else "bottom", fontsize=7, color="0.3")
        ax.set_title(q)
        ax.set_xlabel(f"mu [{unit_names(model)['E']}]")
        ax.set_ylabel(format_unit(unit_powers(QUANTITIES[q].rank, model.dimension),
                                  unit_names(model)), fontsize=7)
        if ax.lines:
            ax.legend(fontsize=6)
    for ax in axes.flat[n:]:
        ax.axis("off")
    fig.suptitle(f"{model.name}, T = {response['temperature']}, grid {response['grid']}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="moyal-conductivity", description=__doc__.split("\n")[0])
    parser.add_argument("config", type=Path)
    parser.add_argument("--json", action="store_true", help="print one JSON object to stdout")
    parser.add_argument("--si", action="store_true",
                        help="print the table in SI units (needs convertible [model] units "
                             "or the two options below)")
    parser.add_argument("--energy-unit-eV", type=float, metavar="VALUE",
                        help="the model's energy unit E0 in eV (overrides [model] units)")
    parser.add_argument("--length-unit-m", type=float, metavar="VALUE",
                        help="the model's length unit L0 in metres (overrides [model] units)")
    parser.add_argument("--out", type=Path, help="HDF5 output path (PNG written next to it)")
    args = parser.parse_args(argv)
    try:
        for flag, value in (("--energy-unit-eV", args.energy_unit_eV),
                            ("--length-unit-m", args.length_unit_m)):
            if value is not None and not (np.isfinite(value) and value > 0):
                raise ConfigError(f"{flag} = {value!r}: expected a positive number")
        model, response, text = load_config(args.config)
        scales = si_scales(model, args.energy_unit_eV, args.length_unit_m, required=args.si)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    out = args.out or Path("output") / f"conductivity_{model.name}.h5"
    try:
        tensors, floors = compute(model, response)
    except GeometryError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    out.parent.mkdir(parents=True, exist_ok=True)
    write_hdf5(out, model, response, tensors, text, scales)
    write_plot(out.with_suffix(".png"), model, response, tensors, floors)
    print(f"wrote {out} and {out.with_suffix('.png')}", file=sys.stderr)
    chosen = chosen_forms(model, response)
    print("forms: " + ", ".join(f"{q} = {form}" + ("" if how == DEFAULT_FORM_RULE else
                                                    f" ({how})")
                                for q, (form, how) in chosen.items())
          + f" ({DEFAULT_FORM_RULE})", file=sys.stderr)
    table = rows(model, response, tensors, floors, scales)
    if args.json:
        json.dump(as_json(model, response, tensors, table, scales), sys.stdout)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(format_table(model, response, table, args.si, scales))
    return 0


if __name__ == "__main__":
    sys.exit(main())
