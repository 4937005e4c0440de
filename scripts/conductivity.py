"""Band-geometry conductivities of a Bloch Hamiltonian over a list of chemical potentials.

Usage::

    python -m scripts.conductivity CONFIG.toml [--json] [--out PATH]

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
next to it.  With ``--json`` stdout holds exactly one JSON object
``{"mu": [...], "<quantity>": {"<indices>": [one value per mu]}}``.  A bad config prints a
one-line error naming key, value and expectation and exits with status 2 before any file is
written.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tomllib
from pathlib import Path

import numpy as np

from moyal.geometry import GeometryError, band_geometry, k_grid
from moyal.models import ModelError, model_from_config
from moyal.response import (DEFAULT_FORM_RULE, QUANTITIES, component_labels, default_form,
                            response_tensors)

RESPONSE_KEYS = {"mu", "temperature", "grid", "tau", "quantities", "forms"}


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
    return model, parse_response(config["response"], model.dimension), text


def compute(model, response: dict) -> dict:
    """Tensors per quantity, shape (n_mu, d, d[, d]), tau applied when given."""
    grid = k_grid(model, response["grid"])
    geometry = band_geometry(model, grid)
    tensors = response_tensors(geometry, grid, response["mu"], response["temperature"],
                               response["quantities"], response["forms"])
    if response["tau"] is not None:
        tensors = {q: t * response["tau"] ** QUANTITIES[q].tau_power
                   for q, t in tensors.items()}
    return tensors


def as_json(mu, tensors: dict, dimension: int) -> dict:
    """The ``{"mu": [...], quantity: {indices: [...]}}`` object."""
    out = {"mu": list(mu)}
    for q, values in tensors.items():
        out[q] = {label: [float(v) for v in values[(slice(None),) + index]]
                  for label, index in component_labels(QUANTITIES[q].rank, dimension)}
    return out


def chosen_forms(model, response: dict) -> dict:
    """quantity -> (form, how it was chosen): ``[response] forms`` or the default rule."""
    return {q: (response["forms"][q], "set in [response] forms") if q in response["forms"]
            else (default_form(q, model.domain.periodic, response["temperature"]),
                  DEFAULT_FORM_RULE)
            for q in response["quantities"]}


def write_hdf5(path: Path, model, response: dict, tensors: dict, config_text: str):
    import h5py

    forms = chosen_forms(model, response)
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
        mu.attrs["units"] = "E0"
        for q, values in tensors.items():
            quantity = QUANTITIES[q]
            dataset = f.create_dataset(q, data=values)
            dataset.attrs["units"] = quantity.unit(model.dimension)
            dataset.attrs["tau_power"] = quantity.tau_power
            dataset.attrs["form"], dataset.attrs["form_choice"] = forms[q]
            dataset.attrs["description"] = quantity.description
            dataset.attrs["axes"] = "mu, then tensor indices (x, y)"
    os.replace(tmp, path)


def write_plot(path: Path, model, response: dict, tensors: dict):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(tensors)
    columns = min(n, 3)
    rows = -(-n // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(4.2 * columns, 3.2 * rows), squeeze=False)
    for ax, (q, values) in zip(axes.flat, tensors.items()):
        for label, index in component_labels(QUANTITIES[q].rank, model.dimension):
            series = values[(slice(None),) + index]
            if np.any(np.abs(series) > 1e-12 * max(1.0, np.max(np.abs(values)))):
                ax.plot(response["mu"], series, marker=".", label=label)
        ax.set_title(q)
        ax.set_xlabel("mu [E0]")
        ax.set_ylabel(QUANTITIES[q].unit(model.dimension), fontsize=7)
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
    parser.add_argument("--out", type=Path, help="HDF5 output path (PNG written next to it)")
    args = parser.parse_args(argv)
    try:
        model, response, text = load_config(args.config)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    out = args.out or Path("output") / f"conductivity_{model.name}.h5"
    try:
        tensors = compute(model, response)
    except GeometryError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    out.parent.mkdir(parents=True, exist_ok=True)
    write_hdf5(out, model, response, tensors, text)
    write_plot(out.with_suffix(".png"), model, response, tensors)
    print(f"wrote {out} and {out.with_suffix('.png')}", file=sys.stderr)
    chosen = chosen_forms(model, response)
    print("forms: " + ", ".join(f"{q} = {form}" + ("" if how == DEFAULT_FORM_RULE else
                                                    f" ({how})")
                                for q, (form, how) in chosen.items())
          + f" ({DEFAULT_FORM_RULE})", file=sys.stderr)
    if args.json:
        json.dump(as_json(response["mu"], tensors, model.dimension), sys.stdout)
        sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
