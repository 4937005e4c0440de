"""Response formulas derived symbolically from the band-mode equation (docs/formulas.md).

The band-mode flux terms of :mod:`moyal.kinetic` are linearised with relaxation-time
collisions R[f] = -(f - f_eq)/tau for

(a) a uniform field E(t) = E1 exp(-i w1 t) + E2 exp(-i w2 t) (V = -E(t).x), to second
    order in E: sigma^(1)(w) and sigma^(2)(w1, w2);
(b) a travelling potential V = V_q exp(i (q.x - w t)) (the complex form of
    V_q cos(q x - w t)), to first order in V_q and second order in q: the longitudinal
    sigma^(1)(q, w) = sigma^(1,0)(w) + sigma^(1,1)(w) i q + O(q^2).

Results are Fermi-sea kernels K(k): a conductivity is sum_n int [dk] K f0, with f0 the
equilibrium distribution, after integrations by parts over the Brillouin zone.  e = 1,
electron charge -1, current j = -(particle current); hbar is kept as the bookkeeping
symbol of the band-mode orders and set to 1 when comparing with the literature formulas.

``python -m moyal.derived_response --report`` prints what docs/formulas.md records.
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass

import sympy as sp

from moyal.kinetic import BandFields, FluxTerm, apply_flux_terms, band_fields, band_mode_terms
from moyal.star import PhaseSpace, derivative, phase_space

RELAXATION_MODELS = ("fixed", "field_renormalised")


@dataclass(frozen=True)
class ResponseSymbols:
    """Symbols of a response derivation.

    Attributes
    ----------
    space : PhaseSpace
    fields : BandFields
    equilibrium : sympy.Expr
        f0(eps(k)) written as a generic function f0(k).
    equilibrium_slope : sympy.Expr
        f0'(eps(k)) written as a generic function f0p(k); the only identity used is
        f0p v_i = d_ki f0.
    tau : sympy.Symbol
        Relaxation time.
    """

    space: PhaseSpace
    fields: BandFields
    equilibrium: sp.Expr
    equilibrium_slope: sp.Expr
    tau: sp.Symbol


def response_symbols(dimension: int) -> ResponseSymbols:
    """Generic band fields and equilibrium for ``dimension`` (x, k) pairs."""
    space = phase_space(dimension)
    return ResponseSymbols(
        space=space, fields=band_fields(space),
        equilibrium=sp.Function("f0", real=True)(*space.k),
        equilibrium_slope=sp.Function("f0p", real=True)(*space.k),
        tau=sp.Symbol("tau", positive=True))


# ----------------------------------------------------------------------------------------
# Fermi-sea kernels: canonical form of an integrand modulo total k-derivatives
# ----------------------------------------------------------------------------------------

def _velocity_factor(factors, space: PhaseSpace, energy):
    """Index of a factor v_i = d_ki eps (possibly a power) and its k index, or None."""
    for position, factor in enumerate(factors):
        base = factor.base if isinstance(factor, sp.Pow) and factor.exp.is_Integer else factor
        if isinstance(base, sp.Derivative) and base.expr == energy \
                and sum(n for _, n in base.variable_count) == 1:
            return position, space.k.index(base.variable_count[0][0])
    return None


def fermi_sea_kernel(integrand, symbols: ResponseSymbols):
    """K(k) with int [dk] integrand = int [dk] K f0, by parts over the Brillouin zone.

    Parameters
    ----------
    integrand : sympy.Expr
        Linear in f0, f0p and their k-derivatives.
    symbols : ResponseSymbols

    Returns
    -------
    sympy.Expr
        The kernel K (expanded).

    Raises
    ------
    ValueError
        If an f0' term has no velocity factor (it is then a Fermi-surface term that
        has no Fermi-sea form without further identities).
    """
    space, f0, slope = symbols.space, symbols.equilibrium, symbols.equilibrium_slope
    energy = symbols.fields.energy
    kernel = sp.S.Zero
    for term in sp.Add.make_args(sp.expand(integrand)):
        if term.has(slope):
            factors = list(sp.Mul.make_args(term))
            if slope not in factors:
                raise ValueError(f"f0' enters non-linearly or differentiated in {term}")
            found = _velocity_factor(factors, space, energy)
            if found is None:
                raise ValueError(f"f0' term without a velocity factor: {term}")
            position, index = found
            factor = factors[position]
            factors[position] = factor.base ** (factor.exp - 1) if isinstance(factor, sp.Pow) \
                else sp.S.One
            factors.remove(slope)
            # f0'(eps) v_i = d_ki f0(eps)
            term = sp.Mul(*factors) * sp.diff(f0, space.k[index])
        coefficient, multi_index = _split_equilibrium_factor(term, f0, space)
        sign = (-1) ** sum(multi_index)
        kernel += sign * derivative(coefficient, space, multi_index)
    return sp.expand(kernel)


def _split_equilibrium_factor(term, f0, space: PhaseSpace):
    """term = coefficient * d^alpha f0  ->  (coefficient, alpha)."""
    for factor in sp.Mul.make_args(term):
        if factor == f0:
            return term / factor, tuple(0 for _ in space.coordinates)
        if isinstance(factor, sp.Derivative) and factor.expr == f0:
            counts = dict(factor.variable_count)
            return term / factor, tuple(counts.get(c, 0) for c in space.coordinates)
    raise ValueError(f"integrand term is not linear in f0: {term}")


# ----------------------------------------------------------------------------------------
# Substituting the potential
# ----------------------------------------------------------------------------------------

def _substitute_potential(expression, potential, values):
    """Replace V and its derivatives using ``values(x_order, t_order) -> expression``."""
    replacements = {}
    for d in expression.atoms(sp.Derivative):
        if d.expr == potential:
            counts = dict(d.variable_count)
            t = potential.args[-1]
            replacements[d] = values(tuple(counts.get(xj, 0) for xj in potential.args[:-1]),
                                     counts.get(t, 0))
    expression = expression.xreplace(replacements)
    return expression.xreplace({potential: values(tuple(0 for _ in potential.args[:-1]), 0)})


def _current_integrand(terms, distribution, space: PhaseSpace, component: int):
    """Electric current j_i integrand -J^x_i (k-total derivatives included; they drop in K)."""
    flux = sp.S.Zero
    for t in terms:
        if t.direction == component:
            flux += derivative(t.coefficient * derivative(distribution, space, t.inner),
                               space, t.outer)
    return -flux


def _with_potential(terms, potential, values):
    return [FluxTerm(t.direction, _substitute_potential(t.coefficient, potential, values),
                     t.outer, t.inner, t.order, t.origin) for t in terms]


# ----------------------------------------------------------------------------------------
# (a) uniform field to second order
# ----------------------------------------------------------------------------------------

def _solve_linear(equation, unknown):
    """Root of an equation linear and algebraic in ``unknown`` (a function of k)."""
    slope = sp.diff(equation, unknown)
    if slope.has(unknown) or any(d.expr == unknown for d in equation.atoms(sp.Derivative)):
        raise ValueError(f"equation for {unknown} is not algebraic and linear")
    return -equation.subs(unknown, 0) / slope


@dataclass(frozen=True)
class UniformFieldResponse:
    """Kernels of sigma^(1)_ij(w1) and sigma^(2)_ijl(w1, w2) (lists indexed [i][j], [i][j][l]).

    The linear kernels are functions of w1 = ``frequencies[0]``.

    sigma^(2)_ijl(w1, w2) is half the coefficient of E1_j E2_l in j_i at w1 + w2, so that
    it is symmetric under (j, w1) <-> (l, w2) and at w1 = w2 = 0 matches
    j_i = sigma_ijl E_j E_l.
    """

    linear: list
    quadratic: list
    frequencies: tuple
    relaxation: str


def uniform_field_response(symbols: ResponseSymbols, relaxation: str = "fixed",
                           order: int = 2) -> UniformFieldResponse:
    """Linearise band mode in a uniform field to second order (case (a)).

    Parameters
    ----------
    symbols : ResponseSymbols
    relaxation : {"fixed", "field_renormalised"}
        Target of the relaxation: f0(eps), or f0(eps + (1/2) E.Gq.E) (Eq. (9) of
        X.-B. Qiang, T. Liu, Z.-X. Gao, H.-Z. Lu, X. C. Xie, "A Clarification on
        Quantum-Metric-Induced Nonlinear Transport", expanded to E^2: f0 + (1/2) E.Gq.E f0').
    order : int
        Band-mode order (0, 1, 2) of the kinetic equation used.
    """
    if relaxation not in RELAXATION_MODELS:
        raise ValueError(f"relaxation must be one of {RELAXATION_MODELS}, got {relaxation!r}")
    space, fields, tau = symbols.space, symbols.fields, symbols.tau
    d, k = space.dimension, space.k
    w1, w2 = sp.symbols("omega_1 omega_2", real=True)
    z1, z2, lam = sp.symbols("z_1 z_2 lambda")  # z_s = exp(-i w_s t), lam counts E
    e1 = sp.symbols(f"E1_0:{d}", real=True)
    e2 = sp.symbols(f"E2_0:{d}", real=True)
    field = [lam * (e1[j] * z1 + e2[j] * z2) for j in range(d)]

    def time_derivative(expression):
        return sp.diff(expression, z1) * (-sp.I * w1 * z1) + sp.diff(expression, z2) * (
            -sp.I * w2 * z2)

    def values(x_order, t_order):
        if sum(x_order) != 1:
            return sp.S.Zero  # V = -E.x is linear in x; V itself never enters a flux
        component = -field[x_order.index(1)]
        return time_derivative(component) if t_order == 1 else component

    terms = _with_potential(band_mode_terms(space, fields, order), fields.potential, values)
    f0 = symbols.equilibrium
    first = [sp.Function(f"a_{s}")(*k) for s in (1, 2)]
    second = sp.Function("b")(*k)
    f = f0 + lam * (first[0] * z1 + first[1] * z2) + lam ** 2 * second * z1 * z2
    target = f0
    if relaxation == "field_renormalised":
        gq = fields.band_normalised_metric
        target += sum(field[j] * gq[j, l] * field[l] for j in range(d) for l in range(d)) \
            * symbols.equilibrium_slope / 2
    residual = sp.expand(time_derivative(f) - apply_flux_terms(terms, f, space)
                         + (f - target) / tau)

    def harmonic(expression, powers):
        return sp.Poly(expression, lam, z1, z2).coeff_monomial(lam ** sum(powers)
                                                                * z1 ** powers[0]
                                                                * z2 ** powers[1])

    solution = {}
    for s, unknown in enumerate(first):
        powers = (1, 0) if s == 0 else (0, 1)
        solution[unknown] = _solve_linear(harmonic(residual, powers), unknown)
    equation = sp.expand(harmonic(residual, (1, 1)).subs(solution).doit())
    solution[second] = _solve_linear(equation, second)

    def kernel(integrand):
        return fermi_sea_kernel(sp.expand(integrand.subs(solution).doit()), symbols)

    currents = [sp.expand(_current_integrand(terms, f, space, i)) for i in range(d)]
    # the solution carries the field amplitudes, so substitute before differentiating
    first_kernels = [kernel(harmonic(current, (1, 0))) for current in currents]
    second_kernels = [kernel(harmonic(current, (1, 1))) for current in currents]
    linear = [[sp.together(sp.diff(first_kernels[i], e1[j])) for j in range(d)]
              for i in range(d)]
    quadratic = [[[sp.expand(sp.diff(second_kernels[i], e1[j], e2[l]) / 2)
                   for l in range(d)] for j in range(d)] for i in range(d)]
    return UniformFieldResponse(linear, quadratic, (w1, w2), relaxation)


def static_limit(kernel, frequencies) -> sp.Expr:
    """Kernel at zero frequencies, expanded as a polynomial in tau."""
    return sp.expand(sp.cancel(kernel.subs({w: 0 for w in frequencies})))


def tau_power(kernel, tau, power: int) -> sp.Expr:
    """Coefficient of tau^power of a static kernel."""
    return sp.expand(kernel).coeff(tau, power)


# ----------------------------------------------------------------------------------------
# literature kernels (same canonical form; docs/formulas.md)
# ----------------------------------------------------------------------------------------

def _d(expression, symbols, index):
    return sp.diff(expression, symbols.space.k[index])


def drude_kernel(symbols, a, b):
    """sigma_ab = tau int v_a v_b (-f0')."""
    v = [_d(symbols.fields.energy, symbols, j) for j in range(symbols.space.dimension)]
    return fermi_sea_kernel(-symbols.tau * v[a] * v[b] * symbols.equilibrium_slope, symbols)


def anomalous_hall_kernel(symbols, a, b):
    """sigma_ab = -int f0 Omega^{ab}."""
    return -symbols.fields.berry_curvature[a, b]


def nonlinear_drude_kernel(symbols, i, j, l):
    """Qiang et al. Eq. (11): sigma_ijl = -tau^2 int (d_i d_j d_l eps) f0."""
    eps, k = symbols.fields.energy, symbols.space.k
    return -symbols.tau ** 2 * sp.diff(eps, k[i], k[j], k[l])


def berry_curvature_dipole_kernel(symbols, i, j, l):
    """Qiang et al. Eq. (12): sigma_ijl = (tau/2) int (d_l Omega^{ij} + d_j Omega^{il}) f0."""
    omega = symbols.fields.berry_curvature
    return symbols.tau / 2 * (_d(omega[i, j], symbols, l) + _d(omega[i, l], symbols, j))


def metric_dipole_kernel(symbols, i, j, l, own: sp.Expr, exchanged: sp.Expr):
    """-int [own d_i Gq^{jl} - exchanged (d_l Gq^{ij} + d_j Gq^{il})] f0 (docs/formulas.md)."""
    gq = symbols.fields.band_normalised_metric
    return -(own * _d(gq[j, l], symbols, i)
             - exchanged * (_d(gq[i, j], symbols, l) + _d(gq[i, l], symbols, j)))


LITERATURE_METRIC_FORMS = {
    "WPD": (sp.Integer(1), sp.Rational(1, 2)),
    "LKA": (sp.Integer(2), sp.Rational(1, 2)),
    "QK": (sp.Rational(1, 2), sp.Integer(1)),
}


def classify_metric_dipole(kernels, symbols: ResponseSymbols) -> dict:
    """Fit tau^0 kernels to -[a d_i Gq^{jl} - b (d_l Gq^{ij} + d_j Gq^{il})].

    Parameters
    ----------
    kernels : nested list [i][j][l] of sympy.Expr
        tau^0 static kernels with hbar = 1.

    Returns
    -------
    dict
        "own", "exchanged": fitted a and b (None if the kernel is not of this form);
        "matches": names of the literature forms equal to the kernel;
        "differences": form name -> nested list of kernel minus form.
    """
    a, b = sp.symbols("a b")
    d = symbols.space.dimension
    index = [(i, j, l) for i in range(d) for j in range(d) for l in range(d)]
    equations = []
    for i, j, l in index:
        residual = sp.expand(kernels[i][j][l] - metric_dipole_kernel(symbols, i, j, l, a, b))
        derivatives = sorted(residual.atoms(sp.Derivative), key=sp.default_sort_key)
        equations += [residual.coeff(term) for term in derivatives]
        equations.append(residual.subs({term: 0 for term in derivatives}))
    fit = sp.solve([e for e in equations if e != 0], [a, b], dict=True)
    own, exchanged = (fit[0].get(a), fit[0].get(b)) if fit else (None, None)
    differences = {name: [[[sp.expand(kernels[i][j][l] - metric_dipole_kernel(
        symbols, i, j, l, *coefficients)) for l in range(d)] for j in range(d)]
        for i in range(d)] for name, coefficients in LITERATURE_METRIC_FORMS.items()}
    matches = [name for name, diff in differences.items()
               if all(x == 0 for plane in diff for row in plane for x in row)]
    return {"own": own, "exchanged": exchanged, "matches": matches, "differences": differences}


# ----------------------------------------------------------------------------------------
# (b) travelling potential, first order in V, second order in q
# ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class TravellingWaveResponse:
    """Longitudinal conductivity kernels of V = V_q exp(i (q.x - w t)).

    Attributes
    ----------
    uniform : list [i][j]
        sigma^(1,0)_ij(w) kernels, the q -> 0 limit (longitudinal part, j summed with q_j).
    gradient : list [i][j][l]
        sigma^(1,1)_i(jl)(w) kernels, symmetrised in (j, l): j_i = sigma_ij (q) E_j with
        sigma_ij(q) = sigma^(1,0)_ij + sigma^(1,1)_ijl i q_l + O(q^2), E = -i q V.
    omega : sympy.Symbol
    """

    uniform: list
    gradient: list
    omega: sp.Symbol


def travelling_wave_response(symbols: ResponseSymbols, order: int = 2) -> TravellingWaveResponse:
    """Linearise band mode in V = V_q exp(i (q.x - w t)) with fixed relaxation (case (b))."""
    space, fields, tau = symbols.space, symbols.fields, symbols.tau
    d, x, k, t = space.dimension, space.x, space.k, space.t
    w = sp.Symbol("omega", real=True)
    q = sp.symbols(f"q_0:{d}", real=True)
    scale, lam = sp.symbols("s lambda")  # s counts powers of q, lam the amplitude V_q
    phase = sp.exp(sp.I * (sum(scale * qj * xj for qj, xj in zip(q, x)) - w * t))
    potential = lam * phase
    terms = [FluxTerm(term.direction, term.coefficient.subs(fields.potential, potential).doit(),
                      term.outer, term.inner, term.order, term.origin)
             for term in band_mode_terms(space, fields, order)]
    f0 = symbols.equilibrium
    response = sp.Function("a")(*k)
    f = f0 + lam * response * phase
    residual = sp.diff(f, t) - apply_flux_terms(terms, f, space) + (f - f0) / tau
    linear = sp.expand(sp.powsimp(sp.expand(residual).coeff(lam, 1) / phase))
    if any(isinstance(a, sp.Derivative) and a.expr == response for a in linear.atoms(sp.Derivative)):
        raise ValueError("the linearised band equation differentiates the response in k")
    # linear = A(s) a + B(s); a = -B/A expanded to s^2 (q^3 never reaches sigma^(1,1))
    operator = [sp.expand(sp.diff(linear, response)).coeff(scale, n) for n in range(3)]
    drive = [sp.expand(linear.subs(response, 0)).coeff(scale, n) for n in range(3)]
    inverse = [1 / operator[0], -operator[1] / operator[0] ** 2,
               operator[1] ** 2 / operator[0] ** 3 - operator[2] / operator[0] ** 2]
    solved = -sum(scale ** n * sum(inverse[m] * drive[n - m] for m in range(n + 1))
                  for n in range(3))
    currents = []
    for i in range(d):
        integrand = sp.expand(sp.powsimp(sp.expand(
            _current_integrand(terms, f, space, i)).coeff(lam, 1) / phase))
        integrand = sp.expand(integrand.subs(response, solved).doit())
        currents.append(sp.expand(sum(integrand.coeff(scale, n) * scale ** n for n in (1, 2))))
    # j_i = sigma_ij E_j with E_j = -i s q_j V_q
    uniform = [[sp.factor(fermi_sea_kernel(
        sp.diff(currents[i].coeff(scale, 1), q[j]), symbols) / (-sp.I)) for j in range(d)]
        for i in range(d)]
    gradient = []
    for i in range(d):
        second = sp.expand(currents[i].coeff(scale, 2))
        # sigma_ijl (i q_l)(-i q_j) = sigma_ijl q_j q_l, symmetric part
        gradient.append([[sp.factor(fermi_sea_kernel(sp.diff(second, q[j], q[l]) / 2, symbols))
                          for l in range(d)] for j in range(d)])
    return TravellingWaveResponse(uniform, gradient, w)


def balents_gradient_kernel(symbols: ResponseSymbols, i, j, l, omega):
    """The sigma^(1,1)_ijl of Balents' talk without its undefined M term, e = hbar = 1, T = -Gq.

    L. Balents, "Quantum kinetics, non-linear response, and band geometry" (talk, KITP /
    Hong Kong University, March 2025):

    int [ f' v_i v_j v_l / (i w - 1/tau)^2
          + f (1/2) (v_j T_li + v_l T_ij - d_j g_li - d_l g_ij) ] as a Fermi-sea kernel.
    """
    fields, tau = symbols.fields, symbols.tau
    v = [_d(fields.energy, symbols, n) for n in range(symbols.space.dimension)]
    t_metric, g = -fields.band_normalised_metric, fields.quantum_metric
    integrand = symbols.equilibrium_slope * v[i] * v[j] * v[l] / (sp.I * omega - 1 / tau) ** 2 \
        + symbols.equilibrium * (v[j] * t_metric[l, i] + v[l] * t_metric[i, j]
                                 - _d(g[l, i], symbols, j) - _d(g[i, j], symbols, l)) / 2
    return fermi_sea_kernel(integrand, symbols)


# ----------------------------------------------------------------------------------------
# Report for docs/formulas.md
# ----------------------------------------------------------------------------------------

def _label(symbols, *indices):
    return "".join(str(symbols.space.x[n]) for n in indices)


def _unit_hbar(expression, symbols):
    return sp.simplify(expression.subs(symbols.space.hbar, 1))


def report() -> str:
    """Markdown text of the derived formulas and the verdicts (reproducible)."""
    symbols = response_symbols(2)
    d, tau = symbols.space.dimension, symbols.tau
    lines = ["## Uniform field, band mode of order 2, fixed relaxation target f0(eps)", ""]
    fixed = uniform_field_response(symbols, "fixed")
    lines.append("Linear kernels K with sigma_ij(w) = int [dk] K f0:")
    lines.append("")
    for i in range(d):
        for j in range(d):
            lines.append(f"- sigma_{_label(symbols, i, j)}(w): "
                         f"`{_unit_hbar(fixed.linear[i][j], symbols)}`")
    lines.append("")
    checks = []
    for i in range(d):
        for j in range(d):
            static = static_limit(_unit_hbar(fixed.linear[i][j], symbols), fixed.frequencies)
            expected = drude_kernel(symbols, i, j) + anomalous_hall_kernel(symbols, i, j)
            checks.append(sp.expand(static - expected) == 0)
    lines.append(f"Static limit equals Drude + anomalous Hall for all (i, j): {all(checks)}")
    lines.append("")
    for relaxation in RELAXATION_MODELS:
        result = fixed if relaxation == "fixed" else uniform_field_response(symbols, relaxation)
        lines.append(f"### Second order, relaxation target `{relaxation}`")
        lines.append("")
        static = [[[static_limit(_unit_hbar(result.quadratic[i][j][l], symbols),
                                 result.frequencies) for l in range(d)] for j in range(d)]
                  for i in range(d)]
        drude_ok = all(sp.expand(tau_power(static[i][j][l], tau, 2)
                                 - nonlinear_drude_kernel(symbols, i, j, l) / tau ** 2) == 0
                       for i in range(d) for j in range(d) for l in range(d))
        bcd_ok = all(sp.expand(tau_power(static[i][j][l], tau, 1)
                               - berry_curvature_dipole_kernel(symbols, i, j, l) / tau) == 0
                     for i in range(d) for j in range(d) for l in range(d))
        lines.append(f"- tau^2 part equals nonlinear Drude (Qiang et al. Eq. (11)): {drude_ok}")
        lines.append("- tau^1 part equals Berry-curvature dipole (Qiang et al. Eq. (12)): "
                     f"{bcd_ok}")
        intrinsic = [[[tau_power(static[i][j][l], tau, 0) for l in range(d)] for j in range(d)]
                     for i in range(d)]
        verdict = classify_metric_dipole(intrinsic, symbols)
        lines.append(f"- tau^0 part has the form -int [a d_i Gq^jl - b (d_l Gq^ij + d_j Gq^il)] f0 "
                     f"with a = {verdict['own']}, b = {verdict['exchanged']}")
        lines.append(f"- literature forms it equals: {verdict['matches'] or 'none'}")
        for name, diff in verdict["differences"].items():
            sample = diff[0][0][0], diff[0][1][1], diff[0][0][1]
            lines.append(f"- kernel minus {name} (components xxx, xyy, xxy): "
                         + ", ".join(f"`{s}`" for s in sample))
        lines.append("")
    lines.append("## Travelling potential V_q exp(i(q.x - w t)), first order in q, fixed relaxation")
    lines.append("")
    wave = travelling_wave_response(symbols)
    omega = wave.omega
    for i, j in ((0, 0), (0, 1)):
        lines.append(f"- sigma^(1,0)_{_label(symbols, i, j)}(w): "
                     f"`{_unit_hbar(wave.uniform[i][j], symbols)}`")
    lines.append("")
    for i, j, l in ((0, 0, 0), (0, 1, 1), (0, 0, 1)):
        derived = _unit_hbar(wave.gradient[i][j][l], symbols)
        talk = balents_gradient_kernel(symbols, i, j, l, omega)
        lines.append(f"- sigma^(1,1)_{_label(symbols, i, j, l)}(w) derived: `{derived}`")
        lines.append(f"  - minus Balents' talk (without M, T = -Gq): "
                     f"`{sp.simplify(sp.expand(derived - talk))}`")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--report", action="store_true",
                        help="print the derived formulas and verdicts (docs/formulas.md)")
    arguments = parser.parse_args(argv)
    if arguments.report:
        print(report(), end="")
    else:
        parser.print_help()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
