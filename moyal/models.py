"""Bloch Hamiltonians H0(k) as sympy matrices, with a registry by name.

A :class:`Model` holds the symbolic matrix, its parameter values, the k-space domain and
lambdified numpy callables for H0 and its analytic k-derivatives (orders 0-3).  Energies are
in the model's energy unit E0, momenta in inverse length units 1/L0 (lattice models: lattice
constant 1, so k in [-pi, pi)); hbar = e = 1.

User models come from a TOML ``[model]`` table (see :func:`model_from_config`); the string is
parsed by a whitelist parser (:mod:`moyal.expression`, never ``eval``) and checked for unknown
symbols, size, shape and Hermiticity.
"""
from __future__ import annotations

import itertools
import keyword
import math
from dataclasses import dataclass, field
from typing import Callable, Mapping

import numpy as np
import sympy as sp

from moyal import expression

__all__ = [
    "ModelError", "KDomain", "Model", "PAULI", "MODELS", "get_model", "model_names",
    "model_from_config", "hamiltonian_from_string",
]

KX, KY = sp.symbols("kx ky", real=True)
K_SYMBOLS = (KX, KY)

PAULI = {
    "s0": sp.eye(2),
    "sx": sp.Matrix([[0, 1], [1, 0]]),
    "sy": sp.Matrix([[0, -sp.I], [sp.I, 0]]),
    "sz": sp.Matrix([[1, 0], [0, -1]]),
}


class ModelError(ValueError):
    """Invalid model definition (unknown symbol, wrong shape, non-Hermitian, bad domain)."""


@dataclass(frozen=True)
class KDomain:
    """Momentum-space integration domain.

    Parameters
    ----------
    kind : {"bz", "box"}
        ``"bz"``: periodic Brillouin zone [-pi, pi) per direction (lattice constant 1).
        ``"box"``: continuum model, rectangular box ``bounds`` (units 1/L0), optionally cut
        to the disc |k| < ``cutoff``.
    bounds : tuple of (float, float)
        One (k_min, k_max) pair per direction.
    cutoff : float or None
        Radius of the momentum cutoff of a continuum model (1/L0).
    """

    kind: str
    bounds: tuple
    cutoff: float | None = None

    def __post_init__(self):
        if self.kind not in ("bz", "box"):
            raise ModelError(f"domain kind {self.kind!r}: expected 'bz' or 'box'")
        for lo, hi in self.bounds:
            if not (math.isfinite(lo) and math.isfinite(hi) and hi > lo):
                raise ModelError(f"domain bounds ({lo}, {hi}): expected finite k_min < k_max")
        if self.cutoff is not None and not (math.isfinite(self.cutoff) and self.cutoff > 0):
            raise ModelError(f"domain cutoff {self.cutoff}: expected a finite positive number")

    @property
    def periodic(self) -> bool:
        return self.kind == "bz"

    @classmethod
    def brillouin_zone(cls, dimension: int) -> "KDomain":
        return cls("bz", ((-math.pi, math.pi),) * dimension)


def _multi_indices(dimension: int, order: int):
    """Sorted k-derivative multi-indices, e.g. (0, 1) for d_kx d_ky."""
    return list(itertools.combinations_with_replacement(range(dimension), order))


@dataclass(frozen=True)
class Model:
    """A Bloch Hamiltonian H0(k) with parameter values and a k-domain.

    Parameters
    ----------
    name : str
    hamiltonian : sympy.Matrix
        N x N Hermitian matrix in the symbols ``kx`` [, ``ky``] and the parameter symbols.
    parameters : dict[str, float]
        Values of the free parameters (energy unit E0, length unit L0).
    domain : KDomain
    dimension : int
        Number of k directions (1 or 2).
    degenerate : bool
        True when bands are degenerate everywhere (e.g. PT symmetry): geometry then uses
        the traced (non-Abelian) forms by default.
    units : dict[str, str]
        Names of the energy and length units, for output metadata.
    description : str
    """

    name: str
    hamiltonian: sp.Matrix
    parameters: Mapping[str, float]
    domain: KDomain
    dimension: int
    degenerate: bool = False
    units: Mapping[str, str] = field(default_factory=lambda: {"energy": "E0", "length": "L0"})
    description: str = ""

    @property
    def n_bands(self) -> int:
        return self.hamiltonian.shape[0]

    @property
    def k_symbols(self) -> tuple:
        return K_SYMBOLS[: self.dimension]

    def with_parameters(self, **values: float) -> "Model":
        """Copy with some parameter values replaced (names must already exist)."""
        unknown = sorted(set(values) - set(self.parameters))
        if unknown:
            raise ModelError(f"model {self.name!r} has no parameter(s) {', '.join(unknown)}; "
                             f"known: {', '.join(sorted(self.parameters))}")
        merged = {**self.parameters, **{k: _check_parameter(f"model.parameters.{k}", v)
                                        for k, v in values.items()}}
        return Model(self.name, self.hamiltonian, merged, self.domain, self.dimension,
                     self.degenerate, self.units, self.description)

    def with_domain(self, domain: KDomain) -> "Model":
        return Model(self.name, self.hamiltonian, self.parameters, domain, self.dimension,
                     self.degenerate, self.units, self.description)

    def numeric_matrix(self) -> sp.Matrix:
        """H0(k) with the parameter values substituted (symbols kx[, ky] remain)."""
        subs = {sp.Symbol(n, real=True): v for n, v in self.parameters.items()}
        return self.hamiltonian.subs(subs)

    def derivative_function(self, alpha: tuple) -> Callable[[np.ndarray], np.ndarray]:
        """Numpy callable for d^alpha H0 / dk^alpha.

        Parameters
        ----------
        alpha : tuple of int
            Multi-index of k directions, e.g. ``()`` for H0, ``(0, 1)`` for d_kx d_ky H0.

        Returns
        -------
        callable
            ``f(k)`` with ``k`` of shape (dimension, M) returning a complex array (M, N, N).
        """
        return _derivative_function(self, tuple(sorted(alpha)))

    def evaluate(self, k: np.ndarray, order: int = 0) -> dict:
        """All derivatives of H0 of a given order at points ``k`` (shape (dimension, M)).

        Returns a dict multi-index -> complex array (M, N, N).
        """
        return {alpha: self.derivative_function(alpha)(k)
                for alpha in _multi_indices(self.dimension, order)}


_FUNCTION_CACHE: dict = {}


def _derivative_function(model: Model, alpha: tuple):
    key = (model.name, sp.srepr(model.hamiltonian), tuple(sorted(model.parameters.items())),
           model.dimension, alpha)
    if key in _FUNCTION_CACHE:
        return _FUNCTION_CACHE[key]
    matrix = model.numeric_matrix()
    for direction in alpha:
        matrix = matrix.diff(K_SYMBOLS[direction])
    n = matrix.shape[0]
    symbols = model.k_symbols
    # One lambdified function per non-zero entry: numpy cannot broadcast a nested list that
    # mixes constants and arrays, and most entries of d^alpha H vanish.
    entries = [(i, j, sp.lambdify(symbols, matrix[i, j], modules="numpy"))
               for i in range(n) for j in range(n) if matrix[i, j] != 0]

    def evaluate(k: np.ndarray) -> np.ndarray:
        k = np.asarray(k, dtype=float)
        out = np.zeros(k.shape[1:] + (n, n), dtype=complex)
        for i, j, entry in entries:
            out[..., i, j] = entry(*k[: len(symbols)])
        return out

    _FUNCTION_CACHE[key] = evaluate
    return evaluate


# ---------------------------------------------------------------------------------------------
# User-defined models
# ---------------------------------------------------------------------------------------------

def _check_parameter(key: str, value) -> float:
    """A model parameter value: a finite real number (bool excluded)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) \
            or not math.isfinite(value):
        raise ModelError(f"{key} = {value!r}: expected a finite real number")
    return float(value)


def hamiltonian_from_string(text: str, parameters: Mapping[str, float],
                            dimension: int | None = None) -> tuple[sp.Matrix, int]:
    """Parse a Hamiltonian written with s0, sx, sy, sz and kron.

    The text is parsed by the whitelist parser :func:`moyal.expression.parse` (never
    evaluated as Python): numbers, the parameters, kx, ky, the Pauli matrices, pi, I,
    ``+ - * / **`` and the functions sin, cos, tan, exp, sqrt, sinh, cosh, tanh, Abs, kron,
    Matrix, Rational, Integer, Float, with bounded size.

    Parameters
    ----------
    text : str
        e.g. ``"A*sin(kx)*sx + (m + cos(kx))*sz"``.  Scalar terms must carry ``s0`` (or the
        identity of the right size) explicitly; a purely scalar string is a one-band model.
    parameters : mapping
        Parameter names and real values.
    dimension : int, optional
        Number of k directions; inferred from the presence of ``ky`` when omitted.

    Returns
    -------
    (sympy.Matrix, int)
        The matrix (parameters still symbolic) and the k dimension.

    Raises
    ------
    ModelError
        One line naming ``model.hamiltonian`` (or the parameter) and the offending piece:
        anything outside the whitelist, unknown symbols, syntax errors, bounds exceeded,
        mixed scalar/matrix terms, non-square or mismatched shapes, non-finite parameters,
        non-Hermitian matrices.
    """
    if not isinstance(text, str) or not text.strip():
        raise ModelError(f"model.hamiltonian = {text!r}: expected a non-empty string")
    reserved = set(PAULI) | set(expression.SCALAR_FUNCTIONS) \
        | set(expression.CONSTANTS) | set(expression.CONSTRUCTORS) | {"kx", "ky"}
    for name, value in parameters.items():
        if not name.isidentifier() or keyword.iskeyword(name) or name.startswith("_") \
                or name in reserved:
            raise ModelError(f"model.parameters.{name}: not a valid or free identifier; "
                             "expected a name not starting with '_' that is not one of "
                             f"{', '.join(sorted(reserved))}")
        _check_parameter(f"model.parameters.{name}", value)
    scalars = {"kx": KX, "ky": KY, **{name: sp.Symbol(name, real=True) for name in parameters}}
    try:
        expr = expression.parse(text, scalars, PAULI)
    except expression.ExpressionError as err:
        raise ModelError(f"model.hamiltonian: {err}") from None
    matrix = sp.Matrix(expr) if isinstance(expr, sp.MatrixBase) else sp.Matrix([[expr]])
    if matrix.shape[0] != matrix.shape[1]:
        raise ModelError(f"model.hamiltonian: the matrix is {matrix.shape[0]}x"
                         f"{matrix.shape[1]}; expected a square matrix")
    if dimension is None:
        dimension = 2 if KY in matrix.free_symbols else 1
    if dimension not in (1, 2):
        raise ModelError(f"model.dimension = {dimension!r}: expected 1 or 2")
    if dimension == 1 and KY in matrix.free_symbols:
        raise ModelError("model.dimension = 1: the hamiltonian uses ky; expected 2")
    _check_hermitian(matrix, parameters, dimension)
    return matrix, dimension


def _check_hermitian(matrix: sp.Matrix, parameters: Mapping[str, float], dimension: int):
    """Reject non-Hermitian H0: compare H and H^dagger at random k points.

    A numeric test is used because symbolic simplification of H - H^dagger can fail to
    reach zero for valid trigonometric input.
    """
    subs = {sp.Symbol(n, real=True): v for n, v in parameters.items()}
    numeric = matrix.subs(subs)
    function = sp.lambdify(K_SYMBOLS[:dimension], numeric, modules="numpy")
    rng = np.random.default_rng(12345)
    for _ in range(4):
        k = rng.uniform(-math.pi, math.pi, size=dimension)
        try:
            with np.errstate(all="ignore"):
                h = np.array(function(*k), dtype=complex)
        except (TypeError, ValueError, ArithmeticError) as exc:
            raise ModelError(f"model.hamiltonian does not evaluate to numbers ({exc}); "
                             "expected a finite matrix at every k") from None
        if not np.all(np.isfinite(h)):
            raise ModelError(f"model.hamiltonian is not finite at k = {k.tolist()}; "
                             "expected a finite matrix at every k")
        deviation = np.max(np.abs(h - h.conj().T))
        if deviation > 1e-12 * max(1.0, np.max(np.abs(h))):
            raise ModelError(f"model.hamiltonian is not Hermitian: max|H - H^dagger| = "
                             f"{deviation:.3g} at k = {np.round(k, 4).tolist()}; expected "
                             "H = H^dagger")


def _domain_from_config(value, dimension: int, cutoff=None) -> KDomain:
    if value == "bz" or value is None:
        if cutoff is not None:
            raise ModelError("cutoff: only meaningful for a continuum 'box' domain")
        return KDomain.brillouin_zone(dimension)
    bounds = value
    if isinstance(value, (list, tuple)) and len(value) == 2 \
            and all(isinstance(v, (int, float)) for v in value):
        bounds = [value] * dimension
    if not (isinstance(bounds, (list, tuple)) and len(bounds) == dimension and all(
            isinstance(b, (list, tuple)) and len(b) == 2
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in b)
            for b in bounds)):
        raise ModelError(f"domain = {value!r}: expected \"bz\" or a box [[kmin, kmax], ...] "
                         f"with {dimension} pair(s) (or one pair used for every direction)")
    return KDomain("box", tuple((float(lo), float(hi)) for lo, hi in bounds),
                   None if cutoff is None else float(cutoff))


#: The keys of a ``[model]`` table this module reads (the run config's schema,
#: solvers/schema.py, adds ``degeneracy``, a solver option; a test keeps the two in step).
MODEL_KEYS = frozenset({"name", "hamiltonian", "parameters", "domain", "cutoff", "dimension",
                        "degenerate", "units"})


def model_from_config(table: Mapping) -> Model:
    """Build a model from a TOML ``[model]`` table.

    Either ``name = "qwz"`` (a registered model) with an optional ``parameters`` table that
    overrides defaults, or ``hamiltonian = "..."`` with ``parameters`` and ``domain``
    (``"bz"`` or a box ``[[kmin, kmax], [kmin, kmax]]``) and optional ``cutoff``,
    ``dimension`` and ``degenerate``.
    """
    if not isinstance(table, Mapping):
        raise ModelError("[model]: expected a table")
    extra = sorted(set(table) - MODEL_KEYS)
    if extra:
        raise ModelError(f"[model] unknown key(s) {', '.join(extra)}; "
                         f"allowed: {', '.join(sorted(MODEL_KEYS))}")
    parameters = table.get("parameters", {})
    if not isinstance(parameters, Mapping):
        raise ModelError(f"[model] parameters = {parameters!r}: expected a table name = number")
    if "hamiltonian" in table:
        matrix, dimension = hamiltonian_from_string(table["hamiltonian"], parameters,
                                                    table.get("dimension"))
        domain = _domain_from_config(table.get("domain", "bz"), dimension, table.get("cutoff"))
        units = table.get("units", {"energy": "E0", "length": "L0"})
        return Model(str(table.get("name", "user")), matrix,
                     {k: float(v) for k, v in parameters.items()}, domain, dimension,
                     bool(table.get("degenerate", False)), units, table["hamiltonian"])
    if "name" not in table:
        raise ModelError("[model]: expected either name = \"<registered model>\" or "
                         "hamiltonian = \"...\"")
    model = get_model(table["name"]).with_parameters(**parameters)
    if "domain" in table or "cutoff" in table:
        if model.domain.periodic and table.get("domain", "bz") != "bz":
            raise ModelError(f"[model] domain = {table['domain']!r}: model {model.name!r} is "
                             "a lattice model with a periodic Brillouin zone")
        model = model.with_domain(_domain_from_config(
            table.get("domain", [list(b) for b in model.domain.bounds]), model.dimension,
            table.get("cutoff", model.domain.cutoff)))
    return model


# ---------------------------------------------------------------------------------------------
# Registry
# ---------------------------------------------------------------------------------------------

def _symbols(names: str):
    return sp.symbols(names, real=True)


def _chain() -> Model:
    t = _symbols("t")
    return Model("chain", sp.Matrix([[-2 * t * sp.cos(KX)]]), {"t": 1.0},
                 KDomain.brillouin_zone(1), 1,
                 description="1D tight-binding chain, eps = -2 t cos k")


def _ssh() -> Model:
    t1, t2 = _symbols("t1 t2")
    s = PAULI
    h = (t1 + t2 * sp.cos(KX)) * s["sx"] + t2 * sp.sin(KX) * s["sy"]
    return Model("ssh", h, {"t1": 1.0, "t2": 0.5}, KDomain.brillouin_zone(1), 1,
                 description="Su-Schrieffer-Heeger chain, intra-cell t1, inter-cell t2")


def _rice_mele() -> Model:
    t1, t2, delta = _symbols("t1 t2 delta")
    s = PAULI
    h = (t1 + t2 * sp.cos(KX)) * s["sx"] + t2 * sp.sin(KX) * s["sy"] + delta * s["sz"]
    return Model("rice_mele", h, {"t1": 1.0, "t2": 0.5, "delta": 0.3},
                 KDomain.brillouin_zone(1), 1,
                 description="Rice-Mele chain: SSH plus staggered potential delta")


def _square() -> Model:
    t, tp = _symbols("t tp")
    h = sp.Matrix([[-2 * t * (sp.cos(KX) + sp.cos(KY)) - 4 * tp * sp.cos(KX) * sp.cos(KY)]])
    return Model("square", h, {"t": 1.0, "tp": 0.0}, KDomain.brillouin_zone(2), 2,
                 description="square lattice, nearest (t) and next-nearest (tp) hopping")


def _qwz() -> Model:
    A, B, m, g = _symbols("A B m g")
    s = PAULI
    h = (A * sp.sin(KX) * s["sx"] + A * sp.sin(KY) * s["sy"]
         + (m + B * (sp.cos(KX) + sp.cos(KY))) * s["sz"] + g * sp.sin(KX) * s["s0"])
    return Model("qwz", h, {"A": 1.0, "B": 1.0, "m": -1.0, "g": 0.0},
                 KDomain.brillouin_zone(2), 2,
                 description="Qi-Wu-Zhang Chern insulator with tilt g sin(kx)")


def _haldane() -> Model:
    t1, t2, phi, M = _symbols("t1 t2 phi M")
    s = PAULI
    # Reduced coordinates k_i = k . a_i (a_1, a_2 Bravais vectors), so the BZ is [-pi, pi)^2;
    # tensors refer to the (a_1, a_2) basis.  Next-nearest-neighbour vectors a1, a2-a1, -a2.
    nnn = [KX, KY - KX, -KY]
    h = (t1 * (1 + sp.cos(KX) + sp.cos(KY)) * s["sx"] + t1 * (sp.sin(KX) + sp.sin(KY)) * s["sy"]
         + (M + 2 * t2 * sp.sin(phi) * sum(sp.sin(x) for x in nnn)) * s["sz"]
         + 2 * t2 * sp.cos(phi) * sum(sp.cos(x) for x in nnn) * s["s0"])
    return Model("haldane", h, {"t1": 1.0, "t2": 0.1, "phi": math.pi / 2, "M": 0.0},
                 KDomain.brillouin_zone(2), 2,
                 description="Haldane honeycomb model in reduced coordinates; topological "
                             "for |M| < 3 sqrt(3) t2 |sin phi|")


def _tilted_dirac() -> Model:
    v, m, w = _symbols("v m w")
    s = PAULI
    h = v * (KX * s["sx"] + KY * s["sy"]) + m * s["sz"] + w * KX * s["s0"]
    return Model("tilted_dirac", h, {"v": 1.0, "m": 0.1, "w": 0.3},
                 KDomain("box", ((-3.0, 3.0), (-3.0, 3.0)), cutoff=3.0), 2,
                 description="tilted massive 2D Dirac cone (continuum), tilt w kx")


def _toy003() -> Model:
    v, m, b, t = _symbols("v m b t")
    s = PAULI
    tau_x, tau_z = s["sx"], s["sz"]
    kk = KX ** 2 + KY ** 2
    # Basis ordering tau (x) sigma.
    h = (v * sp.kronecker_product(tau_x, KX * s["sx"] + KY * s["sy"])
         + (m - b * kk + t * KX) * sp.kronecker_product(tau_z, s["s0"]))
    return Model("toy003", h, {"v": 1.0, "m": 0.1, "b": 1.0, "t": 0.5},
                 KDomain("box", ((-1.5, 1.5), (-1.5, 1.5))), 2, degenerate=True,
                 units={"energy": "eV", "length": "nm"},
                 description="Qiang et al. Eq. (20): PT-symmetric 4x4 toy model, doubly "
                             "degenerate bands")


def _parabolic() -> Model:
    mass = _symbols("mass")
    return Model("parabolic", sp.Matrix([[KX ** 2 / (2 * mass)]]), {"mass": 1.0},
                 KDomain("box", ((-6.0, 6.0),)), 1,
                 description="free electron in 1D, eps = k^2 / (2 mass) (continuum; "
                             "no third derivative, so the Moyal hbar^2 terms vanish)")


def _landau_zener() -> Model:
    v, m = _symbols("v m")
    s = PAULI
    return Model("landau_zener", v * KX * s["sz"] + m * s["sx"], {"v": 1.0, "m": 0.5},
                 KDomain("box", ((-12.0, 12.0),)), 1,
                 description="Landau-Zener crossing H0 = v k sigma_z + m sigma_x (continuum); "
                             "transfer probability exp(-pi m^2 / (v E))")


def _flatband002() -> Model:
    t, eta_up, eta_dn = _symbols("t eta_up eta_dn")
    a_up = eta_up * (sp.cos(KX) + sp.cos(KY))
    a_dn = eta_dn * (sp.cos(KX) + sp.cos(KY))
    e = sp.exp
    h = t * sp.Matrix([
        [0, -sp.I * e(sp.I * a_up), 0, 0],
        [sp.I * e(-sp.I * a_up), 0, 0, 0],
        [0, 0, 0, sp.I * e(-sp.I * a_dn)],
        [0, 0, -sp.I * e(sp.I * a_dn), 0],
    ])
    # Hofmann et al.'s model as used in L. Balents, "Quantum kinetics, non-linear response, and
    # band geometry" (talk, KITP / Hong Kong University, March 2025): eta_sigma = 0.75 sigma;
    # the chemical potential on the diagonal is left out here because the response layer
    # supplies mu.
    return Model("flatband002", h, {"t": 1.0, "eta_up": 0.75, "eta_dn": -0.75},
                 KDomain.brillouin_zone(2), 2, degenerate=True,
                 description="Hofmann et al. flat-band model (Balents' talk): bands +-t, each "
                             "doubly degenerate, alpha_k = eta (cos kx + cos ky)")


_BUILDERS = {
    "chain": _chain, "ssh": _ssh, "rice_mele": _rice_mele, "square": _square, "qwz": _qwz,
    "haldane": _haldane, "tilted_dirac": _tilted_dirac, "toy003": _toy003,
    "flatband002": _flatband002, "parabolic": _parabolic, "landau_zener": _landau_zener,
}
MODELS = tuple(_BUILDERS)


def model_names() -> tuple:
    """Names of the registered models."""
    return MODELS


def get_model(name: str, **parameters: float) -> Model:
    """Registered model by name, with optional parameter overrides.

    Raises
    ------
    ModelError
        Unknown name or parameter.
    """
    if name not in _BUILDERS:
        raise ModelError(f"model name {name!r}: unknown; registered: {', '.join(MODELS)}")
    model = _BUILDERS[name]()
    return model.with_parameters(**parameters) if parameters else model
