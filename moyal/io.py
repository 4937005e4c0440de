"""Readers of the solver's output files, returning labelled arrays (h5py and numpy only).

::

    from moyal.io import open_run

    with open_run("output/NAME.h5") as run:
        f = run["f"]                  # Labelled: values (n_w, dof, *cells), dims, coords, units
        last = run.read("f", -1)      # one write: dims (band, x, kx)
        current = run["current"]      # dims (t, direction, x)
        energy = run["energy"]        # eps_n(k) of the evolved bands, dims (band, kx)

:func:`open_run` reads a run file ``NAME.h5`` in either output mode (``gathered``, or
``per_rank`` with its virtual dataset over ``NAME.ranks/``, which must lie beside it);
:func:`open_response` a field sweep's ``NAME_response.h5``; :func:`open_checkpoint` a
checkpoint index ``NAME.chk.h5`` with its blocks, assembled into the whole state (read-only;
the digests are checked by the solver's restart, not here). The layout of the files is
docs/output.md. Files are opened without HDF5 file locking, so a file can be read while a
run writes it; a run's arrays cover the complete writes only (the shortest of ``/scales/t``
and the tasks).

Every array is a :class:`Labelled`: ``values`` with a name per dimension, cell centres (or
labels) as coordinates, cell edges where the dimension is a phase-space axis, and units
(hbar = e = k_B = 1; the energy unit E and length unit L are the run's ``units``).
:meth:`Labelled.to_xarray` converts to an ``xarray.DataArray`` when xarray is installed
(an optional extra, not a dependency of moyal).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np

__all__ = ["Labelled", "Run", "Response", "Checkpoint", "open_run", "open_response",
           "open_checkpoint", "component_labels"]

DIRECTIONS = ("x", "y")  # names of the current's and field's components


@dataclass
class Labelled:
    """An array with named dimensions, coordinates and units.

    Attributes
    ----------
    values : ndarray
    dims : tuple of str
        One name per axis of ``values`` (e.g. ``("t", "band", "x", "kx")``).
    coords : dict
        ``dim -> 1D array`` of the values along that dimension (cell centres, times, band
        indices, component names); dimensions without a coordinate are left out.
    units : str
        Units of ``values``.
    edges : dict
        ``dim -> cell edges`` (one more than the cells) for the phase-space axes.
    coord_units : dict
        ``dim -> units`` of the coordinates that have units.
    name : str
    attrs : dict
        Further metadata (e.g. ``mu`` and ``temperature`` of an equilibrium).
    """

    values: np.ndarray
    dims: tuple
    coords: dict = field(default_factory=dict)
    units: str = ""
    edges: dict = field(default_factory=dict)
    coord_units: dict = field(default_factory=dict)
    name: str = ""
    attrs: dict = field(default_factory=dict)

    def __post_init__(self):
        self.values = np.asarray(self.values)
        self.dims = tuple(self.dims)
        if len(self.dims) != self.values.ndim:
            raise ValueError(f"{self.name or 'array'}: dims {self.dims} for an array of shape "
                             f"{self.values.shape}")
        for dim, coord in self.coords.items():
            size = self.values.shape[self.dims.index(dim)]
            if np.shape(coord) != (size,):
                raise ValueError(f"{self.name or 'array'}: coordinate {dim!r} has shape "
                                 f"{np.shape(coord)}, the dimension has {size} entries")
        for dim, edge in self.edges.items():
            size = self.values.shape[self.dims.index(dim)]
            if np.shape(edge) != (size + 1,):
                raise ValueError(f"{self.name or 'array'}: edges of {dim!r} have shape "
                                 f"{np.shape(edge)}, expected ({size + 1},)")

    @property
    def shape(self) -> tuple:
        return self.values.shape

    def widths(self, dim: str) -> np.ndarray:
        """Cell widths along the phase-space axis ``dim`` (units of its coordinate)."""
        return np.diff(self.edges[dim])

    def xarray_arguments(self) -> dict:
        """Keyword arguments of ``xarray.DataArray`` for this array: ``data``, ``dims``,
        ``coords`` (centres, and ``<dim>_width`` for the cell widths of the phase-space
        axes, each with its ``units``), ``name`` and ``attrs`` (``units``, the metadata and
        ``<dim>_edges``)."""
        coords = {}
        for dim, coord in self.coords.items():
            unit = self.coord_units.get(dim)
            coords[dim] = (dim, np.asarray(coord), {"units": unit} if unit else {})
        for dim in self.edges:
            unit = self.coord_units.get(dim)
            coords[f"{dim}_width"] = (dim, self.widths(dim), {"units": unit} if unit else {})
        attrs = {"units": self.units, **self.attrs,
                 **{f"{dim}_edges": np.asarray(e) for dim, e in self.edges.items()}}
        return {"data": self.values, "dims": self.dims, "coords": coords,
                "name": self.name or None, "attrs": attrs}

    def to_xarray(self):
        """This array as an ``xarray.DataArray`` (see :meth:`xarray_arguments`).

        Raises
        ------
        ImportError
            If xarray is not installed (it is optional: ``pip install xarray``).
        """
        try:
            import xarray
        except ImportError:
            raise ImportError("to_xarray needs xarray, an optional extra of moyal: "
                              "pip install xarray") from None
        return xarray.DataArray(**self.xarray_arguments())


def component_labels(n_bands: int) -> np.ndarray:
    """Names of the N*N packed components of a Wigner matrix (matrix mode): ``F00``, ...,
    then ``Re F01``, ``Im F01``, ... for i < j in row-major order."""
    rows, cols = np.triu_indices(n_bands, 1)
    labels = [f"F{i}{i}" for i in range(n_bands)]
    for i, j in zip(rows, cols):
        labels += [f"Re F{i}{j}", f"Im F{i}{j}"]
    return np.array(labels)


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _json_attr(attrs, key, default=None):
    return json.loads(_text(attrs[key])) if key in attrs else default


class Run:
    """A run file ``NAME.h5`` opened for reading; use as a context manager or :meth:`close`.

    Attributes
    ----------
    path : Path
    config : dict
        The resolved configuration of the run (every key, docs/config.md).
    units : dict
        ``{"energy": ..., "length": ...}``.
    axes : tuple of str
        Phase-space axes in order, e.g. ``("x", "kx")``.
    mode : str
        Output mode, ``"gathered"`` or ``"per_rank"``.
    version : str
        Code version that wrote the file.
    n_writes : int
        Complete writes: the shortest of ``/scales/t`` and the tasks.
    t : ndarray
        Times of the complete writes (hbar/E).
    iteration, write_number : ndarray
        Time-step number and write number of each write.
    restarts : list of dict
        The restarts of the run (``t``, ``step``, ``changed``, ``date``).
    centres, edges : dict
        ``axis -> cell centres`` and ``axis -> cell edges`` (L for x, y; 1/L for kx, ky).
    names : tuple of str
        What :meth:`read` and ``run[name]`` give: the tasks, ``current_harmonic`` (AC runs)
        and the ``/model`` arrays (``energy``, ``f_eq``, ``potential``) present.
    """

    def __init__(self, path):
        self.path = Path(path)
        self._h5 = h5py.File(self.path, "r", locking=False)
        try:
            self._load()
        except Exception:
            self._h5.close()
            raise

    def _load(self):
        h5 = self._h5
        if not isinstance(h5.get("scales"), h5py.Group) or "tasks" not in h5:
            raise ValueError(f"{self.path} is not a run file (no /scales/t and /tasks); "
                             "expected NAME.h5 of a run (open_response reads "
                             "NAME_response.h5, open_checkpoint NAME.chk.h5)")
        attrs = h5.attrs
        self.config = _json_attr(attrs, "config", {})
        self.units = _json_attr(attrs, "units", {"energy": "E", "length": "L"})
        self.axes = tuple(_json_attr(attrs, "axes", []))
        self.mode = _text(attrs.get("mode", "gathered"))
        self.restarts = _json_attr(attrs, "restarts", [])
        self.version = _text(attrs.get("version", ""))
        tasks = h5["tasks"]
        self.n_writes = min([h5["scales/t"].shape[0]] + [ds.shape[0] for ds in tasks.values()])
        self.t = h5["scales/t"][: self.n_writes]
        self.iteration = h5["scales/iteration"][: self.n_writes]
        self.write_number = h5["scales/write_number"][: self.n_writes]
        self.centres = {a: h5["grid"][a][...] for a in self.axes}
        self.edges = {a: h5["grid"][f"{a}_edges"][...] for a in self.axes}
        self._model = dict(h5.get("model", {}).items())
        harmonics = "current_harmonic" if "analysis/current_harmonic_re" in h5 else None
        self.names = tuple(tasks) + ((harmonics,) if harmonics else ()) + tuple(self._model)

    # -- dimensions ------------------------------------------------------------------------

    @property
    def x_axes(self) -> tuple:
        """The real-space axes (``x``, ``y``) present."""
        return tuple(a for a in self.axes if a in ("x", "y"))

    @property
    def k_axes(self) -> tuple:
        """The momentum axes (``kx``[, ``ky``])."""
        return tuple(a for a in self.axes if a not in ("x", "y"))

    @property
    def is_matrix(self) -> bool:
        """Whether the run is in matrix mode (f holds packed Wigner matrices)."""
        return self.config.get("mode", {}).get("kind") == "matrix"

    def _x_dims(self) -> tuple:
        # the observables' real-space dims; a run without x has one "x" entry (the sample)
        return self.x_axes or ("x",)

    def _dof_coord(self, size: int) -> tuple[str, np.ndarray]:
        if self.is_matrix:
            return "component", component_labels(int(round(np.sqrt(size))))
        if "energy" in self._model and "bands" in self._model["energy"].attrs:
            return "band", np.asarray(self._model["energy"].attrs["bands"])
        bands = self.config.get("mode", {}).get("bands") or range(size)
        return "band", np.asarray(list(bands))

    def _dims(self, name: str, shape: tuple) -> tuple[tuple, dict]:
        """Dimension names and label coordinates of a task (without the write axis)."""
        x_dims = self._x_dims()
        directions = np.array(DIRECTIONS[: len(self.k_axes)])
        if name == "f":
            dof, labels = self._dof_coord(shape[0])
            return (dof,) + self.axes, {dof: labels}
        if name in ("density", "band_energy"):
            return x_dims, {}
        if name == "current":
            return ("direction",) + x_dims, {"direction": directions}
        if name == "field":
            return ("direction",), {"direction": directions}
        if name == "band_population":
            return ("band",) + x_dims, {"band": np.arange(shape[0])}
        return tuple(f"{name}_{i}" for i in range(len(shape))), {}

    def _labelled(self, name, values, dims, labels, units, attrs=None, t=None) -> Labelled:
        """A Labelled with the axes' centres, edges and units; ``t``: times of the writes."""
        coords = dict(labels)
        edges, coord_units = {}, {}
        for dim in dims:
            if dim in self.axes and values.shape[dims.index(dim)] == self.centres[dim].size:
                coords[dim], edges[dim] = self.centres[dim], self.edges[dim]
                length = self.units["length"]
                coord_units[dim] = length if dim in ("x", "y") else f"1/{length}"
        if t is not None:
            coords["t"] = t
            coord_units["t"] = f"hbar/{self.units['energy']}"
        return Labelled(values, dims, coords, units, edges, coord_units, name, attrs or {})

    # -- reading ---------------------------------------------------------------------------

    def read(self, name: str, writes=slice(None)) -> Labelled:
        """One array of the file.

        Parameters
        ----------
        name : str
            One of :attr:`names`.
        writes : int or slice
            For a task: the writes to read (of the complete ones); an int drops the ``t``
            dimension. Ignored for the other arrays.

        Returns
        -------
        Labelled
        """
        h5 = self._h5
        if name in h5["tasks"]:
            ds = h5["tasks"][name]
            index = np.arange(self.n_writes)[writes]
            dims, labels = self._dims(name, ds.shape[1:])
            units = _text(ds.attrs.get("units", ""))
            if not np.ndim(index):
                return self._labelled(name, ds[int(index)], dims, labels, units)
            if index.size:  # one contiguous read (h5py slices step forward only)
                first = int(index.min())
                values = ds[first: int(index.max()) + 1][index - first]
            else:
                values = np.empty((0,) + ds.shape[1:])
            return self._labelled(name, values, ("t",) + dims, labels, units, t=self.t[index])
        if name == "current_harmonic" and name in self.names:
            group = h5["analysis"]
            values = group["current_harmonic_re"][...] + 1j * group["current_harmonic_im"][...]
            dims, labels = self._dims("current", values.shape[1:])
            units = _text(group["current_harmonic_re"].attrs.get(
                "units", h5["tasks/current"].attrs.get("units", "")))
            return self._labelled(name, values, ("harmonic",) + dims,
                                  {**labels, "harmonic": np.arange(values.shape[0])}, units,
                                  {"convention": "j(t) = Re sum_n J_n exp(-i n omega t)"})
        if name in self._model:
            ds = self._model[name]
            dims = tuple(_json_attr(ds.attrs, "dims"))
            labels = {}
            if dims and dims[0] == "band" and "bands" in ds.attrs:
                labels["band"] = np.asarray(ds.attrs["bands"])
            elif dims and dims[0] in ("band", "component"):
                labels.update([self._dof_coord(ds.shape[0])])
            attrs = {k: (v.item() if isinstance(v, np.generic) else _text(v))
                     for k, v in ds.attrs.items() if k not in ("units", "dims", "bands")}
            return self._labelled(name, ds[...], dims, labels, _text(ds.attrs["units"]), attrs)
        raise KeyError(f"{name!r} is not in {self.path}; expected one of {list(self.names)}")

    def __getitem__(self, name: str) -> Labelled:
        return self.read(name)

    def __contains__(self, name: str) -> bool:
        return name in self.names

    def close(self):
        self._h5.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self):
        return (f"Run({str(self.path)!r}, axes={self.axes}, writes={self.n_writes}, "
                f"names={list(self.names)})")


def open_run(path) -> Run:
    """Open a run file ``NAME.h5`` (gathered or per_rank) for reading; see :class:`Run`."""
    return Run(path)


@dataclass
class Response:
    """A field sweep's response file ``NAME_response.h5``.

    Attributes
    ----------
    path : Path
    scales : ndarray
        Field scales s of the runs, in their order.
    field_strength : float
        |E| of ``fields.E`` (E/(e L)).
    field_direction : ndarray
        E/|E| along the k directions.
    steady_current : Labelled
        dims ``(run, direction)``: steady current of each run minus its initial one.
    sigma1, sigma2 : Labelled
        dims ``(direction,)``: j_a = sigma1_a |E| + sigma2_a |E|^2 + ...
    predicted_sigma1, predicted_sigma2 : Labelled or None
        The k-space formulas for the same model (when the file has them).
    runs : list of Path
        The run files, next to the response file.
    units : dict
        ``{"energy", "length"}`` of the runs (from the first run file found; ``E`` and ``L``
        if none is).
    text, description : str
        The summary the run printed, and the method.
    """

    path: Path
    scales: np.ndarray
    field_strength: float
    field_direction: np.ndarray
    steady_current: Labelled
    sigma1: Labelled
    sigma2: Labelled
    predicted_sigma1: Labelled | None
    predicted_sigma2: Labelled | None
    runs: list
    units: dict
    text: str
    description: str


def response_units(energy: str, length: str, dk: int) -> dict:
    """Units of the response file's arrays for the energy and length names and dk k axes
    (e = hbar = 1): ``steady_current``, ``sigma1``, ``sigma2``, ``field_strength``."""
    return {"steady_current": f"e {energy} {length}^{1 - dk}/hbar",
            "sigma1": "e^2/hbar" + (f" {length}^{2 - dk}" if dk != 2 else ""),
            "sigma2": f"e^3 {length}^{3 - dk}/(hbar {energy})",
            "field_strength": f"{energy}/(e {length})"}


def open_response(path) -> Response:
    """Read a response file ``NAME_response.h5`` (docs/output.md); see :class:`Response`.

    A dataset's own ``units`` attribute is used when present; otherwise the units follow
    from the run files' energy and length names.
    """
    path = Path(path)
    with h5py.File(path, "r", locking=False) as h5:
        runs = [path.parent / Path(_text(r)).name for r in h5["runs"][...]]
        units = {"energy": "E", "length": "L"}
        for run in runs:
            if run.is_file():
                with h5py.File(run, "r", locking=False) as first:
                    units = _json_attr(first.attrs, "units", units)
                break
        dk = h5["sigma1"].shape[0]
        default = response_units(units["energy"], units["length"], dk)
        directions = np.array(DIRECTIONS[:dk])

        def labelled(name, dims, unit_of):
            if name not in h5:
                return None
            ds = h5[name]
            coords = {"direction": directions}
            if "run" in dims:
                coords["run"] = np.arange(ds.shape[0])
            return Labelled(ds[...], dims, coords,
                            _text(ds.attrs.get("units", default[unit_of])), name=name)

        return Response(
            path=path, scales=h5["scales"][...], field_strength=float(h5["field_strength"][()]),
            field_direction=h5["field_direction"][...],
            steady_current=labelled("steady_current", ("run", "direction"), "steady_current"),
            sigma1=labelled("sigma1", ("direction",), "sigma1"),
            sigma2=labelled("sigma2", ("direction",), "sigma2"),
            predicted_sigma1=labelled("predicted_sigma1", ("direction",), "sigma1"),
            predicted_sigma2=labelled("predicted_sigma2", ("direction",), "sigma2"),
            runs=runs, units=units, text=_text(h5.attrs.get("text", "")),
            description=_text(h5.attrs.get("description", "")))


@dataclass
class Checkpoint:
    """A checkpoint assembled from its blocks.

    Attributes
    ----------
    path : Path
    state : Labelled
        The whole state, dims ``(band | component, *axes)``, cell centres and edges.
    t, dt : float
        Time and time step (hbar/E).
    step : int
    config : dict
    axes : tuple of str
    extra : dict
        The extras equal on every rank (e.g. ``chemical_potential`` without x axis).
    ranks : int
        Ranks of the writer.
    format_version : int
    """

    path: Path
    state: Labelled
    t: float
    dt: float
    step: int
    config: dict
    axes: tuple
    extra: dict
    ranks: int
    format_version: int


def open_checkpoint(path) -> Checkpoint:
    """Read a checkpoint index ``NAME.chk.h5`` and assemble the state from its blocks
    (``NAME.chk.ranks/g<N>/rank_<r>.h5``); no PETSc, any number of writer ranks.

    Raises
    ------
    ValueError
        If the blocks do not cover every cell.
    """
    path = Path(path)
    with h5py.File(path, "r", locking=False) as h5:
        attrs = h5.attrs
        axes = tuple(_json_attr(attrs, "axes"))
        edges = {a: h5["grid"][f"{a}_edges"][...] for a in axes}
        config = json.loads(_text(attrs["config"]))
        dof = int(attrs["dof"])
        generation = path.parent / _text(attrs["generation"])
        blocks = _json_attr(attrs, "blocks")
        meta = {"t": float(attrs["t"]), "dt": float(attrs["dt"]), "step": int(attrs["step"]),
                "ranks": int(attrs["ranks"]), "format_version": int(attrs["format_version"])}
        extra = {name: ds[()] for name, ds in h5.get("extra", {}).items()}
    state = np.full((dof,) + tuple(e.size - 1 for e in edges.values()), np.nan)
    for entry in blocks:
        with h5py.File(generation / entry["file"], "r", locking=False) as block:
            state[(slice(None),) + tuple(slice(s, e) for s, e in entry["ranges"])] = \
                block["state"][...]
    if np.isnan(state).any():  # a written state never holds NaN
        raise ValueError(f"{path}: the blocks of {generation} do not cover every cell")
    matrix = config.get("mode", {}).get("kind") == "matrix"
    if matrix:
        dof_dim, labels = "component", component_labels(int(round(np.sqrt(dof))))
    else:
        dof_dim, labels = "band", np.asarray(config.get("mode", {}).get("bands")
                                             or range(dof))
    length = config.get("units", {}).get("length", "L")
    labelled = Labelled(
        state, (dof_dim,) + axes,
        {dof_dim: labels, **{a: 0.5 * (e[1:] + e[:-1]) for a, e in edges.items()}},
        "packed Hermitian Wigner matrix" if matrix else "occupation per band (cell averages)",
        edges, {a: length if a in ("x", "y") else f"1/{length}" for a in axes}, "state")
    return Checkpoint(path=path, state=labelled, config=config, axes=axes, extra=extra, **meta)
