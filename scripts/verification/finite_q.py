"""Finite-q linear response: travelling potential V = V_q cos(q x - w t) (issue 6.4).

Band mode on (x, kx), x periodic over one wavelength L = 2 pi / |q|, fixed relaxation to
f0(eps), V = V_q cos(q x - w t) with V_q = E0 / |q| (field amplitude E0 at every q). In the
periodic steady state the first spatial harmonic of the current density is
j(x, t) = Re[J exp(i(q x - w t))]; with E = -d_x V = Re[E_q exp(i(q x - w t))],
E_q = -i q V_q, the conductivity is sigma^(1)(q, w) = J / E_q. Terms of second order in V_q
sit at wavevectors 0 and 2q and do not enter J; the third order is O(E0^2) relative.

Runs at q = +-q0, +-2 q0 separate (Richardson, cancelling O(q^2) in both parts)

    sigma^(1)(q, w) = sigma^(1,0)(w) + sigma^(1,1)(w) i q + O(q^2)

and both are compared with the kernels that :func:`moyal.derived_response.
travelling_wave_response` derives symbolically from the same band-mode equation, integrated
over the simulation's k cells with the band geometry of :mod:`moyal.geometry`. Independent
checks: order 0 gives sigma^(1,0) = Drude tau int v^2 (-f0') / (1 - i w tau)
(:mod:`moyal.response`, Fermi-surface form); order 2 adds the polarisation current
i w int Gq f0. The printed sigma^(1,1) of L. Balents, "Quantum kinetics, non-linear response,
and band geometry" (talk, KITP / Hong Kong University, March 2025), without its undefined M
term, is evaluated for the same model and recorded: band mode reproduces the derived form,
not the printed one.

The model is a tilted Rice-Mele chain: the tilt w sin(k) breaks k -> -k, without which
sigma^(1,1) vanishes for a single band (v eps'', v Gq and d_k g are then odd in k); the
gap (>= 1) gives the lower band a quantum metric, so the order-2 terms make about 40% of
|sigma^(1,1)| here.
"""

from __future__ import annotations

import math
import time
from functools import lru_cache

import numpy as np

from scripts.verification import Case, Check, save_figure, simulate_tables

CASE = "finite_q"

#: tilted Rice-Mele chain (energy unit t1, lattice constant 1); bands at [-1.80, -0.43] and
#: [0.43, 1.80], gap >= 1
MODEL = {"hamiltonian": "(t1 + t2*cos(kx))*sx + t2*sin(kx)*sy + delta*sz + w*sin(kx)*s0",
         "parameters": {"t1": 1.0, "t2": 0.6, "delta": 0.3, "w": 0.4}}
#: evolved band: the lower one, partly filled (the upper band holds < 1e-4 at mu, T)
BANDS = [0]
MU, TEMPERATURE = -0.6, 0.1
#: relaxation time and drive frequency: w tau = 0.75, w below the gap (band mode regime);
#: there the derived and printed sigma^(1,1) differ by 17%
TAU, OMEGA = 1.5, 0.5
#: field amplitude E0 = |q| V_q (energy / length)
FIELD = 0.001
#: largest time step (hbar / energy): w dt <= 0.05
MAX_STEP = 0.1
#: duration in units of tau: the switch-on transient decays as exp(-t/tau) < 1e-5
RELAXATION_TIMES = 12.0

#: (nx per wavelength, nk, q0) of the fast case and of the grids of the convergence study
FAST = (32, 256, 0.1)
FINEST = (128, 512, 0.05)
STUDY_X = (16, 32, 64, 128)
STUDY_K = (128, 256, 512)
#: q0 study at nx = 64 (at 128 the x-dispersive CFL limit of q = 0.4 costs 10x)
STUDY_Q = (0.2, 0.1, 0.05)
STUDY_Q_NX = 64
#: relative tolerances (sigma10, sigma11) of the fast and the finest resolution
TOLERANCE_FAST = (1e-3, 1e-2)
TOLERANCE_FULL = (2e-4, 2e-3)
#: absolute tolerance of observed convergence orders, and of the relative change of
#: sigma11 when the time step halves
ORDER_TOLERANCE = 0.3
TIME_TOLERANCE = 1e-4
#: relative distance above which the printed sigma11 of Balents' talk counts as not reproduced
TALK_GAP = 0.05


# ------------------------------------------------------------------------------------------
# simulation
# ------------------------------------------------------------------------------------------

def _tables(q: float, nx: int, nk: int, order: int, dt: float = 0.0) -> dict:
    """Config tables of one run (``dt`` = 0: step from the CFL number)."""
    return dict(
        model=MODEL, mode={"order": order, "bands": BANDS},
        grid={"x": "periodic", "nx": nx, "x_max": 2 * math.pi / abs(q), "nk": [nk]},
        fields={"potential": [{"kind": "cosine", "amplitude": FIELD / abs(q), "q": q,
                               "omega": OMEGA}]},
        initial={"mu": MU, "temperature": TEMPERATURE},
        collisions={"kind": "fixed", "tau": TAU, "mu": MU, "temperature": TEMPERATURE},
        numerics={"limiter": "none", "integrator": "explicit", "dt": dt},
        run={"t_end": RELAXATION_TIMES * TAU})


def time_step(ctx, q: float, nx: int, nk: int, order: int, max_step: float) -> float:
    """min(max_step, the solver's CFL step) for this run (collective on ctx.comm).

    The CFL step on these coarse x cells can reach ~w^-1, where the SSP-RK3 phase error
    would dominate; ``max_step`` bounds it so that the time error stays below the spatial
    one (shown by the step halving of the convergence study).
    """
    from solvers import config
    from solvers.run import make_problem

    cfg = config.from_dict(_tables(q, nx, nk, order))
    limit = make_problem(cfg, ctx.comm).stable_dt(include_relaxation=True)
    return min(max_step, limit)


def conductivity_at(ctx, q: float, nx: int, nk: int, order: int,
                    max_step: float = MAX_STEP) -> complex:
    """sigma^(1)(q, w) of one steady-state run (e^2/hbar; collective on ctx.comm).

    The current density at the final time is projected on exp(i q x) over the cell centres
    (exact for a harmonic on a uniform periodic grid; the 0 and 2q harmonics drop out).
    """
    dt = time_step(ctx, q, nx, nk, order, max_step)
    summary, _, _ = simulate_tables(ctx, f"fq_o{order}_nx{nx}_nk{nk}_q{q:+.4f}",
                                    **_tables(q, nx, nk, order, dt))
    t = summary["series_t"][-1]
    current = summary["series_current"][-1, 0]
    x = (np.arange(nx) + 0.5) * 2 * math.pi / abs(q) / nx
    amplitude = 2 * np.mean(current * np.exp(-1j * q * x)) * np.exp(1j * OMEGA * t)
    return complex(amplitude / (-1j * q * FIELD / abs(q)))


def expansion_in_q(ctx, nx: int, nk: int, q0: float, order: int,
                   max_step: float = MAX_STEP) -> dict:
    """sigma^(1,0) and sigma^(1,1) from runs at q = +-q0, +-2 q0.

    At fixed V_q the current J(q) / (-i V_q) = q sigma(q) is, like a current in a field
    sweep, odd + even in the "field" q: :func:`solvers.observables.symmetric_differences`
    with scales +-1, +-2 and field q0 returns the Richardson-extrapolated
    [q sigma(q) - (-q) sigma(-q)] / 2q -> sigma^(1,0) and
    [q sigma(q) + (-q) sigma(-q)] / 2q^2 -> i sigma^(1,1) (errors O(q0^4)).

    Returns
    -------
    dict
        ``sigma10``, ``sigma11`` (complex, e^2/hbar and e^2/hbar * length), ``samples``
        {q: sigma(q)} and ``seconds`` of wall time.
    """
    from solvers.observables import symmetric_differences

    start = time.perf_counter()
    scales = np.array([1.0, -1.0, 2.0, -2.0])
    samples = {s * q0: conductivity_at(ctx, s * q0, nx, nk, order, max_step) for s in scales}
    current = np.array([[z.real, z.imag] for z in (s * samples[s * q0] for s in scales)])
    even, odd = symmetric_differences(scales, current, 1.0)
    return {"sigma10": complex(*even), "sigma11": complex(*odd) / (1j * q0),
            "samples": samples, "seconds": time.perf_counter() - start}


# ------------------------------------------------------------------------------------------
# predictions on the simulation's k cells
# ------------------------------------------------------------------------------------------

@lru_cache(maxsize=None)
def _kernels(order: int) -> dict:
    """Lambdified Fermi-sea kernels (hbar = 1) and their arguments (names, or the
    :class:`moyal.ir.FieldRef` of band fields), by name."""
    import sympy as sp

    from moyal.codegen import band_field_catalogue, field_refs, lower
    from moyal.derived_response import (balents_gradient_kernel, response_symbols,
                                        travelling_wave_response)

    symbols = response_symbols(1)
    wave = travelling_wave_response(symbols, order)
    hbar = symbols.space.hbar
    expressions = {"sigma10": wave.uniform[0][0], "sigma11": wave.gradient[0][0][0],
                   "balents_talk": balents_gradient_kernel(symbols, 0, 0, 0, wave.omega)}
    catalogue = band_field_catalogue(symbols.space, symbols.fields)
    kernels = {}
    for name, expression in expressions.items():
        expression = sp.expand(expression.subs(hbar, 1))
        lowered, arguments = lower(expression, hbar)
        fields = {f.name: f for f in field_refs(expression, catalogue)}
        kernels[name] = (sp.lambdify(arguments, lowered, "numpy"),
                         [fields.get(str(a), str(a)) for a in arguments])
    return kernels


def _band_data(nk: int):
    """Band geometry of the evolved bands at the simulation's k-cell centres, the k grid
    (uniform cells on the Brillouin zone, weight dk / 2 pi) and Fermi-sea weights."""
    from moyal.geometry import KGrid, band_geometry, select_bands
    from moyal.response import fermi_sea_weights
    from solvers.preflight import model_from_table

    model, degeneracy = model_from_table(MODEL)
    step = 2 * math.pi / nk
    centres = -math.pi + step * (np.arange(nk) + 0.5)
    grid = KGrid(centres[None], np.full(nk, step / (2 * math.pi)), (step,), True)
    geometry = select_bands(band_geometry(model, grid, degeneracy), BANDS)
    return geometry, grid, fermi_sea_weights(grid, geometry.energy, MU, TEMPERATURE)


def predictions(nk: int, order: int) -> dict:
    """Derived sigma^(1,0), sigma^(1,1), the printed sigma^(1,1) of Balents' talk and the
    independent sigma^(1,0) = Drude(w) [+ i w int Gq f0 at order 2], on ``nk`` k cells (complex)."""
    from moyal.response import response_tensors
    from solvers.coefficients import band_table

    geometry, grid, weights = _band_data(nk)
    values = {}
    for name, (function, arguments) in _kernels(order).items():
        scalars = {"tau": TAU, "omega": OMEGA}
        kernel = function(*[scalars[a] if a in scalars else band_table(geometry, a)
                            for a in arguments])
        # kernel (bands, nk), weights (nk, bands)
        values[name] = complex(np.sum(np.asarray(kernel).T * weights))
    drude = response_tensors(geometry, grid, [MU], TEMPERATURE, ["drude"],
                             {"drude": "surface"})["drude"][0, 0, 0]
    independent = TAU * drude / (1 - 1j * OMEGA * TAU)
    if order == 2:
        independent += 1j * OMEGA * np.sum(geometry.band_normalised_metric[0, 0] * weights)
    values["independent10"] = complex(independent)
    return values


# ------------------------------------------------------------------------------------------
# checks
# ------------------------------------------------------------------------------------------

def _rows(quantity, prediction, measured, tolerance, note, kind="agree"):
    """Re and Im rows of a complex comparison (relative errors)."""
    return [Check(CASE, f"{part} {quantity}", float(getattr(prediction, part)),
                  float(getattr(measured, part)), tolerance, kind=kind, note=note)
            for part in ("real", "imag")]


def _checks(result, reference, boltzmann, boltzmann_reference, tolerance, label):
    """Rows of one resolution: order 2 against its derived kernels and the independent
    Drude + polarisation sigma^(1,0), the order-0 run against Drude and the Boltzmann kernel,
    their difference against the geometric part of the derived sigma^(1,1), and the order-2
    sigma^(1,1) against the printed form of Balents' talk (expected to differ)."""
    tol10, tol11 = tolerance

    def rows(quantity, prediction, measured, tol, note, kind="agree"):
        return [Check(CASE, f"{part} {quantity} [{label}]", float(getattr(prediction, part)),
                      float(getattr(measured, part)), tol, kind=kind, note=note)
                for part in ("real", "imag")]

    geometric = reference["sigma11"] - boltzmann_reference["sigma11"]
    return (
        rows("sigma10 order 0 vs Drude(w)", boltzmann_reference["independent10"],
             boltzmann["sigma10"], tol10, "moyal.response Drude / (1 - i w tau)")
        + rows("sigma11 order 0 vs derived", boltzmann_reference["sigma11"],
               boltzmann["sigma11"], tol11, "travelling_wave_response(order=0)")
        + rows("sigma10 order 2 vs derived", reference["sigma10"], result["sigma10"], tol10,
               "travelling_wave_response(order=2)")
        + rows("sigma10 order 2 vs Drude(w) + i w int Gq f0", reference["independent10"],
               result["sigma10"], tol10, "moyal.response + moyal.geometry")
        + rows("sigma11 order 2 vs derived", reference["sigma11"], result["sigma11"], tol11,
               "travelling_wave_response(order=2)")
        + rows("sigma11 order 2 - order 0 vs derived geometric part", geometric,
               result["sigma11"] - boltzmann["sigma11"], 2 * tol11,
               "quantum-metric terms of band mode")
        + rows("sigma11 order 2 vs Balents' talk printed (no M term)", reference["balents_talk"],
               result["sigma11"], TALK_GAP, "band mode must not reproduce it", kind="differ"))


def _relative(a: complex, b: complex) -> float:
    return abs(a - b) / abs(b)


def run(ctx) -> list:
    """Fast: one resolution (nx, nk, q0) = FAST. Full: convergence in nx, nk, q0 and dt,
    checks at the finest grid, observed orders, plots."""
    nx, nk, q0 = FINEST if ctx.full else FAST
    result = expansion_in_q(ctx, nx, nk, q0, 2)
    boltzmann = expansion_in_q(ctx, nx, nk, q0, 0)
    reference, boltzmann_reference = predictions(nk, 2), predictions(nk, 0)
    ctx.log(f"  ({nx}, {nk}, {q0}): sigma10 = {result['sigma10']:.6f}, sigma11 = "
            f"{result['sigma11']:.6f} (derived {reference['sigma11']:.6f}, Balents' talk "
            f"{reference['balents_talk']:.6f}); order 0 sigma11 = {boltzmann['sigma11']:.6f} "
            f"(derived {boltzmann_reference['sigma11']:.6f}); "
            f"{result['seconds'] + boltzmann['seconds']:.0f} s")
    tolerance = TOLERANCE_FULL if ctx.full else TOLERANCE_FAST
    checks = _checks(result, reference, boltzmann, boltzmann_reference, tolerance,
                     f"nx={nx}, nk={nk}, q0={q0}")
    if ctx.full:
        checks += _convergence(ctx, result, reference)
    return checks


def _order(errors, study, points) -> float:
    """Observed order log(e1 / e2) / log(h1 / h2) between two points of a study (the
    refinement parameter h: 1/nx, 1/nk or q0)."""
    index = {"nx": 0, "nk": 1, "q0": 2}[study]
    column = 1 if study == "nx" else 0
    e1, e2 = (errors[study, p][column] for p in points)
    h1, h2 = (p[index] for p in points)
    return abs(math.log(e1 / e2) / math.log(h1 / h2))


def _convergence(ctx, finest, reference) -> list:
    """Grid, q0 and time-step studies around FINEST (order 2), observed orders, plots.

    Orders are taken where the studied error dominates (before the floor set by the
    other parameters): sigma11 in nx (32 -> 64, x error (q dx)^2 dominates), sigma10 in nk
    (128 -> 256) and in q0 (0.2 -> 0.1, Richardson residual O(q0^4)).
    """
    nx, nk, q0 = FINEST
    studies = {"nx": [(n, nk, q0, MAX_STEP) for n in STUDY_X],
               "nk": [(nx, n, q0, MAX_STEP) for n in STUDY_K],
               "q0": [(STUDY_Q_NX, nk, q, MAX_STEP) for q in STUDY_Q],
               "dt": [(nx, nk, q0, MAX_STEP / 2)]}
    results = {(nx, nk, q0, MAX_STEP): finest}
    errors = {}
    for study, points in studies.items():
        for point in points:
            if point not in results:
                results[point] = expansion_in_q(ctx, *point[:3], 2, point[3])
            r = results[point]
            exact = predictions(point[1], 2)
            errors[study, point] = (_relative(r["sigma10"], exact["sigma10"]),
                                    _relative(r["sigma11"], exact["sigma11"]))
            ctx.log(f"  {study} study (nx, nk, q0, max dt) = {point}: relative error "
                    f"sigma10 {errors[study, point][0]:.2e}, sigma11 "
                    f"{errors[study, point][1]:.2e} ({r['seconds']:.0f} s)")
    _plots(ctx, results, studies, errors, reference)
    label = "order 2"
    checks = [
        Check(CASE, f"observed order of the sigma11 error in nx (32 -> 64) [{label}]", 2.0,
              _order(errors, "nx", studies["nx"][1:3]), ORDER_TOLERANCE, relative=False,
              note="MUSCL (limiter none) and cell-centred sampling, second order"),
        Check(CASE, f"observed order of the sigma10 error in nk (128 -> 256) [{label}]", 2.0,
              _order(errors, "nk", studies["nk"][0:2]), ORDER_TOLERANCE, relative=False,
              note="k discretisation of the force term, second order"),
        Check(CASE, f"observed order of the sigma10 error in q0 (0.2 -> 0.1) [{label}]", 4.0,
              _order(errors, "q0", studies["q0"][0:2]), ORDER_TOLERANCE, relative=False,
              note="Richardson over +-q0, +-2 q0 leaves O(q0^4)"),
        Check(CASE, f"relative change of sigma11 when dt halves [{label}]", 0.0,
              _relative(results[studies["dt"][0]]["sigma11"], finest["sigma11"]),
              TIME_TOLERANCE, relative=False, note=f"time error at dt <= {MAX_STEP}"),
    ]
    return checks


def _plots(ctx, results, studies, errors, reference):
    """sigma^(1)(q) and its odd part with the derived and Balents' talk lines; study errors."""
    if ctx.plot_dir is None:
        return
    import matplotlib.pyplot as plt

    samples = {}
    for point in studies["q0"]:
        samples.update(results[point]["samples"])
    q = np.array(sorted(samples))
    sigma = np.array([samples[v] for v in q])
    positive = q[q > 0]
    odd = np.array([(samples[v] - samples[-v]) / 2 for v in positive])
    line = np.linspace(1.1 * q.min(), 1.1 * q.max(), 200)
    half = line[line >= 0]
    forms = (("derived sigma10 + i q sigma11", reference["sigma11"], "-"),
             ("Balents' talk printed sigma11 (no M)", reference["balents_talk"], "--"))
    figure, axes = plt.subplots(2, 2, figsize=(10, 7.5))
    for column, (part, name) in enumerate(((np.real, "Re"), (np.imag, "Im"))):
        top, bottom = axes[0, column], axes[1, column]
        top.plot(q, part(sigma), "o", label=f"band mode, nx = {STUDY_Q_NX} per wavelength, "
                                            f"nk = {FINEST[1]}")
        bottom.plot(positive, part(odd), "o", label="band mode")
        for text, slope, style in forms:
            top.plot(line, part(reference["sigma10"] + 1j * line * slope), style, label=text)
            bottom.plot(half, part(1j * half * slope), style, label=text)
        top.set_ylabel(f"{name} sigma^(1)(q, w) (e^2/hbar)")
        bottom.set_ylabel(f"{name} [sigma(q) - sigma(-q)] / 2 (e^2/hbar)")
        bottom.set_xlabel("q (1/a)")
    axes[0, 0].legend(fontsize=8)
    figure.suptitle(f"V_q cos(q x - w t) on the tilted Rice-Mele chain, band mode order 2, "
                    f"w tau = {OMEGA * TAU:g}")
    figure.tight_layout()
    save_figure(ctx, figure, "finite_q_sigma_q.png")

    figure, axes = plt.subplots(1, 3, figsize=(12, 3.8))
    for ax, study, index, power in ((axes[0], "nx", 0, -2), (axes[1], "nk", 1, -2),
                                    (axes[2], "q0", 2, 4)):
        points = studies[study]
        h = np.array([p[index] for p in points], dtype=float)
        for column, name in ((0, "sigma10"), (1, "sigma11")):
            ax.loglog(h, [errors[study, p][column] for p in points], "o-", label=name)
        anchor = errors[study, points[0]][1 if study == "nx" else 0]
        ax.loglog(h, anchor * (h / h[0]) ** power, ":", color="gray",
                  label=f"slope {power}")
        ax.set_xticks(h, [f"{v:g}" for v in h])
        ax.minorticks_off()
        ax.set_xlabel(study)
        ax.legend(fontsize=8)
    axes[0].set_ylabel("relative error vs derived")
    figure.suptitle(f"convergence around (nx, nk, q0) = {FINEST} (q0 study at nx = "
                    f"{STUDY_Q_NX})")
    figure.tight_layout()
    save_figure(ctx, figure, "finite_q_convergence.png")


CASES = [Case(CASE, "q-dependent linear response to V_q cos(q x - w t): sigma^(1,0), "
                    "sigma^(1,1) vs the derived kernels and Balents' talk", run)]
