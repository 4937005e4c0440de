"""Kernel IR: what each generated kernel computes, as plain data.

Each module in ``moyal/_generated`` carries a ``KERNELS`` tuple next to its functions: one
record per function, saying which term of the kinetic equation it is (direction, derivative
multi-indices, order in hbar, kind) and what each argument is (:class:`FieldRef`: which
physical quantity, which tensor components and derivatives, and which of x, y, k, t, band it
depends on). :mod:`moyal.codegen` lowers the symbolic terms to these records once; the
numpy operators (:mod:`solvers.band_mode`, :mod:`solvers.matrix_mode`), the C printer and the
C loader read them. The function a record describes is ``getattr(module, record.name)``; the
name is a label and is never parsed.

Records are frozen dataclasses (hashable, printable, comparable) and round-trip through plain
Python literals (:func:`to_literal`, :func:`from_literal`, :func:`literal_source`), so a
generated module holds them as source text. This module imports neither sympy nor numpy.

Axis names: ``x``, ``y`` (real space, length), ``kx``, ``ky`` (momentum, 1/length); ``t``
(time) may appear in a field's derivative. A derivative multi-index is a tuple of axis names
in the canonical order of :data:`ORDER`, one entry per derivative: ``("kx", "kx")`` is
d_kx^2, ``("x", "t")`` is d_x d_t.
"""

from __future__ import annotations

import pprint
from dataclasses import dataclass

#: phase-space axis names, real space first
AXES = ("x", "y", "kx", "ky")
#: canonical order of the entries of a derivative multi-index
ORDER = AXES + ("t",)
#: what a field can depend on: real-space position, momentum, time, band index
DEPENDENCIES = ("x", "y", "k", "t", "band")
#: flux kinds of band mode, :func:`flux_kind`
FLUX_KINDS = ("plain", "inner", "mixed", "outer", "transverse")
#: matrix-mode products: [A, F], {A, F}, and a scalar field times F
PRODUCTS = ("commutator", "anticommutator", "scalar")


def _multi_index(value, allowed, what: str) -> tuple:
    """``value`` as a canonical multi-index over ``allowed``; ValueError naming ``what``."""
    value = tuple(value)
    unknown = [a for a in value if a not in allowed]
    if unknown:
        raise ValueError(f"{what} = {value}: unknown axes {unknown}, expected names in {allowed}")
    return tuple(sorted(value, key=ORDER.index))


@dataclass(frozen=True)
class FieldRef:
    """One array argument of a generated kernel.

    Attributes
    ----------
    name : str
        Parameter name in the generated function.
    depends_on : frozenset of str
        Subset of :data:`DEPENDENCIES`: a band table such as d_kx eps depends on
        ``{"k", "band"}``, a potential derivative on ``{"x", "y", "t"}`` (2D) or
        ``{"x", "t"}`` (1D).
    quantity : str
        The field: a :class:`moyal.geometry.BandGeometry` quantity (``energy``,
        ``berry_curvature``, ``quantum_metric``, ``band_normalised_metric``), ``potential``
        (electrostatic V, potential energy -V), or the matrix-mode / scalar-Wigner Hamiltonian
        parts ``H0`` and ``U``.
    components : tuple of str
        Tensor components over real-space axes (``("x", "y")`` for Omega^{xy}); empty for
        scalars.
    derivative : tuple of str
        Derivative multi-index over :data:`ORDER` applied to the quantity.
    """

    name: str
    depends_on: frozenset
    quantity: str
    components: tuple = ()
    derivative: tuple = ()

    def __post_init__(self):
        depends_on = frozenset(self.depends_on)
        unknown = sorted(depends_on - set(DEPENDENCIES))
        if unknown:
            raise ValueError(f"{self.name}: depends_on {unknown}, expected a subset of "
                             f"{DEPENDENCIES}")
        object.__setattr__(self, "depends_on", depends_on)
        object.__setattr__(self, "components", tuple(self.components))
        object.__setattr__(self, "derivative",
                           _multi_index(self.derivative, ORDER, f"{self.name}.derivative"))

    @property
    def is_band_table(self) -> bool:
        """Whether the field is a per-band table (evaluated once per k cell)."""
        return "band" in self.depends_on

    def __str__(self):
        return f"{self.name}({', '.join(d for d in DEPENDENCIES if d in self.depends_on)})"


def flux_kind(direction: str, inner: tuple, outer: tuple) -> str:
    """Kind of ``J^direction += d^outer (c d^inner f)``.

    ``plain`` (c f: advection), ``inner`` (c d_a^n f along the flux direction a), ``mixed``
    (c d^inner f with a derivative across the flux direction), ``outer`` (d_a (c f)),
    ``transverse`` (d_b (c f), b != a). Other shapes (both multi-indices non-empty, or an
    outer derivative of order > 1) are refused with ValueError.
    """
    if inner and outer:
        raise ValueError(f"J^{direction}: both inner {inner} and outer {outer} derivatives")
    if len(outer) > 1:
        raise ValueError(f"J^{direction}: outer derivative {outer} of order > 1")
    if outer:
        return "outer" if outer == (direction,) else "transverse"
    if not inner:
        return "plain"
    return "inner" if set(inner) == {direction} else "mixed"


@dataclass(frozen=True)
class FluxKernel:
    """Band mode: the coefficient c of one contribution ``J^direction += d^outer (c d^inner f)``
    to the phase-space flux, with d_t f = -sum_a d_a J^a + R[f].

    Attributes
    ----------
    name : str
        The generated function.
    direction : str
        Flux direction, one of :data:`AXES`.
    inner, outer : tuple of str
        Derivative multi-indices over :data:`AXES` on f and on the product c f.
    order : int
        Order in hbar (0 Boltzmann, 1 Berry curvature, 2 metric and Moyal terms).
    kind : str
        :func:`flux_kind` of (direction, inner, outer); checked.
    arguments : tuple of FieldRef
        In signature order (every kernel also takes ``hbar=1.0``, which depends on nothing).
    """

    name: str
    direction: str
    inner: tuple
    outer: tuple
    order: int
    kind: str
    arguments: tuple

    def __post_init__(self):
        if self.direction not in AXES:
            raise ValueError(f"{self.name}: direction {self.direction!r}, expected one of {AXES}")
        for attribute in ("inner", "outer"):
            object.__setattr__(self, attribute, _multi_index(
                getattr(self, attribute), AXES, f"{self.name}.{attribute}"))
        object.__setattr__(self, "arguments", tuple(self.arguments))
        expected = flux_kind(self.direction, self.inner, self.outer)
        if self.kind != expected:
            raise ValueError(f"{self.name}: kind {self.kind!r} but direction {self.direction!r},"
                             f" inner {self.inner}, outer {self.outer} make it {expected!r}")

    @property
    def derivative(self) -> tuple:
        """The non-empty one of inner and outer (empty for plain terms)."""
        return self.inner or self.outer

    def __str__(self):
        outer = f"d_({''.join(self.outer)}) " if self.outer else ""
        inner = f"d_({''.join(self.inner)}) " if self.inner else ""
        return (f"{self.name}: J^{self.direction} += {outer}(c {inner}f), order {self.order}, "
                f"{self.kind}; c({', '.join(map(str, self.arguments))})")


@dataclass(frozen=True)
class CoefficientKernel:
    """Scalar Wigner equation: the coefficient c of ``d_t f += c d^derivative f``.

    Attributes
    ----------
    name : str
    derivative : tuple of str
        Multi-index over :data:`AXES` on f.
    order : int
        Power of hbar.
    arguments : tuple of FieldRef
    """

    name: str
    derivative: tuple
    order: int
    arguments: tuple

    def __post_init__(self):
        object.__setattr__(self, "derivative", _multi_index(self.derivative, AXES,
                                                            f"{self.name}.derivative"))
        object.__setattr__(self, "arguments", tuple(self.arguments))

    def __str__(self):
        return (f"{self.name}: d_t f += c d_({''.join(self.derivative)}) f, order "
                f"{self.order}; c({', '.join(map(str, self.arguments))})")


@dataclass(frozen=True)
class ProductKernel:
    """Matrix mode: ``d_t F += prefactor * P(field, d^derivative F)``.

    The generated function takes ``(field, distribution, hbar=1.0)``: ``field`` is the array
    :attr:`field` describes (an N x N matrix per cell, or a scalar per cell for the product
    ``scalar``), ``distribution`` the named derivative of F.

    Attributes
    ----------
    name : str
    field : FieldRef
        The derivative of H0 or U the product reads.
    product : str
        One of :data:`PRODUCTS`.
    derivative : tuple of str
        Multi-index over :data:`AXES` on F.
    order : int
        Power of hbar of the prefactor (-1 for the interband commutator).
    """

    name: str
    field: FieldRef
    product: str
    derivative: tuple
    order: int

    def __post_init__(self):
        if self.product not in PRODUCTS:
            raise ValueError(f"{self.name}: product {self.product!r}, expected one of "
                             f"{PRODUCTS}")
        object.__setattr__(self, "derivative", _multi_index(self.derivative, AXES,
                                                            f"{self.name}.derivative"))

    def __str__(self):
        return (f"{self.name}: d_t F += c {self.product}({self.field}, "
                f"d_({''.join(self.derivative)}) F), order {self.order}")


_TYPES = {"flux": FluxKernel, "coefficient": CoefficientKernel, "product": ProductKernel}


def _field_literal(field: FieldRef) -> dict:
    return {"name": field.name,
            "depends_on": tuple(d for d in DEPENDENCIES if d in field.depends_on),
            "quantity": field.quantity, "components": field.components,
            "derivative": field.derivative}


def to_literal(kernels) -> dict:
    """Kernel records as plain literals (dicts of str, int and tuples; deterministic).

    Returns ``{"fields": (field, ...), "kernels": (kernel, ...)}``: each distinct
    :class:`FieldRef` once, sorted by name, and the kernels in order with their arguments
    (and a product kernel's field) by name. ValueError if two different fields share a name.
    """
    fields, entries = {}, []

    def register(field: FieldRef) -> str:
        if fields.setdefault(field.name, field) != field:
            raise ValueError(f"two different fields named {field.name!r}: "
                             f"{fields[field.name]!r} and {field!r}")
        return field.name

    for kernel in kernels:
        entry = {"type": next(t for t, cls in _TYPES.items() if isinstance(kernel, cls))}
        for name, value in vars(kernel).items():
            if isinstance(value, FieldRef):
                value = register(value)
            elif name == "arguments":
                value = tuple(map(register, value))
            entry[name] = value
        entries.append(entry)
    return {"fields": tuple(_field_literal(fields[n]) for n in sorted(fields)),
            "kernels": tuple(entries)}


def from_literal(literal: dict) -> tuple:
    """Inverse of :func:`to_literal`: the tuple of kernel records."""
    fields = {entry["name"]: FieldRef(**entry) for entry in literal["fields"]}
    kernels = []
    for entry in literal["kernels"]:
        record = {k: v for k, v in entry.items() if k != "type"}
        if "field" in record:
            record["field"] = fields[record["field"]]
        if "arguments" in record:
            record["arguments"] = tuple(fields[a] for a in record["arguments"])
        kernels.append(_TYPES[entry["type"]](**record))
    return tuple(kernels)


def literal_source(kernels) -> str:
    """Deterministic Python source of :func:`to_literal` (keys sorted, 92 columns)."""
    return pprint.pformat(to_literal(kernels), width=92, sort_dicts=True)


def split_arguments(kernels) -> tuple:
    """The distinct arguments of flux or coefficient ``kernels``, sorted by name.

    Returns
    -------
    (tuple of FieldRef, tuple of FieldRef)
        Band tables (:attr:`FieldRef.is_band_table`) and the other fields (potential
        derivatives, sampled in real space and t).
    """
    fields = sorted({a for kernel in kernels for a in kernel.arguments}, key=lambda a: a.name)
    return (tuple(a for a in fields if a.is_band_table),
            tuple(a for a in fields if not a.is_band_table))


def vanishes_for_uniform_y_field(kernel) -> bool:
    """Whether every argument is a potential derivative that is zero for V = U(x, t) - E.r.

    On a layout without a y axis (every layout of :data:`moyal.abi.LAYOUTS`) the potential
    is a profile in x plus a uniform field, so V is linear in y and each derivative of it
    with a y and a second spatial derivative vanishes (V_dxy, V_dyy, V_dxxy, ...).
    """
    return all(a.quantity == "potential" and "y" in a.derivative
               and sum(d in ("x", "y") for d in a.derivative) >= 2 for a in kernel.arguments)


def layout_terms(kernels, layout: tuple, order: int) -> dict:
    """The flux kernels a grid ``layout`` (axis names) discretises, per grid axis.

    Kernels above ``order``, along a direction without a grid axis (y always; x in uniform
    problems: a current, no divergence) or with a derivative along such a direction (nothing
    depends on it) are left out, as are mixed inner derivatives whose coefficients vanish
    (:func:`vanishes_for_uniform_y_field`); another mixed one is a ValueError.

    Returns
    -------
    dict
        ``{axis name: [FluxKernel, ...]}`` in ``kernels`` order.
    """
    per_axis = {direction: [] for direction in layout}
    for kernel in kernels:
        if kernel.order > order or kernel.direction not in per_axis \
                or not set(kernel.derivative) <= set(layout):
            continue
        if kernel.kind == "mixed":
            if not vanishes_for_uniform_y_field(kernel):
                raise ValueError(f"{kernel.name}: a mixed inner derivative with a coefficient "
                                 "that need not vanish")
            continue
        per_axis[kernel.direction].append(kernel)
    return per_axis


def layout_arguments(kernels, layout: tuple, order: int) -> tuple:
    """:func:`split_arguments` of the kernels :func:`layout_terms` keeps: the band tables and
    potential derivatives a fused rate on ``layout`` reads, in the order it reads them."""
    kept = [k for terms in layout_terms(kernels, layout, order).values() for k in terms]
    return split_arguments(kept)
