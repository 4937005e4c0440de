"""The C ABI of the fused band-mode kernel, defined once.

:mod:`moyal.codegen` prints the C argument struct from :data:`FIELDS` (:func:`c_struct`);
:mod:`solvers.ckernels` builds the matching :mod:`ctypes` structure from the same list
(:func:`ctypes_structure`) and checks it against ``sizeof`` as the library reports it. The
grid layouts, orders, limiters and fluxes the library exports, their C names, and the
compile flags ``scripts/install.sh`` uses are here too. No sympy, no numpy.
"""

from __future__ import annotations

import ctypes

#: grid axes a rate function walks (unused axes: n = 1, ghost = 0); the loop nest and line
#: buffers of the C templates in moyal.codegen (C_RATE) are written for this many
MAX_AXES = 3
#: grid layouts (axis names, x first) and band-mode orders the C kernel covers
LAYOUTS = (("kx",), ("kx", "ky"), ("x", "kx"), ("x", "kx", "ky"))
ORDERS = (0, 1, 2)
#: limiter and flux names in the order of the C enums
LIMITERS = ("minmod", "vanleer", "mc", "none")
SCHEMES = ("upwind", "llf")
#: C name of the argument struct
STRUCT = "moyal_band_args"

#: compile flags scripts/install.sh appends to the tuning flags (MOYAL_KERNEL_CFLAGS, default
#: "-O3 -march=native"): -ffp-contract=off keeps a*b+c unfused, as numpy computes it, so the
#: C and numpy rates agree to rounding
COMPILE_FLAGS = "-std=c99 -ffp-contract=off -fPIC -shared"
#: tuning flags that change floating-point results (refused by the loader)
VALUE_CHANGING_FLAGS = ("-ffast-math", "-Ofast", "-funsafe-math-optimizations",
                        "-fassociative-math", "-freciprocal-math", "-ffinite-math-only",
                        "-fno-signed-zeros")

#: the argument struct: (name, C type, array shape, comment), in memory order. One rate
#: evaluation on a rank's block; strides are in doubles; f is ghosted, out owned.
FIELDS = (
    ("f", "const double *", (), "ghosted distribution (bands, *ghosted cells)"),
    ("out", "double *", (), "rate on the owned cells, written"),
    ("bands", "int64_t", (), ""),
    ("n", "int64_t", (MAX_AXES,), "owned cells per grid axis"),
    ("ghost", "int64_t", (MAX_AXES,), "ghost cells each side per grid axis"),
    ("f_stride", "int64_t", (MAX_AXES + 1,), "band, then each grid axis"),
    ("out_stride", "int64_t", (MAX_AXES + 1,), ""),
    ("centres", "const double *", (MAX_AXES,), "ghosted centres per axis, seams unwrapped"),
    ("widths", "const double *", (MAX_AXES,), "ghosted cell widths per axis"),
    ("table_extent", "int64_t", (2,), "ghosted kx[, ky] band-table extent (1: none)"),
    ("table_ghost", "int64_t", (), "ghost cells each side of the band tables"),
    ("tables", "const double *const *", (), "(bands, kx[, ky]) C order, ghosted k"),
    ("potential_faces", "const double *const *", (), "V derivatives at the owned x faces"),
    ("potential_centres", "const double *const *", (), "V derivatives at owned x centres "
                                                       "(or [1])"),
    ("potential_ghosted", "const double *const *", (), "V derivatives at ghosted x centres "
                                                       "(or [1])"),
    ("face_weights", "const double *", (MAX_AXES, 4), "(n + 1, 4) per axis, derivative order 0-3"),
    ("centred_weights", "const double *", (MAX_AXES,), "(n, 3) per axis"),
    ("limiter", "int32_t", (), "index into LIMITERS"),
    ("scheme", "int32_t", (), "index into SCHEMES"),
)

_DOUBLE_P = ctypes.POINTER(ctypes.c_double)
_CTYPES = {"const double *": _DOUBLE_P, "double *": _DOUBLE_P, "int64_t": ctypes.c_int64,
           "int32_t": ctypes.c_int32, "const double *const *": ctypes.POINTER(_DOUBLE_P)}


def function_name(layout: tuple, order: int) -> str:
    """Exported C name of the rate function for grid axes ``layout`` and band-mode order."""
    return f"moyal_band_{'_'.join(layout)}_order{order}"


def c_struct() -> str:
    """The C typedef of the argument struct."""
    lines = ["typedef struct {"]
    for name, ctype, shape, comment in FIELDS:
        declaration = f"    {ctype}{'' if ctype.endswith('*') else ' '}{name}" \
                      + "".join(f"[{n}]" for n in shape) + ";"
        lines.append(f"{declaration:<40} /* {comment} */" if comment else declaration)
    return "\n".join(lines + [f"}} {STRUCT};"])


def ctypes_structure() -> type:
    """A :class:`ctypes.Structure` with the layout of :func:`c_struct`."""
    fields = []
    for name, ctype, shape, _ in FIELDS:
        kind = _CTYPES[ctype]
        for n in reversed(shape):
            kind = kind * n
        fields.append((name, kind))
    return type("BandArguments", (ctypes.Structure,), {"_fields_": fields,
                                                        "__doc__": f"ctypes mirror of {STRUCT}"})
