"""ctypes loader of the fused C band-mode kernel (``numerics.backend = "c"``).

``moyal/_generated/band_mode.c`` is printed by :mod:`moyal.codegen` from the same kernel IR
as the numpy kernels and compiled by ``scripts/install.sh`` with the venv's ``mpicc`` into
:data:`LIBRARY`, with the sha256 of the source and the compile flags compiled in. Loading
checks, in this order, that the library exists and loads, that it was built from the
committed source (else: stale), with the flags install.sh uses (:data:`moyal.abi.
COMPILE_FLAGS`, no value-changing tuning flag), and that its argument struct has the size of
the :mod:`ctypes` mirror built from :data:`moyal.abi.FIELDS`; each failure is one
:class:`solvers.errors.ConfigError` naming what mismatched, raised at setup, before any
compute. Which band tables and potential derivatives a rate function reads comes from the
generated modules' IR (:func:`moyal.ir.layout_arguments`), the same records the C printer
used.

The kernel computes what :meth:`solvers.band_mode.BandModeOperator.rate` computes for the
flux terms of orders 0-2, operation for operation, in one pass over a rank's ghosted block;
it does not import sympy.
"""

from __future__ import annotations

import ctypes
import hashlib
import importlib
from pathlib import Path

import numpy as np

from moyal import abi, ir
from solvers.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]
#: the generated source the library must be built from
SOURCE = ROOT / "moyal" / "_generated" / "band_mode.c"
#: where scripts/install.sh puts the compiled library (recreated by `make install`)
LIBRARY = ROOT / "build" / "kernels" / "libmoyal_band.so"

_DOUBLE_P = ctypes.POINTER(ctypes.c_double)
#: ctypes mirror of the C argument struct (moyal.abi.FIELDS)
_Arguments = abi.ctypes_structure()


def _string(library, name: str) -> str:
    """A NUL-terminated ``const char name[]`` exported by the library."""
    return ctypes.string_at(ctypes.addressof(ctypes.c_char.in_dll(library, name))).decode()


def flags_problem(flags: str) -> str | None:
    """Why a library compiled with ``flags`` may not agree with numpy, or None.

    scripts/install.sh compiles with ``<tuning> COMPILE_FLAGS`` (:mod:`moyal.abi`); the
    tuning flags may be any but those in :data:`moyal.abi.VALUE_CHANGING_FLAGS`.
    """
    if not (flags == abi.COMPILE_FLAGS or flags.endswith(" " + abi.COMPILE_FLAGS)):
        return f"not ending in {abi.COMPILE_FLAGS!r}"
    unsafe = [f for f in flags.split() if f in abi.VALUE_CHANGING_FLAGS]
    return f"value-changing {' '.join(unsafe)}" if unsafe else None


def load_library(library: Path = LIBRARY, source: Path = SOURCE) -> ctypes.CDLL:
    """The compiled kernel library, checked to be built from the current ``source`` with
    the install flags and this ABI.

    Raises
    ------
    ConfigError
        The library is missing or cannot be loaded, was built from another source or with
        other flags, or its argument struct has another size.
    """
    rebuild = (f"expected a library built from {source} by `make install` "
               "(scripts/install.sh), or numerics.backend = 'numpy'")
    if not library.exists():
        raise ConfigError(f"numerics.backend = 'c': compiled kernel library {library} is "
                          f"missing; {rebuild}")
    try:
        handle = ctypes.CDLL(str(library))
        built_from = _string(handle, "moyal_source_sha256")
        flags = _string(handle, "moyal_compile_flags")
        size = ctypes.c_int64.in_dll(handle, "moyal_band_args_size").value
    except (OSError, ValueError) as err:
        raise ConfigError(f"numerics.backend = 'c': {library} cannot be loaded ({err}); "
                          f"{rebuild}") from None
    current = hashlib.sha256(source.read_bytes()).hexdigest()
    if built_from != current:
        raise ConfigError(f"numerics.backend = 'c': {library} is stale (built from a "
                          f"{source.name} with sha256 {built_from[:12]}, the source now has "
                          f"{current[:12]}); {rebuild}")
    problem = flags_problem(flags)
    if problem is not None:
        raise ConfigError(f"numerics.backend = 'c': {library} was compiled with flags "
                          f"{flags!r} ({problem}); {rebuild}")
    if size != ctypes.sizeof(_Arguments):
        raise ConfigError(f"numerics.backend = 'c': {library} has a {size}-byte "
                          f"{abi.STRUCT}, moyal.abi describes {ctypes.sizeof(_Arguments)} "
                          f"bytes; {rebuild}")
    return handle


def band_rate_kernel(layout: tuple, order: int, library: Path = LIBRARY,
                     source: Path = SOURCE) -> BandRateKernel:
    """The fused rate function of one grid layout and band-mode order.

    Raises
    ------
    ConfigError
        No compiled kernel for this layout and order, or the library is missing, stale,
        built with other flags or for another ABI.
    """
    layout = tuple(layout)
    if layout not in abi.LAYOUTS:
        grids = ", ".join(f"({', '.join(a)})" for a in abi.LAYOUTS)
        raise ConfigError(f"numerics.backend = 'c': no fused kernel on a ({', '.join(layout)}) "
                          f"grid; expected one of the grids {grids}, or "
                          "numerics.backend = 'numpy'")
    if order not in abi.ORDERS:
        raise ConfigError(f"numerics.backend = 'c': no fused kernel for mode.order = {order}; "
                          f"expected mode.order in {list(abi.ORDERS)} or "
                          "numerics.backend = 'numpy'")
    handle = load_library(library, source)
    k_dimension = len([d for d in layout if d != "x"])
    kernels = importlib.import_module(f"moyal._generated.band_mode_{k_dimension}d").KERNELS
    return BandRateKernel(handle, abi.function_name(layout, order),
                          ir.layout_arguments(kernels, layout, order))


class BandRateKernel:
    """One compiled rate function and the argument names it reads.

    Attributes
    ----------
    tables : tuple of str
        Band-table names (:func:`solvers.coefficients.band_table`), in argument order.
    potentials : tuple of str
        Potential-derivative names (``V_dx`` ...), in argument order.
    limiters, schemes : tuple of str
        Limiter and flux names in the order of the C enums.
    """

    limiters, schemes = abi.LIMITERS, abi.SCHEMES

    def __init__(self, handle: ctypes.CDLL, name: str, arguments: tuple):
        self.name = name
        self.function = getattr(handle, name)
        self.function.argtypes = [ctypes.POINTER(_Arguments)]
        self.function.restype = ctypes.c_int
        tables, potentials = arguments
        self.tables = tuple(a.name for a in tables)
        self.potentials = tuple(a.name for a in potentials)

    def bind(self, cells, ghost: int, tables: dict, face_weights: dict, centred_weights,
             limiter: str, scheme: str):
        """Fix the grid geometry, band tables and numerics; returns ``rate(f, out, V)``.

        Parameters
        ----------
        cells : list of (ndarray, ndarray)
            Ghosted centres and widths per grid axis (seams unwrapped), 1 to 3 axes.
        ghost : int
            Ghost cells on each side of every grid axis (and of the tables' k axes).
        tables : dict of str -> ndarray, shape (bands, nkx_g[, nky_g])
            Band tables on the ghosted k cells, for at least :attr:`tables`.
        face_weights : dict of (axis, order) -> ndarray, shape (n + 1, 4)
            :func:`solvers.fluxes.face_weights` per grid axis and derivative order 0 .. 3.
        centred_weights : list of ndarray, shape (n, 3)
            :func:`solvers.fluxes.centred_weights` per grid axis.
        limiter, scheme : str
            One of :attr:`limiters` and :attr:`schemes`.
        """
        if limiter not in self.limiters or scheme not in self.schemes:
            raise ConfigError(f"numerics.limiter = {limiter!r}, numerics.flux = {scheme!r}: "
                              f"expected a limiter in {self.limiters} and a flux in "
                              f"{self.schemes} for numerics.backend = 'c'")
        return _BoundRate(self, cells, ghost, tables, face_weights, centred_weights,
                          self.limiters.index(limiter), self.schemes.index(scheme))


def _pointer(array: np.ndarray):
    return array.ctypes.data_as(_DOUBLE_P)


def _pointers(arrays):
    return (_DOUBLE_P * max(len(arrays), 1))(*map(_pointer, arrays))


def _strides(array: np.ndarray) -> list[int]:
    if array.dtype != np.float64 or any(s % 8 for s in array.strides):
        raise ValueError(f"expected an aligned float64 array, got {array.dtype} strides "
                         f"{array.strides}")
    return [s // 8 for s in array.strides]


class _BoundRate:
    """A compiled rate bound to one rank's block geometry (see :meth:`BandRateKernel.bind`)."""

    def __init__(self, kernel, cells, ghost, tables, face_weights, centred_weights, limiter,
                 scheme):
        self.kernel = kernel
        self.dim = len(cells)
        # contiguous copies owned here: the C side keeps raw pointers to them
        self._cells = [(np.ascontiguousarray(c, dtype=float),
                        np.ascontiguousarray(w, dtype=float)) for c, w in cells]
        self._tables = [np.ascontiguousarray(tables[name], dtype=float)
                        for name in kernel.tables]
        self._weights = [[np.ascontiguousarray(face_weights[axis, order], dtype=float)
                          for order in range(4)] for axis in range(self.dim)]
        self._centred = [np.ascontiguousarray(w, dtype=float) for w in centred_weights]
        self.args = args = _Arguments()
        padding = abi.MAX_AXES - self.dim
        args.ghost[:] = [ghost] * self.dim + [0] * padding
        args.centres[:] = [_pointer(c) for c, _ in self._cells] + [None] * padding
        args.widths[:] = [_pointer(w) for _, w in self._cells] + [None] * padding
        extent = list(self._tables[0].shape[1:]) if self._tables else [1]
        args.table_extent[:] = (extent + [1])[:2]
        args.table_ghost = ghost
        for axis in range(self.dim):
            args.face_weights[axis][:] = [_pointer(w) for w in self._weights[axis]]
            args.centred_weights[axis] = _pointer(self._centred[axis])
        self._table_pointers = _pointers(self._tables)
        args.tables = self._table_pointers
        args.limiter, args.scheme = limiter, scheme

    def __call__(self, f: np.ndarray, out: np.ndarray, potential_faces, potential_centres,
                 potential_ghosted):
        """``out[...] = -sum_a d_a J^a`` from the ghosted block ``f``.

        Parameters
        ----------
        f : ndarray, shape (bands, *ghosted)
        out : ndarray, shape (bands, *owned), float64, written
        potential_faces, potential_centres, potential_ghosted : list of ndarray
            Per name in ``kernel.potentials``: values at the owned x faces (n_x + 1), the
            owned x centres (n_x) and the ghosted x centres (one value each without an x
            axis), contiguous float64.
        """
        args, padding = self.args, abi.MAX_AXES - self.dim
        owned = [c.size - 2 * args.ghost[i] for i, (c, _) in enumerate(self._cells)]
        bands = self._tables[0].shape[0] if self._tables else f.shape[0]
        if f.shape != (bands, *(c.size for c, _ in self._cells)) or \
                out.shape != (bands, *owned) or not out.flags.writeable:
            raise ValueError(f"f {f.shape} / out {out.shape}: expected a ghosted and a "
                             f"writeable owned block of the bound grid, {bands} bands, "
                             f"owned cells {owned}")
        args.f, args.out = _pointer(f), _pointer(out)
        args.bands = bands
        args.n[:] = owned + [1] * padding
        args.f_stride[:] = _strides(f) + [0] * padding
        args.out_stride[:] = _strides(out) + [0] * padding
        faces, centres = _pointers(potential_faces), _pointers(potential_centres)
        ghosted = _pointers(potential_ghosted)
        args.potential_faces, args.potential_centres = faces, centres
        args.potential_ghosted = ghosted
        if self.kernel.function(ctypes.byref(args)) != 0:
            raise MemoryError(f"{self.kernel.name}: cannot allocate the face-flux buffers")
