"""Electrostatic potential V(x, t) and uniform fields, with the derivatives the kernels take.

Conventions (physics spec, section 1): E = -grad V, potential energy U = -V (e = 1),
dk/dt = -E. Real space is x or (x, y); a uniform field has x and y components (k space may
be 2D without a y axis). The total potential is

    V(x, y, t) = -E(t) . (x, y) + sum_c V_c(x or y, t) + sum_p A_p f_p(x, t) g_p(y, t),

a uniform field ``E(t)`` (:class:`UniformField`) plus profile components ``V_c`` each varying
along one real-space axis, x or y (:class:`CosinePotential`, :class:`StepPotential`,
:class:`BarrierPotential`, :class:`HarmonicPotential`, :class:`TabulatedPotential`, written
in x; :attr:`Potential.along` says which axis), and products of a profile along x and one
along y (:class:`ProductPotential`). :meth:`Potential.derivatives`
evaluates the derivatives named like the generated kernel arguments (:data:`DERIVATIVE_NAMES`);
``"V"`` is the profile part only, since -E.r is unbounded.

Units: the energy and length units of the config; time in hbar/energy, so angular frequencies
are in energy/hbar; fields in energy/(e length); wavenumbers in 1/length.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy.interpolate import CubicSpline

from solvers import schema
from solvers.errors import ConfigError

#: derivative names understood by :meth:`Potential.derivatives` (t before x before y, as in
#: :func:`moyal.codegen.lowered_name`)
DERIVATIVE_NAMES = ("V", "V_dx", "V_dxx", "V_dxxx", "V_dtx",
                    "V_dy", "V_dyy", "V_dxy", "V_dty", "V_dxxy", "V_dxyy", "V_dyyy")

# pure derivatives of a profile along x (along y), by name -> order, and its d_t d_x (d_t d_y)
_ORDERS = {"x": {"V": 0, "V_dx": 1, "V_dxx": 2, "V_dxxx": 3},
           "y": {"V": 0, "V_dy": 1, "V_dyy": 2, "V_dyyy": 3}}
_TIME = {"x": "V_dtx", "y": "V_dty"}
_AXES = ("x", "y", "xy")


# ------------------------------------------------------------------------------------------
# uniform field
# ------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class UniformField:
    """Spatially uniform field E(t) = ramp(t) [dc + ac cos(omega t + phase)].

    ``ramp(t)`` is 0 for t <= 0, sin^2(pi t / (2 ramp_time)) for 0 < t < ramp_time and 1
    afterwards, so E and dE/dt are continuous; ``ramp_time = 0`` means no ramp (ramp = 1).

    Parameters
    ----------
    dc, ac : tuple of 2 float
        (Ex, Ey) of the static and of the oscillating part (energy / (e length)).
    omega : float
        Angular frequency of the oscillating part (energy / hbar).
    phase : float
        Phase of the oscillating part (rad).
    ramp_time : float
        Duration of the sin^2 switch-on (hbar / energy), >= 0.
    """

    dc: tuple = (0.0, 0.0)
    ac: tuple = (0.0, 0.0)
    omega: float = 0.0
    phase: float = 0.0
    ramp_time: float = 0.0

    def __post_init__(self):
        for name in ("dc", "ac"):
            value = tuple(float(c) for c in getattr(self, name))
            if len(value) != 2:
                raise ValueError(f"UniformField.{name} must have two components (Ex, Ey)")
            object.__setattr__(self, name, value)
        if self.ramp_time < 0:
            raise ValueError("UniformField.ramp_time must be >= 0")

    def _ramp(self, t):
        """ramp(t) and its time derivative, arrays of t's shape."""
        t = np.asarray(t, dtype=float)
        if self.ramp_time == 0:
            return np.ones_like(t), np.zeros_like(t)
        inside = (t > 0) & (t < self.ramp_time)
        angle = 0.5 * np.pi * t / self.ramp_time
        ramp = np.where(inside, np.sin(angle) ** 2, np.where(t <= 0, 0.0, 1.0))
        # d/dt sin^2(a t) = a sin(2 a t)
        slope = np.where(inside, 0.5 * np.pi / self.ramp_time * np.sin(2 * angle), 0.0)
        return ramp, slope

    def E(self, t):
        """Field at time t.

        Parameters
        ----------
        t : float or ndarray
            Time (hbar / energy).

        Returns
        -------
        ndarray, shape (2,) + shape(t)
            (Ex, Ey) in energy / (e length).
        """
        t = np.asarray(t, dtype=float)
        ramp, _ = self._ramp(t)
        drive = np.cos(self.omega * t + self.phase)
        return ramp * (np.multiply.outer(self.dc, np.ones_like(t))
                       + np.multiply.outer(self.ac, drive))

    def dE_dt(self, t):
        """Exact time derivative of :meth:`E`, shape (2,) + shape(t), energy^2/(e length hbar)."""
        t = np.asarray(t, dtype=float)
        ramp, slope = self._ramp(t)
        drive = np.cos(self.omega * t + self.phase)
        drive_rate = -self.omega * np.sin(self.omega * t + self.phase)
        return (slope * (np.multiply.outer(self.dc, np.ones_like(t))
                         + np.multiply.outer(self.ac, drive))
                + ramp * np.multiply.outer(self.ac, drive_rate))

    @property
    def is_static(self) -> bool:
        """True if E does not change for t > 0."""
        return self.ramp_time == 0 and (self.omega == 0 or not any(self.ac))

    def bound(self) -> np.ndarray:
        """Upper bound of |Ex|, |Ey| over all times, shape (2,)."""
        return np.abs(self.dc) + np.abs(self.ac)

    def ranges(self):
        """Enclosures of E and dE/dt over all times, from the formula (no sampling).

        Inside the ramp envelope r in [0, 1] (r = 1 without a ramp), each component of E is
        dc + ac cos(omega t + phase), in [dc - |ac|, dc + |ac|] when it oscillates and
        dc + ac cos(phase) otherwise; the ramp widens that range to include 0. And
        |dE/dt| <= max|r'| (|dc| + |ac|) + omega |ac| with max|r'| = pi / (2 ramp_time).

        Returns
        -------
        (ndarray, ndarray, ndarray), each shape (2,)
            Midpoint and radius of the range of (Ex, Ey) (energy / (e length)), and the
            bound of |dE/dt| (energy^2 / (e length hbar)).
        """
        dc, ac = np.array(self.dc), np.array(self.ac)
        oscillates = self.omega > 0
        lo = dc - np.abs(ac) if oscillates else dc + ac * math.cos(self.phase)
        hi = dc + np.abs(ac) if oscillates else lo
        rate = np.abs(ac) * self.omega
        if self.ramp_time > 0:
            lo, hi = np.minimum(lo, 0.0), np.maximum(hi, 0.0)
            rate = rate + 0.5 * math.pi / self.ramp_time * self.bound()
        return 0.5 * (lo + hi), 0.5 * (hi - lo), rate


# ------------------------------------------------------------------------------------------
# profile components V_c(x, t)
# ------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class CosinePotential:
    """V = amplitude cos(q x - omega t + phase): travelling wave, static for omega = 0.

    Parameters
    ----------
    amplitude : float
        Energy (V in energy units, e = 1).
    q : float
        Wavenumber (1 / length).
    omega : float
        Angular frequency (energy / hbar); the wave moves with phase velocity omega / q.
    phase : float
        Phase at x = t = 0 (rad).
    """

    amplitude: float
    q: float
    omega: float = 0.0
    phase: float = 0.0

    def x_derivative(self, x, t, order):
        """d^order V / dx^order at positions x (any shape) and time t (float)."""
        theta = self.q * np.asarray(x, dtype=float) - self.omega * t + self.phase
        # d^n/dx^n cos(q x + c) = q^n cos(q x + c + n pi / 2)
        return self.amplitude * self.q ** order * np.cos(theta + 0.5 * np.pi * order)

    def tx_derivative(self, x, t):
        """d_t d_x V at positions x and time t (0.0 if static)."""
        if self.omega == 0:
            return 0.0
        theta = self.q * np.asarray(x, dtype=float) - self.omega * t + self.phase
        return self.amplitude * self.q * self.omega * np.cos(theta)

    def t_derivative(self, x, t):
        """d_t V at positions x and time t (0.0 if static)."""
        if self.omega == 0:
            return 0.0
        theta = self.q * np.asarray(x, dtype=float) - self.omega * t + self.phase
        return self.amplitude * self.omega * np.sin(theta)

    @property
    def is_static(self) -> bool:
        return self.omega == 0

    def x_derivative_bound(self, x, order):
        """Upper bound of |d^order V / dx^order| at x over all t (the travelling wave passes
        every phase through each x), an array of x's shape."""
        return np.full(np.shape(x), abs(self.amplitude) * abs(self.q) ** order)

    def tx_derivative_bound(self, x):
        """Upper bound of |d_t d_x V| at x over all t, an array of x's shape."""
        return np.full(np.shape(x), abs(self.amplitude * self.q * self.omega))

    def t_derivative_bound(self, x):
        """Upper bound of |d_t V| at x over all t, an array of x's shape."""
        return np.full(np.shape(x), abs(self.amplitude * self.omega))


class _ModulatedProfile:
    """Separable component V_c = cos(omega t) s(x) (omega = 0: static).

    Subclasses are frozen dataclasses with a field ``omega`` (energy / hbar) and a method
    ``profile(x, order)`` returning d^order s / dx^order (order 0..3) at positions x: an
    array of x's shape, or a float where the derivative is constant.
    """

    omega: float

    def x_derivative(self, x, t, order):
        """d^order V / dx^order at positions x (any shape) and time t (float)."""
        return math.cos(self.omega * t) * self.profile(np.asarray(x, dtype=float), order)

    def tx_derivative(self, x, t):
        """d_t d_x V at positions x and time t (0.0 if static)."""
        if self.omega == 0:
            return 0.0
        return -self.omega * math.sin(self.omega * t) * self.profile(
            np.asarray(x, dtype=float), 1)

    def t_derivative(self, x, t):
        """d_t V at positions x and time t (0.0 if static)."""
        if self.omega == 0:
            return 0.0
        return -self.omega * math.sin(self.omega * t) * self.profile(
            np.asarray(x, dtype=float), 0)

    @property
    def is_static(self) -> bool:
        return self.omega == 0

    def x_derivative_bound(self, x, order):
        """|s^(order)(x)|: bounds |d^order V / dx^order| at x over all t, x's shape."""
        x = np.asarray(x, dtype=float)
        return np.broadcast_to(np.abs(self.profile(x, order)), x.shape)

    def tx_derivative_bound(self, x):
        """|omega s'(x)|: bounds |d_t d_x V| at x over all t, x's shape."""
        return abs(self.omega) * self.x_derivative_bound(x, 1)

    def t_derivative_bound(self, x):
        """|omega s(x)|: bounds |d_t V| at x over all t, x's shape."""
        return abs(self.omega) * self.x_derivative_bound(x, 0)


def _tanh_derivatives(x, centre, width, order):
    """d^order/dx^order tanh((x - centre) / width), order 0..3."""
    th = np.tanh((x - centre) / width)
    sech2 = 1.0 - th * th
    # successive u-derivatives of tanh u written in tanh itself
    by_order = (th, sech2, -2.0 * th * sech2, sech2 * (6.0 * th * th - 2.0))
    return by_order[order] / width ** order


@dataclass(frozen=True)
class StepPotential(_ModulatedProfile):
    """V = amplitude cos(omega t) [1 + tanh((x - x0) / width)] / 2.

    ``amplitude`` in energy, ``x0`` and ``width`` (> 0) in length, ``omega`` in energy/hbar.
    """

    amplitude: float
    x0: float
    width: float
    omega: float = 0.0

    def profile(self, x, order):
        value = 0.5 * self.amplitude * _tanh_derivatives(x, self.x0, self.width, order)
        return value + 0.5 * self.amplitude if order == 0 else value


@dataclass(frozen=True)
class BarrierPotential(_ModulatedProfile):
    """V = amplitude cos(omega t) [tanh((x - x1)/width) - tanh((x - x2)/width)] / 2, x1 < x2.

    A plateau of height ``amplitude`` (energy) between x1 and x2 (length) with edges of
    ``width`` (length); ``omega`` in energy/hbar.
    """

    amplitude: float
    x1: float
    x2: float
    width: float
    omega: float = 0.0

    def profile(self, x, order):
        return 0.5 * self.amplitude * (_tanh_derivatives(x, self.x1, self.width, order)
                                       - _tanh_derivatives(x, self.x2, self.width, order))


@dataclass(frozen=True)
class HarmonicPotential(_ModulatedProfile):
    """V = -stiffness cos(omega t) (x - x0)^2 / 2.

    Potential energy U = -V = K (x - x0)^2 / 2 (a trap for K > 0) and field
    E = -d_x V = K (x - x0): also a uniform field gradient. ``stiffness`` K in
    energy/length^2, ``x0`` in length, ``omega`` in energy/hbar.
    """

    stiffness: float
    x0: float
    omega: float = 0.0

    def profile(self, x, order):
        shifted = x - self.x0
        by_order = (-0.5 * self.stiffness * shifted * shifted, -self.stiffness * shifted,
                    -self.stiffness, 0.0)
        return by_order[order]


@dataclass(frozen=True, eq=False)  # ndarray fields: compare by identity
class TabulatedPotential(_ModulatedProfile):
    """V = cos(omega t) s(x), s the cubic spline through the nodes (x_i, V_i).

    ``periodic``: periodic spline with period x[-1] - x[0] (needs V[-1] == V[0]), evaluated
    anywhere by wrapping. Otherwise a natural spline (s'' = 0 at the ends), continued linearly
    outside [x[0], x[-1]], which keeps s twice continuously differentiable.

    Parameters
    ----------
    nodes : ndarray, shape (n,)
        Strictly increasing positions (length), n >= 4.
    values : ndarray, shape (n,)
        V at the nodes (energy).
    periodic : bool
    omega : float
        Angular frequency of the cos(omega t) modulation (energy / hbar).
    """

    nodes: np.ndarray
    values: np.ndarray
    periodic: bool = False
    omega: float = 0.0
    spline: CubicSpline = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        nodes = np.asarray(self.nodes, dtype=float)
        values = np.asarray(self.values, dtype=float)
        object.__setattr__(self, "nodes", nodes)
        object.__setattr__(self, "values", values)
        boundary = "periodic" if self.periodic else "natural"
        object.__setattr__(self, "spline", CubicSpline(
            nodes, values, bc_type=boundary, extrapolate="periodic" if self.periodic else True))

    def profile(self, x, order):
        if self.periodic:
            return self.spline(x, order)
        lo, hi = self.nodes[0], self.nodes[-1]
        clipped = np.clip(x, lo, hi)
        if order == 0:
            return self.spline(clipped) + self.spline(clipped, 1) * (x - clipped)
        if order == 1:
            return self.spline(clipped, 1)
        return np.where((x >= lo) & (x <= hi), self.spline(clipped, order), 0.0)


def _factor(factor, at, t, order, time):
    """d_t^time d^order of a profile component at positions ``at`` and time t (time 0 or 1,
    order 0..3 without d_t, 0 or 1 with it)."""
    if not time:
        return factor.x_derivative(at, t, order)
    return factor.tx_derivative(at, t) if order else factor.t_derivative(at, t)


def _factor_bound(factor, at, order, time):
    """Upper bound over all t of |:func:`_factor`| at positions ``at``."""
    if not time:
        return factor.x_derivative_bound(at, order)
    return factor.tx_derivative_bound(at) if order else factor.t_derivative_bound(at)


@dataclass(frozen=True)
class ProductPotential:
    """V = amplitude f(x, t) g(y, t): a profile component along x times one along y.

    Its derivatives follow by the product rule from the factors' (d_t d_x V = amplitude
    (d_t f' g + f' d_t g), and so on).

    Parameters
    ----------
    amplitude : float
        Energy (V in energy units, e = 1).
    x_factor, y_factor
        Profile components (:class:`CosinePotential`, :class:`StepPotential`, ...), the first
        evaluated at x, the second at y; their values are read as dimensionless numbers
        (give them amplitude 1 for a product of shapes).
    """

    amplitude: float
    x_factor: object
    y_factor: object

    @property
    def is_static(self) -> bool:
        return self.x_factor.is_static and self.y_factor.is_static

    @property
    def omega(self) -> float:
        """Highest angular frequency of V, |omega_f| + |omega_g| (energy / hbar)."""
        return abs(self.x_factor.omega) + abs(self.y_factor.omega)

    @staticmethod
    def _terms(name):
        """Derivative orders in x and y of ``name`` and the (d_t on f, d_t on g) terms."""
        time, nx, ny = (name.partition("_d")[2].count(axis) for axis in "txy")
        return nx, ny, ((1, 0), (0, 1)) if time else ((0, 0),)

    def derivative(self, x, y, t, name):
        """The derivative ``name`` (of :data:`DERIVATIVE_NAMES`) at positions x, y
        (broadcasting against each other) and time t; 0.0 for d_t of a static product."""
        nx, ny, terms = self._terms(name)
        if len(terms) > 1 and self.is_static:
            return 0.0
        x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
        return self.amplitude * sum(_factor(self.x_factor, x, t, nx, tf)
                                    * _factor(self.y_factor, y, t, ny, tg)
                                    for tf, tg in terms)

    def bound(self, x, y, name):
        """Upper bound of |derivative ``name``| at positions x, y over all t: the product
        of the factors' bounds."""
        nx, ny, terms = self._terms(name)
        x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
        return abs(self.amplitude) * sum(_factor_bound(self.x_factor, x, nx, tf)
                                         * _factor_bound(self.y_factor, y, ny, tg)
                                         for tf, tg in terms)


# ------------------------------------------------------------------------------------------
# total potential
# ------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Potential:
    """V(x, y, t) = -E(t).(x, y) + sum of profile components V_c(x, t), V_c(y, t) or
    products V_c(x, y, t) (:class:`ProductPotential`).

    Parameters
    ----------
    uniform : UniformField
    components : tuple
        Profile components (objects with ``x_derivative(x, t, order)``,
        ``tx_derivative(x, t)``, ``is_static``, and ``x_derivative_bound(x, order)``,
        ``tx_derivative_bound(x)`` bounding those over all t; "x" stands for the axis the
        profile varies along).
    along : tuple of str
        Per component, the real-space axis it varies along, ``"x"`` or ``"y"``, and
        ``"xy"`` for a :class:`ProductPotential` (and only for it); empty: all along x but
        the products.
    """

    uniform: UniformField = field(default_factory=UniformField)
    components: tuple = ()
    along: tuple = ()

    def __post_init__(self):
        object.__setattr__(self, "components", tuple(self.components))
        along = tuple(self.along) or tuple(
            "xy" if isinstance(c, ProductPotential) else "x" for c in self.components)
        if len(along) != len(self.components) or any(
                (axis == "xy") != isinstance(c, ProductPotential) or axis not in _AXES
                for c, axis in zip(self.components, along)):
            raise ValueError(f"Potential.along = {self.along!r}: expected 'x' or 'y' per "
                             "component, 'xy' for a product")
        object.__setattr__(self, "along", along)

    def _profiles(self, x, y):
        """(component, its positions, derivative orders by name, its d_t name) each."""
        for component, axis in zip(self.components, self.along):
            if axis == "xy":
                continue
            if axis == "y" and y is None:
                raise ValueError("a profile along y needs y positions")
            positions = np.asarray(x if axis == "x" else y, dtype=float)
            yield component, positions, _ORDERS[axis], _TIME[axis]

    def _products(self, y):
        """The :class:`ProductPotential` components."""
        for component, axis in zip(self.components, self.along):
            if axis == "xy":
                if y is None:
                    raise ValueError("a product potential needs y positions")
                yield component

    @property
    def is_static(self) -> bool:
        """True if no derivative changes for t > 0."""
        return self.uniform.is_static and all(c.is_static for c in self.components)

    @property
    def is_uniform(self) -> bool:
        """True if there is no profile component: V is linear in (x, y)."""
        return not self.components

    def derivatives(self, x, t, names=DERIVATIVE_NAMES, y=None):
        """Derivatives of V at positions x (and y) and time t.

        Parameters
        ----------
        x : ndarray
            Positions (length), any shape (cell centres or faces, possibly shaped to
            broadcast against a phase-space block).
        y : ndarray, optional
            y positions broadcasting against x (e.g. x of shape (n, 1), y of shape (1, m)
            give the (x, y) mesh); needed when a component varies along y.
        t : float
            Time (hbar / energy).
        names : iterable of str
            Subset of :data:`DERIVATIVE_NAMES`.

        Returns
        -------
        dict[str, ndarray or float]
            Each value broadcasts against x. It is an ndarray of x's shape when it depends on
            x and a Python float otherwise: identically zero entries are ``0.0`` (all y
            derivatives except ``V_dy = -Ey``, ``V_dty = -dEy/dt`` without a profile along
            y or a product, which make them arrays), and ``V_dx = -Ex(t)``,
            ``V_dtx = -dEx/dt``, ``V = 0.0`` are floats when no profile component makes them
            depend on x (no components, or only static ones for ``V_dtx``; a harmonic
            component gives float ``V_dxx`` and ``V_dxxx``).
            ``V`` is the profile part only (energy); a derivative of order n in x, y has
            units energy/length^n, and ``V_dt*`` one more factor energy/hbar.
        """
        names = tuple(names)
        unknown = sorted(set(names) - set(DERIVATIVE_NAMES))
        if unknown:
            raise ValueError(f"unknown potential derivatives {unknown}; "
                             f"known: {', '.join(DERIVATIVE_NAMES)}")
        field_now = self.uniform.E(t)
        rate_now = self.uniform.dE_dt(t)
        uniform_part = {"V_dx": -float(field_now[0]), "V_dy": -float(field_now[1]),
                        "V_dtx": -float(rate_now[0]), "V_dty": -float(rate_now[1])}
        result = {}
        for name in names:
            value = uniform_part.get(name, 0.0)
            for component, at, orders, time_name in self._profiles(x, y):
                if name in orders:
                    value = value + component.x_derivative(at, t, orders[name])
                elif name == time_name:
                    value = value + component.tx_derivative(at, t)
            for product in self._products(y):
                value = value + product.derivative(x, y, t, name)
            result[name] = value
        return result

    def force_bound(self, x, y=None) -> np.ndarray:
        """Upper bound of |d_x V| and |d_y V| at positions x (and y) over all times, shape (2,).

        These are the k-space velocities |dk/dt| = |E|, for the CFL condition; the profile
        part is bounded by max |d_x V_c| over the given x (of a profile along y, over y)
        (energy / length).
        """
        bound = self.uniform.bound()
        for component, at, orders, _ in self._profiles(x, y):
            bound[int("V_dy" in orders)] += float(np.max(component.x_derivative_bound(at, 1)))
        for product in self._products(y):
            bound += [float(np.max(product.bound(x, y, name))) for name in ("V_dx", "V_dy")]
        return bound

    def derivative_ranges(self, x, names=DERIVATIVE_NAMES, y=None):
        """Every value each derivative takes at positions x over all times t, enclosed.

        The time dependence is bounded analytically, never sampled: the uniform field by
        :meth:`UniformField.ranges` (|E| <= |E_dc| + |E_ac|, the ramp envelope in [0, 1]), a
        time-dependent component by its ``*_bound`` methods (|cos| <= 1), a static one by its
        value.

        Parameters
        ----------
        x : ndarray
            Positions (length), any shape.
        names : iterable of str
            Subset of :data:`DERIVATIVE_NAMES`.
        y : ndarray, optional
            y positions broadcasting against x, as in :meth:`derivatives`.

        Returns
        -------
        dict[str, tuple]
            ``(mid, radius)`` per name: every value lies in [mid - radius, mid + radius]
            (units as :meth:`derivatives`); arrays of x's shape or floats, as there.
        """
        names = tuple(names)
        unknown = sorted(set(names) - set(DERIVATIVE_NAMES))
        if unknown:
            raise ValueError(f"unknown potential derivatives {unknown}; "
                             f"known: {', '.join(DERIVATIVE_NAMES)}")
        field_mid, field_radius, rate_radius = self.uniform.ranges()
        uniform_part = {"V_dx": (-field_mid[0], field_radius[0]),
                        "V_dy": (-field_mid[1], field_radius[1]),
                        "V_dtx": (0.0, rate_radius[0]), "V_dty": (0.0, rate_radius[1])}
        result = {}
        for name in names:
            mid, radius = uniform_part.get(name, (0.0, 0.0))
            for component, at, orders, time_name in self._profiles(x, y):
                if name in orders:
                    if component.is_static:
                        mid = mid + component.x_derivative(at, 0.0, orders[name])
                    else:
                        radius = radius + component.x_derivative_bound(at, orders[name])
                elif name == time_name and not component.is_static:
                    radius = radius + component.tx_derivative_bound(at)
            for product in self._products(y):
                if product.is_static:
                    mid = mid + product.derivative(x, y, 0.0, name)
                else:
                    radius = radius + product.bound(x, y, name)
            result[name] = (mid, radius)
        return result


# ------------------------------------------------------------------------------------------
# configuration
# ------------------------------------------------------------------------------------------

#: Class of each kind of [[fields.potential]] component, its keys equal to the class
#: arguments (the keys, defaults and ranges: solvers.schema.POTENTIAL); tabulated: _tabulated.
_CLASSES = {"cosine": CosinePotential, "step": StepPotential, "barrier": BarrierPotential,
            "harmonic": HarmonicPotential}


def _read_table_file(key: str, text: str, base_dir) -> tuple[np.ndarray, np.ndarray]:
    """Two columns (x, V) from a .npy, .csv or whitespace-separated text file."""
    path = Path(text)
    if not path.is_absolute() and base_dir is not None:
        path = Path(base_dir) / path
    if not path.is_file():
        raise ConfigError(f"{key} = {text!r}: file {str(path)!r} does not exist")
    try:
        if path.suffix == ".npy":
            table = np.load(path, allow_pickle=False)
        else:
            table = np.loadtxt(path, delimiter="," if path.suffix == ".csv" else None,
                               ndmin=2)
    except (OSError, ValueError) as err:
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise ConfigError(f"{key} = {text!r}: cannot be read as a two-column table "
                          f"({reason})") from None
    if table.ndim != 2 or table.shape[1] != 2:
        raise ConfigError(f"{key} = {text!r}: expected two columns (x, V), "
                          f"got an array of shape {table.shape}")
    if not np.all(np.isfinite(table)):
        raise ConfigError(f"{key} = {text!r}: expected finite numbers, the table has "
                          f"NaN or inf")
    return table[:, 0].astype(float), table[:, 1].astype(float)


def _tabulated(key: str, values: dict, base_dir) -> TabulatedPotential:
    """Check a tabulated component's nodes (inline or from a file) and build it."""
    inline = values["x"] is not None or values["V"] is not None
    if inline == (values["file"] is not None):
        raise ConfigError(f"{key}: a tabulated potential needs either 'file' or both 'x' "
                          f"and 'V'")
    if inline:
        if values["x"] is None or values["V"] is None:
            missing = "x" if values["x"] is None else "V"
            raise ConfigError(f"{key}.{missing}: missing; an inline table needs both x and V")
        nodes, potential = np.array(values["x"]), np.array(values["V"])
        source = f"{key}.x"
        if nodes.size != potential.size:
            raise ConfigError(f"{key}.V: has {potential.size} values for {nodes.size} "
                              f"positions x; expected equal lengths")
    else:
        nodes, potential = _read_table_file(f"{key}.file", values["file"], base_dir)
        source = f"{key}.file = {values['file']!r}: column x"
    if nodes.size < 4:
        raise ConfigError(f"{source}: has {nodes.size} nodes; expected at least 4")
    steps = np.diff(nodes)
    if np.any(steps <= 0):
        i = int(np.argmax(steps <= 0)) + 1
        raise ConfigError(f"{source}: expected strictly increasing positions, but "
                          f"x[{i}] = {float(nodes[i])!r} <= x[{i - 1}] = {float(nodes[i - 1])!r}")
    if values["periodic"] and not math.isclose(potential[0], potential[-1], rel_tol=1e-12,
                                               abs_tol=1e-12 * np.max(np.abs(potential))):
        raise ConfigError(f"{key}.periodic = true: expected V[-1] == V[0] (the period is "
                          f"x[-1] - x[0]), got {float(potential[-1])!r} != "
                          f"{float(potential[0])!r}")
    return TabulatedPotential(nodes, potential, values["periodic"], values["omega"])


def _component(key: str, values: dict, base_dir):
    """Build one validated [[fields.potential]] component (``values`` by the schema)."""
    values = dict(values)
    kind = values.pop("kind")
    if kind == "product":  # the schema checked one factor along x and one along y
        factors = {table["axis"]: _component(f"{key}.factors[{i}]", table, base_dir)
                   for i, table in enumerate(values["factors"])}
        return ProductPotential(values["amplitude"], factors["x"], factors["y"])
    values.pop("axis")  # the Potential holds the axis of each component
    if kind == "tabulated":
        return _tabulated(key, values, base_dir)
    return _CLASSES[kind](**values)


def potential_from_config(fields_table: dict, base_dir=None) -> Potential:
    """Validate a parsed ``[fields]`` TOML table into a :class:`Potential`.

    Keys (:data:`solvers.schema.FIELDS`, listed in docs/config.md): ``E`` and ``E_ac``
    (energy / (e length)), ``omega`` (energy/hbar), ``phase`` (rad), ``ramp_time``
    (hbar/energy), and ``potential``, an array of tables ``[[fields.potential]]``, each with
    ``kind`` one of cosine, step, barrier, harmonic or tabulated (x and V lists, or a file
    with two columns, whose nodes are checked here), or product (``factors``: two such
    tables, one along x and one along y).

    Parameters
    ----------
    fields_table : dict
        The parsed table.
    base_dir : str or Path, optional
        Directory that relative tabulated ``file`` paths are resolved against (the config
        file's directory); the working directory if None.

    Raises
    ------
    ConfigError
        One-line message naming the key, the value and what was expected.
    """
    values = schema.FIELDS.validate("fields", fields_table)
    components = tuple(_component(f"fields.potential[{i}]", table, base_dir)
                       for i, table in enumerate(values["potential"]))
    along = tuple("xy" if table["kind"] == "product" else table["axis"]
                  for table in values["potential"])
    uniform = UniformField(values["E"], values["E_ac"], values["omega"], values["phase"],
                           values["ramp_time"])
    return Potential(uniform, components, along)
